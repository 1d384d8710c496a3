#!/usr/bin/env node
// `npm test` needs a few programs from the operating system: Chromium (end-to-end and PDF
// tests), poppler (PDF to text and PNG), the sqlite3 shell (tampering tests), openssl
// (offline bundle verification), PyTorch for Debian's /usr/bin/python3 (the torch
// adapter's tests run real torch, never a stand-in), and Slurm with munge (the sharded-audit
// tests start a one-node cluster of their own). On a fresh Debian machine this installs the missing ones
// with apt-get (as root), so the README's test command passes by itself; elsewhere it says
// what to install and stops before any test runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** [what the tests run, the Debian package that provides it, a check that it is there] */
const NEEDS = [
  ['chromium', 'chromium', () => has('chromium')],
  ['pdftotext, pdftoppm', 'poppler-utils', () => has('pdftotext') && has('pdftoppm')],
  ['sqlite3', 'sqlite3', () => has('sqlite3')],
  ['openssl', 'openssl', () => has('openssl')],
  ['torch for /usr/bin/python3', 'python3-torch', () => imports('/usr/bin/python3', 'torch, numpy')],
  ['slurmctld', 'slurmctld', () => has('slurmctld')],
  ['slurmd', 'slurmd', () => has('slurmd')],
  ['sbatch, sinfo, squeue, scancel', 'slurm-client', () => ['sbatch', 'sinfo', 'squeue', 'scancel'].every(has)],
  ['munged, mungekey, munge', 'munge', () => ['munged', 'mungekey', 'munge'].every(has)],
];

function imports(python, modules) {
  return spawnSync(python, ['-c', `import ${modules}`], { stdio: 'ignore' }).status === 0;
}

// Daemons live in sbin, which a non-root PATH often leaves out.
function has(cmd) {
  return (
    spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0 ||
    ['/usr/sbin', '/sbin'].some((d) => existsSync(`${d}/${cmd}`))
  );
}

const missing = NEEDS.filter(([, , ok]) => !ok());
if (missing.length === 0) process.exit(0);
const packages = [...new Set(missing.map(([, pkg]) => pkg))];
const canApt = existsSync('/usr/bin/apt-get') && process.getuid?.() === 0;
if (!canApt) {
  process.stderr.write(
    `npm test needs ${missing.map(([what]) => what).join(', ')}; install them first, e.g.\n  sudo apt-get install -y ${packages.join(' ')}\n`,
  );
  process.exit(1);
}
process.stderr.write(`npm test: installing ${packages.join(', ')} (apt-get)…\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
const still = NEEDS.filter(([, , ok]) => !ok());
if (still.length) {
  process.stderr.write(`npm test: ${still.map(([what]) => what).join(', ')} still missing after apt-get install\n`);
  process.exit(1);
}
