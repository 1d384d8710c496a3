import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../app/node/store/database.js';
import {
  ENTRY_RESULT_COLUMNS,
  EXEMPT,
  GROUP_RESULT_COLUMNS,
  RUN_ANNOTATION_COLUMNS,
  RUN_EVIDENCE_COLUMNS,
  SEALED,
} from '../../app/node/store/seals.js';
import { readJsonFile } from '../../app/node/data/file-input.js';
import { sq } from '../../app/node/reports/openssl-script.js';

describe('every stored column is bound to the audit log', () => {
  it('each column of each table is sealed, or exempt with the reason (a new column cannot be forgotten)', () => {
    const db = new Database(':memory:');
    migrate(db);
    const covered = new Set<string>([
      ...Object.entries(SEALED).flatMap(([t, s]) => s.columns.map((c) => `${t}.${c}`)),
      ...RUN_EVIDENCE_COLUMNS.map((c) => `runs.${c}`),
      ...RUN_ANNOTATION_COLUMNS.map((c) => `runs.${c}`),
      ...GROUP_RESULT_COLUMNS.map((c) => `group_results.${c}`),
      ...ENTRY_RESULT_COLUMNS.map((c) => `entry_results.${c}`),
      ...Object.keys(EXEMPT),
    ]);
    const missing: string[] = [];
    for (const t of db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[])
      for (const c of db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(t) as string[])
        if (!covered.has(`${t}.${c}`) && !covered.has(`${t}.*`)) missing.push(`${t}.${c}`);
    expect(missing).toEqual([]);
    db.close();
  });
});

describe('messages never repeat what a file holds', () => {
  it('a model path that is /etc/passwd-like text: the error names the file and the fix, not its lines', () => {
    const f = path.join(mkdtempSync(path.join(tmpdir(), 'gp-json-')), 'passwd');
    writeFileSync(f, 'root:x:0:0:root:/root:/bin/bash\n');
    expect(() => readJsonFile(f, 'model spec')).toThrow(/^model spec \S+passwd: not valid JSON; give a JSON file$/);
    writeFileSync(f, '{\n  "name": "x",\n  oops\n}');
    expect(() => readJsonFile(f, 'model spec')).toThrow(
      /not valid JSON \(the first error is at line 3, column 3\)|not valid JSON;/,
    );
  });
});

describe("the bundle script's quoting", () => {
  it('single-quotes anything so that sh reads it back as the same bytes and runs nothing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-sq-'));
    for (const s of ['Eve $(touch x)', "it's", '`id`', '"; rm -rf / #', "a'b'c", '$HOME \\ \n newline']) {
      const r = spawnSync('sh', ['-c', `printf '%s' ${sq(s)}`], { cwd: dir, encoding: 'utf8' });
      expect(r.stdout).toBe(s);
    }
  });
});
