import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * Worker threads need JavaScript. Compiled, a sibling `name.js` sits beside the
 * caller; run from TypeScript sources (tests, tsx), the same file is taken from
 * dist/, which `npm run build` writes.
 */
export function compiledSibling(callerUrl: string, name: string): string {
  const callerPath = fileURLToPath(callerUrl);
  const dir = path.dirname(callerPath);
  if (callerPath.endsWith('.js')) return unpacked(path.join(dir, `${name}.js`));
  const root = projectRoot(dir);
  const rel = path.relative(root, dir);
  const compiled = path.join(root, 'dist', rel, `${name}.js`);
  if (!existsSync(compiled)) {
    throw new Error(`${compiled} is missing: run "npm run build" first (worker threads load compiled JavaScript)`);
  }
  return compiled;
}

export function projectRoot(from: string): string {
  let dir = from;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${from}`);
    dir = up;
  }
}

/**
 * In a packaged app, code is read from app.asar, but worker threads and child
 * processes need real files: electron-builder.yml unpacks those to app.asar.unpacked.
 */
export function unpacked(p: string): string {
  return p.replace(`app.asar${path.sep}`, `app.asar.unpacked${path.sep}`);
}
