import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readLog } from '../store/audit-log.js';
import type { Store } from '../store/database.js';
import { IN_TOTO_PAYLOAD_TYPE } from '../signing/dsse.js';
import { getReport, publicKeyOf } from './reports.js';

const slug = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'signer';

/**
 * Everything a third party needs to check a report offline: the signed bytes,
 * each sign-off as a DSSE envelope and split into payload and raw signature (so
 * openssl alone can check it), the public keys, the audit log, and VERIFY.md.
 */
export function exportBundle(store: Store, reportId: string, dir: string): string[] {
  const report = getReport(store, reportId);
  mkdirSync(path.join(dir, 'signoffs'), { recursive: true });
  mkdirSync(path.join(dir, 'keys'), { recursive: true });
  const files: string[] = [];
  const write = (rel: string, data: string | Uint8Array): void => {
    writeFileSync(path.join(dir, rel), data);
    files.push(rel);
  };
  write('report.json', report.body);
  const signatures = report.signatures.map((s, i) => {
    const base = `signoffs/${i + 1}-${s.meaning}`;
    write(`${base}.dsse.json`, `${JSON.stringify(s.envelope, null, 2)}\n`);
    write(`${base}.payload.json`, Buffer.from(s.envelope.payload, 'base64'));
    write(`${base}.sig`, Buffer.from(s.envelope.signatures[0]!.sig, 'base64'));
    const key = `keys/${slug(s.signer.name)}-${s.signer.keyid.slice(0, 16)}.pem`;
    write(key, publicKeyOf(store, s.signer.keyid));
    return {
      meaning: s.meaning,
      envelope: `${base}.dsse.json`,
      payload: `${base}.payload.json`,
      signature: `${base}.sig`,
      keyid: s.signer.keyid,
      fingerprint: s.signer.fingerprint,
      name: s.signer.name,
      role: s.signer.role,
      signedAt: s.signedAt,
      publicKey: key,
    };
  });
  write(
    'audit-log.jsonl',
    readLog(store.db)
      .map((e) => JSON.stringify(e))
      .join('\n') + '\n',
  );
  write(
    'manifest.json',
    `${JSON.stringify({ format: 'gradproof-bundle/v1', reportId, state: report.state, sha256: report.sha256, payloadType: IN_TOTO_PAYLOAD_TYPE, signatures }, null, 2)}\n`,
  );
  write('verify-openssl.sh', opensslScript(signatures, report.sha256));
  write('VERIFY.md', verifyDoc(reportId, report.sha256, signatures));
  return files;
}

interface SigFiles {
  meaning: string;
  payload: string;
  signature: string;
  publicKey: string;
  name: string;
  role: string;
  fingerprint: string;
}

function opensslScript(sigs: SigFiles[], digest: string): string {
  const lines = [
    '#!/bin/sh',
    '# Verify this GradProof bundle with openssl and POSIX tools only. Run it from the bundle folder.',
    'set -eu',
    `type='${IN_TOTO_PAYLOAD_TYPE}'`,
    'report_sha=$(openssl dgst -sha256 -r report.json | cut -d" " -f1)',
    `[ "$report_sha" = "${digest}" ] || { echo "report.json does not hash to ${digest}: altered"; exit 1; }`,
    'echo "report.json: SHA-256 $report_sha"',
    'tmp=$(mktemp)',
    'trap \'rm -f "$tmp"\' EXIT',
  ];
  for (const s of sigs) {
    lines.push(
      `# ${s.meaning} by ${s.name} (${s.role}), key ${s.fingerprint}`,
      `len=$(wc -c < ${s.payload} | tr -d ' ')`,
      `{ printf 'DSSEv1 %d %s %d ' "\${#type}" "$type" "$len"; cat ${s.payload}; } > "$tmp"`,
      `openssl pkeyutl -verify -pubin -inkey ${s.publicKey} -rawin -in "$tmp" -sigfile ${s.signature} >/dev/null || { echo "${s.meaning} signature by ${s.name}: INVALID"; exit 1; }`,
      `grep -q "\\"sha256\\":\\"$report_sha\\"" ${s.payload} || { echo "${s.meaning} by ${s.name} signs another report"; exit 1; }`,
      `echo "${s.meaning} by ${s.name} (${s.role}): signature valid, signs report.json"`,
    );
  }
  lines.push('echo "OK: every signature is valid and signs this report"', '');
  return lines.join('\n');
}

function verifyDoc(reportId: string, digest: string, sigs: SigFiles[]): string {
  return `# Verifying GradProof report ${reportId}

This folder holds a signed gradient-audit report and everything needed to check it
offline, without GradProof.

| file | what it is |
| --- | --- |
| \`report.json\` | the report: an in-toto Statement v1 (RFC 8785 canonical JSON), SHA-256 \`${digest}\` |
| \`signoffs/N-MEANING.dsse.json\` | each sign-off as a DSSE envelope (Ed25519) |
| \`signoffs/N-MEANING.payload.json\` | the signed sign-off statement; its subject is report.json's SHA-256 |
| \`signoffs/N-MEANING.sig\` | the raw 64-byte Ed25519 signature |
| \`keys/*.pem\` | the signers' public keys |
| \`audit-log.jsonl\` | GradProof's hash-chained audit log at export time |
| \`manifest.json\` | the index of the above |

Signers:

${sigs.map((s) => `- ${s.meaning}: ${s.name} (${s.role}), key fingerprint \`${s.fingerprint}\``).join('\n')}

Check the key fingerprints against the ones the signers gave you out of band (the PDF of the
report prints them) before trusting the keys in \`keys/\`.

## With openssl alone

\`\`\`sh
sh verify-openssl.sh
\`\`\`

It does, for each sign-off, what DSSE specifies: builds the pre-authentication encoding
\`DSSEv1 <len(type)> <type> <len(payload)> <payload>\` with type
\`${IN_TOTO_PAYLOAD_TYPE}\`, verifies the Ed25519 signature over it with
\`openssl pkeyutl -verify -rawin\`, and checks that the signed statement names report.json's
SHA-256 (\`openssl dgst -sha256\`). By hand, for the first sign-off:

\`\`\`sh
type='${IN_TOTO_PAYLOAD_TYPE}'
p=signoffs/1-authorship.payload.json
{ printf 'DSSEv1 %d %s %d ' "\${#type}" "$type" "$(wc -c < $p | tr -d ' ')"; cat $p; } > pae.bin
openssl pkeyutl -verify -pubin -inkey keys/<author>.pem -rawin -in pae.bin -sigfile signoffs/1-authorship.sig
openssl dgst -sha256 report.json
\`\`\`

## With GradProof

\`\`\`sh
gradproof verify .
\`\`\`

checks the signatures, the link between report and sign-offs, the sign-off rules (the author
signs first; a different person with the reviewer role approves or rejects), and the audit
log's hash chain.

## With cosign

Each \`*.dsse.json\` is a standard DSSE envelope; \`cosign verify-blob-attestation --key
keys/<signer>.pem --type custom --signature signoffs/1-authorship.dsse.json …\` can check it too.
`;
}
