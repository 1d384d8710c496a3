/**
 * One whole check through the check pipeline (runCheck with a CheckRequest, exactly as the CLI,
 * the API and the audit run it), in its own process, for `npm run bench`'s fast-vs-full section.
 * Prints one JSON line: the check's own seconds, its verdict, evaluations and how each group was
 * judged. Used by bench.ts; not a user command.
 */
import { checkRequestSchema } from '../../core/api/contract.js';
import { runCheck } from '../check/pipeline.js';

export interface CheckBenchResult {
  seconds: number;
  verdict: string;
  evaluations: number;
  difference: number;
  parameters: number;
  workers: number;
  peakRssMiB: number;
  groups: { name: string; verdict: string; method: string }[];
  missProbability: number | null;
}

async function main(): Promise<void> {
  const request = checkRequestSchema.parse(JSON.parse(process.argv[2]!));
  const out = await runCheck(request);
  const r = out.result;
  const line: CheckBenchResult = {
    seconds: out.context.seconds,
    verdict: r.verdict,
    evaluations: r.evaluations,
    difference: r.difference,
    parameters: r.parameters,
    workers: out.context.workers,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    groups: r.groups.map((g) => ({ name: g.name, verdict: g.verdict, method: g.method ?? 'entries' })),
    missProbability: r.fast?.missProbability ?? null,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

await main();
