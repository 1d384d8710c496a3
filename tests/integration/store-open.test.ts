import { createHash } from 'node:crypto';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, cli } from '../helpers/cli.js';
import { migrate, openStore } from '../../app/node/store/database.js';
import { MIGRATIONS } from '../../app/node/store/migrations.js';
import { processStart } from '../../app/node/store/process-start.js';
import { beginRun } from '../../app/node/store/runs.js';

/** Opening a database: read-only where it must be, never someone else's, and runs of dead processes recovered. */

const dir = mkdtempSync(path.join(tmpdir(), 'gp-open-'));
const DB = path.join(dir, 'src.db');
const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
const root = process.getuid?.() === 0;

beforeAll(() => {
  chmodSync(dir, 0o755);
  expect(cli(['--db', DB, 'check', '--json']).status).toBe(0);
}, 60_000);

/** Make a file and its folder unwritable: immutable for root (chattr +i), read-only modes otherwise. */
function freeze(folder: string, file: string): () => void {
  if (root) {
    execFileSync('chattr', ['+i', file, folder]);
    return () => execFileSync('chattr', ['-i', file, folder]);
  }
  chmodSync(file, 0o444);
  chmodSync(folder, 0o555);
  return () => {
    chmodSync(folder, 0o755);
    chmodSync(file, 0o644);
  };
}

describe('verify reads only', () => {
  it('an archived database in a folder nothing may be written to (and an immutable file) verifies, untouched', () => {
    const archive = path.join(dir, 'archive');
    mkdirSync(archive);
    const file = path.join(archive, 'audit-2026.db');
    copyFileSync(DB, file);
    const before = sha(file);
    const thaw = freeze(archive, file);
    try {
      const v = cli(['--db', file, 'verify']);
      expect(v.stderr).toBe('');
      expect(v.stdout).toMatch(/^note: read into memory: the file or its folder cannot be written/m);
      expect(v.stdout).toMatch(/^VERIFIED {2}database/m);
      expect(v.status).toBe(0);
      // A command that must write says so in one line, and names the way to check it without writing.
      const w = cli(['--db', file, 'check']);
      expect(w.status).toBe(2);
      expect(w.stderr.trim().split('\n')).toHaveLength(1);
      expect(w.stderr).toMatch(/cannot be written .*; to check it without writing, run: gradproof --db \S+ verify/);
    } finally {
      thaw();
    }
    expect(sha(file)).toBe(before);
    expect(readdirSync(archive)).toEqual(['audit-2026.db']);
  });

  it('verify of a writable database leaves its bytes as they were', () => {
    const file = path.join(dir, 'plain.db');
    copyFileSync(DB, file);
    const before = sha(file);
    expect(cli(['--db', file, 'verify']).status).toBe(0);
    expect(sha(file)).toBe(before);
  });

  it('a schema-2 database is verified on an upgraded copy in memory; the file stays at schema 2', () => {
    const file = path.join(dir, 'v2.db');
    const db = new Database(file);
    migrate(db, MIGRATIONS, 2);
    db.close();
    const before = sha(file);
    const v = cli(['--db', file, 'verify']);
    expect(v.stdout).toMatch(/note: schema 2: checked on a copy upgraded in memory to schema 3; the file is untouched/);
    expect(v.status).toBe(0);
    expect(sha(file)).toBe(before);
  });

  it('a missing database is named, not created', () => {
    const file = path.join(dir, 'nope', 'none.db');
    const v = cli(['--db', file, 'verify']);
    expect(v.status).toBe(2);
    expect(v.stderr).toMatch(/database \S+none\.db does not exist; give the path of a GradProof database/);
    expect(existsSync(path.dirname(file))).toBe(false);
  });
});

describe("another program's SQLite file is refused, never migrated", () => {
  for (const [what, setup] of [
    ['tables of its own and user_version 2', 'CREATE TABLE notes (id INTEGER, body TEXT); PRAGMA user_version = 2;'],
    ['a table named runs among others', 'CREATE TABLE runs (x); CREATE TABLE other (y);'],
    ['an application id of its own', 'PRAGMA application_id = 1234; CREATE TABLE t (x);'],
  ] as const) {
    it(what, () => {
      const file = path.join(dir, `other-${what.replace(/\W+/g, '-')}.db`);
      const db = new Database(file);
      db.exec(setup);
      db.close();
      const before = sha(file);
      for (const args of [['runs', 'list'], ['check'], ['identity', 'list'], ['verify']]) {
        const r = cli(['--db', file, ...args]);
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(/is not a GradProof database \(.*\); GradProof leaves it untouched/);
      }
      expect(sha(file)).toBe(before);
    });
  }
});

describe('a run whose process died is recovered on the next open', () => {
  let sleeper: ChildProcess;
  beforeAll(() => {
    sleeper = spawn('sleep', ['60']);
  });
  afterAll(() => {
    sleeper.kill('SIGKILL');
  });

  it('also when its pid now belongs to another process (the start time differs)', () => {
    const file = path.join(dir, 'pids.db');
    copyFileSync(DB, file);
    const store = openStore(file);
    const provenance = {
      model: { name: 'm', ref: 'm', sha256: 'a'.repeat(64) },
      weights: { source: 'w', sha256: 'b'.repeat(64) },
      dataset: { ref: 'd', sha256: 'c'.repeat(64), examples: 1, features: 1 },
      implementation: { kind: 'builtin' as const, ref: 'i', sha256: 'd'.repeat(64) },
    };
    const settings = {
      epsilon: 1e-7,
      threshold: 2e-7,
      scheme: 'central',
      evaluation: 'full',
      mode: 'full',
      directions: 4,
      directionSeed: 1,
      detectSize: 1e-3,
      epsilonSweep: false,
    } as never;
    const reused = beginRun(store, provenance, settings);
    const living = beginRun(store, provenance, settings);
    const dead = beginRun(store, provenance, settings);
    const start = processStart(sleeper.pid!);
    expect(start).toBeTruthy();
    const setProcess = (id: string, p: object) =>
      store.db
        .prepare('UPDATE runs SET pid = ?, process = ? WHERE id = ?')
        .run((p as { pid: number }).pid, JSON.stringify(p), id);
    // The sleeper's pid, but recorded with another start time: the process that ran it is gone.
    setProcess(reused, { pid: sleeper.pid, host: hostname(), start: `${start}0` });
    setProcess(living, { pid: sleeper.pid, host: hostname(), start });
    const gone = spawnSync('true').pid!;
    setProcess(dead, { pid: gone, host: hostname(), start: 'linux:x:1' });
    store.db.close();
    const again = openStore(file);
    try {
      expect(again.interrupted.sort()).toEqual([dead, reused].sort());
      const status = (id: string) =>
        again.db.prepare('SELECT status, error FROM runs WHERE id = ?').get(id) as { status: string; error: string };
      expect(status(reused)).toMatchObject({ status: 'interrupted' });
      expect(status(reused).error).toMatch(/its pid now belongs to a later process/);
      expect(status(dead).error).toMatch(/no longer exists/);
      expect(status(living).status).toBe('running');
    } finally {
      again.db.close();
    }
  });

  it('a CLI killed with kill -9 mid-check: the next command marks its run interrupted, and verify holds', async () => {
    const file = path.join(dir, 'killed.db');
    const child = spawn(
      process.execPath,
      [
        BIN,
        '--db',
        file,
        'check',
        '--model',
        'mlp:30,64,32,1',
        '--data',
        'random:2048',
        '--evaluation',
        'full',
        '--progress',
      ],
      { cwd: ROOT },
    );
    await new Promise<void>((resolve) => {
      let err = '';
      child.stderr!.on('data', (d) => {
        err += d;
        if (/entries/.test(err)) resolve();
      });
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const r = cli(['--db', file, 'runs', 'list', '--json']);
    expect(JSON.parse(r.stdout)[0].status).toBe('interrupted');
    expect(r.stderr).toMatch(/marked 1 run\(s\) interrupted/);
    expect(cli(['--db', file, 'verify']).status).toBe(0);
  });
});
