import { endianness } from 'node:os';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import { type CheckRequest, type Provenance, checkRequestSchema } from '../../core/api/contract.js';
import type { CheckPlan } from '../../core/check/plan.js';
import type { EpsilonSweep } from '../../core/check/result.js';
import type { ShardOutput } from '../../core/check/shards.js';
import { type EntryRecords, emptyRecords } from '../../core/check/sweep.js';
import { InputError } from '../../core/errors.js';
import type { Defect } from '../../core/model/defects.js';
import type { ParamGroup } from '../../core/model/spec.js';
import type { CheckContext, RunSettings } from '../check/pipeline.js';
import { sha256Hex } from '../util/hash.js';
import { VERSION } from '../version.js';

/**
 * A shard file: what one shard of a cluster job computed, with the job's identity and a digest
 * of all of it, so that the merge can refuse shards of other jobs and altered files. JSON, with
 * typed arrays as base64 of their little-endian bytes and every number kept to the bit (NaN,
 * ±Infinity and −0, which JSON cannot say, are tagged).
 */
export const SHARD_FORMAT = 'gradproof-shard/1';

/** What makes two shards parts of one job: each input by digest, the settings, and GradProof's version. */
export interface JobIdentity {
  /** SHA-256 of the canonical JSON of the other fields. */
  id: string;
  gradproof: string;
  model: string;
  weights: string;
  dataset: string;
  implementation: string;
  settings: string;
}

export interface ShardFile {
  job: JobIdentity;
  shard: { index: number; count: number; start: number; end: number };
  /** The request each shard resolved (the merge resolves GradProof's own models again from it). */
  request: CheckRequest;
  settings: RunSettings;
  provenance: Provenance;
  context: CheckContext;
  defects: Defect[];
  knowsKinks: boolean;
  groups: ParamGroup[];
  theta0: Float64Array;
  /** Records over the whole vector; only the shard's range is written. */
  output: ShardOutput;
  host: string;
  createdAt: string;
}

export type LoadedShard = ShardFile & {
  /** The file's bytes by SHA-256 (what `sha256sum` prints), recorded in the merged run. */
  fileSha256: string;
};

export function shardFileName(index: number, count: number): string {
  return `shard-${index}-of-${count}.json`;
}
export const SHARD_FILE_PATTERN = /^shard-(\d+)-of-(\d+)\.json$/;

/** The settings that decide a check's numbers: all but how many workers computed them. */
export function settingsDigest(settings: RunSettings): string {
  const { workers: _workers, ...rest } = settings;
  return sha256Hex(canonicalize(toJsonSafe(rest))!);
}

export function jobIdentity(provenance: Provenance, settings: RunSettings): JobIdentity {
  const parts = {
    gradproof: VERSION,
    model: provenance.model.sha256,
    weights: provenance.weights.sha256,
    dataset: provenance.dataset.sha256,
    implementation: provenance.implementation.sha256,
    settings: settingsDigest(settings),
  };
  return { id: sha256Hex(canonicalize(parts)!), ...parts };
}

// ---- numbers and typed arrays as JSON, to the bit ----

const LE = endianness() === 'LE';

function bytesOf(a: Float64Array | Uint32Array | Uint8Array): Buffer {
  if (LE || a instanceof Uint8Array) return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const out = Buffer.alloc(a.byteLength);
  const width = a.BYTES_PER_ELEMENT;
  a.forEach((v, i) => (width === 8 ? out.writeDoubleLE(v, 8 * i) : out.writeUInt32LE(v, 4 * i)));
  return out;
}

function fromBytes<T extends Float64Array | Uint32Array | Uint8Array>(
  bytes: Buffer,
  make: new (n: number) => T,
  width: number,
): T {
  if (bytes.length % width !== 0) throw new RangeError('a typed array of a partial element');
  const out = new make(bytes.length / width);
  for (let i = 0; i < out.length; i++)
    out[i] = width === 8 ? bytes.readDoubleLE(8 * i) : width === 4 ? bytes.readUInt32LE(4 * i) : bytes[i]!;
  return out;
}

const NUMBER_TAGS: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
  '-0': -0,
};

/** A value as JSON can hold it exactly: typed arrays and non-JSON numbers tagged. */
export function toJsonSafe(v: unknown): unknown {
  if (typeof v === 'number') {
    if (Number.isFinite(v) && !Object.is(v, -0)) return v;
    return { $number: Object.is(v, -0) ? '-0' : String(v) };
  }
  if (v instanceof Float64Array) return { $f64: bytesOf(v).toString('base64') };
  if (v instanceof Uint32Array) return { $u32: bytesOf(v).toString('base64') };
  if (v instanceof Uint8Array) return { $u8: bytesOf(v).toString('base64') };
  if (Array.isArray(v)) return v.map(toJsonSafe);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toJsonSafe(x);
    return out;
  }
  return v;
}

export function fromJsonSafe(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJsonSafe);
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    const o = v as Record<string, unknown>;
    if (keys.length === 1 && typeof o[keys[0]!] === 'string') {
      const [k] = keys as [string];
      const s = o[k] as string;
      if (k === '$number' && s in NUMBER_TAGS) return NUMBER_TAGS[s];
      if (k === '$f64') return fromBytes(Buffer.from(s, 'base64'), Float64Array, 8);
      if (k === '$u32') return fromBytes(Buffer.from(s, 'base64'), Uint32Array, 4);
      if (k === '$u8') return fromBytes(Buffer.from(s, 'base64'), Uint8Array, 1);
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = fromJsonSafe(x);
    return out;
  }
  return v;
}

// ---- the file ----

const RECORD_KEYS = [
  'covered',
  'first',
  'kinks',
  'judged',
  'steps',
  'state',
  'left',
  'right',
  'localNoise',
  'curvature',
] as const satisfies readonly (keyof EntryRecords)[];

function recordsSlice(r: EntryRecords, start: number, end: number): Record<string, unknown> {
  return Object.fromEntries(RECORD_KEYS.map((k) => [k, r[k].slice(start, end)]));
}

/** The shard as the bytes of its file, and their digest. */
export function encodeShardFile(s: ShardFile): string {
  const { start, end } = s.shard;
  const n = s.theta0.length;
  // A shard's sweep touches only its range: anything else would be lost here, so it is a bug.
  for (let i = 0; i < n; i++)
    if ((i < start || i >= end) === Boolean(s.output.records.covered[i]))
      throw new Error(
        `shard ${s.shard.index}: entry ${i} is ${i < start || i >= end ? 'outside' : 'inside'} its range but ${s.output.records.covered[i] ? 'covered' : 'not covered'}`,
      );
  const body = toJsonSafe({
    format: SHARD_FORMAT,
    job: s.job,
    shard: s.shard,
    request: s.request,
    settings: s.settings,
    provenance: s.provenance,
    context: s.context,
    defects: s.defects,
    knowsKinks: s.knowsKinks,
    groups: s.groups,
    theta0: s.theta0,
    output: {
      plan: s.output.plan,
      gradient: s.output.gradient,
      evaluations: s.output.evaluations,
      ...(s.output.epsilonSweep ? { epsilonSweep: s.output.epsilonSweep } : {}),
      records: recordsSlice(s.output.records, start, end),
    },
    host: s.host,
    createdAt: s.createdAt,
  }) as Record<string, unknown>;
  const sha256 = sha256Hex(canonicalize(body)!);
  return `${JSON.stringify({ ...body, sha256 }, null, 1)}\n`;
}

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().min(0);
const f64 = z.instanceof(Float64Array);
const planSchema = z.object({
  j0: z.number(),
  eps: z.array(z.number()),
  costNoise: z.number(),
  noiseSource: z.string(),
  noisyCost: z.boolean(),
  precision: z.object({ precision: z.string(), source: z.string() }),
  samples: z.array(
    z.object({ index: count, group: count, spread: z.number(), q: z.number().nullable(), kinked: z.boolean() }),
  ),
});
const fileSchema = z.object({
  format: z.literal(SHARD_FORMAT),
  job: z.object({
    id: hex64,
    gradproof: z.string(),
    model: hex64,
    weights: hex64,
    dataset: hex64,
    implementation: hex64,
    settings: hex64,
  }),
  shard: z.object({ index: count, count: count.min(1), start: count, end: count }),
  request: z.unknown(),
  settings: z.object({ workers: z.number().int().min(1) }).loose(),
  provenance: z.object({}).loose(),
  context: z.object({ model: z.string(), seconds: z.number(), workers: z.number() }).loose(),
  defects: z.array(z.object({ kind: z.string() }).loose()),
  knowsKinks: z.boolean(),
  groups: z.array(z.object({ name: z.string(), shape: z.array(count), offset: count, size: count }).loose()),
  theta0: f64,
  output: z.object({
    plan: planSchema.loose(),
    gradient: f64,
    evaluations: count,
    epsilonSweep: z.object({}).loose().optional(),
    records: z.object({
      covered: z.instanceof(Uint8Array),
      first: f64,
      kinks: z.instanceof(Uint32Array),
      judged: f64,
      steps: f64,
      state: z.instanceof(Uint8Array),
      left: f64,
      right: f64,
      localNoise: f64,
      curvature: f64,
    }),
  }),
  host: z.string(),
  createdAt: z.string(),
  sha256: hex64,
});

/**
 * A shard file read back and checked: its digest against its contents, its fields, and the
 * lengths of its arrays. Every problem is an InputError whose message starts with the file's name.
 */
export function decodeShardFile(bytes: Buffer, name: string): LoadedShard {
  const fileSha256 = sha256Hex(bytes);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new InputError(
      `${name}: not a GradProof shard file (not JSON); shard files are what check --shard K/N --out writes`,
    );
  }
  if (!raw || typeof raw !== 'object' || (raw as { format?: unknown }).format !== SHARD_FORMAT)
    throw new InputError(`${name}: not a GradProof shard file (no "format": "${SHARD_FORMAT}")`);
  const { sha256: stated, ...body } = raw as Record<string, unknown>;
  const actual = sha256Hex(canonicalize(body) ?? '');
  if (stated !== actual)
    throw new InputError(
      `${name}: altered: its contents no longer match the digest written with them (sha256 ${String(stated).slice(0, 12)}…, contents ${actual.slice(0, 12)}…); compute this shard again`,
    );
  let decoded: unknown;
  try {
    decoded = fromJsonSafe(raw);
  } catch {
    throw new InputError(`${name}: a typed array in it is malformed; compute this shard again`);
  }
  const parsed = fileSchema.safeParse(decoded);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(
      `${name}: not a shard file GradProof ${VERSION} can read: ${issue.path.join('.') || 'top level'}: ${issue.message}`,
    );
  }
  // Checked by the schemas, but kept as written (a schema's output orders keys its own way).
  const f = decoded as typeof parsed.data;
  if (!checkRequestSchema.safeParse(f.request).success)
    throw new InputError(`${name}: its request is not a valid check request`);
  const n = f.theta0.length;
  const { index, count: of, start, end } = f.shard;
  const problem = (what: string): never => {
    throw new InputError(`${name}: ${what}; compute this shard again`);
  };
  if (index >= of) problem(`shard ${index} of ${of} does not exist`);
  if (!(start <= end && end <= n)) problem(`entries ${start}–${end - 1} are not within its ${n} parameters`);
  if (f.groups.reduce((s, g) => s + g.size, 0) !== n) problem('its parameter groups do not add up to θ₀');
  if (f.output.gradient.length !== n) problem(`its gradient has ${f.output.gradient.length} entries, not ${n}`);
  const rec = emptyRecords(n);
  for (const k of RECORD_KEYS) {
    const part = f.output.records[k];
    if (part.length !== end - start) problem(`its ${k} records have ${part.length} entries, not ${end - start}`);
    rec[k].set(part as never, start);
  }
  for (let i = start; i < end; i++) if (!rec.covered[i]) problem(`entry ${i} of its range was not swept`);
  const output: ShardOutput = {
    plan: f.output.plan as unknown as CheckPlan,
    range: { start, end },
    records: rec,
    gradient: f.output.gradient,
    evaluations: f.output.evaluations,
    ...(f.output.epsilonSweep ? { epsilonSweep: f.output.epsilonSweep as unknown as EpsilonSweep } : {}),
  };
  return {
    job: f.job,
    shard: f.shard,
    request: f.request as CheckRequest,
    settings: f.settings as unknown as RunSettings,
    provenance: f.provenance as unknown as Provenance,
    context: f.context as unknown as CheckContext,
    defects: f.defects as unknown as Defect[],
    knowsKinks: f.knowsKinks,
    groups: f.groups as unknown as ParamGroup[],
    theta0: f.theta0,
    output,
    host: f.host,
    createdAt: f.createdAt,
    fileSha256,
  };
}
