import { closeSync, constants, openSync, readSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { InputError } from '../../core/errors.js';
import { MAX_PASSPHRASE_LENGTH } from '../../core/identity/passphrase-strength.js';

/** A passphrase file read up to a bound: /dev/zero or a log file given by mistake is refused, not slurped. */
function readBounded(file: string, max: number): string {
  const fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > max)
        throw new InputError(
          `--passphrase-file ${file}: the file is longer than a passphrase can be (${MAX_PASSPHRASE_LENGTH} characters); give a file holding only the passphrase`,
        );
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

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
  /** For a new passphrase: refuse a weak one before asking for it again. */
  validate?: (passphrase: string) => void,
): Promise<string> {
  if (opts.passphraseFile) {
    let text: string;
    try {
      text = readBounded(opts.passphraseFile, 4 * MAX_PASSPHRASE_LENGTH + 8);
    } catch (err) {
      if (err instanceof InputError) throw err;
      throw new InputError(
        `--passphrase-file ${opts.passphraseFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    const pass = text.replace(/\r?\n$/, '');
    validate?.(pass);
    return pass;
  }
  if (process.env.GRADPROOF_PASSPHRASE) {
    validate?.(process.env.GRADPROOF_PASSPHRASE);
    return process.env.GRADPROOF_PASSPHRASE;
  }
  if (!process.stdin.isTTY)
    throw new InputError(
      `${purpose} needs a passphrase: give --passphrase-file FILE or set GRADPROOF_PASSPHRASE, or run in a terminal to be asked`,
    );
  const first = await promptHidden(`Passphrase for ${purpose}: `);
  validate?.(first);
  if (confirm) {
    const again = await promptHidden('Repeat it: ');
    if (again !== first) throw new InputError('the two passphrases differ; nothing was created');
  }
  return first;
}
