#!/usr/bin/env node
// `npm run size`: the size of the code by folder (files, lines, of which comments and blank),
// from the files git tracks, so that the README's table can be refreshed and growth seen.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const CODE = /\.(ts|cts|mts|js|mjs|svelte|py|wat|css|sh)$/;
const GENERATED = new Set(['app/node/sweep/kernels-wasm.ts']);
const FOLDERS = ['app/core', 'app/node', 'main', 'renderer', 'resources', 'scripts', 'tests'];

const files = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => CODE.test(f) && !GENERATED.has(f) && !f.startsWith('tests/fixtures/'));

/** Two levels for app/ (app/core/check), one below each other top folder (tests/unit). */
function bucket(file) {
  const parts = file.split('/');
  const top = FOLDERS.find((f) => file.startsWith(`${f}/`));
  if (!top) return null;
  const depth = top.split('/').length;
  return parts.length > depth + 1 ? parts.slice(0, depth + 1).join('/') : top;
}

const rows = new Map();
for (const f of files) {
  const b = bucket(f);
  if (!b) continue;
  const text = readFileSync(path.join(root, f), 'utf8');
  const lines = text.split('\n');
  const blank = lines.filter((l) => l.trim() === '').length;
  const comment = lines.filter((l) => /^\s*(\/\/|\/?\*|#(?!!)|<!--)/.test(l)).length;
  const r = rows.get(b) ?? { files: 0, lines: 0, comment: 0, blank: 0 };
  r.files++;
  r.lines += lines.length;
  r.comment += comment;
  r.blank += blank;
  rows.set(b, r);
}
const sorted = [...rows].sort(([a], [b]) => a.localeCompare(b));
const total = sorted.reduce(
  (t, [, r]) => ({
    files: t.files + r.files,
    lines: t.lines + r.lines,
    comment: t.comment + r.comment,
    blank: t.blank + r.blank,
  }),
  { files: 0, lines: 0, comment: 0, blank: 0 },
);
const out = ['| folder | files | lines | of which comments | blank |', '| --- | ---: | ---: | ---: | ---: |'];
for (const [b, r] of sorted)
  out.push(
    `| \`${b}\` | ${r.files} | ${r.lines.toLocaleString('en-US')} | ${r.comment.toLocaleString('en-US')} | ${r.blank.toLocaleString('en-US')} |`,
  );
out.push(
  `| total | ${total.files} | ${total.lines.toLocaleString('en-US')} | ${total.comment.toLocaleString('en-US')} | ${total.blank.toLocaleString('en-US')} |`,
);
process.stdout.write(`${out.join('\n')}\n`);
