import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { InputError } from '../../core/errors.js';

/** Ask on the terminal without echoing what is typed. */
async function promptHidden(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const mutable = rl as unknown as { _writeToOutput: (s: string) => void };
  let asking = true;
  mutable._writeToOutput = (s: string) => {
    if (asking) process.stderr.write(s.includes(question) ? question : '');
  };
  try {
    const answer = await rl.question(question);
    asking = false;
    return answer;
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/**
 * The passphrase for one signing: --passphrase-file, else GRADPROOF_PASSPHRASE
 * (for scripts), else asked on the terminal. Never taken as a plain argument.
 */
export async function obtainPassphrase(
  opts: { passphraseFile?: string },
  purpose: string,
  confirm = false,
): Promise<string> {
  if (opts.passphraseFile) {
    try {
      return readFileSync(opts.passphraseFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new InputError(
        `--passphrase-file ${opts.passphraseFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
  }
  if (process.env.GRADPROOF_PASSPHRASE) return process.env.GRADPROOF_PASSPHRASE;
  if (!process.stdin.isTTY)
    throw new InputError(
      `${purpose} needs a passphrase: give --passphrase-file FILE or set GRADPROOF_PASSPHRASE, or run in a terminal to be asked`,
    );
  const first = await promptHidden(`Passphrase for ${purpose}: `);
  if (confirm) {
    const again = await promptHidden('Repeat it: ');
    if (again !== first) throw new InputError('the two passphrases differ; nothing was created');
  }
  return first;
}
