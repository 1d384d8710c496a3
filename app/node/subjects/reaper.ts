import { type ChildProcess, spawn } from 'node:child_process';
import { SUBJECT_TOKEN_VAR } from './process-tree.js';

/**
 * The reaper: a small /bin/sh process, started with the first subject, that outlives GradProof
 * when GradProof is killed outright (SIGKILL, a crash) and then kills every subject GradProof
 * started. GradProof registers each subject's process group and token on the reaper's stdin;
 * when that pipe closes, however GradProof ended, the reaper kills those groups and every
 * process still carrying a token (a subject that left its group with setsid), then exits.
 * It ignores the terminal's signals (its own process group): Ctrl-C is GradProof's to handle.
 * A shell, not a Node process, because the packaged app's Electron binary does not run scripts
 * as Node (the RunAsNode fuse is off). Only digits and hex tokens GradProof made are ever sent.
 */
const SCRIPT = `
trap '' INT TERM HUP
groups=''
tokens=''
while read -r what value; do
  case "$what:$value" in
    *group:*[!0-9]*|*group:) ;;
    group:*) groups="$groups $value " ;;
    ungroup:*) groups=$(printf '%s' "$groups" | sed "s/ $value / /") ;;
    *token:*[!0-9a-f]*|*token:) ;;
    token:*) tokens="$tokens $value " ;;
    untoken:*) tokens=$(printf '%s' "$tokens" | sed "s/ $value / /") ;;
  esac
done
for g in $groups; do kill -KILL -- "-$g" 2>/dev/null; done
for t in $tokens; do
  for e in /proc/[0-9]*/environ; do
    if grep -qa "${SUBJECT_TOKEN_VAR}=$t" "$e" 2>/dev/null; then
      p=\${e%/environ}; kill -KILL "\${p#/proc/}" 2>/dev/null
    fi
  done
done
`;

let reaper: ChildProcess | undefined;

function send(line: string): void {
  if (!reaper) {
    reaper = spawn('/bin/sh', ['-c', SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    reaper.stdin!.on('error', () => undefined);
    reaper.on('error', () => undefined);
    // GradProof may exit while the reaper waits: it must not hold GradProof's event loop open.
    reaper.unref();
    (reaper.stdin as unknown as { unref?: () => void }).unref?.();
  }
  reaper.stdin!.write(`${line}\n`);
}

/** A subject's process group and token, to be killed if GradProof dies before it closes them. */
export function registerSubject(pgid: number, token: string): void {
  send(`group ${pgid}`);
  send(`token ${token}`);
}

/** A subject closed and gone: its group id may be reused by an unrelated process, so the reaper forgets it. */
export function unregisterSubject(pgid: number, token: string): void {
  if (!reaper) return;
  send(`ungroup ${pgid}`);
  send(`untoken ${token}`);
}
