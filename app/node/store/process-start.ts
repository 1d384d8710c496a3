import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * When a process started, in a form that tells it apart from a later process given the same
 * pid: on Linux the boot id and the start time in clock ticks (/proc/PID/stat field 22); on
 * macOS and the BSDs the start time `ps` prints (to the second). Undefined when the process
 * does not exist or the platform cannot tell.
 */
export function processStart(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = fields[19];
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      return ticks ? `linux:${boot}:${ticks}` : undefined;
    } catch {
      return undefined;
    }
  }
  if (process.platform === 'win32') return undefined;
  try {
    const out = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { PATH: '/bin:/usr/bin', LC_ALL: 'C', TZ: 'UTC' },
    }).trim();
    return out ? `ps:${out}` : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process recorded with a run: pid, host and start time, as JSON in runs.process. */
export interface RunProcess {
  pid: number;
  host: string;
  start: string | null;
}

let ownStart: string | null | undefined;
export function ownProcess(host: string): RunProcess {
  if (ownStart === undefined) ownStart = processStart(process.pid) ?? null;
  return { pid: process.pid, host, start: ownStart };
}

/**
 * Whether the process that recorded a run is gone: it no longer exists, or its pid now
 * belongs to another process (a different start time).
 */
export function processGone(p: RunProcess): { gone: boolean; why: string } {
  if (!alive(p.pid)) return { gone: true, why: `process ${p.pid} no longer exists` };
  if (p.start === null) return { gone: false, why: '' };
  const now = processStart(p.pid);
  if (now !== undefined && now !== p.start)
    return { gone: true, why: `process ${p.pid} ended; its pid now belongs to a later process` };
  return { gone: false, why: '' };
}
