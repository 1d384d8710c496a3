import { checkOneD } from '../../core/check/one-d.js';
import { type CheckOptions, runCheck } from './check-command.js';
import { formatCheck, formatOneD } from './format.js';

const base: Omit<CheckOptions, 'backprop'> = {
  model: 'builtin:notebook-fraud',
  data: 'builtin:notebook-case',
  epsilon: 1e-7,
  threshold: 2e-7,
  scheme: 'central',
  evaluation: 'incremental',
  mode: 'full',
  directions: 4,
  detect: 1e-3,
  timeout: 60,
  seed: 1,
};

/**
 * The notebook's story end to end. Exit 0 when the story holds (buggy fails,
 * fixed passes, 1-D passes), 1 otherwise.
 */
export async function runAudit(opts: { workers?: number }): Promise<number> {
  const say = (s: string): boolean => process.stdout.write(`${s}\n`);
  say('GradProof audit of the built-in example: the gradient-checking notebook\'s fraud network\n');
  say('1. The 1-D warm-up, J(θ) = θx at x = 2, θ = 4');
  const one = checkOneD(2, 4);
  say(formatOneD(one));
  say('\n2. The notebook\'s backward_propagation_n, as given (with its planted bugs)');
  const buggy = await runCheck({ ...base, backprop: 'notebook-buggy', ...(opts.workers ? { workers: opts.workers } : {}) });
  say(formatCheck(buggy.result, buggy.context));
  say('\n3. The same backward with the bugs fixed');
  const fixed = await runCheck({ ...base, backprop: 'correct', ...(opts.workers ? { workers: opts.workers } : {}) });
  say(formatCheck(fixed.result, fixed.context));
  const holds = one.verdict === 'pass' && buggy.result.verdict === 'fail' && fixed.result.verdict === 'pass';
  say('\nSummary');
  say(`  1-D check           ${one.verdict.toUpperCase().padEnd(5)} difference ${one.difference.toExponential(4)}`);
  say(`  buggy backward      ${buggy.result.verdict.toUpperCase().padEnd(5)} difference ${buggy.result.difference.toPrecision(12)}`);
  say(`  fixed backward      ${fixed.result.verdict.toUpperCase().padEnd(5)} difference ${fixed.result.difference.toExponential(4)}`);
  say(holds ? '\nThe gradient check caught the planted bugs and passes the fix.' : '\nUNEXPECTED: the notebook\'s story did not hold; see above.');
  return holds ? 0 : 1;
}
