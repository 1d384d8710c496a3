#!/usr/bin/env node
// Refreshes the size table in README.md between its <!-- size-report --> markers.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const table = execFileSync(process.execPath, [path.join(root, 'scripts/size-report.mjs')], { encoding: 'utf8' });
const file = path.join(root, 'README.md');
const text = readFileSync(file, 'utf8');
const next = text.replace(
  /<!-- size-report -->[\s\S]*<!-- \/size-report -->/,
  `<!-- size-report -->\n${table}<!-- /size-report -->`,
);
writeFileSync(file, next);
