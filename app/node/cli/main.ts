import { constants as osConstants } from 'node:os';
import { Command, CommanderError } from 'commander';
import { checkOneD } from '../../core/check/one-d.js';
import { runAndRecord } from '../check/record.js';
import {
  type CheckFlags,
  addCheckOptions,
  addShardOptions,
  checkJson,
  exitCodeFor,
  requestFromFlags,
} from './check-command.js';
import { registerClusterCommands, runShardCheck } from './cluster-commands.js';
import { ProgressBar } from './progress-bar.js';
import { openStoreForCli, registerStoreCommands } from './store-commands.js';
import { registerServeCommands } from './serve-commands.js';
import { formatCheck, formatOneD } from './format.js';
import { finiteNumber, positiveNumber, wholeNumber } from './options.js';
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

/**
 * SIGINT (Ctrl-C), SIGTERM and SIGHUP cancel the running check: workers stopped, subject
 * processes killed with their process groups, the run marked cancelled. A second signal
 * quits at once.
 */
function cancelOnSignals(): { signal: AbortSignal; received: () => NodeJS.Signals | undefined; dispose: () => void } {
  const ac = new AbortController();
  let got: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (ac.signal.aborted) process.exit(128 + osConstants.signals[sig]);
    got = sig;
    process.stderr.write(`\ncancelling… (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again to quit at once)\n`);
    ac.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, handler);
  return { signal: ac.signal, received: () => got, dispose: () => signals.forEach((s) => process.off(s, handler)) };
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

  addShardOptions(
    addCheckOptions(
      program
        .command('check')
        .description(
          "check a backward pass against finite differences (default: the notebook's fraud network and test case)",
        ),
    ),
  ).action(async (flags: CheckFlags) => {
    const request = requestFromFlags(flags);
    const cancel = cancelOnSignals();
    if (flags.shard !== undefined || flags.out !== undefined) return runShardCheck(request, flags, cancel, setExit);
    const store = flags.save === false ? undefined : openStoreForCli(program);
    const bar = (flags.progress ?? !flags.json) ? new ProgressBar() : undefined;
    try {
      const outcome = await runAndRecord(request, store, {
        signal: cancel.signal,
        ...(bar ? { onProgress: (p) => bar.update(p) } : {}),
      }).finally(() => bar?.finish());
      if (flags.json) process.stdout.write(`${JSON.stringify(checkJson(outcome, request), null, 2)}\n`);
      else {
        process.stdout.write(`${formatCheck(outcome.result, outcome.context)}\n`);
        if (outcome.runId)
          process.stdout.write(
            `\nsaved as ${outcome.runId} (gradproof runs show ${outcome.runId}; gradproof report create ${outcome.runId} --as NAME)\n`,
          );
      }
      setExit(exitCodeFor(outcome.result));
    } catch (err) {
      // A signal ends the run as cancelled; the exit status says which signal (128 + its number).
      if (errorKind(err) === 'cancelled' && cancel.received()) {
        process.stderr.write(`gradproof: cancelled by ${cancel.received()}; the run is recorded as cancelled\n`);
        setExit(128 + osConstants.signals[cancel.received()!]);
        return;
      }
      throw err;
    } finally {
      cancel.dispose();
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
    .option('--workers <n>', 'worker threads (default: the number of cores)', wholeNumber('--workers', 1, 64))
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
  registerClusterCommands(program, setExit, cancelOnSignals);
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
