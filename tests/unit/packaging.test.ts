import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const config = parse(readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8')) as Record<string, any>;
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, any>;

// electron-builder's own code, from the installed electron-builder 26: its config
// check and the matcher it applies to asarUnpack.
const fromBuilder = createRequire(createRequire(import.meta.url).resolve('electron-builder/package.json'));
const builder = {
  ...(fromBuilder('app-builder-lib/out/util/config/config.js') as {
    validateConfiguration: (c: unknown, log: { isEnabled: boolean; add: () => void }) => Promise<void>;
  }),
  ...(fromBuilder('app-builder-lib/out/fileMatcher.js') as {
    getFileMatchers: (
      c: unknown,
      name: string,
      destination: string,
      o: object,
    ) => { createFilter: () => (file: string, stat: object) => boolean }[] | null;
  }),
};

/** Whether electron-builder would unpack a file (a path relative to the project). */
function unpackFilter(): (rel: string) => boolean {
  const [matcher] = builder.getFileMatchers(config, 'asarUnpack', path.join(ROOT, 'out', 'app'), {
    defaultSrc: ROOT,
    globalOutDir: path.join(ROOT, config.directories.output),
    macroExpander: (s: string) => s,
    customBuildOptions: {},
  })!;
  const filter = matcher!.createFilter();
  // Files of node_modules reach the filter with their path inside the app (as NodeModuleCopyHelper sets it).
  return (rel) =>
    filter(path.join(ROOT, rel), {
      isDirectory: () => false,
      ...(rel.startsWith('node_modules/') ? { moduleFullFilePath: rel } : {}),
    });
}

/** Every file under dir, relative to the project, with / separators. */
function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = path.join(dir, e);
    return statSync(p).isDirectory() ? walk(p) : [path.relative(ROOT, p).split(path.sep).join('/')];
  });
}

/**
 * The worker-thread entries (every compiledSibling(import.meta.url, NAME) in app/),
 * and the built files they load: their static and dynamic relative imports, followed
 * to the end; plus the packages they import.
 */
function workerClosure(): { entries: string[]; files: Set<string>; packages: string[] } {
  const entries: string[] = [];
  for (const src of walk(path.join(ROOT, 'app')).filter((f) => f.endsWith('.ts')))
    for (const m of readFileSync(path.join(ROOT, src), 'utf8').matchAll(
      /compiledSibling\(import\.meta\.url, '([\w-]+)'\)/g,
    ))
      entries.push(`dist/${path.posix.dirname(src)}/${m[1]}.js`);
  const files = new Set<string>();
  const packages = new Set<string>();
  const builtins = new Set(builtinModules);
  const visit = (rel: string): void => {
    if (files.has(rel)) return;
    files.add(rel);
    const info = ts.preProcessFile(readFileSync(path.join(ROOT, rel), 'utf8'), true, true);
    for (const { fileName: spec } of info.importedFiles) {
      if (spec.startsWith('.')) visit(path.posix.join(path.posix.dirname(rel), spec));
      else if (!spec.startsWith('node:') && !builtins.has(spec))
        packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  for (const e of entries) visit(e);
  return { entries, files, packages: [...packages].sort() };
}

describe('electron-builder.yml', () => {
  it('names the app and builds for Linux (AppImage, deb), macOS (dmg) and Windows (nsis)', () => {
    expect(config.appId).toBe('dev.gradproof.app');
    expect(config.productName).toBe('GradProof');
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.mac.target).toEqual(['dmg']);
    expect(config.win.target).toEqual(['nsis']);
  });

  it('points at icons that exist (a 1024×1024 PNG)', () => {
    for (const os of ['linux', 'mac', 'win']) {
      const icon = path.join(ROOT, config[os].icon);
      expect(existsSync(icon), icon).toBe(true);
      const png = readFileSync(icon);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(1024);
      expect(png.readUInt32BE(20)).toBe(1024);
    }
  });

  it('ships only the built output and runtime resources', () => {
    const files: string[] = config.files;
    expect(files).toContain('dist/**/*');
    expect(files).toContain('!dist/**/*.map');
    for (const f of files.filter((x) => !x.startsWith('!')))
      expect(f).toMatch(/^(dist|resources|bin)\/|^package\.json$/);
    expect(files.some((f) => /^(app|main|renderer|tests|scripts)\//.test(f))).toBe(false);
    expect(config.extraMetadata.main).toBe(pkg.main);
    expect(pkg.main).toBe('dist/main/main.js');
  });

  it('rebuilds better-sqlite3 for Electron', () => {
    expect(config.npmRebuild).toBe(true);
    expect(config.buildDependenciesFromSource).toBe(true);
    expect(pkg.dependencies['better-sqlite3']).toBeDefined();
    expect(pkg.devDependencies.electron).toBe('45.5.0');
    expect(pkg.devDependencies['electron-builder']).toBeDefined();
    expect(pkg.scripts.dist).toMatch(/electron-builder/);
  });

  it('passes electron-builder 26’s own configuration check (its scheme.json)', async () => {
    const logger = { isEnabled: false, add: () => undefined };
    await expect(builder.validateConfiguration(config, logger)).resolves.toBeUndefined();
    // The check is live: a misspelt fuse is refused.
    await expect(
      builder.validateConfiguration({ ...config, electronFuses: { ...config.electronFuses, runAsNod: false } }, logger),
    ).rejects.toThrow(/electronFuses/);
  });

  it('flips the Electron fuses that close code-injection paths', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      grantFileProtocolExtraPrivileges: false,
    });
    expect(config.asar ?? true).not.toBe(false);
  });
});

describe('asarUnpack: exactly what must be a real file', () => {
  const unpacked = unpackFilter();
  const distFiles = walk(path.join(ROOT, 'dist')).filter((f) => !f.endsWith('.map'));
  const closure = workerClosure();

  it('finds the worker entries where the code starts them (compiledSibling)', () => {
    expect(closure.entries).toEqual(
      expect.arrayContaining(['dist/app/node/sweep/sweep-worker.js', 'dist/app/node/subjects/module-host-worker.js']),
    );
  });

  it('unpacks every worker entry with every module it imports, and no other built file', () => {
    expect(distFiles.filter(unpacked).sort()).toEqual([...closure.files].sort());
  });

  it('workers import no shipped package (it would have to be unpacked too)', () => {
    const shipped = closure.packages.filter((p) => pkg.dependencies[p]);
    expect(shipped).toEqual([]);
    // tsx loads .ts module subjects; it is a devDependency, so a packaged app has
    // no TypeScript loader (JavaScript module subjects work).
    expect(closure.packages).toEqual(['tsx']);
  });

  it('unpacks the Python adapter and native addons, but not their neighbours', () => {
    for (const f of walk(path.join(ROOT, 'resources', 'adapters', 'python'))) expect(unpacked(f), f).toBe(true);
    expect(unpacked('node_modules/better-sqlite3/build/Release/better_sqlite3.node')).toBe(true);
    for (const f of [
      'node_modules/better-sqlite3/lib/database.js',
      'node_modules/better-sqlite3/package.json',
      'node_modules/piscina/dist/worker.js',
      'package.json',
      'dist/main/main.js',
      'dist/main/preload.cjs',
      'dist/renderer/index.html',
      'dist/app/node/api/service.js',
      'resources/datasets/payments/payments.csv',
      'resources/models/payments-mlp.json',
      'resources/examples/js/tiny-mlp.mjs',
    ])
      expect(unpacked(f), f).toBe(false);
    expect(config.asar.smartUnpack).toBe(false);
  });

  it('the unpacked files work on their own: each worker loads with nothing else beside it', async () => {
    // app.asar.unpacked as electron-builder would lay it out: only the matched files,
    // no package.json above them (unpacking one would put "main" outside the asar's
    // integrity check), so Node's module syntax detection must make them ES modules.
    const unpackedRoot = mkdtempSync(path.join(tmpdir(), 'gp-unpacked-'));
    try {
      for (const f of distFiles.filter(unpacked)) {
        mkdirSync(path.dirname(path.join(unpackedRoot, f)), { recursive: true });
        copyFileSync(path.join(ROOT, f), path.join(unpackedRoot, f));
      }
      const sweep = pathToFileURL(path.join(unpackedRoot, 'dist/app/node/sweep/sweep-worker.js')).href;
      const loaded = await new Promise((resolve, reject) => {
        const w = new Worker(
          `import(${JSON.stringify(sweep)}).then((m) => require('node:worker_threads').parentPort.postMessage(typeof m.default))`,
          { eval: true },
        );
        w.once('message', resolve).once('error', reject);
      });
      expect(loaded).toBe('function');

      const host = new Worker(path.join(unpackedRoot, 'dist/app/node/subjects/module-host-worker.js'), {
        workerData: { modulePath: path.join(ROOT, 'resources/examples/js/tiny-mlp.mjs') },
      });
      const replies: { id: number; result?: unknown; error?: unknown }[] = [];
      await new Promise<void>((resolve, reject) => {
        host.on('message', (r: (typeof replies)[number]) => {
          replies.push(r);
          if (r.id === 0 && r.result === 'ready') host.postMessage({ id: 1, method: 'describe' });
          if (r.id === 1 || r.error) resolve();
        });
        host.once('error', reject);
      });
      await host.terminate();
      expect(replies[0]).toEqual({ id: 0, result: 'ready' });
      expect(replies[1]).toMatchObject({ id: 1, result: { groups: expect.any(Array), theta: expect.any(Array) } });
    } finally {
      rmSync(unpackedRoot, { recursive: true, force: true });
    }
  });
});

describe('paths in a packaged app', () => {
  it('worker scripts and the Python adapter resolve to the unpacked copies', async () => {
    const { unpacked } = await import('../../app/node/util/compiled-path.js');
    expect(
      unpacked(path.join('/opt/GradProof/resources', 'app.asar', 'dist', 'app', 'node', 'sweep', 'sweep-worker.js')),
    ).toBe(
      path.join('/opt/GradProof/resources', 'app.asar.unpacked', 'dist', 'app', 'node', 'sweep', 'sweep-worker.js'),
    );
    expect(unpacked('/work/main/dist/app/x.js')).toBe('/work/main/dist/app/x.js');
  });
});
