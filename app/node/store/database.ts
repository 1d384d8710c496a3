import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { appendAudit } from './audit-log.js';
import { APPLICATION_ID, MIGRATIONS, type Migration, SCHEMA_VERSION } from './migrations.js';
import { type RunProcess, alive, processGone } from './process-start.js';
import { runEvidenceDigest } from './seals.js';
import { InputError } from '../../core/errors.js';

export interface Store {
  db: Database.Database;
  path: string;
  /** Runs found still "running" from a process that no longer exists, marked interrupted on open. */
  interrupted: string[];
  /** Opened for reading only: nothing is written, not even a recovered run. */
  readonly?: boolean;
  /** How a read-only open read the file, when it is not plain (an in-memory copy, an older schema). */
  notes?: string[];
}

/** Apply the migrations above `from` (each in its own transaction), up to `to`. */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
  to = migrations[migrations.length - 1]!.version,
): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const pending = migrations.filter((m) => m.version > current && m.version <= to);
  if (pending.length === 0) return;
  // A migration may rebuild a table that others reference: foreign keys are checked once, before commit.
  const fk = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF');
  try {
    for (const m of pending) {
      db.transaction(() => {
        m.up(db);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length) throw new Error(`migration ${m.version} left ${broken.length} broken reference(s)`);
        db.pragma(`user_version = ${m.version}`);
      })();
    }
  } finally {
    if (fk) db.pragma('foreign_keys = ON');
  }
}

/** Tables of each schema version written before GradProof set its application id. */
const LEGACY_TABLES: Record<number, string[]> = {
  1: ['datasets', 'entry_results', 'group_results', 'implementations', 'models', 'runs', 'weights'],
  2: [
    'audit_log',
    'datasets',
    'entry_results',
    'group_results',
    'identities',
    'implementations',
    'models',
    'reports',
    'runs',
    'signatures',
    'weights',
  ],
};

/**
 * A file is GradProof's when it says so (application id), when it is empty, or when it is an
 * early GradProof database (schema 1 or 2) holding exactly GradProof's tables. Anything else is
 * another program's data: refused, never migrated.
 */
function identify(db: Database.Database, file: string): { version: number; fresh: boolean } {
  const appId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  const tables = (
    db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
      .all() as {
      name: string;
    }[]
  ).map((r) => r.name);
  const foreign = (why: string): InputError =>
    new InputError(
      `database ${file} is not a GradProof database (${why}); GradProof leaves it untouched: point --db at a GradProof database or at a new file`,
    );
  if (appId === APPLICATION_ID) {
    if (version > SCHEMA_VERSION)
      throw new InputError(
        `database ${file} was written by a newer GradProof (schema ${version}; this version reads up to ${SCHEMA_VERSION}): upgrade GradProof, or point --db at another database`,
      );
    return { version, fresh: false };
  }
  if (appId !== 0) throw foreign(`its application id is 0x${(appId >>> 0).toString(16)}`);
  if (tables.length === 0 && version === 0) return { version, fresh: true };
  const expected = LEGACY_TABLES[version];
  if (expected && expected.length === tables.length && expected.every((t, i) => t === tables[i]))
    return { version, fresh: false };
  const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? `, … (${tables.length} tables)` : '');
  throw foreign(tables.length ? `it holds the tables ${shown}` : `its schema version is ${version}`);
}

function cannotOpen(file: string, err: unknown): InputError {
  const e = err as NodeJS.ErrnoException & { code?: string };
  const msg = (e as Error).message ?? String(err);
  if (/not a database|file is not a database|SQLITE_NOTADB/i.test(`${e.code} ${msg}`))
    return new InputError(`database ${file}: not a GradProof (SQLite) database`);
  return new InputError(`database ${file}: cannot open it (${msg})`);
}

/**
 * A database image opened in memory. An image of a WAL database says so in its header (bytes
 * 18 and 19 are 2), which an in-memory database cannot honour: the copy is marked as a
 * rollback-journal database instead (the file itself is not touched).
 */
function fromBytes(bytes: Buffer): Database.Database {
  const copy = Buffer.from(bytes);
  if (copy.length >= 100 && copy[18] === 2 && copy[19] === 2) {
    copy[18] = 1;
    copy[19] = 1;
  }
  return new Database(copy);
}

/**
 * Open a GradProof database for reading only. Nothing is written to the file or beside it
 * when that is refused: a read-only file, a read-only folder or an immutable file is read
 * into memory instead. An older schema is upgraded in that memory copy, never on disk.
 */
function openReadOnly(file: string): Store {
  if (!existsSync(file)) throw new InputError(`database ${file} does not exist; give the path of a GradProof database`);
  if (statSync(file).isDirectory()) throw new InputError(`database ${file} is a folder; give the database file`);
  const notes: string[] = [];
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (err) {
    // A WAL database needs its -shm beside it; where that cannot be made, read the bytes instead.
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch {
      throw cannotOpen(file, err);
    }
    try {
      db = fromBytes(bytes);
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (err2) {
      throw cannotOpen(file, err2);
    }
    notes.push('read into memory: the file or its folder cannot be written');
    const wal = `${file}-wal`;
    if (existsSync(wal) && statSync(wal).size > 0)
      notes.push(`its write-ahead log ${wal} was not read: changes not yet checkpointed are missing from this check`);
  }
  try {
    const { version, fresh } = identify(db, file);
    if (fresh) throw new InputError(`database ${file} is empty: it holds no GradProof data`);
    if (version < SCHEMA_VERSION) {
      const copy = fromBytes(db.serialize());
      db.close();
      db = copy;
      migrate(db);
      notes.push(
        `schema ${version}: checked on a copy upgraded in memory to schema ${SCHEMA_VERSION}; the file is untouched`,
      );
    }
    db.pragma('foreign_keys = ON');
    return { db, path: file, interrupted: [], readonly: true, notes };
  } catch (err) {
    db.close();
    if (err instanceof InputError) throw err;
    throw cannotOpen(file, err);
  }
}

/**
 * Open (creating if needed) a GradProof database: WAL, foreign keys on,
 * synchronous=FULL so a committed run survives power loss; migrated to this
 * version's schema; refused if a newer GradProof wrote it or if it is another
 * program's database. With `readonly`, see openReadOnly.
 */
export function openStore(file: string, options: { readonly?: boolean } = {}): Store {
  if (options.readonly) return openReadOnly(file);
  if (file !== ':memory:') {
    if (existsSync(file) && statSync(file).isDirectory())
      throw new InputError(`database ${file} is a folder; give the database file`);
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  }
  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (err) {
    throw cannotOpen(file, err);
  }
  try {
    identify(db, file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    const interrupted = markInterrupted(db);
    return { db, path: file, interrupted };
  } catch (err) {
    db.close();
    if (err instanceof InputError) throw err;
    const e = err as { code?: string; message?: string };
    if (/READONLY|CANTOPEN|PERM|AUTH/.test(e.code ?? ''))
      throw new InputError(
        `database ${file} cannot be written (${e.message}); to check it without writing, run: gradproof --db ${file} verify`,
      );
    throw cannotOpen(file, err);
  }
}

/**
 * Runs left "running" by a process that died (crash, kill -9) become "interrupted", also when
 * the pid was since given to another process. Runs recorded on another host are left alone:
 * their process cannot be seen from here.
 */
function markInterrupted(db: Database.Database): string[] {
  const here = hostname();
  const rows = db.prepare(`SELECT id, pid, host, process FROM runs WHERE status = 'running'`).all() as {
    id: string;
    pid: number;
    host: string;
    process: string | null;
  }[];
  const stale: { id: string; pid: number; why: string }[] = [];
  for (const r of rows) {
    let p: RunProcess | undefined;
    try {
      p = r.process ? (JSON.parse(r.process) as RunProcess) : undefined;
    } catch {
      p = undefined;
    }
    if ((p?.host ?? r.host) !== here) continue;
    if (p) {
      const g = processGone(p);
      if (g.gone) stale.push({ id: r.id, pid: r.pid, why: g.why });
    } else if (r.pid !== process.pid && !alive(r.pid))
      stale.push({ id: r.id, pid: r.pid, why: `process ${r.pid} no longer exists` });
  }
  if (stale.length === 0) return [];
  const mark = db.prepare(
    `UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? WHERE id = ? AND status = 'running'`,
  );
  db.transaction(() => {
    for (const r of stale) {
      mark.run(
        new Date().toISOString(),
        `the process running it stopped before it finished (crash or kill): ${r.why}`,
        r.id,
      );
      appendAudit(db, 'run.interrupted', r.id, { pid: r.pid, why: r.why, record: runEvidenceDigest(db, r.id) });
    }
  })();
  return stale.map((r) => r.id);
}
