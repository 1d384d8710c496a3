import { homedir } from 'node:os';
import path from 'node:path';

/**
 * Where GradProof keeps its database unless told otherwise (--db, GRADPROOF_DB):
 * the platform's per-user data folder. The desktop app passes Electron's
 * userData path instead.
 */
export function defaultDatabasePath(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string {
  if (env.GRADPROOF_DB) return env.GRADPROOF_DB;
  const home = homedir();
  const dir =
    platform === 'darwin'
      ? path.join(home, 'Library', 'Application Support', 'GradProof')
      : platform === 'win32'
        ? path.join(env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'GradProof')
        : path.join(env.XDG_DATA_HOME ?? path.join(home, '.local', 'share'), 'gradproof');
  return path.join(dir, 'gradproof.db');
}
