import Database from 'better-sqlite3';
import { migrate } from './database.js';

interface SchemaObject {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

const read = (db: Database.Database): SchemaObject[] =>
  db
    .prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`)
    .all() as SchemaObject[];

// Whitespace between tokens does not change what SQL does; anything else does.
const normal = (sql: string | null): string => (sql ?? '').replace(/\s+/g, ' ').trim();

let reference: Map<string, SchemaObject> | undefined;
/** GradProof's schema as its migrations make it, built once in memory. */
function expected(): Map<string, SchemaObject> {
  if (!reference) {
    const db = new Database(':memory:');
    migrate(db);
    reference = new Map(read(db).map((o) => [`${o.type} ${o.name}`, o]));
    db.close();
  }
  return reference;
}

/**
 * Every table, index and trigger compared with GradProof's own definitions, bodies and all:
 * a guard trigger dropped, replaced by a same-named no-op, or joined by an extra trigger (which
 * could rewrite what is written) is named. Returns the problems, first the triggers.
 */
export function schemaProblems(db: Database.Database): string[] {
  const want = expected();
  const have = new Map(read(db).map((o) => [`${o.type} ${o.name}`, o]));
  const problems: string[] = [];
  for (const [k, o] of want) {
    const h = have.get(k);
    if (!h) problems.push(`${o.type} ${o.name} was removed`);
    else if (normal(h.sql) !== normal(o.sql) || h.tbl_name !== o.tbl_name)
      problems.push(`${o.type} ${o.name} differs from GradProof's definition (it was replaced)`);
  }
  for (const [k, o] of have) if (!want.has(k)) problems.push(`${o.type} ${o.name} is not GradProof's (it was added)`);
  const rank = (p: string): number => (p.startsWith('trigger') ? 0 : 1);
  return problems.sort((a, b) => rank(a) - rank(b));
}
