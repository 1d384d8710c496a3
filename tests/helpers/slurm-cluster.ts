import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, hostname, tmpdir, userInfo } from 'node:os';
import path from 'node:path';

/**
 * A one-node Slurm cluster started inside this machine for a test, without systemd: its own
 * munge key and munged (on a private socket), a slurm.conf naming this host, slurmctld and
 * slurmd in the foreground, state, spool, pid and log files in one temporary folder. `stop()`
 * cancels the jobs it ran, ends exactly the daemons it started (by PID) and removes the folder.
 * Every wait is bounded; a daemon that does not come up fails the start with the daemons' logs.
 */
export interface SlurmCluster {
  dir: string;
  /** The environment that points Slurm's commands (sbatch, squeue, scancel) at this cluster. */
  env: NodeJS.ProcessEnv;
  node: string;
  /** The last lines of every daemon's log, for a failure message. */
  logs: () => string;
  stop: () => Promise<void>;
}

const NEEDED = ['munged', 'mungekey', 'munge', 'slurmctld', 'slurmd', 'sbatch', 'sinfo', 'squeue', 'scancel'];

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A program's path: on PATH, or in the sbin folders a non-root PATH often leaves out. */
function which(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  return dirs.map((d) => path.join(d, cmd)).find(executable);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function tail(file: string, lines = 25): string {
  if (!existsSync(file)) return `(${path.basename(file)}: no log)`;
  const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  return `--- ${path.basename(file)} (last ${lines} lines) ---\n${text}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Daemon {
  name: string;
  child: ChildProcess;
  exited: boolean;
}

export async function startSlurmCluster(options: { cpus?: number } = {}): Promise<SlurmCluster> {
  const missing = NEEDED.filter((c) => !which(c));
  if (missing.length)
    throw new Error(
      `the Slurm test needs ${missing.join(', ')}: apt-get install slurmctld slurmd slurm-client munge (npm test installs them as root)`,
    );
  const root = process.getuid?.() === 0;
  const user = userInfo().username;
  // Slurm and munge read through these paths as their own users: the folder must be traversable.
  const dir = mkdtempSync(path.join(tmpdir(), 'gp-slurm-'));
  chmodSync(dir, 0o755);
  const mungeDir = path.join(dir, 'munge');
  for (const d of ['state', 'spool', 'log', 'munge']) mkdirSync(path.join(dir, d), { mode: 0o755 });
  // As root, munge runs as its own user (munged refuses root), started directly so that its PID is ours to end.
  const id = (flag: string): number => Number(spawnSync('id', [flag, 'munge'], { encoding: 'utf8' }).stdout.trim());
  const asMunge = root ? { uid: id('-u'), gid: id('-g') } : {};
  if (root) chownSync(mungeDir, asMunge.uid!, asMunge.gid!);
  const key = path.join(mungeDir, 'munge.key');
  const socket = path.join(mungeDir, 'munge.sock');
  const daemons: Daemon[] = [];
  const logFiles = [
    path.join(dir, 'log', 'munged.out'),
    path.join(dir, 'log', 'slurmctld.log'),
    path.join(dir, 'log', 'slurmctld.out'),
    path.join(dir, 'log', 'slurmd.log'),
    path.join(dir, 'log', 'slurmd.out'),
  ];
  const logs = (): string => logFiles.map((f) => tail(f)).join('\n');
  const conf = path.join(dir, 'slurm.conf');
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf };

  const start = (name: string, cmd: string, args: string[], ids: { uid?: number; gid?: number } = {}): Daemon => {
    const out = openSync(path.join(dir, 'log', `${name}.out`), 'a');
    const child = spawn(which(cmd)!, args, { env, stdio: ['ignore', out, out], ...ids });
    const d: Daemon = { name, child, exited: false };
    child.on('exit', () => (d.exited = true));
    daemons.push(d);
    return d;
  };

  const stop = async (): Promise<void> => {
    // Jobs of this cluster first (their slurmstepd processes are slurmd's, not ours to leave behind).
    if (existsSync(conf)) {
      const q = spawnSync('squeue', ['-h', '-o', '%A'], { env, encoding: 'utf8', timeout: 10_000 });
      const ids = [...new Set((q.stdout ?? '').split(/\s+/).filter(Boolean))];
      if (ids.length) spawnSync('scancel', ids, { env, timeout: 10_000 });
    }
    for (const d of [...daemons].reverse()) {
      if (d.exited) continue;
      d.child.kill('SIGTERM');
      for (let i = 0; i < 100 && !d.exited; i++) await sleep(100);
      if (!d.exited) d.child.kill('SIGKILL');
      for (let i = 0; i < 50 && !d.exited; i++) await sleep(100);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const fail = async (why: string): Promise<never> => {
    const text = logs();
    await stop();
    throw new Error(`the one-node Slurm cluster did not start: ${why}\n${text}`);
  };

  const waitFor = async (what: string, ok: () => boolean, seconds: number, watch: Daemon[]): Promise<void> => {
    const until = Date.now() + seconds * 1000;
    while (!ok()) {
      const dead = watch.find((d) => d.exited);
      if (dead) await fail(`${dead.name} exited while waiting for ${what}`);
      if (Date.now() > until) await fail(`${what}: not within ${seconds} s`);
      await sleep(250);
    }
  };

  // munge: a fresh key, and munged on a private socket, as the munge user.
  const made = spawnSync(which('mungekey')!, ['--create', `--keyfile=${key}`], {
    encoding: 'utf8',
    timeout: 30_000,
    ...asMunge,
  });
  if (made.status !== 0) await fail(`mungekey --create: ${made.stderr || made.error?.message}`);
  const munged = start(
    'munged',
    'munged',
    [
      '--foreground',
      `--socket=${socket}`,
      `--key-file=${key}`,
      `--pid-file=${path.join(mungeDir, 'munged.pid')}`,
      `--seed-file=${path.join(mungeDir, 'munged.seed')}`,
      `--log-file=${path.join(mungeDir, 'munged.log')}`,
    ],
    asMunge,
  );
  await waitFor(
    'munged to answer on its socket',
    () => existsSync(socket) && spawnSync(which('munge')!, ['-n', '-S', socket], { stdio: 'ignore' }).status === 0,
    20,
    [munged],
  );

  // Slurm: one node (this host), one partition, no cgroups, no accounting.
  const node = hostname().split('.')[0]!;
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  const cpus = options.cpus ?? availableParallelism();
  const slurmUser = root ? 'root' : user;
  writeFileSync(
    conf,
    [
      'ClusterName=gradproof-test',
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${dPort}`,
      `SlurmUser=${slurmUser}`,
      `SlurmdUser=${slurmUser}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${path.join(dir, 'state')}`,
      `SlurmdSpoolDir=${path.join(dir, 'spool')}`,
      `SlurmctldPidFile=${path.join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${path.join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${path.join(dir, 'log', 'slurmctld.log')}`,
      `SlurmdLogFile=${path.join(dir, 'log', 'slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_CPU',
      'JobAcctGatherType=jobacct_gather/none',
      'AccountingStorageType=accounting_storage/none',
      'MpiDefault=none',
      'ReturnToService=2',
      'SchedulerType=sched/backfill',
      // Quick turnaround for a test: finished jobs leave the controller's memory soon.
      'MinJobAge=10',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN`,
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  const ctld = start('slurmctld', 'slurmctld', ['-D', '-i', '-f', conf]);
  const slurmd = start('slurmd', 'slurmd', ['-D', '-N', node, '-f', conf]);
  const state = (): string =>
    (spawnSync('sinfo', ['-h', '-N', '-o', '%T'], { env, encoding: 'utf8', timeout: 10_000 }).stdout ?? '').trim();
  await waitFor('the node to be idle (sinfo)', () => state() === 'idle', 60, [munged, ctld, slurmd]);
  return { dir, env, node, logs, stop };
}
