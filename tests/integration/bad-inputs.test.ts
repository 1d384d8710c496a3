import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cli } from '../helpers/cli.js';
import { writeNpy, writeSafetensors, writeZipBomb } from '../helpers/bad-files.js';

/**
 * Bad input, as a careless user gives it: every case ends with exit 2 and one line on stderr
 * that names the file and the field and says how to fix it, without a stack, without echoing
 * what the file holds, and within bounded memory. The count is written to test-output.
 */

const dir = mkdtempSync(path.join(tmpdir(), 'gp-bad-'));
const at = (name: string): string => path.join(dir, name);
const DB = at('bad.db');
const PASSWD = 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n';
const tally = { tried: 0, refusedCleanly: 0, cases: [] as string[] };

beforeAll(() => {
  writeNpy(at('neg.npy'), '(2, 5)', Array(10).fill(0));
  writeFileSync(at('neg.npy'), readFileSync(at('neg.npy')).toString('latin1').replace('(2, 5)', '(-1, 5)'), 'latin1');
  writeNpy(at('zero.npy'), '(0, 5)', []);
  writeNpy(at('truncated.npy'), '(100, 5)', [1, 2, 3]);
  writeZipBomb(at('bomb.npz'), 1_500_000_000, 1_500_000_000);
  writeZipBomb(at('liar.npz'), 1_500_000_000, 8 << 20);
  writeFileSync(at('garbage.npz'), 'PK this is not a zip archive at all');
  writeFileSync(
    at('units.json'),
    JSON.stringify({
      name: 'huge',
      inputs: 4,
      layers: [
        { units: 1e9, activation: 'relu' },
        { units: 1, activation: 'sigmoid' },
      ],
      loss: 'binary_cross_entropy',
    }),
  );
  const w = Buffer.alloc(8 * 20);
  writeSafetensors(at('range.safetensors'), { W1: { dtype: 'F64', shape: [5, 4], data_offsets: [0, 10_000] } }, w);
  writeSafetensors(at('negative.safetensors'), { W1: { dtype: 'F64', shape: [1, 1], data_offsets: [-40, -32] } }, w);
  writeSafetensors(
    at('overlap.safetensors'),
    {
      W1: { dtype: 'F64', shape: [2, 2], data_offsets: [0, 32] },
      b1: { dtype: 'F64', shape: [2, 1], data_offsets: [16, 32] },
    },
    w,
  );
  const huge = Buffer.alloc(8);
  huge.writeBigUInt64LE(1n << 60n);
  writeFileSync(at('header.safetensors'), Buffer.concat([huge, Buffer.from('{}')]));
  writeFileSync(at('labels5.csv'), 'a,b,label\n0.1,0.2,5\n0.3,0.4,0\n');
  writeFileSync(at('labels-3.csv'), 'a,b,label\n0.1,0.2,1\n0.3,0.4,-3\n');
  writeFileSync(at('passwd.json'), PASSWD);
  writeFileSync(at('passwd.csv'), `label,${PASSWD}`);
  writeFileSync(at('cell.csv'), 'a,b,label\n1,SECRET-CELL-VALUE,0\n');
  writeFileSync(at('wstring.json'), JSON.stringify({ W1: [['SECRET-WEIGHT', 1, 2, 3]] }));
  mkdirSync(at('folder.csv'));
  execFileSync('mkfifo', [at('fifo.npy')]);
  writeFileSync(at('other-app.db'), '');
  const other = new Database(at('other-app.db'));
  other.exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE orders (id INTEGER, total REAL);
    INSERT INTO customers VALUES (1, 'Ada'); PRAGMA user_version = 2;`);
  other.close();
  expect(
    cli(['--db', DB, 'identity', 'create', '--name', 'Kim', '--role', 'engineer'], {
      GRADPROOF_PASSPHRASE: 'kim-secret-phrase',
    }).status,
  ).toBe(0);
}, 120_000);

afterAll(() => {
  mkdirSync(path.join(ROOT, 'test-output'), { recursive: true });
  writeFileSync(path.join(ROOT, 'test-output', 'bad-inputs.json'), `${JSON.stringify(tally, null, 2)}\n`);
});

interface Case {
  what: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** The one line must match this (the file, the field, the fix). */
  says: RegExp;
  /** …and must not hold this (file contents). */
  never?: RegExp;
}

const cases: Case[] = [
  {
    what: '.npy of shape (-1, 5)',
    args: ['check', '--data', at('neg.npy')],
    says: /neg\.npy: the shape dimension 0 is -1; every dimension must be a whole number of at least 0/,
  },
  {
    what: '.npy of shape (0, 5)',
    args: ['check', '--data', at('zero.npy')],
    says: /zero\.npy: shape \(0, 5\) holds no examples; save at least one row/,
  },
  {
    what: '.npy whose header promises more than it holds',
    args: ['check', '--data', at('truncated.npy')],
    says: /truncated\.npy: the shape \(100, 5\) needs 500 values but the file holds 3: it is truncated/,
  },
  {
    what: '.npz that inflates to 1.5 GB (declared)',
    args: ['check', '--data', at('bomb.npz')],
    says: /bomb\.npz: the archive holds 1\.4 GiB uncompressed \(1\.\d MiB on disk\); GradProof reads \.npz archives up to 1\.0 GiB/,
  },
  {
    what: '.npz that inflates to 1.5 GB (declared 8 MiB)',
    args: ['check', '--data', at('liar.npz')],
    says: /liar\.npz: entry "X\.npy" inflates beyond the 8\.0 MiB it declares: the archive is damaged or a decompression bomb/,
  },
  {
    what: 'the 1.5 GB .npz as --weights',
    args: ['check', '--model', 'mlp:4,5,3,1', '--weights', at('bomb.npz')],
    says: /weights .*bomb\.npz: the archive holds 1\.4 GiB uncompressed/,
  },
  {
    what: 'the lying .npz as --weights',
    args: ['check', '--model', 'mlp:4,5,3,1', '--weights', at('liar.npz')],
    says: /weights .*liar\.npz: entry "X\.npy" inflates beyond/,
  },
  {
    what: '.npz that is not a zip',
    args: ['check', '--data', at('garbage.npz')],
    says: /garbage\.npz is not a readable \.npz \(zip\) archive: .*; save it again with numpy\.savez/,
  },
  {
    what: '"units": 1e9 in a model spec',
    args: ['check', '--model', at('units.json')],
    says: /units\.json: field layers\[0\]\.units: units must be at most 100,000 per layer/,
  },
  {
    what: 'mlp:100000,100000,1',
    args: ['check', '--model', 'mlp:100000,100000,1'],
    says: /mlp:100000,100000,1" is too large: it has 10,000,200,001 parameters; GradProof checks models up to 10,000,000/,
  },
  {
    what: 'random data too large for the model',
    args: ['check', '--model', 'mlp:30,64,32,1', '--data', 'random:10000000'],
    says: /random:10000000: 10,000,000 examples through mlp:30,64,32,1 hold 1,270,000,000 activations; .*use fewer rows/,
  },
  {
    what: 'safetensors offsets beyond the data',
    args: ['check', '--model', 'mlp:4,5,3,1', '--weights', at('range.safetensors')],
    says: /range\.safetensors: tensor W1: data_offsets \[0, 10000\] do not lie within the 160 data bytes/,
  },
  {
    what: 'safetensors negative offsets',
    args: ['check', '--model', 'mlp:4,5,3,1', '--weights', at('negative.safetensors')],
    says: /negative\.safetensors: tensor W1: data_offsets \[-40, -32\] do not lie within/,
  },
  {
    what: 'safetensors overlapping tensors',
    args: ['check', '--model', 'mlp:2,2,1', '--weights', at('overlap.safetensors')],
    says: /overlap\.safetensors: tensors W1 and b1 share bytes \(overlapping data_offsets\)/,
  },
  {
    what: 'safetensors header length of 2^60',
    args: ['check', '--model', 'mlp:4,5,3,1', '--weights', at('header.safetensors')],
    says: /header\.safetensors: its header length does not fit the file/,
  },
  {
    what: 'label 5 for a sigmoid / cross-entropy model',
    args: ['check', '--model', 'mlp:2,3,1', '--data', at('labels5.csv')],
    says: /labels5\.csv: the label of example 0 is 5; binary cross-entropy needs labels between 0 and 1 \(0 = no, 1 = yes\)/,
  },
  {
    what: 'label −3 for a sigmoid / cross-entropy model',
    args: ['check', '--model', 'mlp:2,3,1', '--data', at('labels-3.csv')],
    says: /labels-3\.csv: the label of example 1 is -3; binary cross-entropy needs labels between 0 and 1/,
  },
  {
    what: '/etc/passwd-like text as a JSON dataset',
    args: ['check', '--model', 'mlp:2,3,1', '--data', at('passwd.json')],
    says: /passwd\.json: not valid JSON; give a JSON file/,
    never: /root:x|daemon/,
  },
  {
    what: '/etc/passwd-like text as JSON weights',
    args: ['check', '--model', 'mlp:2,3,1', '--weights', at('passwd.json')],
    says: /weights .*passwd\.json: not valid JSON; give a JSON file/,
    never: /root:x|daemon/,
  },
  {
    what: 'a CSV cell that is not a number',
    args: ['check', '--model', 'mlp:2,3,1', '--data', at('cell.csv')],
    says: /cell\.csv: line 2, column "b" is not a number; every value must be numeric/,
    never: /SECRET-CELL-VALUE/,
  },
  {
    what: 'a JSON weight that is text',
    args: ['check', '--model', 'mlp:4,5,3,1', '--weights', at('wstring.json')],
    says: /wstring\.json: W1\[0\]\[0\] is text, not a finite number/,
    never: /SECRET-WEIGHT/,
  },
  {
    what: 'a folder given as a dataset',
    args: ['check', '--data', at('folder.csv')],
    says: /folder\.csv: (it is a folder|cannot read it \(it is a folder\))/,
  },
  {
    what: 'a pipe given as a dataset',
    args: ['check', '--data', at('fifo.npy')],
    says: /fifo\.npy: not a regular file \(a device or a pipe\)/,
  },
  {
    what: "another application's SQLite file as --db",
    args: ['--db', at('other-app.db'), 'runs', 'list'],
    says: /other-app\.db is not a GradProof database \(it holds the tables customers, orders\); GradProof leaves it untouched/,
  },
  {
    what: "another application's SQLite file to verify",
    args: ['--db', at('other-app.db'), 'verify'],
    says: /other-app\.db is not a GradProof database/,
  },
  {
    what: 'a passphrase of eight spaces',
    args: ['--db', DB, 'identity', 'create', '--name', 'Sam', '--role', 'reviewer'],
    env: { GRADPROOF_PASSPHRASE: '        ' },
    says: /the passphrase is only spaces/,
  },
  {
    what: 'a passphrase of one repeated character',
    args: ['--db', DB, 'identity', 'create', '--name', 'Sam', '--role', 'reviewer'],
    env: { GRADPROOF_PASSPHRASE: 'aaaaaaaa' },
    says: /the passphrase repeats one character/,
  },
  {
    what: 'a passphrase that is too short',
    args: ['--db', DB, 'identity', 'create', '--name', 'Sam', '--role', 'reviewer'],
    env: { GRADPROOF_PASSPHRASE: 'k7#q' },
    says: /the passphrase must be at least 8 characters/,
  },
  {
    what: 'a common passphrase',
    args: ['--db', DB, 'identity', 'create', '--name', 'Sam', '--role', 'reviewer'],
    env: { GRADPROOF_PASSPHRASE: 'Password1' },
    says: /the passphrase is one of the most common passwords/,
  },
  {
    what: 'a passphrase that is the name',
    args: ['--db', DB, 'identity', 'create', '--name', 'Samantha Reviewer', '--role', 'reviewer'],
    env: { GRADPROOF_PASSPHRASE: 'samantha reviewer' },
    says: /the passphrase is the identity's name/,
  },
  {
    what: '--passphrase-file /dev/zero',
    args: ['--db', DB, 'identity', 'create', '--name', 'Sam', '--role', 'reviewer', '--passphrase-file', '/dev/zero'],
    says: /--passphrase-file \/dev\/zero: the file is longer than a passphrase can be/,
  },
  {
    what: 'a name with a terminal escape',
    args: ['--db', DB, 'identity', 'create', '--name', 'Sam\u001b[2JX', '--role', 'reviewer'],
    env: { GRADPROOF_PASSPHRASE: 'sam-secret-phrase' },
    says: /the name may not hold control characters or text-direction marks/,
  },
  {
    what: 'a name given twice',
    args: ['--db', DB, 'identity', 'create', '--name', 'Kim', '--role', 'reviewer'],
    env: { GRADPROOF_PASSPHRASE: 'kim-second-phrase' },
    says: /an identity named "Kim" exists already; choose another name/,
  },
  {
    what: '--log-head that is not ROW:HASH',
    args: ['--db', DB, 'verify', '--log-head', 'yesterday'],
    says: /--log-head: write ROW:HASH as verify printed it/,
  },
  {
    what: 'a tag with a space',
    args: ['--db', DB, 'runs', 'annotate', 'run-nope', '--tag', 'two words'],
    says: /no run run-nope|tags: each tag is one word/,
  },
  {
    what: 'a bundle folder that is a file',
    args: ['--db', DB, 'report', 'export', 'rep-x', '--bundle', at('labels5.csv')],
    says: /--bundle .*labels5\.csv: not a new or empty folder/,
  },
];

describe('bad input is refused cleanly: exit 2, one line naming the file, the field and the fix', () => {
  for (const c of cases) {
    it(c.what, () => {
      const before = c.args.includes(at('other-app.db'))
        ? createHash('sha256')
            .update(readFileSync(at('other-app.db')))
            .digest('hex')
        : '';
      const r = cli(c.args[0] === '--db' ? c.args : ['--db', DB, ...c.args], c.env ?? {});
      tally.tried++;
      const lines = r.stderr.trim().split('\n');
      expect(r.status, r.stderr).toBe(2);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^gradproof: /);
      expect(r.stderr).not.toMatch(/^\s+at |internal error/m);
      expect(lines[0]).toMatch(c.says);
      if (c.never) expect(r.stderr + r.stdout).not.toMatch(c.never);
      if (before) {
        expect(
          createHash('sha256')
            .update(readFileSync(at('other-app.db')))
            .digest('hex'),
        ).toBe(before);
        const t = new Database(at('other-app.db'), { readonly: true });
        expect(t.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all()).toEqual([
          'customers',
          'orders',
        ]);
        t.close();
      }
      tally.refusedCleanly++;
      tally.cases.push(`${c.what}: ${lines[0]}`);
    });
  }
});

describe('decompression is bounded', () => {
  /** Max RSS of a fresh Node process that reads the archive with GradProof's reader. */
  const readIn = (file: string): { message: string; maxRssMiB: number } => {
    const script = `import { parseNpz } from ${JSON.stringify(path.join(ROOT, 'dist/app/node/data/npy.js'))};
import { readFileSync } from 'node:fs';
let message = '';
try { parseNpz(readFileSync(${JSON.stringify(file)}), 'x.npz'); } catch (e) { message = e.message; }
process.stdout.write(JSON.stringify({ message, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    return JSON.parse(r.stdout) as { message: string; maxRssMiB: number };
  };
  it('a 1.5 MB archive declaring 1.5 GB is refused before inflating, in well under 300 MiB', () => {
    const r = readIn(at('bomb.npz'));
    expect(r.message).toMatch(/holds 1\.4 GiB uncompressed/);
    expect(r.maxRssMiB).toBeLessThan(300);
  });
  it('a 1.5 MB archive declaring 8 MiB but inflating to 1.5 GB stops at 8 MiB, in well under 300 MiB', () => {
    const r = readIn(at('liar.npz'));
    expect(r.message).toMatch(/inflates beyond the 8\.0 MiB it declares/);
    expect(r.maxRssMiB).toBeLessThan(300);
  });
});
