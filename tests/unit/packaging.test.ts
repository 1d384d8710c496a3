import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const config = parse(readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8')) as Record<string, any>;
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, any>;

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

  it('unpacks native modules and thread-loaded code from the asar, and rebuilds better-sqlite3 for Electron', () => {
    expect(config.asarUnpack).toEqual(
      expect.arrayContaining(['node_modules/better-sqlite3/**/*', 'dist/app/**/*', 'resources/adapters/**/*']),
    );
    expect(config.npmRebuild).toBe(true);
    expect(config.buildDependenciesFromSource).toBe(true);
    expect(pkg.dependencies['better-sqlite3']).toBeDefined();
    expect(pkg.devDependencies.electron).toBe('45.5.0');
    expect(pkg.devDependencies['electron-builder']).toBeDefined();
    expect(pkg.scripts.dist).toMatch(/electron-builder/);
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
