import { IN_TOTO_PAYLOAD_TYPE } from '../signing/dsse.js';
import { AUDIT_PREDICATE, SIGNOFF_PREDICATE } from '../../core/report/statement.js';
import { GENESIS_HASH } from '../store/audit-log.js';
import { InputError } from '../../core/errors.js';
import { fingerprint } from '../util/fingerprint.js';

/**
 * `verify-openssl.sh`: the bundle checked with openssl and POSIX tools alone. The script never
 * holds a name, a comment or any other free text from the bundle: every value it uses is a
 * digest, a key id, a fixed word or a file name GradProof chose, each single-quoted and checked
 * against its pattern when the script is written. Data files are only hashed, compared and
 * searched for fixed strings; nothing read from them is ever run.
 */

export interface ScriptSignOff {
  meaning: 'authorship' | 'approval' | 'rejection';
  keyid: string;
  /** File stem, e.g. "signoffs/2-approval" (.dsse.json, .payload.json, .sig). */
  base: string;
}

export interface ScriptAttestation {
  kind: 'enrollment' | 'policy';
  keyid: string;
  base: string;
}

export interface ScriptInput {
  reportId: string;
  reportSha: string;
  authorKeyid: string;
  state: string;
  signoffs: ScriptSignOff[];
  attestations: ScriptAttestation[];
  files: string[];
  manifest: string;
  verifyMdSha: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const SAFE_FILE = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

/** POSIX single quoting: the only character that needs care inside '…' is ' itself. */
export function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function must(ok: boolean, what: string): void {
  if (!ok)
    throw new InputError(
      `refusing to write verify-openssl.sh: ${what} is not in the form GradProof writes; run gradproof verify`,
    );
}

const fpr = fingerprint;

export function opensslScript(s: ScriptInput): string {
  must(/^rep-[0-9A-Za-z-]{1,60}$/.test(s.reportId), 'the report id');
  must(HEX64.test(s.reportSha) && HEX64.test(s.authorKeyid) && HEX64.test(s.verifyMdSha), 'a digest');
  must(['draft', 'prepared', 'approved', 'rejected'].includes(s.state), 'the state');
  for (const x of [...s.signoffs, ...s.attestations]) must(HEX64.test(x.keyid) && SAFE_FILE.test(x.base), 'a sign-off');
  for (const f of s.files) must(SAFE_FILE.test(f), `the file name ${JSON.stringify(f)}`);
  const L: string[] = [
    '#!/bin/sh',
    '# Verify this GradProof bundle with openssl and POSIX tools only. Run it from the bundle folder:',
    '#   sh verify-openssl.sh',
    '# Every value below is a digest, a key id or a file name fixed when the bundle was exported;',
    '# names and comments are never read into the shell.',
    'set -eu',
    'LC_ALL=C',
    'export LC_ALL',
    'fail() { printf \'NOT VERIFIED: %s\\n\' "$1"; exit 1; }',
    'ok() { printf \'  ok  %s\\n\' "$1"; }',
    'tmp=$(mktemp -d)',
    'trap \'rm -rf "$tmp"\' EXIT',
    "trap 'exit 1' INT TERM HUP",
    'sha() { openssl dgst -sha256 -r "$1" | cut -c1-64; }',
    `type=${sq(IN_TOTO_PAYLOAD_TYPE)}`,
    '',
    '# The files: exactly those exported.',
    `printf '%s\\n' ${s.files.map((f) => sq(`./${f}`)).join(' ')} | sort > "$tmp/expected-files"`,
    'find . \\( -name \'.*\' ! -name . \\) -prune -o -type f -print | sort > "$tmp/files"',
    'cmp -s "$tmp/files" "$tmp/expected-files" || fail "the folder holds other files than the bundle exported: $(diff "$tmp/expected-files" "$tmp/files" | grep \'^[<>]\' | head -n 1)"',
    'ok "the files are the ones exported"',
    '',
    '# The report.',
    'report_sha=$(sha report.json)',
    `[ "$report_sha" = ${sq(s.reportSha)} ] || fail ${sq(`report.json does not hash to ${s.reportSha}: it was altered`)}`,
    `grep -qF ${sq(`"predicateType":"${AUDIT_PREDICATE}"`)} report.json || fail 'report.json is not a GradProof audit statement'`,
    `[ "$(sha VERIFY.md)" = ${sq(s.verifyMdSha)} ] || fail 'VERIFY.md was altered'`,
    'ok "report.json: SHA-256 $report_sha"',
    '',
    '# An envelope: BASE.dsse.json must be exactly BASE.payload.json and BASE.sig, signed by keys/KEYID.pem.',
    'check_envelope() {',
    '  base=$1',
    '  kid=$2',
    '  key="keys/$kid.pem"',
    '  [ -f "$key" ] || fail "$key is missing"',
    '  kid_of=$(openssl pkey -pubin -in "$key" -outform DER 2>/dev/null | tail -c 32 | openssl dgst -sha256 -r | cut -c1-64)',
    '  [ "$kid_of" = "$kid" ] || fail "$key is not the key $kid: it was replaced"',
    '  len=$(wc -c < "$base.payload.json" | tr -d \' \')',
    '  { printf \'DSSEv1 %d %s %d \' "${#type}" "$type" "$len"; cat "$base.payload.json"; } > "$tmp/pae"',
    '  openssl pkeyutl -verify -pubin -inkey "$key" -rawin -in "$tmp/pae" -sigfile "$base.sig" > /dev/null 2>&1 ||',
    '    fail "$base: the signature does not verify: the statement or the signature was altered"',
    '  p64=$(openssl base64 -A -in "$base.payload.json")',
    '  s64=$(openssl base64 -A -in "$base.sig")',
    '  printf \'{\\n  "payloadType": "%s",\\n  "payload": "%s",\\n  "signatures": [\\n    {\\n      "keyid": "%s",\\n      "sig": "%s"\\n    }\\n  ]\\n}\\n\' "$type" "$p64" "$kid" "$s64" > "$tmp/env"',
    '  cmp -s "$tmp/env" "$base.dsse.json" || fail "$base.dsse.json differs from $base.payload.json and $base.sig: it was altered"',
    '}',
    '',
    '# The audit log: each line is the exact bytes its hash covers, linked to the line before.',
    `prev=${sq(GENESIS_HASH)}`,
    'n=0',
    ': > "$tmp/hashes"',
    'while IFS= read -r line || [ -n "$line" ]; do',
    '  n=$((n + 1))',
    '  case "$line" in',
    '    *"\\"prev_hash\\":\\"$prev\\",\\"seq\\":$n,\\"subject\\":"*) ;;',
    '    *) fail "audit-log.jsonl line $n does not link to line $((n - 1)): the log was altered" ;;',
    '  esac',
    '  printf \'%s\' "$line" > "$tmp/row"',
    '  prev=$(sha "$tmp/row")',
    '  printf \'%s %s\\n\' "$n" "$prev" >> "$tmp/hashes"',
    'done < audit-log.jsonl',
    '[ "$n" -gt 0 ] || fail "audit-log.jsonl is empty"',
    'ok "audit-log.jsonl: $n rows, hash chain intact"',
    '',
    '# A signed statement carries the log head it was signed over: the log must still hold it.',
    'check_head() {',
    '  h=$(sed -n \'s/.*"auditLog":{"hash":"\\([0-9a-f]\\{64\\}\\)","seq":\\([0-9]\\{1,\\}\\)}.*/\\2 \\1/p\' "$1" | head -n 1)',
    '  [ -n "$h" ] || fail "$1 carries no audit log head"',
    '  case "$h" in "0 "*) return 0 ;; esac',
    '  grep -qx "$h" "$tmp/hashes" || fail "the audit log no longer holds the row $1 was signed over: it was cut or rewritten"',
    '}',
    'check_head report.json',
    '',
    '# An entry of the log for this bundle: action, subject and a fixed string in its details.',
    'logged() {',
    '  grep -F "\\"action\\":\\"$1\\"" audit-log.jsonl | grep -F "\\"subject\\":\\"$2\\"" | grep -qF "$3"',
    '}',
  ];
  const author = s.signoffs.find((x) => x.meaning === 'authorship');
  const review = s.signoffs.find((x) => x.meaning !== 'authorship');
  L.push('', '# Each sign-off.', 'state=draft', 'count=0');
  for (const o of s.signoffs) {
    const action =
      o.meaning === 'authorship' ? 'report.prepared' : o.meaning === 'approval' ? 'report.approved' : 'report.rejected';
    L.push(
      `check_envelope ${sq(o.base)} ${sq(o.keyid)}`,
      `p=${sq(`${o.base}.payload.json`)}`,
      `grep -qF ${sq(`"predicateType":"${SIGNOFF_PREDICATE}"`)} "$p" || fail "$p is not a GradProof sign-off"`,
      `grep -qF "\\"digest\\":{\\"sha256\\":\\"$report_sha\\"}" "$p" || fail "$p signs another report"`,
      `grep -qF ${sq(`"reportId":"${s.reportId}"`)} "$p" || fail "$p names another report"`,
      `grep -qF ${sq(`"meaning":"${o.meaning}"`)} "$p" || fail ${sq(`${o.base}: the signed meaning is not ${o.meaning}`)}`,
      `grep -qF ${sq(`"signer":{"keyid":"${o.keyid}"`)} "$p" || fail "$p names another signer"`,
      `logged 'identity.created' ${sq(o.keyid)} '' || fail ${sq(`key ${fpr(o.keyid)} was never created as an identity in the audit log`)}`,
      `logged ${sq(action)} ${sq(s.reportId)} "\\\\\\"payload\\\\\\":\\\\\\"$(sha "$p")\\\\\\"" || fail ${sq(`the audit log does not record the ${o.meaning}`)}`,
      'check_head "$p"',
    );
    if (o.meaning === 'authorship')
      L.push(
        `grep -qF ${sq(`"author":{"keyid":"${o.keyid}"`)} report.json || fail 'the authorship is not signed by the report'"'"'s author'`,
        'state=prepared',
      );
    else {
      L.push(
        `grep -qF ${sq(`"role":"reviewer"}},"predicateType":"${SIGNOFF_PREDICATE}"`)} "$p" || fail ${sq(`the ${o.meaning} is not signed by a reviewer`)}`,
        author
          ? `grep -qF "\\"follows\\":[\\"$(sha ${sq(`${author.base}.payload.json`)})\\"]" "$p" || fail ${sq(`the ${o.meaning} does not follow the authorship`)}`
          : `fail ${sq(`the ${o.meaning} has no authorship before it`)}`,
        o.keyid === s.authorKeyid || o.keyid === author?.keyid
          ? `fail ${sq(`the ${o.meaning} is signed by the report's own author`)}`
          : `: # reviewer key ${fpr(o.keyid)} differs from the author's key ${fpr(s.authorKeyid)}`,
      );
      if (o.meaning === 'rejection')
        L.push(`grep -qF '"comment":"' "$p" || fail 'the rejection carries no reason'`, 'state=rejected');
      else L.push('[ "$state" = rejected ] || state=approved');
    }
    L.push(
      'count=$((count + 1))',
      `ok ${sq(`${o.meaning} by key ${fpr(o.keyid)}: signature valid, signs report.json, in the audit log`)}`,
    );
  }
  if (review && !author) L.push(`fail 'a review without an authorship'`);
  L.push(
    '',
    '# Every sign-off the log records for this report is here.',
    `logged_count=$(grep -F ${sq(`"subject":"${s.reportId}"`)} audit-log.jsonl | grep -cE '"action":"report\\.(prepared|approved|rejected)"' || true)`,
    '[ "$logged_count" = "$count" ] || fail "the audit log records $logged_count sign-off(s) of this report but the bundle holds $count: one was removed"',
  );
  for (const a of s.attestations) {
    const action = a.kind === 'enrollment' ? 'identity.enrolled' : 'policy.set';
    L.push(
      `check_envelope ${sq(a.base)} ${sq(a.keyid)}`,
      `grep -F ${sq(`"action":"${action}"`)} audit-log.jsonl | grep -qF "\\\\\\"payload\\\\\\":\\\\\\"$(sha ${sq(`${a.base}.payload.json`)})\\\\\\"" || fail ${sq(`${a.base}: the ${a.kind} is not in the audit log`)}`,
      `check_head ${sq(`${a.base}.payload.json`)}`,
      `ok ${sq(`${a.kind} signed by administrator key ${fpr(a.keyid)}`)}`,
    );
  }
  L.push(
    '',
    '# The manifest says what the signatures make the report, and nothing else.',
    `cat > "$tmp/manifest" <<'GRADPROOF_MANIFEST'`,
    s.manifest.replace(/\n$/, '').replace(`"state": "${s.state}"`, '"state": "@STATE@"'),
    'GRADPROOF_MANIFEST',
    `sed "s/@STATE@/$state/" "$tmp/manifest" > "$tmp/manifest.expected"`,
    'cmp -s "$tmp/manifest.expected" manifest.json || fail "manifest.json differs from what the signatures make the report ($state): it was altered"',
    'ok "manifest.json: $state"',
    '',
    'echo "OK: report $report_sha is $state; every signature is valid, signs this report and is in the intact audit log"',
    '',
  );
  return L.join('\n');
}
