import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { appendAudit } from './audit-log.js';
import { MIGRATIONS, type Migration, SCHEMA_VERSION } from './migrations.js';
import { InputError } from '../../core/errors.js';

export interface Store {
  db: Database.Database;
  path: string;
  /** Runs found still "running" from a process that no longer exists, marked interrupted on open. */
  interrupted: string[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Apply the migrations above `from` (each in its own transaction), up to `to`. */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[] = MIGRATIONS,
  to = migrations[migrations.length - 1]!.version,
): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const m of migrations) {
    if (m.version <= current || m.version > to) continue;
    db.transaction(() => {
      m.up(db);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
}

/**
 * Open (creating if needed) a GradProof database: WAL, foreign keys on,
 * synchronous=FULL so a committed run survives power loss; migrated to this
 * version's schema; refused if a newer GradProof wrote it.
 */
export function openStore(file: string, options: { readonly?: boolean } = {}): Store {
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: Boolean(options.readonly), fileMustExist: Boolean(options.readonly) });
  } catch (err) {
    throw new InputError(`database ${file}: cannot open it (${(err as Error).message})`);
  }
  try {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new InputError(
        `database ${file} was written by a newer GradProof (schema ${version}; this version reads up to ${SCHEMA_VERSION}): upgrade GradProof, or point --db at another database`,
      );
    }
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) migrate(db);
    const interrupted = options.readonly ? [] : markInterrupted(db);
    return { db, path: file, interrupted };
  } catch (err) {
    db.close();
    if (err instanceof InputError) throw err;
    const msg = (err as Error).message;
    throw new InputError(
      `database ${file}: ${/not a database|file is not/i.test(msg) ? 'not a GradProof (SQLite) database' : msg}`,
    );
  }
}

/** Runs left "running" by a process that died (crash, kill -9) become "interrupted". */
function markInterrupted(db: Database.Database): string[] {
  const stale = (
    db.prepare(`SELECT id, pid FROM runs WHERE status = 'running'`).all() as { id: string; pid: number }[]
  ).filter((r) => r.pid !== process.pid && !alive(r.pid));
  const mark = db.prepare(
    `UPDATE runs SET status = 'interrupted', finished_at = ?, error = 'the process running it stopped before it finished (crash or kill)' WHERE id = ? AND status = 'running'`,
  );
  db.transaction(() => {
    for (const r of stale) {
      mark.run(new Date().toISOString(), r.id);
      appendAudit(db, 'run.interrupted', r.id, { pid: r.pid });
    }
  })();
  return stale.map((r) => r.id);
}
