import { z } from 'zod';
import { type ErrorKind, GradProofError, errorMessage } from '../errors.js';
import type { CheckResult, Verdict } from '../check/result.js';
import { SCHEMES } from '../check/schemes.js';
import type { RunComparison } from '../report/compare-runs.js';
import type { AccountRef, AuditPredicate, Meaning, Statement } from '../report/statement.js';
import { MAX_PASSPHRASE_LENGTH, passphraseProblem } from '../identity/passphrase-strength.js';

/**
 * The one contract between GradProof's UI and its engine. Electron IPC, the CLI
 * (`gradproof api METHOD`) and the loopback HTTP bridge are three transports for
 * it; every transport validates params with these schemas before anything runs.
 */

const id = z.string().min(1).max(200);
/** The passphrase that unlocks an existing key (keys made under older rules must still unlock). */
const passphrase = z.string().min(8, 'the passphrase must be at least 8 characters').max(MAX_PASSPHRASE_LENGTH);
/** A passphrase for a new key: refused with the reason when it is too easy to guess. */
const newPassphrase = z.string().superRefine((p, ctx) => {
  const problem = passphraseProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const role = z.enum(['engineer', 'reviewer', 'administrator']);

const timeout = z
  .number()
  .positive('the timeout must be greater than 0')
  .max(3600, 'a subject may take at most 3600 s (an hour) per request')
  .default(120);
/** A dataset reference: builtin:notebook-case, builtin:payments, random:ROWS, or a .csv, .npy, .npz or .json file. */
const dataRef = z.string().min(1, 'choose a dataset').max(4000);
const label = z.string().max(200).optional();

/**
 * The implementation under audit, and what belongs to it. GradProof's engine takes a model,
 * its weights and a dataset (with defaults: the notebook's network on its own test case); a
 * JS/TS module may take a dataset; a process or a PyTorch script brings its own model and data.
 */
export const implementationSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('builtin'),
    model: z.string().min(1, 'choose a model').max(4000).default('builtin:notebook-fraud'),
    weights: z.string().min(1).max(4000).optional(),
    data: dataRef.default('builtin:notebook-case'),
    label,
    standardize: z.boolean().default(false),
    backprop: z.enum(['correct', 'notebook-buggy']).default('correct'),
    defects: z
      .array(
        z.string().regex(/^[A-Za-z0-9]+:[a-z-]+(:-?[0-9.eE+-]+)?$/, 'a defect is GROUP:KIND[:FACTOR], e.g. W2:scale:2'),
      )
      .max(20)
      .default([]),
    /** incremental (reuses cached activations) or full (a whole forward pass per evaluation, the notebook's way). */
    evaluation: z.enum(['incremental', 'full']).default('incremental'),
  }),
  z.strictObject({
    kind: z.literal('process'),
    command: z.string().trim().min(1, 'give the command that runs your subject').max(4000),
    timeout,
  }),
  z.strictObject({
    kind: z.literal('module'),
    path: z.string().min(1, 'give the path of your .js or .ts module').max(4000),
    data: dataRef.optional(),
    label,
    standardize: z.boolean().default(false),
    timeout,
  }),
  z.strictObject({
    kind: z.literal('pytorch'),
    /** A Python file that serves its model through gradproof_torch (serve_module or serve_function). */
    script: z.string().min(1, 'give the path of your Python script').max(4000),
    /** The interpreter with torch installed; default GRADPROOF_PYTHON, else python3. */
    python: z.string().min(1).max(4000).optional(),
    timeout,
  }),
]);

export const checkRequestSchema = z.strictObject({
  implementation: implementationSchema.default({
    kind: 'builtin',
    model: 'builtin:notebook-fraud',
    data: 'builtin:notebook-case',
    standardize: false,
    backprop: 'correct',
    defects: [],
    evaluation: 'incremental',
  }),
  scheme: z.enum(SCHEMES).default('central'),
  /** The step, or 'auto': chosen for each group from a short ε sweep. */
  epsilon: z
    .union(
      [
        z.literal('auto'),
        z.number().positive('ε must be greater than 0').max(1, 'ε above 1 is no longer a small step; use at most 1'),
      ],
      { error: 'give a number such as 1e-7, or auto' },
    )
    .default(1e-7),
  threshold: z
    .number()
    .positive('the threshold must be greater than 0')
    .max(1, 'a threshold above 1 passes anything')
    .default(2e-7),
  mode: z.enum(['full', 'fast']).default('full'),
  /** Fast mode: random directions per parameter group. */
  directions: z.number().int().min(1, 'at least one direction').max(10000).default(4),
  /** Fast mode: the relative error size whose chance of being missed is stated. */
  detect: z.number().positive('the size must be greater than 0').max(1).default(1e-3),
  workers: z.number().int().min(1, 'at least one worker').max(64, 'at most 64 workers').optional(),
  epsilonSweep: z.boolean().default(false),
  /** Seeds synthetic weights and data (numpy RandomState) and fast mode's directions. */
  seed: z.number().int().min(0).max(4294967295).default(1),
});

export type CheckRequest = z.infer<typeof checkRequestSchema>;
export type CheckRequestInput = z.input<typeof checkRequestSchema>;

/** The most runs one comparison holds: beyond it, side-by-side columns stop reading. */
export const MAX_COMPARED = 8;

/** Editing a run's annotations (name, tags, notes): for finding runs again, not evidence. */
export const runAnnotationSchema = z.strictObject({
  id,
  name: z.string().max(120, 'a name has at most 120 characters').nullable().optional(),
  tags: z
    .array(
      z
        .string()
        .min(1)
        .max(40, 'a tag has at most 40 characters')
        .regex(/^[^\s,]+$/, 'a tag is one word, without spaces or commas'),
    )
    .max(20, 'at most 20 tags')
    .optional(),
  notes: z.string().max(4000, 'notes have at most 4000 characters').nullable().optional(),
});

export const API = {
  'library.list': z.strictObject({}),
  'check.start': checkRequestSchema,
  'check.cancel': z.strictObject({ jobId: id }),
  'runs.list': z.strictObject({ limit: z.number().int().min(1).max(1000).default(100) }),
  'runs.get': z.strictObject({ id }),
  'runs.compare': z.strictObject({
    ids: z
      .array(id)
      .min(2, 'pick at least two runs')
      .max(MAX_COMPARED, `compare at most ${MAX_COMPARED} runs at a time`),
    /** The run the others are read against (default: the oldest). */
    baseline: id.optional(),
  }),
  'runs.annotate': runAnnotationSchema,
  'check.status': z.strictObject({ jobId: id }),
  /** Every report, or one run's reports. */
  'reports.list': z.strictObject({ runId: id.optional() }),
  /** Reports waiting for this identity: its drafts to sign, and (for a reviewer) others' prepared reports to review. */
  'reports.inbox': z.strictObject({ as: id }),
  /** The bundle a third party verifies offline, as one zip. */
  'reports.exportBundle': z.strictObject({ id }),
  /** The audit trail, newest first: all of it, one subject's, or one report's (its run, sign-offs and failed attempts). */
  'audit.list': z.strictObject({
    subject: id.optional(),
    report: id.optional(),
    failedOnly: z.boolean().default(false),
    limit: z.number().int().min(1).max(10000).default(1000),
  }),
  'audit.export': z.strictObject({ report: id.optional(), format: z.enum(['csv', 'json']) }),
  /** The identity in use in this session (who "I" am for the inbox and the signing dialogs). */
  'identities.current': z.strictObject({}),
  'identities.use': z.strictObject({ id: id.nullable() }),
  'reports.get': z.strictObject({ id }),
  'reports.create': z.strictObject({ runId: id, as: id }),
  'reports.sign': z.strictObject({ id, as: id, passphrase }),
  'reports.approve': z.strictObject({ id, as: id, passphrase, comment: z.string().max(2000).optional() }),
  'reports.reject': z.strictObject({
    id,
    as: id,
    passphrase,
    reason: z.string().trim().min(1, 'a rejection needs its reason').max(2000),
  }),
  /** Before the passphrase: whether this identity may sign this report now, and what the signer must be told. */
  'reports.signOffPlan': z.strictObject({ id, as: id, action: z.enum(['prepare', 'approve', 'reject']) }),
  'reports.verify': z.strictObject({ id }),
  'reports.pdf': z.strictObject({ id, paper: z.enum(['a4', 'letter']).default('a4') }),
  'identities.list': z.strictObject({}),
  'identities.create': z.strictObject({
    name: z.string().trim().min(1, 'give a name').max(80),
    role,
    passphrase: newPassphrase,
  }),
  'dialog.openFile': z.strictObject({ purpose: z.enum(['model', 'weights', 'dataset', 'module', 'script']) }),
} as const;

export type Method = keyof typeof API;
export const METHODS = Object.keys(API) as Method[];
export type Params<M extends Method> = z.input<(typeof API)[M]>;
/** What a native file dialog is opened for: it picks the dialog's filter. */
export type FilePurpose = Params<'dialog.openFile'>['purpose'];

export interface LibraryItem {
  ref: string;
  name: string;
  kind: 'model' | 'dataset' | 'implementation' | 'weights';
  builtin: boolean;
  sha256?: string;
  detail?: string;
}

/** What was checked, each by SHA-256: the subjects of a report's signed statement. */
export interface Provenance {
  model: { name: string; ref: string; sha256: string };
  weights: { source: string; sha256: string };
  dataset: { ref: string; sha256: string; examples: number; features: number; transform?: string };
  implementation: { kind: 'builtin' | 'process' | 'module'; ref: string; sha256: string; defects?: string[] };
  /** A run merged from the shards of a cluster job (`gradproof merge`, `gradproof slurm`). */
  shards?: ShardsProvenance;
}

/** The shards a merged run was computed from: the job they share and each shard file by its SHA-256. */
export interface ShardsProvenance {
  /** SHA-256 of the job's identity (model, weights, dataset, implementation, settings, GradProof's version). */
  job: string;
  count: number;
  files: { index: number; start: number; end: number; sha256: string; host: string; seconds: number }[];
}

export interface RunView {
  id: string;
  startedAt: string;
  finishedAt: string | null;
  status: 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
  provenance: Provenance;
  settings: Record<string, unknown>;
  environment: Record<string, unknown>;
  verdict: Verdict | null;
  difference: number | null;
  parameters: number | null;
  evaluations: number | null;
  seconds: number | null;
  result: CheckResult | null;
  error: string | null;
  /** Annotations: editable, logged, not evidence (no signature covers them). */
  name: string | null;
  tags: string[];
  notes: string | null;
  /**
   * Whether the stored record still matches the audit log. When it does not, verdict,
   * difference and result are null and error says what was altered: show it as altered.
   */
  integrity: { ok: boolean; problem?: string };
}

export type Role = z.infer<typeof role>;

export interface IdentityView {
  id: string;
  name: string;
  role: Role;
  publicKey: string;
  fingerprint: string;
  createdAt: string;
  /** The OS account that created it (null: not recorded, made by an older GradProof). */
  account: AccountRef | null;
  /** Other identities created by the same OS account: as far as the machine knows, the same person. */
  sameAccountAs: string[];
  /** Whether the stored identity is still the one the audit log created. */
  integrity?: { ok: boolean; problem?: string };
}

export interface VerificationView {
  target: string;
  ok: boolean;
  problem?: string;
  /** `warning`: the check holds, with a limit the reader must know (e.g. both keys from one OS account). */
  checks: { check: string; ok: boolean; detail: string; warning?: boolean }[];
  /** The state the report's valid signatures make (show this, not a stored column). */
  state?: 'draft' | 'prepared' | 'approved' | 'rejected';
  /** The audit log's head as verified: a receipt to demand later. */
  logHead?: { seq: number; hash: string };
}

export interface SignatureSummary {
  meaning: Meaning;
  signer: { name: string; role: Role; keyid: string; fingerprint: string };
  signedAt: string;
  comment: string | null;
}

export interface ReportSummary {
  id: string;
  runId: string;
  state: 'draft' | 'prepared' | 'approved' | 'rejected';
  createdAt: string;
  author: string;
  verdict: string | null;
}

export interface ReportDetail {
  id: string;
  runId: string;
  state: ReportSummary['state'];
  createdAt: string;
  sha256: string;
  author: SignatureSummary['signer'];
  statement: Statement<AuditPredicate>;
  signatures: SignatureSummary[];
  verification: VerificationView;
  /** The run's name, tags and notes: annotations, not part of the signed report. */
  annotations?: { name: string | null; tags: string[]; notes: string | null };
  /** What the four-eyes rule rests on here when it is weaker than two people (same OS account). */
  fourEyes?: string[];
}

export interface Results {
  'library.list': {
    models: LibraryItem[];
    datasets: LibraryItem[];
    implementations: LibraryItem[];
    weights: LibraryItem[];
  };
  'check.start': { jobId: string };
  'check.cancel': { cancelled: boolean };
  'runs.list': RunView[];
  'runs.get': RunView;
  'runs.compare': { comparison: RunComparison; runs: RunView[] };
  'runs.annotate': RunView;
  'check.status': JobStatus;
  'reports.list': ReportSummary[];
  'reports.inbox': InboxItem[];
  'reports.exportBundle': { base64: string; filename: string; files: string[] };
  'audit.list': AuditTrailView;
  'audit.export': { content: string; filename: string; mime: string };
  'identities.current': CurrentIdentity;
  'identities.use': CurrentIdentity;
  'reports.get': ReportDetail;
  'reports.create': ReportDetail;
  'reports.sign': ReportDetail;
  'reports.approve': ReportDetail;
  'reports.reject': ReportDetail;
  'reports.signOffPlan': { meaning: Meaning; warnings: string[] };
  'reports.verify': VerificationView;
  /** The PDF as base64 (the renderer offers it as a download); `saved` when the transport saved it itself. */
  'reports.pdf': { base64: string; filename: string };
  'identities.list': IdentityView[];
  'identities.create': IdentityView;
  'dialog.openFile': { path: string | null; available: boolean };
}

/** A report waiting for someone, and what they are to do with it. */
export interface InboxItem extends ReportSummary {
  action: 'sign' | 'review';
}

export interface AuditTrailEntry {
  seq: number;
  at: string;
  actor: string | null;
  /** The actor's name when it is a known identity. */
  actorName: string | null;
  action: string;
  subject: string;
  details: unknown;
  hash: string;
}

export interface AuditTrailView {
  /** Whether the whole log's hash chain holds, and the first row that does not. */
  chain: { ok: boolean; rows: number; problem?: string };
  entries: AuditTrailEntry[];
}

export interface CurrentIdentity {
  identity: IdentityView | null;
  /** The operating-system account running GradProof. */
  account: string;
}

/**
 * A check job as the service knows it: its state, the latest progress and how it ended. A page
 * that opens late, reloads or subscribes after the end reads this and misses nothing.
 */
export interface JobStatus {
  jobId: string;
  runId: string | null;
  state: 'running' | 'done' | 'failed' | 'cancelled';
  startedAt: string;
  /** What is checked, in a few words (model · data · backward). */
  label: string;
  threshold: number;
  progress: ProgressEvent | null;
  verdict?: Verdict;
  difference?: number;
  error?: string;
  field?: string;
  /** Every event of the job, in order, the progress collapsed to its latest. */
  events: ApiEvent[];
}

export interface ProgressEvent {
  type: 'check.progress';
  jobId: string;
  done: number;
  total: number;
  rate: number;
  eta: number;
  groups?: { name: string; difference: number; done: number; size: number }[];
}

export type ApiEvent =
  | ProgressEvent
  | { type: 'check.started'; jobId: string; runId: string | null }
  | { type: 'check.done'; jobId: string; runId: string | null; verdict: Verdict; difference: number }
  | {
      type: 'check.failed';
      jobId: string;
      runId: string | null;
      error: string;
      cancelled: boolean;
      kind?: ErrorKind;
      field?: string;
    };

/** Errors cross every transport as this shape; `field` names the offending param when there is one. */
export interface ApiErrorBody {
  error: string;
  field?: string;
  kind: ErrorKind;
}

/** Validate params for a method; the error names the field and the fix. */
export function validateParams<M extends Method>(method: M, params: unknown): z.output<(typeof API)[M]> {
  const schema = API[method];
  if (!schema) throw new ApiError({ error: `unknown method ${String(method)}`, kind: 'invalid' });
  const r = schema.safeParse(params ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map(String).join('.') || undefined;
    throw new ApiError({
      error: field ? `${field}: ${issue.message}` : issue.message,
      ...(field ? { field } : {}),
      kind: 'invalid',
    });
  }
  return r.data as z.output<(typeof API)[M]>;
}

/** An error as it crosses a transport: its body is what the other side receives. */
export class ApiError extends GradProofError {
  constructor(readonly body: ApiErrorBody) {
    super(body.error, body.kind, body.field);
    this.name = 'ApiError';
  }
}

/** Any error as the API's error body: GradProof's own by their kind, anything else as an internal error. */
export function toApiErrorBody(err: unknown): ApiErrorBody {
  if (err instanceof ApiError) return err.body;
  if (err instanceof GradProofError)
    return { error: err.message, kind: err.kind, ...(err.field ? { field: err.field } : {}) };
  return { error: `internal error: ${errorMessage(err)}`, kind: 'internal' };
}

export function isMethod(m: unknown): m is Method {
  return typeof m === 'string' && Object.prototype.hasOwnProperty.call(API, m);
}
