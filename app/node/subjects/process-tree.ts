import { readFileSync, readdirSync } from 'node:fs';

/** The environment variable every subject process carries, with a random value per subject instance. */
export const SUBJECT_TOKEN_VAR = 'GRADPROOF_SUBJECT_TOKEN';

/**
 * Kills every process of this user whose environment carries the subject token: what a
 * subject started and hid from its process group (setsid, a double fork) still inherited it.
 * Linux only (it reads /proc); elsewhere process groups are all there is.
 */
export function killByToken(token: string): number {
  const needle = Buffer.from(`${SUBJECT_TOKEN_VAR}=${token}\0`);
  let killed = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return 0;
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let env: Buffer;
    try {
      env = readFileSync(`/proc/${p}/environ`);
    } catch {
      continue; // gone, or another user's
    }
    if (env.includes(needle)) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        // gone meanwhile
      }
    }
  }
  return killed;
}
