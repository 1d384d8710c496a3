import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import canonicalize from 'canonicalize';
import type { Meaning, SignOffPredicate, Statement } from '../../core/report/statement.js';
import { type AuditEntry, entryBody, entryHash, readLog } from '../store/audit-log.js';
import type { Store } from '../store/database.js';
import { hasColumn } from '../store/seals.js';
import { type DsseEnvelope, IN_TOTO_PAYLOAD_TYPE, fingerprint } from '../signing/dsse.js';
import { parseEnvelope } from '../signing/policy.js';
import { sha256Hex } from '../util/hash.js';
import { opensslScript } from './openssl-script.js';
import { getReport, publicKeyOf } from './reports.js';
import { type AttestationInput, type SignatureInput, type Verification, verifyInput } from './verify.js';
import { InputError } from '../../core/errors.js';

/**
 * A bundle is everything a third party needs to check a report offline. Its primary files are
 * report.json, the DSSE envelopes, the public keys and the audit log; every other file
 * (payload and raw signature split out for openssl, manifest.json, VERIFY.md,
 * verify-openssl.sh) is derived from them, so `gradproof verify DIR` re-derives each one and
 * compares the bytes, and verify-openssl.sh checks the same files with openssl alone.
 */

export const BUNDLE_FORMAT = 'gradproof-bundle/v2';
const MEANINGS: readonly Meaning[] = ['authorship', 'approval', 'rejection'];

interface BundleSignOff {
  meaning: Meaning;
  keyid: string;
  envelope: DsseEnvelope;
  base: string;
}

interface BundleAttestation {
  kind: 'enrollment' | 'policy';
  keyid: string;
  envelope: DsseEnvelope;
  base: string;
}

export interface BundleContent {
  reportId: string;
  body: Uint8Array;
  state: string;
  signoffs: BundleSignOff[];
  attestations: BundleAttestation[];
  keys: Map<string, string>;
  log: AuditEntry[];
}

/** An envelope as the bundle writes it: one layout, so that openssl users can rebuild it byte for byte. */
function envelopeText(e: DsseEnvelope): string {
  const s = e.signatures[0]!;
  return `${JSON.stringify({ payloadType: e.payloadType, payload: e.payload, signatures: [{ keyid: s.keyid, sig: s.sig }] }, null, 2)}\n`;
}

function manifestText(c: BundleContent): string {
  return `${JSON.stringify(
    {
      format: BUNDLE_FORMAT,
      reportId: c.reportId,
      sha256: sha256Hex(c.body),
      state: c.state,
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signoffs: c.signoffs.map((s) => ({ meaning: s.meaning, keyid: s.keyid, envelope: `${s.base}.dsse.json` })),
      attestations: c.attestations.map((a) => ({ kind: a.kind, keyid: a.keyid, envelope: `${a.base}.dsse.json` })),
      auditLog: 'audit-log.jsonl',
    },
    null,
    2,
  )}\n`;
}

// Markdown that renders as the text it is: a name cannot become a link, an image or HTML.
const md = (s: string): string => s.replace(/[\\`*_{}[\]()<>#+!|~&"'-]/g, (ch) => `&#${ch.charCodeAt(0)};`);

function signerOf(e: DsseEnvelope): { name: string; role: string } {
  try {
    const p = JSON.parse(Buffer.from(e.payload, 'base64').toString('utf8')) as Statement<SignOffPredicate>;
    return { name: String(p.predicate.signer.name), role: String(p.predicate.signer.role) };
  } catch {
    return { name: '(unreadable)', role: '(unreadable)' };
  }
}

function verifyDoc(c: BundleContent): string {
  const digest = sha256Hex(c.body);
  const lines = c.signoffs.map((s) => {
    const who = signerOf(s.envelope);
    return `- ${s.meaning}: ${md(who.name)} (${md(who.role)}), key fingerprint \`${fingerprint(s.keyid)}\``;
  });
  return `# Verifying GradProof report ${c.reportId}

This folder holds a signed gradient-audit report and everything needed to check it
offline, without GradProof. The report is **${c.state}**.

| file | what it is |
| --- | --- |
| \`report.json\` | the report: an in-toto Statement v1 (RFC 8785 canonical JSON), SHA-256 \`${digest}\` |
| \`signoffs/N-MEANING.dsse.json\` | each sign-off as a DSSE envelope (Ed25519) |
| \`signoffs/N-MEANING.payload.json\` | the signed sign-off statement; its subject is report.json's SHA-256 |
| \`signoffs/N-MEANING.sig\` | the raw 64-byte Ed25519 signature |
| \`attestations/*\` | administrators' signed enrollments of reviewer keys and the sign-off policy, when there are any |
| \`keys/KEYID.pem\` | the signers' public keys, named by key id (SHA-256 of the raw key) |
| \`audit-log.jsonl\` | GradProof's hash-chained audit log at export: each line is the exact bytes its SHA-256 covers |
| \`manifest.json\` | the index of the above |
| \`verify-openssl.sh\` | checks all of it with openssl and POSIX tools |

Signers:

${lines.join('\n') || '- none yet (a draft)'}

Check the key fingerprints against the ones the signers gave you out of band (the PDF of the
report prints them) before trusting the keys in \`keys/\`. A bundle proves that these keys signed
this report and that the audit log was intact up to every signed head; it does not prove who
holds a key. See GradProof's docs/four-eyes.md for what the four-eyes rule can and cannot prove.

## With openssl alone

\`\`\`sh
sh verify-openssl.sh
\`\`\`

For each sign-off it does what DSSE specifies: builds the pre-authentication encoding
\`DSSEv1 <len(type)> <type> <len(payload)> <payload>\` with type \`${IN_TOTO_PAYLOAD_TYPE}\`,
verifies the Ed25519 signature over it with \`openssl pkeyutl -verify -rawin\`, checks that the
signed statement names report.json's SHA-256, that the envelope file holds exactly that payload
and signature, and that each key hashes to its key id. It walks the audit log's hash chain,
checks that the log still holds the head every signed statement carries and records every
sign-off, and that manifest.json states what the signatures make the report. By hand, for the
first sign-off:

\`\`\`sh
type='${IN_TOTO_PAYLOAD_TYPE}'
p=signoffs/1-authorship.payload.json
{ printf 'DSSEv1 %d %s %d ' "\${#type}" "$type" "$(wc -c < $p | tr -d ' ')"; cat $p; } > pae.bin
openssl pkeyutl -verify -pubin -inkey keys/KEYID.pem -rawin -in pae.bin -sigfile signoffs/1-authorship.sig
openssl dgst -sha256 report.json
\`\`\`

## With GradProof

\`\`\`sh
gradproof verify .
\`\`\`

checks the same files and more: the sign-off rules (the author signs first; a different person
with the reviewer role approves or rejects), that each signer's key, name and role are the ones
the audit log created, the sign-off policy, and that every derived file (including this one and
verify-openssl.sh) is exactly what the signed content makes.

## With cosign

Each \`*.dsse.json\` is a standard DSSE envelope; \`cosign verify-blob-attestation --key
keys/KEYID.pem --type custom --signature signoffs/1-authorship.dsse.json …\` can check it too.
`;
}

/** Every file of a bundle, by relative path: what export writes and what verify expects. */
export function bundleLayout(c: BundleContent): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const put = (rel: string, data: string | Uint8Array): void => {
    files.set(rel, typeof data === 'string' ? new TextEncoder().encode(data) : data);
  };
  put('report.json', c.body);
  for (const s of [...c.signoffs, ...c.attestations]) {
    put(`${s.base}.dsse.json`, envelopeText(s.envelope));
    put(`${s.base}.payload.json`, Buffer.from(s.envelope.payload, 'base64'));
    put(`${s.base}.sig`, Buffer.from(s.envelope.signatures[0]!.sig, 'base64'));
  }
  for (const [keyid, pem] of [...c.keys].sort(([a], [b]) => a.localeCompare(b))) put(`keys/${keyid}.pem`, pem);
  put('audit-log.jsonl', c.log.map((e) => `${entryBody(e)}\n`).join(''));
  const manifest = manifestText(c);
  put('manifest.json', manifest);
  const doc = verifyDoc(c);
  put('VERIFY.md', doc);
  const author = (() => {
    try {
      return (JSON.parse(new TextDecoder().decode(c.body)) as { predicate: { report: { author: { keyid: string } } } })
        .predicate.report.author.keyid;
    } catch {
      return '0'.repeat(64);
    }
  })();
  const names = [...files.keys(), 'verify-openssl.sh'].sort();
  put(
    'verify-openssl.sh',
    opensslScript({
      reportId: c.reportId,
      reportSha: sha256Hex(c.body),
      authorKeyid: /^[0-9a-f]{64}$/.test(author) ? author : '0'.repeat(64),
      state: c.state,
      signoffs: c.signoffs.map((s) => ({ meaning: s.meaning, keyid: s.keyid, base: s.base })),
      attestations: c.attestations.map((a) => ({ kind: a.kind, keyid: a.keyid, base: a.base })),
      files: names,
      manifest,
      verifyMdSha: sha256Hex(doc),
    }),
  );
  return files;
}

/** The content of a stored report's bundle. */
function storedContent(store: Store, reportId: string): BundleContent {
  const report = getReport(store, reportId);
  if (!/^rep-[0-9A-Za-z-]{1,60}$/.test(report.id))
    throw new InputError(`report ${JSON.stringify(report.id)} has an id GradProof never writes; run gradproof verify`);
  const keys = new Map<string, string>();
  const addKey = (keyid: string): void => {
    if (!keys.has(keyid)) keys.set(keyid, publicKeyOf(store, keyid));
  };
  addKey(report.author.keyid);
  const signoffs: BundleSignOff[] = report.signatures.map((s, i) => {
    if (!s.envelope)
      throw new InputError(
        `report ${reportId}: its ${s.meaning} envelope cannot be read; run gradproof verify ${reportId}`,
      );
    addKey(s.signer.keyid);
    return { meaning: s.meaning, keyid: s.signer.keyid, envelope: s.envelope, base: `signoffs/${i + 1}-${s.meaning}` };
  });
  const attestations: BundleAttestation[] = [];
  if (hasColumn(store.db, 'enrollments', 'identity_id')) {
    // Enrollments of every signer, and of the administrators who enrolled them, up to the policy's root.
    const todo = [...new Set(signoffs.map((s) => s.keyid))];
    const done = new Set<string>();
    while (todo.length) {
      const id = todo.shift()!;
      if (done.has(id)) continue;
      done.add(id);
      const e = store.db.prepare('SELECT admin_id, envelope FROM enrollments WHERE identity_id = ?').get(id) as
        { admin_id: string; envelope: Buffer } | undefined;
      if (!e) continue;
      addKey(e.admin_id);
      attestations.push({
        kind: 'enrollment',
        keyid: e.admin_id,
        envelope: parseEnvelope(e.envelope, 'an enrollment'),
        base: `attestations/enrollment-${id.slice(0, 16)}`,
      });
      todo.push(e.admin_id);
    }
    for (const p of store.db.prepare('SELECT version, admin_id, envelope FROM policies ORDER BY version').all() as {
      version: number;
      admin_id: string;
      envelope: Buffer;
    }[]) {
      addKey(p.admin_id);
      attestations.push({
        kind: 'policy',
        keyid: p.admin_id,
        envelope: parseEnvelope(p.envelope, 'a policy'),
        base: `attestations/policy-${p.version}`,
      });
    }
  }
  return {
    reportId: report.id,
    body: report.body,
    state: report.state,
    signoffs,
    attestations,
    keys,
    log: readLog(store.db),
  };
}

/** Write a report's bundle into `dir` (new or empty); returns the files written. */
export function exportBundle(store: Store, reportId: string, dir: string): string[] {
  const files = bundleLayout(storedContent(store, reportId));
  for (const [rel, data] of files) {
    mkdirSync(path.join(dir, path.dirname(rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), data);
  }
  return [...files.keys()];
}

export function isBundle(target: string): boolean {
  return existsSync(target) && existsSync(path.join(target, 'manifest.json'));
}

/** Files under dir, relative, skipping anything whose name starts with a dot (as verify-openssl.sh does). */
function listFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, rel))) {
    if (name.startsWith('.')) continue;
    const r = rel ? `${rel}/${name}` : name;
    const st = lstatSync(path.join(dir, r));
    if (st.isDirectory()) out.push(...listFiles(dir, r));
    else out.push(r);
  }
  return out;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** One line naming the file and what is wrong with it: a bundle that cannot even be read. */
function unreadable(dir: string, problem: string): Verification {
  return {
    target: `bundle ${dir}`,
    ok: false,
    problem,
    checks: [{ check: 'bundle', ok: false, detail: problem }],
  };
}

/** An exported bundle, offline: the signatures and the log, then every derived file re-derived and compared. */
export function verifyBundle(dir: string): Verification {
  const read = (rel: string): Buffer | undefined => {
    try {
      return readFileSync(path.join(dir, rel));
    } catch {
      return undefined;
    }
  };
  for (const f of ['manifest.json', 'report.json', 'audit-log.jsonl'])
    if (!read(f))
      return unreadable(
        dir,
        `${f} is missing from the bundle${f === 'audit-log.jsonl' ? ' (a bundle must carry the audit log)' : ''}; export one with gradproof report export REPORT_ID --bundle DIR`,
      );
  let manifest: {
    format?: unknown;
    reportId?: unknown;
    state?: unknown;
    signoffs?: { meaning?: unknown; keyid?: unknown; envelope?: unknown }[];
    attestations?: { kind?: unknown; keyid?: unknown; envelope?: unknown }[];
  };
  try {
    manifest = JSON.parse(read('manifest.json')!.toString('utf8')) as typeof manifest;
    if (!manifest || typeof manifest !== 'object') throw new Error('not an object');
  } catch {
    return unreadable(dir, 'manifest.json is not readable JSON: it was altered; export the bundle again');
  }
  if (manifest.format !== BUNDLE_FORMAT)
    return unreadable(
      dir,
      `manifest.json: format ${JSON.stringify(String(manifest.format)).slice(0, 40)} is not ${BUNDLE_FORMAT}; export the bundle again with this GradProof`,
    );
  const reportId = typeof manifest.reportId === 'string' ? manifest.reportId : '';
  if (!/^rep-[0-9A-Za-z-]{1,60}$/.test(reportId))
    return unreadable(dir, 'manifest.json: reportId is missing or malformed');
  const sigList = Array.isArray(manifest.signoffs) ? manifest.signoffs : [];
  const attList = Array.isArray(manifest.attestations) ? manifest.attestations : [];
  const keyOf = (keyid: string): string | { error: string } => {
    const k = read(`keys/${keyid}.pem`);
    return k ? k.toString('utf8') : { error: `keys/${keyid}.pem is missing` };
  };
  const envelopeAt = (rel: unknown, pattern: RegExp): { rel: string; env: DsseEnvelope | { error: string } } => {
    if (typeof rel !== 'string' || !pattern.test(rel))
      return { rel: String(rel), env: { error: `manifest.json names an envelope file GradProof never writes` } };
    const bytes = read(rel);
    if (!bytes) return { rel, env: { error: `${rel} is missing` } };
    try {
      return { rel, env: parseEnvelope(bytes, rel) };
    } catch (err) {
      return { rel, env: { error: `${(err as Error).message}: it was altered` } };
    }
  };
  const signatures: SignatureInput[] = [];
  const content: BundleContent = {
    reportId,
    body: new Uint8Array(read('report.json')!),
    state: 'draft',
    signoffs: [],
    attestations: [],
    keys: new Map(),
    log: [],
  };
  for (const s of sigList) {
    const meaning = s?.meaning as Meaning;
    const keyid = typeof s?.keyid === 'string' && HEX64.test(s.keyid) ? s.keyid : '';
    const { rel, env } = envelopeAt(s?.envelope, /^signoffs\/[0-9]{1,3}-(authorship|approval|rejection)\.dsse\.json$/);
    if (!MEANINGS.includes(meaning) || !keyid)
      return unreadable(dir, 'manifest.json: a sign-off entry has no valid meaning or key id: it was altered');
    const pem = keyOf(keyid);
    let identity: SignatureInput['identity'] =
      typeof pem === 'string' ? { name: '', role: '', keyid, publicKeyPem: pem } : { keyid, error: pem.error };
    if (!('error' in env) && typeof pem === 'string') {
      const who = signerOf(env);
      identity = { name: who.name, role: who.role, keyid, publicKeyPem: pem };
      content.signoffs.push({ meaning, keyid, envelope: env, base: rel.replace(/\.dsse\.json$/, '') });
    }
    if (typeof pem === 'string') content.keys.set(keyid, pem);
    signatures.push({ meaning, where: rel, envelope: env, identity });
  }
  const attestations: AttestationInput[] = [];
  for (const a of attList) {
    const kind = a?.kind === 'enrollment' || a?.kind === 'policy' ? a.kind : undefined;
    const keyid = typeof a?.keyid === 'string' && HEX64.test(a.keyid) ? a.keyid : '';
    if (!kind || !keyid) return unreadable(dir, 'manifest.json: an attestation entry is malformed: it was altered');
    const { rel, env } = envelopeAt(
      a.envelope,
      /^attestations\/(enrollment-[0-9a-f]{16}|policy-[0-9]{1,6})\.dsse\.json$/,
    );
    const pem = keyOf(keyid);
    if (typeof pem === 'string') content.keys.set(keyid, pem);
    if (!('error' in env))
      content.attestations.push({ kind, keyid, envelope: env, base: rel.replace(/\.dsse\.json$/, '') });
    attestations.push({ kind, where: rel, envelope: env, keyid, publicKeyPem: pem });
  }
  // The author's key travels too, even for a draft.
  try {
    const author = (
      JSON.parse(new TextDecoder().decode(content.body)) as { predicate: { report: { author: { keyid: string } } } }
    ).predicate.report.author.keyid;
    if (HEX64.test(author)) {
      const pem = keyOf(author);
      if (typeof pem === 'string') content.keys.set(author, pem);
    }
  } catch {
    // an unreadable report is reported by its own check
  }
  let log: AuditEntry[] | { error: string };
  const lines = read('audit-log.jsonl')!.toString('utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  try {
    log = lines.map((line, i) => {
      let o: Omit<AuditEntry, 'hash'>;
      try {
        o = JSON.parse(line) as Omit<AuditEntry, 'hash'>;
      } catch {
        throw new Error(`audit-log.jsonl line ${i + 1} is not readable JSON: the log was altered`);
      }
      if (canonicalize(o) !== line)
        throw new Error(`audit-log.jsonl line ${i + 1} is not in the form its hash covers: the log was altered`);
      return { ...o, hash: entryHash(o) };
    });
    content.log = log;
  } catch (err) {
    log = { error: (err as Error).message };
  }
  const v = verifyInput({
    target: `bundle ${dir}`,
    reportId,
    body: content.body,
    claimedState: typeof manifest.state === 'string' ? manifest.state : '(none)',
    claimedStateWhere: 'manifest.json',
    signatures,
    log,
    attestations,
  });
  // Every file: exactly the ones a bundle of this content holds, byte for byte.
  content.state = v.state ?? 'draft';
  const expected = bundleLayout(content);
  const present = new Set(listFiles(dir));
  const checks = [...v.checks];
  const fileProblems: string[] = [];
  for (const [rel, bytes] of expected) {
    const have = read(rel);
    if (!have) fileProblems.push(`${rel} is missing`);
    else if (!Buffer.from(bytes).equals(have))
      fileProblems.push(
        rel === 'manifest.json'
          ? `manifest.json differs from what the signed content makes it (state ${content.state}): it was altered`
          : `${rel} differs from what the signed content makes it: it was altered`,
      );
  }
  for (const rel of present) if (!expected.has(rel)) fileProblems.push(`${rel} is not part of the exported bundle`);
  checks.push({
    check: 'bundle files',
    ok: fileProblems.length === 0,
    detail: fileProblems.length
      ? `${fileProblems[0]!}${fileProblems.length > 1 ? ` (and ${fileProblems.length - 1} more)` : ''}`
      : `${expected.size} files, each exactly as the signed content makes it`,
  });
  const first = checks.find((x) => !x.ok);
  const { problem: _ignored, ...rest } = v;
  return { ...rest, ok: !first, checks, ...(first ? { problem: `${first.check}: ${first.detail}` } : {}) };
}
