import { Command, CommanderError, Option } from 'commander';
import { checkOneD } from '../../core/check/one-d.js';
import { SCHEMES } from '../../core/check/schemes.js';
import { parseDefect } from '../../core/model/defects.js';
import { type CheckOptions, checkJson, exitCodeFor, runAndRecord } from './check-command.js';
import { openStoreForCli, registerStoreCommands } from './store-commands.js';
import { registerServeCommands } from './serve-commands.js';
import { formatCheck, formatOneD } from './format.js';
import { collect, finiteNumber, oneOf, positiveNumber, wholeNumber } from './options.js';
import { runAudit } from './audit-command.js';
import { VERSION } from '../version.js';
import { type ErrorKind, errorKind, errorMessage } from '../../core/errors.js';

/** Exit statuses, documented in the README. */
export const EXIT = {
  pass: 0,
  fail: 1,
  usage: 2,
  inconclusive: 3,
  subjectFailed: 4,
  internal: 70,
  cancelled: 130,
} as const;

/** Each kind of error as the CLI says it: one line on stderr, and the exit status. */
const CLI_ERRORS: Record<ErrorKind, { exit: number; say: (err: unknown) => string }> = {
  invalid: { exit: EXIT.usage, say: errorMessage },
  input: { exit: EXIT.usage, say: errorMessage },
  'not-found': { exit: EXIT.usage, say: errorMessage },
  // The subject failed to run: that is not a verdict on its backward pass.
  subject: { exit: EXIT.subjectFailed, say: (err) => `the check could not be run: ${errorMessage(err)}` },
  cancelled: { exit: EXIT.cancelled, say: () => 'cancelled; no result was recorded' },
  internal: { exit: EXIT.internal, say: (err) => `internal error: ${(err as Error).stack ?? String(err)}` },
};

function defectOption(value: string): ReturnType<typeof parseDefect> {
  return parseDefect(value);
}

/** Ctrl-C cancels the running sweep (workers stopped) instead of killing mid-write. */
function cancelOnSigint(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const handler = (): void => {
    if (ac.signal.aborted) process.exit(EXIT.cancelled);
    process.stderr.write('\ncancelling… (Ctrl-C again to quit at once)\n');
    ac.abort();
  };
  process.on('SIGINT', handler);
  return { signal: ac.signal, dispose: () => process.off('SIGINT', handler) };
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('gradproof')
    .description("Proof that a neural network's backpropagation is correct: finite-difference gradient checking.")
    .version(VERSION, '-V, --version')
    .option('--db <path>', 'the GradProof database (default: GRADPROOF_DB, else your data folder)')
    .exitOverride()
    // One line per error, in the same voice as every other error: "gradproof: … (see --help)".
    .configureOutput({
      outputError: (str, write) =>
        write(
          `gradproof: ${str
            .replace(/^error: /, '')
            .trimEnd()
            .replace(/\s*\n\s*/g, ' ')} (see gradproof --help)\n`,
        ),
    });

  program
    .command('check')
    .description(
      "check a backward pass against finite differences (default: the notebook's fraud network and test case)",
    )
    .option(
      '--model <ref>',
      'builtin:notebook-fraud, builtin:payments-mlp, mlp:IN,HIDDEN…,OUT, or a JSON model spec file',
      'builtin:notebook-fraud',
    )
    .option(
      '--weights <file>',
      'parameters for --model: .npz (numpy.savez), .safetensors or .json, by group name (default: drawn from --seed)',
    )
    .option(
      '--data <ref>',
      'builtin:notebook-case, builtin:payments, random:ROWS, or a .csv, .npy, .npz or .json file',
      'builtin:notebook-case',
    )
    .option('--label <column>', 'the label column of a CSV (by name; default "label") or .npy (by index; default -1)')
    .option('--standardize', 'scale every feature to mean 0, sd 1 after loading')
    .option(
      '--subject <command>',
      'audit your own implementation: a command speaking the subject protocol (e.g. "python3 my_model.py"), or module:PATH.js|.ts',
    )
    .option(
      '--timeout <seconds>',
      'how long a subject may take to answer one request',
      positiveNumber('--timeout'),
      120,
    )
    .addOption(
      new Option('--backprop <kind>', "the built-in backward: correct, or the notebook's buggy one (W2 ×2, b1 ×4)")
        .choices(['correct', 'notebook-buggy'])
        .default('correct'),
    )
    .option(
      '--defect <GROUP:KIND[:FACTOR]>',
      'inject a defect into the backward (repeatable): W2:scale:2, b1:flip, W1:zero, W2:transpose, layer1:drop-derivative',
      collect(defectOption),
    )
    .option('--epsilon <e>', 'perturbation size ε', positiveNumber('--epsilon'), 1e-7)
    .option(
      '--threshold <t>',
      'largest difference that passes (the notebook: 2e-7)',
      positiveNumber('--threshold'),
      2e-7,
    )
    .option('--scheme <s>', `finite-difference scheme: ${SCHEMES.join(', ')}`, oneOf('--scheme', SCHEMES), 'central')
    .option(
      '--evaluation <mode>',
      'incremental (reuses cached activations) or full (whole forward pass per evaluation)',
      oneOf('--evaluation', ['incremental', 'full'] as const),
      'incremental',
    )
    .option(
      '--mode <mode>',
      'full (every entry) or fast (k random directions per group; failing groups swept entry by entry)',
      oneOf('--mode', ['full', 'fast'] as const),
      'full',
    )
    .option(
      '--directions <k>',
      'fast mode: random directions per parameter group',
      wholeNumber('--directions', 1, 10000),
      4,
    )
    .option(
      '--detect <size>',
      'fast mode: relative error size whose chance of being missed is reported',
      positiveNumber('--detect'),
      1e-3,
    )
    .option('--epsilon-sweep', 'also record the difference for ε = 1e-1 … 1e-10, its slope and the round-off floor')
    .option('--workers <n>', 'worker threads (default: the number of cores)', wholeNumber('--workers', 1, 256))
    .option(
      '--seed <n>',
      'seed for synthetic weights and data (numpy RandomState)',
      wholeNumber('--seed', 0, 4294967295),
      1,
    )
    .option('--json', 'print one JSON object on stdout')
    .option('--progress', 'show the progress bar even with --json')
    .option('--no-save', 'do not save the run in the database')
    .action(async (opts: CheckOptions & { save: boolean }, cmd: Command) => {
      const sig = cancelOnSigint();
      opts.explicit = Object.keys(opts).filter((k) => cmd.getOptionValueSource(k) === 'cli');
      const store = opts.save ? openStoreForCli(program) : undefined;
      try {
        const outcome = await runAndRecord(opts, sig.signal, store);
        if (opts.json) process.stdout.write(`${JSON.stringify(checkJson(outcome, opts), null, 2)}\n`);
        else {
          process.stdout.write(`${formatCheck(outcome.result, outcome.context)}\n`);
          if (outcome.runId)
            process.stdout.write(
              `\nsaved as ${outcome.runId} (gradproof runs show ${outcome.runId}; gradproof report create ${outcome.runId} --as NAME)\n`,
            );
        }
        setExit(exitCodeFor(outcome.result));
      } finally {
        sig.dispose();
        store?.db.close();
      }
    });

  program
    .command('check-1d')
    .description("the notebook's 1-D case: J(θ) = θx, checked at one θ")
    .option('--x <x>', 'the input x', finiteNumber('--x'), 2)
    .option('--theta <θ>', 'the parameter θ', finiteNumber('--theta'), 4)
    .option('--epsilon <e>', 'perturbation size ε', positiveNumber('--epsilon'), 1e-7)
    .option(
      '--threshold <t>',
      'largest difference that passes (the notebook: 1e-7)',
      positiveNumber('--threshold'),
      1e-7,
    )
    .option('--json', 'print one JSON object on stdout')
    .action((opts: { x: number; theta: number; epsilon: number; threshold: number; json?: boolean }) => {
      const r = checkOneD(opts.x, opts.theta, opts.epsilon, opts.threshold);
      process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatOneD(r)}\n`);
      setExit(r.verdict === 'pass' ? EXIT.pass : EXIT.fail);
    });

  program
    .command('audit')
    .description(
      "the notebook's story on the built-in example: the buggy backward fails, the fixed one passes, the 1-D case passes",
    )
    .option('--workers <n>', 'worker threads (default: the number of cores)', wholeNumber('--workers', 1, 256))
    .action(async (opts: { workers?: number }) => {
      const store = openStoreForCli(program);
      try {
        setExit(await runAudit(opts, store));
      } finally {
        store.db.close();
      }
    });
  registerStoreCommands(program, setExit);
  registerServeCommands(program, () => openStoreForCli(program), setExit);
  return program;
}

/** Run the CLI; resolves to the exit status (never throws for bad input). */
export async function main(argv: string[]): Promise<number> {
  // A reader that went away (`gradproof … | head`) is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors were printed by commander.
      return err.exitCode === 0 ? 0 : EXIT.usage;
    }
    const kind = errorKind(err);
    process.stderr.write(`gradproof: ${CLI_ERRORS[kind].say(err)}\n`);
    return CLI_ERRORS[kind].exit;
  }
}
