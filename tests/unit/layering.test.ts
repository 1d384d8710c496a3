import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const script = path.join(ROOT, 'scripts', 'check-layers.mjs');
const run = (root?: string) => spawnSync(process.execPath, [script, ...(root ? [root] : [])], { encoding: 'utf8' });

describe('layering lint', () => {
  it('the project keeps DESIGN.md import rules', () => {
    const r = run();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('catches core importing Node, renderer importing app/node, node importing electron', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-layers-'));
    for (const d of ['app/core', 'app/node', 'renderer', 'main']) mkdirSync(path.join(dir, d), { recursive: true });
    writeFileSync(path.join(dir, 'app/core/a.ts'), "import { readFileSync } from 'node:fs';\n");
    writeFileSync(
      path.join(dir, 'app/node/b.ts'),
      "import { app } from 'electron';\nimport { x } from '../core/a.js';\n",
    );
    writeFileSync(
      path.join(dir, 'renderer/c.ts'),
      "import { y } from '../app/node/b.js';\nimport { z } from '../app/core/a.js';\n",
    );
    const r = run(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/app\/core\/a\.ts:1: app\/core may not import Node's node:fs/);
    expect(r.stderr).toMatch(/app\/node\/b\.ts:1: app\/node may not import electron/);
    expect(r.stderr).toMatch(/renderer\/c\.ts:1: renderer may not import app\/node\/b\.js/);
    expect(r.stderr).toMatch(/3 violation/);
  });

  it('inside app/node: nothing imports the transports, the store never imports the sweep, and the renderer takes only its allowed packages', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gp-layers-'));
    for (const d of [
      'app/core',
      'app/node/store',
      'app/node/sweep',
      'app/node/check',
      'app/node/cli',
      'renderer',
      'main',
    ])
      mkdirSync(path.join(dir, d), { recursive: true });
    writeFileSync(path.join(dir, 'app/node/sweep/s.ts'), 'export const s = 1;\n');
    writeFileSync(path.join(dir, 'app/node/cli/c.ts'), "import { s } from '../sweep/s.js';\n");
    writeFileSync(path.join(dir, 'app/node/store/runs.ts'), "import { s } from '../sweep/s.js';\n");
    writeFileSync(path.join(dir, 'app/node/check/p.ts'), "import { c } from '../cli/c.js';\n");
    writeFileSync(
      path.join(dir, 'renderer/r.ts'),
      "import Database from 'better-sqlite3';\nimport { Chart } from 'chart.js';\n",
    );
    const r = run(dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/app\/node\/store\/runs\.ts:1: app\/node\/store may not import app\/node\/sweep/);
    expect(r.stderr).toMatch(/app\/node\/check\/p\.ts:1: app\/node\/check may not import app\/node\/cli/);
    expect(r.stderr).toMatch(/renderer\/r\.ts:1: renderer may not import the package better-sqlite3/);
    expect(r.stderr).toMatch(/3 violation/);
  });
});
