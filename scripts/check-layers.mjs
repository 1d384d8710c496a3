#!/usr/bin/env node
// Enforces DESIGN.md's import rules (modelled on VS Code's layering lint):
//   app/core  imports only itself and pure packages (no node:, no electron, no DOM-only code)
//   app/node  imports app/core, itself, Node and packages; never electron, main/ or renderer/
//   main/     imports app/, itself, Node and electron; never renderer/
//   renderer/ imports app/core and itself and an allow-list of browser packages; never app/node, main/, Node or electron
// and inside app/node, folders import only the folders below them (NODE_LAYERS): the transports (cli,
// api) sit on top and nothing imports them; the store never imports the sweep or the check pipeline.
// Exit 1 with every violation listed as FILE:LINE: rule.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';

const root = path.resolve(process.argv[2] ?? path.join(path.dirname(new URL(import.meta.url).pathname), '..'));
const nodeBuiltins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const PURE_PACKAGES = new Set(['zod', 'canonicalize']);
const RENDERER_PACKAGES = new Set(['svelte', 'chart.js']);

/** What each folder of app/node may import (besides itself, app/core and app/node/version.ts). */
const NODE_LAYERS = {
  util: [],
  data: ['util'],
  store: ['util'],
  signing: ['store', 'util'],
  reports: ['signing', 'store', 'util'],
  pdf: ['reports', 'signing', 'store', 'util'],
  subjects: ['data', 'util'],
  sweep: ['util'],
  check: ['data', 'store', 'subjects', 'sweep', 'util'],
  cluster: ['check', 'data', 'store', 'subjects', 'sweep', 'util'],
  bench: ['check', 'data', 'subjects', 'sweep', 'util'],
  api: ['check', 'cluster', 'data', 'pdf', 'reports', 'signing', 'store', 'subjects', 'util'],
  cli: ['api', 'check', 'cluster', 'data', 'pdf', 'reports', 'signing', 'store', 'subjects', 'sweep', 'util'],
};

const layers = [
  { dir: 'app/core', may: ['app/core'], packages: (p) => PURE_PACKAGES.has(p), node: false, electron: false },
  { dir: 'app/node', may: ['app/core', 'app/node'], packages: () => true, node: true, electron: false },
  { dir: 'main', may: ['app', 'main'], packages: () => true, node: true, electron: true },
  {
    dir: 'renderer',
    may: ['app/core', 'renderer'],
    packages: (p) => RENDERER_PACKAGES.has(p),
    node: false,
    electron: false,
  },
];

function* files(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    if (e === 'node_modules' || e === 'dist' || e.startsWith('.')) continue;
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.(ts|js|mjs|svelte)$/.test(e)) yield p;
  }
}

const importRe =
  /(?:^|\s)(?:import|export)\s[^'"`]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;
const violations = [];
for (const layer of layers) {
  for (const file of files(path.join(root, layer.dir))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(importRe)) {
      const spec = m[1] ?? m[2] ?? m[3];
      const line = text.slice(0, m.index).split('\n').length;
      const where = `${path.relative(root, file)}:${line}`;
      if (spec.startsWith('.')) {
        const target = path.relative(root, path.resolve(path.dirname(file), spec));
        if (!layer.may.some((d) => target === d || target.startsWith(`${d}/`)))
          violations.push(`${where}: ${layer.dir} may not import ${target} (allowed: ${layer.may.join(', ')})`);
        else if (layer.dir === 'app/node') {
          const from = path.relative(path.join(root, 'app/node'), file).split(path.sep)[0];
          const to = target.startsWith('app/node/') ? target.slice('app/node/'.length).split('/')[0] : undefined;
          const allowed = NODE_LAYERS[from];
          if (to && to !== from && !to.startsWith('version.') && !from.endsWith('.ts')) {
            if (!allowed)
              violations.push(
                `${where}: app/node/${from} is not a known layer; add it to NODE_LAYERS in scripts/check-layers.mjs`,
              );
            else if (!allowed.includes(to))
              violations.push(
                `${where}: app/node/${from} may not import app/node/${to} (allowed: ${allowed.join(', ') || 'none'})`,
              );
          }
        }
      } else if (spec === 'electron' || spec.startsWith('electron/')) {
        if (!layer.electron) violations.push(`${where}: ${layer.dir} may not import electron`);
      } else if (nodeBuiltins.has(spec) || spec.startsWith('node:')) {
        if (!layer.node) violations.push(`${where}: ${layer.dir} may not import Node's ${spec}`);
      } else {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!layer.packages(pkg)) violations.push(`${where}: ${layer.dir} may not import the package ${pkg}`);
      }
    }
  }
}
if (violations.length) {
  console.error(`layering: ${violations.length} violation(s) of DESIGN.md's import rules:\n${violations.join('\n')}`);
  process.exit(1);
}
console.log('layering: app/core, app/node, main and renderer keep to their imports');
