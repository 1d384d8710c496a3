import { readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { CheckRequest, ShardsProvenance } from '../../core/api/contract.js';
import type { CheckHooks } from '../../core/check/plan.js';
import { mergeShards, shardRange } from '../../core/check/shards.js';
import { settingsOf } from '../../core/check/orchestrator.js';
import { InputError, errorKind, errorMessage } from '../../core/errors.js';
import { type CheckOutcome, type RunSettings, prepareCheck } from '../check/pipeline.js';
import type { Store } from '../store/database.js';
import { beginRun, endRun, finishRun } from '../store/runs.js';
import { type JobIdentity, type LoadedShard, SHARD_FILE_PATTERN, decodeShardFile } from './shard-file.js';

/** Shards that cannot be merged: every problem found, one line each, each naming its file. */
export class ShardRefusal extends InputError {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'), 'shards');
  }
}

export interface MergedOutcome extends CheckOutcome {
  runId?: string;
  request: CheckRequest;
  shards: ShardsProvenance;
}

/** The files named, a folder standing for the shard files in it. */
export function shardFilesOf(paths: readonly string[]): { files: string[]; problems: string[] } {
  const files: string[] = [];
  const problems: string[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      problems.push(`${p}: no such file`);
      continue;
    }
    if (!isDir) {
      files.push(p);
      continue;
    }
    const inside = readdirSync(p)
      .filter((f) => SHARD_FILE_PATTERN.test(f))
      .sort((a, b) => Number(SHARD_FILE_PATTERN.exec(a)![1]) - Number(SHARD_FILE_PATTERN.exec(b)![1]));
    if (inside.length === 0) problems.push(`${p}: a folder with no shard files (shard-K-of-N.json) in it`);
    files.push(...inside.map((f) => path.join(p, f)));
  }
  return { files, problems };
}

const IDENTITY_PARTS: [keyof JobIdentity, string][] = [
  ['model', 'model'],
  ['weights', 'weights'],
  ['dataset', 'dataset'],
  ['implementation', 'implementation'],
  ['settings', 'settings'],
  ['gradproof', "GradProof's version"],
];

function short(d: string): string {
  return /^[0-9a-f]{64}$/.test(d) ? `${d.slice(0, 12)}…` : d;
}

/** Read and check the shards of one job: all of them, each once, unaltered, agreeing with each other. */
export function loadShards(paths: readonly string[]): { name: string; shard: LoadedShard }[] {
  const { files, problems } = shardFilesOf(paths);
  const loaded: { name: string; shard: LoadedShard }[] = [];
  for (const name of files) {
    try {
      loaded.push({ name, shard: decodeShardFile(readFileSync(name), name) });
    } catch (err) {
      if (errorKind(err) !== 'input') throw err;
      problems.push(errorMessage(err));
    }
  }
  if (files.length === 0 && problems.length === 0) problems.push('no shard files given');
  if (problems.length || loaded.length === 0) throw new ShardRefusal(problems);

  const ref = loaded[0]!;
  const refJob = ref.shard.job;
  const N = ref.shard.shard.count;
  const theJob = loaded.filter((l) => {
    const j = l.shard.job;
    if (j.id === refJob.id) return true;
    const differ = IDENTITY_PARTS.filter(([k]) => j[k] !== refJob[k]).map(
      ([k, what]) => `${what} ${short(j[k])} where ${ref.name} has ${short(refJob[k])}`,
    );
    problems.push(
      `${l.name}: a shard of another job: its ${differ.length ? differ.join(', ') : 'identity digest differs'}`,
    );
    return false;
  });
  const sameSplit = theJob.filter((l) => {
    if (l.shard.shard.count === N) return true;
    problems.push(
      `${l.name}: shard ${l.shard.shard.index} of ${l.shard.shard.count}, but ${ref.name} is of ${N}: shards of different splits of the job`,
    );
    return false;
  });
  const same = (a: Float64Array, b: Float64Array): boolean =>
    a.length === b.length &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  const refGroups = JSON.stringify(ref.shard.groups);
  for (const l of sameSplit) {
    if (JSON.stringify(l.shard.groups) !== refGroups)
      problems.push(`${l.name}: its parameter groups are not ${ref.name}'s: the subject described itself differently`);
    else if (!same(l.shard.theta0, ref.shard.theta0))
      problems.push(`${l.name}: its θ₀ is not ${ref.name}'s: the subject started from other parameters`);
  }
  const byIndex = new Map<number, { name: string; shard: LoadedShard }[]>();
  for (const l of sameSplit) byIndex.set(l.shard.shard.index, [...(byIndex.get(l.shard.shard.index) ?? []), l]);
  for (let k = 0; k < N; k++) {
    const want = shardRange(ref.shard.groups, k, N, ref.shard.output.plan.groupCosts);
    const at = byIndex.get(k) ?? [];
    const entries = `entries ${want.start}–${want.end - 1}`;
    if (at.length === 0) {
      problems.push(`shard ${k} of ${N} (${entries}) is missing`);
      continue;
    }
    if (at.length > 1) {
      const real = new Set(at.map((l) => realpathSync(l.name)));
      problems.push(
        real.size === 1
          ? `${at[0]!.name}: given ${at.length} times`
          : `${at.map((l) => l.name).join(', ')}: each is shard ${k} of ${N} (duplicated): give one of them`,
      );
    }
    for (const l of at) {
      const { start, end } = l.shard.shard;
      if (start !== want.start || end !== want.end)
        problems.push(
          `${l.name}: entries ${start}–${end - 1} are not shard ${k} of ${N}'s (${want.start}–${want.end - 1}): its range overlaps another shard's or leaves entries out`,
        );
    }
  }
  if (problems.length) throw new ShardRefusal(problems);
  return [...byIndex.keys()].sort((a, b) => a - b).map((k) => byIndex.get(k)![0]!);
}

/**
 * The run of a job from its shard files, judged as a single machine would judge it, and saved
 * (when a store is given) with each shard file's digest.
 */
export async function mergeShardFiles(paths: readonly string[], store?: Store): Promise<MergedOutcome> {
  const named = loadShards(paths);
  const shards = named.map((l) => l.shard);
  const ref = shards[0]!;
  const request = ref.request;
  let hooks: Pick<CheckHooks, 'explain'> = {};
  if (request.implementation.kind === 'builtin') {
    // GradProof's engine explains failing groups by reproducing them: the merge resolves the model
    // again here (its files must be where the shards read them) and checks it is the shards' one.
    let prepared;
    try {
      prepared = prepareCheck(request);
    } catch (err) {
      if (errorKind(err) !== 'input') throw err;
      throw new ShardRefusal([`the shards' model cannot be resolved here: ${errorMessage(err)}`]);
    }
    const here = prepared.provenance;
    const differ = (['model', 'weights', 'dataset', 'implementation'] as const).filter(
      (k) => here[k].sha256 !== ref.provenance[k].sha256,
    );
    if (differ.length)
      throw new ShardRefusal(
        differ.map(
          (k) =>
            `the ${k} resolved here (sha256 ${short(here[k].sha256)}) is not the one the shards audited (${short(ref.provenance[k].sha256)}): merge where the shards' inputs are`,
        ),
      );
    hooks = prepared.hooks({});
  }
  // (Subjects' results need nothing but the records: their hooks add nothing.)
  let merged;
  try {
    merged = await mergeShards(
      ref.groups,
      ref.theta0,
      settingsOf(request),
      ref.knowsKinks,
      shards.map((s) => s.output),
      hooks,
    );
  } catch (err) {
    if (errorKind(err) !== 'input') throw err;
    // The core names a shard by its entries; the user knows it by its file.
    const message = errorMessage(err).replace(
      /the shard covering entries (\d+)–(\d+)/,
      (all, a: string) => named.find((l) => l.shard.shard.start === Number(a))?.name ?? all,
    );
    throw new ShardRefusal([message]);
  }
  const info: ShardsProvenance = {
    job: ref.job.id,
    count: ref.shard.count,
    files: shards.map((s) => ({
      index: s.shard.index,
      start: s.shard.start,
      end: s.shard.end,
      sha256: s.fileSha256,
      host: s.host,
      seconds: s.context.seconds,
    })),
  };
  const workers = shards.reduce((sum, s) => sum + s.settings.workers, 0);
  const seconds = shards.reduce((sum, s) => sum + s.context.seconds, 0);
  const provenance = { ...ref.provenance, shards: info };
  // The store keeps a run's provenance as its four digests; the shard digests go with its settings,
  // which are saved whole and signed into its reports.
  const settings: RunSettings & { shards: ShardsProvenance } = { ...ref.settings, workers, shards: info };
  const outcome: MergedOutcome = {
    result: merged.result,
    evidence: merged.evidence,
    provenance,
    settings,
    context: { ...ref.context, workers, seconds },
    defects: ref.defects,
    request,
    shards: info,
  };
  if (!store) return outcome;
  const runId = beginRun(store, provenance, settings);
  try {
    finishRun(store, runId, { result: merged.result, entries: merged.evidence, provenance, seconds });
  } catch (err) {
    endRun(store, runId, 'failed', errorMessage(err));
    throw err;
  }
  return { ...outcome, runId };
}
