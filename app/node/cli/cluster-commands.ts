import { existsSync, readdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { CheckRequest } from '../../core/api/contract.js';
import { GradProofError, InputError, errorKind } from '../../core/errors.js';
import { prepareCheck } from '../check/pipeline.js';
import { type MergedOutcome, ShardRefusal, mergeShardFiles } from '../cluster/merge.js';
import { SHARD_FILE_PATTERN } from '../cluster/shard-file.js';
import { parseShardSpec, runShardToFile } from '../cluster/shard-run.js';
import {
  arrayList,
  computedShards,
  defaultWorkdir,
  logPath,
  logTail,
  sbatchScript,
  shardFile,
  submitAndWait,
  writeScript,
} from '../cluster/slurm.js';
import { type CheckFlags, addCheckOptions, checkJson, exitCodeFor, requestFromFlags } from './check-command.js';
import { formatCheck } from './format.js';
import { wholeNumber } from './options.js';
import { ProgressBar } from './progress-bar.js';
import { openStoreForCli } from './store-commands.js';

/** The CLI's signal handling (main.ts): Ctrl-C and SIGTERM cancel the work in hand. */
export interface SignalCancel {
  signal: AbortSignal;
  received: () => NodeJS.Signals | undefined;
  dispose: () => void;
}

const err = (s: string): boolean => process.stderr.write(`${s}\n`);

/** A cancellation by signal ends with 128 + its number, as `check` does; anything else is the CLI's to report. */
function endedBySignal(e: unknown, cancel: SignalCancel, setExit: (code: number) => void, what: string): boolean {
  if (errorKind(e) !== 'cancelled' || !cancel.received()) return false;
  err(`gradproof: cancelled by ${cancel.received()}; ${what}`);
  setExit(128 + osConstants.signals[cancel.received()!]);
  return true;
}

/** Shards that cannot be merged: each problem on its own line, exit 2. */
function refused(e: unknown, setExit: (code: number) => void): boolean {
  if (!(e instanceof ShardRefusal)) return false;
  for (const line of e.lines) err(`gradproof: ${line}`);
  setExit(2);
  return true;
}

/** `gradproof check … --shard K/N --out FILE`. */
export async function runShardCheck(
  request: CheckRequest,
  flags: CheckFlags,
  cancel: SignalCancel,
  setExit: (code: number) => void,
): Promise<void> {
  try {
    if (flags.shard === undefined)
      throw new InputError('--out goes with --shard K/N: it names the shard file to write', 'out');
    if (flags.out === undefined)
      throw new InputError(
        `--shard ${flags.shard} needs --out FILE (or a folder ending in /): where to write the shard for gradproof merge`,
        'out',
      );
    const shard = parseShardSpec(flags.shard);
    const bar = (flags.progress ?? !flags.json) ? new ProgressBar() : undefined;
    const s = await runShardToFile(request, shard, flags.out, {
      signal: cancel.signal,
      ...(bar ? { onProgress: (p) => bar.update(p) } : {}),
    }).finally(() => bar?.finish());
    if (flags.json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    else
      process.stdout.write(
        `shard ${s.index} of ${s.count}: entries ${s.start}–${s.end - 1} (${s.end - s.start} of ${s.parameters}), ${s.evaluations} cost evaluations, ${s.seconds.toFixed(3)} s\nwritten to ${s.file} (sha256 ${s.sha256})\nmerge the ${s.count} shards with: gradproof merge FILE…\n`,
      );
    setExit(0);
  } catch (e) {
    if (!endedBySignal(e, cancel, setExit, 'no shard file was written')) throw e;
  } finally {
    cancel.dispose();
  }
}

function printMerged(o: MergedOutcome, json: boolean, extra: Record<string, unknown> = {}): number {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...checkJson(o, o.request), ...extra }, null, 2)}\n`);
  } else {
    const longest = Math.max(...o.shards.files.map((f) => f.seconds));
    const hosts = [...new Set(o.shards.files.map((f) => f.host))];
    process.stdout.write(`${formatCheck(o.result, o.context)}\n`);
    process.stdout.write(
      `\nmerged ${o.shards.count} shard${o.shards.count === 1 ? '' : 's'} of job ${o.shards.job.slice(0, 12)}… from ${hosts.length} host${hosts.length === 1 ? '' : 's'} (${hosts.slice(0, 4).join(', ')}${hosts.length > 4 ? ', …' : ''}): ${o.context.seconds.toFixed(3)} s of computing in all, the longest shard ${longest.toFixed(3)} s\n`,
    );
    if (o.runId)
      process.stdout.write(
        `saved as ${o.runId} (gradproof runs show ${o.runId}; gradproof report create ${o.runId} --as NAME)\n`,
      );
  }
  return exitCodeFor(o.result);
}

interface SlurmFlags extends CheckFlags {
  shards: number;
  partition?: string;
  workdir?: string;
}

/** The `check` options of `gradproof slurm` that describe the job, as the array tasks' arguments. */
function checkArgsOf(flags: CheckFlags): string[] {
  const args: string[] = [];
  const own = new Set(['json', 'progress', 'save', 'workers']);
  for (const o of addCheckOptions(new Command()).options) {
    const key = o.attributeName();
    const v = (flags as Record<string, unknown>)[key];
    if (own.has(key) || o.negate || v === undefined || v === false) continue;
    if (v === true) args.push(o.long!);
    else for (const x of Array.isArray(v) ? v : [v]) args.push(o.long!, String(x));
  }
  return args;
}

export function registerClusterCommands(
  program: Command,
  setExit: (code: number) => void,
  cancelOnSignals: () => SignalCancel,
): void {
  program
    .command('merge')
    .description(
      'merge the shard files of a sharded check (check --shard K/N) into one run, judged as on one machine, and save it',
    )
    .argument('<files...>', 'the shard files, or a folder holding them')
    .option('--json', 'print one JSON object on stdout')
    .option('--no-save', 'do not save the run in the database')
    .action(async (files: string[], opts: { json?: boolean; save?: boolean }) => {
      const store = opts.save === false ? undefined : openStoreForCli(program);
      try {
        setExit(printMerged(await mergeShardFiles(files, store), Boolean(opts.json)));
      } catch (e) {
        if (!refused(e, setExit)) throw e;
      } finally {
        store?.db.close();
      }
    });

  addCheckOptions(
    program
      .command('slurm')
      .description(
        'run a full check as a Slurm array job, one task per shard: write the sbatch script, submit the shards not yet computed, wait, merge and print the run',
      )
      .requiredOption('--shards <n>', 'the number of shards (array tasks)', wholeNumber('--shards', 1, 1000)),
  )
    .option('--partition <name>', 'the Slurm partition to run in (default: the cluster default)')
    .option(
      '--workdir <dir>',
      'where the script, logs and shard files go; the same folder on a rerun submits only missing shards (default: ./gradproof-slurm-ID, ID from the options)',
    )
    .action(async (flags: SlurmFlags) => {
      const request = requestFromFlags(flags);
      if (request.mode !== 'full')
        throw new InputError(
          'gradproof slurm splits a full sweep: drop --mode fast (fast mode is quick on one machine)',
          'mode',
        );
      const N = flags.shards;
      // Resolved here first, so that bad input is refused before anything is submitted.
      const prepared = prepareCheck(request);
      const workdir = path.resolve(flags.workdir ?? defaultWorkdir(request, N));
      const script = writeScript(
        workdir,
        sbatchScript({
          checkArgs: checkArgsOf(flags),
          shards: N,
          workers: request.workers ?? 1,
          workdir,
          cwd: process.cwd(),
          ...(flags.partition ? { partition: flags.partition } : {}),
        }),
      );
      err(`gradproof slurm: ${N} shard${N === 1 ? '' : 's'} in ${workdir}`);
      err(`  batch script ${script} (kept; submittable by hand)`);
      const before = computedShards(workdir, N, prepared, request.implementation.kind);
      for (const s of before.stale) err(`  not reused: ${s}`);
      const missing = Array.from({ length: N }, (_, k) => k).filter((k) => !before.done.has(k));
      const cancel = cancelOnSignals();
      try {
        let jobId: string | undefined;
        if (missing.length === 0) err(`  all ${N} shards are computed already: merging`);
        else {
          if (before.done.size)
            err(`  shards ${arrayList([...before.done])} are computed already; submitting ${arrayList(missing)}`);
          const seen = new Set(before.done);
          jobId = await submitAndWait(script, missing, {
            signal: cancel.signal,
            onSubmitted: (id) => err(`  submitted Slurm job ${id} (array ${arrayList(missing)}); waiting for it…`),
            onTick: () => {
              if (!existsSync(workdir)) return;
              for (const f of readdirSync(workdir)) {
                const m = SHARD_FILE_PATTERN.exec(f);
                if (!m || Number(m[2]) !== N || seen.has(Number(m[1]))) continue;
                seen.add(Number(m[1]));
                err(`  shard ${m[1]} done (${seen.size} of ${N})`);
              }
            },
          });
          const after = computedShards(workdir, N, prepared, request.implementation.kind);
          const failed = missing.filter((k) => !after.done.has(k));
          if (failed.length) {
            for (const k of failed) {
              const log = logPath(workdir, k, jobId);
              err(`gradproof: shard ${k} of ${N} failed; its log ${log} ends:`);
              for (const line of logTail(log).split('\n')) err(`    ${line}`);
            }
            throw new GradProofError(
              `shard${failed.length === 1 ? '' : 's'} ${failed.join(', ')} of ${N} failed (${failed.length === 1 ? 'its log is' : 'their logs are'} above); run the same command again to submit only ${failed.length === 1 ? 'that one' : 'those'}`,
              'subject',
            );
          }
        }
        const store = flags.save === false ? undefined : openStoreForCli(program);
        try {
          const files = Array.from({ length: N }, (_, k) => shardFile(workdir, k, N));
          const outcome = await mergeShardFiles(files, store);
          setExit(
            printMerged(outcome, Boolean(flags.json), { slurm: { workdir, script, ...(jobId ? { jobId } : {}) } }),
          );
        } finally {
          store?.db.close();
        }
      } catch (e) {
        if (endedBySignal(e, cancel, setExit, 'the Slurm job was cancelled; rerun to submit the missing shards'))
          return;
        if (!refused(e, setExit)) throw e;
      } finally {
        cancel.dispose();
      }
    });
}
