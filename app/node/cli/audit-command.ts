import { checkOneD } from '../../core/check/one-d.js';
import { createReport, transition } from '../reports/reports.js';
import { createIdentity, listIdentities } from '../signing/identities.js';
import type { Store } from '../store/database.js';
import { type CheckRequest, checkRequestSchema } from '../../core/api/contract.js';
import { runAndRecord } from '../check/record.js';
import { formatCheck, formatOneD } from './format.js';

/** The notebook's network on its own test case, with the contract's defaults, and the backward asked for. */
function notebookRequest(backprop: 'correct' | 'notebook-buggy', workers?: number): CheckRequest {
  return checkRequestSchema.parse({ implementation: { kind: 'builtin', backprop }, ...(workers ? { workers } : {}) });
}

/** The demo author `npm run audit` signs with. Its passphrase is public: it is for demonstration only. */
export const DEMO_IDENTITY = { name: 'Demo Engineer', role: 'engineer', passphrase: 'gradproof-demo' } as const;

/**
 * The notebook's story end to end, saved: both runs, and a report of each prepared
 * (signed as author) by a demo identity, left for a reviewer to approve. Exit 0
 * when the story holds (buggy fails, fixed passes, 1-D passes), 1 otherwise.
 */
export async function runAudit(opts: { workers?: number }, store: Store): Promise<number> {
  const say = (s: string): boolean => process.stdout.write(`${s}\n`);
  say("GradProof audit of the built-in example: the gradient-checking notebook's fraud network\n");
  say('1. The 1-D warm-up, J(θ) = θx at x = 2, θ = 4');
  const one = checkOneD(2, 4);
  say(formatOneD(one));
  say("\n2. The notebook's backward_propagation_n, as given (with its planted bugs)");
  const buggy = await runAndRecord(notebookRequest('notebook-buggy', opts.workers), store);
  say(formatCheck(buggy.result, buggy.context));
  say('\n3. The same backward with the bugs fixed');
  const fixed = await runAndRecord(notebookRequest('correct', opts.workers), store);
  say(formatCheck(fixed.result, fixed.context));

  say('\n4. Reports');
  let demo = listIdentities(store).find((i) => i.name === DEMO_IDENTITY.name);
  if (!demo) {
    demo = createIdentity(store, DEMO_IDENTITY.name, DEMO_IDENTITY.role, DEMO_IDENTITY.passphrase);
    say(
      `  created the demo identity "${demo.name}" (engineer, key ${demo.fingerprint}); its passphrase is "${DEMO_IDENTITY.passphrase}": for demonstration only`,
    );
  }
  const reports = [buggy, fixed].map((run) =>
    transition(store, createReport(store, run.runId!, demo.id).id, 'prepare', demo.id, DEMO_IDENTITY.passphrase),
  );
  for (const r of reports)
    say(
      `  ${r.id}: ${r.statement.predicate.result.verdict.toUpperCase()} run ${r.runId}, prepared (signed as author by ${r.author.name})`,
    );
  say(`  saved in ${store.path}; a reviewer approves with: gradproof report approve ${reports[1]!.id} --as NAME`);

  const holds = one.verdict === 'pass' && buggy.result.verdict === 'fail' && fixed.result.verdict === 'pass';
  say('\nSummary');
  say(`  1-D check           ${one.verdict.toUpperCase().padEnd(5)} difference ${one.difference.toExponential(4)}`);
  say(
    `  buggy backward      ${buggy.result.verdict.toUpperCase().padEnd(5)} difference ${buggy.result.difference.toPrecision(12)}  (${buggy.runId})`,
  );
  say(
    `  fixed backward      ${fixed.result.verdict.toUpperCase().padEnd(5)} difference ${fixed.result.difference.toExponential(4)}  (${fixed.runId})`,
  );
  say(
    holds
      ? '\nThe gradient check caught the planted bugs and passes the fix.'
      : "\nUNEXPECTED: the notebook's story did not hold; see above.",
  );
  return holds ? 0 : 1;
}
