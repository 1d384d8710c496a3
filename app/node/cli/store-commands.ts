import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { compareRuns } from '../../core/report/compare-runs.js';
import { type Paper, reportPdf } from '../pdf/report-pdf.js';
import { type Command, Option } from 'commander';
import { type Action, createReport, getReport, listReports, planSignOff, transition } from '../reports/reports.js';
import { exportBundle, isBundle, verifyBundle } from '../reports/bundle.js';
import { type Verification, verifyStore, verifyStoredReport } from '../reports/verify.js';
import {
  ROLES,
  type Role,
  createIdentity,
  describeAccount,
  listIdentities,
  validatePassphrase,
} from '../signing/identities.js';
import { enrollIdentity, enrollmentOf, getPolicy, setPolicy } from '../signing/policy.js';
import { type LogHead, auditTrail } from '../store/audit-log.js';
import { type Store, openStore } from '../store/database.js';
import { defaultDatabasePath } from '../store/paths.js';
import { annotateRun, getRun, listRuns } from '../store/runs.js';
import { obtainPassphrase } from './passphrase.js';
import { verdictWord } from './format.js';
import { InputError, NotFoundError } from '../../core/errors.js';
import { printable } from '../../core/identity/unprintable.js';

export interface GlobalOptions {
  db?: string;
}

/** The database every store command uses: --db, else GRADPROOF_DB, else the user's data folder. */
export function storePath(program: Command): string {
  return (program.opts() as GlobalOptions).db ?? defaultDatabasePath();
}

/** Open the CLI's database; report runs found interrupted; a store problem becomes a usage error. */
export function openStoreForCli(program: Command, options: { readonly?: boolean } = {}): Store {
  const store = openStore(storePath(program), options);
  if (store.interrupted.length)
    process.stderr.write(
      `gradproof: marked ${store.interrupted.length} run(s) interrupted (their process had stopped): ${store.interrupted.join(', ')}\n`,
    );
  return store;
}

export function withStore<T>(program: Command, fn: (store: Store) => T, options: { readonly?: boolean } = {}): T {
  const store = openStoreForCli(program, options);
  try {
    return fn(store);
  } finally {
    store.db.close();
  }
}

const out = (s: string): boolean => process.stdout.write(`${s}\n`);
const json = (v: unknown): boolean => process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
/** Free text from the database (names, notes) printed without control characters that could move the cursor. */
const plain = printable;

function printVerification(vs: Verification[], notes: string[]): void {
  for (const n of notes) out(`note: ${n}`);
  for (const v of vs) {
    out(`${v.ok ? 'VERIFIED' : 'NOT VERIFIED'}  ${v.target}${v.state ? `  (${v.state.toUpperCase()})` : ''}`);
    for (const c of v.checks) out(`  ${!c.ok ? '✗' : c.warning ? '!' : '✓'} ${c.check}: ${plain(c.detail)}`);
    if (!v.ok) out(`  first problem: ${plain(v.problem ?? '')}`);
  }
  const head = vs.find((v) => v.logHead)?.logHead;
  if (head && head.seq > 0)
    out(
      `audit log head: row ${head.seq} ${head.hash}\n  (keep it; later, gradproof verify --log-head ${head.seq}:${head.hash} proves the log was not cut back before it)`,
    );
}

function parseLogHead(v: string): LogHead {
  const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(v.trim());
  if (!m)
    throw new InputError('--log-head: write ROW:HASH as verify printed it, e.g. --log-head 42:3fa9…(64 hex digits)');
  return { seq: Number(m[1]), hash: m[2]! };
}

const onOff =
  (flag: string) =>
  (v: string): boolean => {
    if (v === 'on' || v === 'true' || v === 'yes') return true;
    if (v === 'off' || v === 'false' || v === 'no') return false;
    throw new InputError(`${flag}: write on or off`);
  };

export function registerStoreCommands(program: Command, setExit: (code: number) => void): void {
  const identity = program
    .command('identity')
    .description(
      'signing identities: a name, a role and an Ed25519 key (its private half encrypted under a passphrase), tied to the OS account that created it',
    );
  identity
    .command('create')
    .description(
      'create an identity; you are asked for a passphrase (or give --passphrase-file / GRADPROOF_PASSPHRASE)',
    )
    .requiredOption('--name <name>', 'the person, as reports will show them')
    .addOption(
      new Option(
        '--role <role>',
        'engineer (prepares reports), reviewer (approves or rejects them) or administrator (enrolls keys, sets the policy)',
      )
        .choices([...ROLES])
        .makeOptionMandatory(),
    )
    .option('--passphrase-file <file>', 'read the passphrase from a file')
    .option('--json', 'print the identity as JSON')
    .action(async (o: { name: string; role: Role; passphraseFile?: string; json?: boolean }) => {
      const pass = await obtainPassphrase(o, `the new identity ${o.name}`, true, (p) => validatePassphrase(p, o.name));
      const id = withStore(program, (s) => createIdentity(s, o.name, o.role, pass));
      if (o.json) return void json(id);
      out(`created ${id.role} ${plain(id.name)}\n  key id       ${id.id}\n  fingerprint  ${id.fingerprint}`);
      out(`  created by   ${describeAccount(id.account)}`);
      if (id.sameAccountAs.length)
        out(
          `note: this OS account also holds ${id.sameAccountAs.map(plain).join(', ')}; every approval between these identities will say that nothing shows they are two people`,
        );
    });
  identity
    .command('list')
    .description('list identities, the OS account that created each, and their enrollment')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const ids = withStore(program, (s) =>
        listIdentities(s).map((i) => ({ ...i, enrollment: enrollmentOf(s, i.id) ?? null })),
      );
      if (o.json) return void json(ids);
      if (ids.length === 0)
        return void out(
          'no identities yet; create one with: gradproof identity create --name NAME --role engineer|reviewer',
        );
      for (const i of ids) {
        out(`${plain(i.name).padEnd(24)} ${i.role.padEnd(13)} ${i.fingerprint}  ${i.id}`);
        if (i.integrity && !i.integrity.ok) out(`  ALTERED: ${plain(i.integrity.problem ?? '')}`);
        out(
          `  created by ${describeAccount(i.account)}${i.sameAccountAs.length ? `, which also holds ${i.sameAccountAs.map(plain).join(', ')}` : ''}`,
        );
        if (i.enrollment)
          out(
            `  enrolled by ${plain(i.enrollment.admin.name)} (${i.enrollment.admin.fingerprint}) at ${i.enrollment.enrolledAt}${i.enrollment.problem ? ` — DOES NOT VERIFY: ${plain(i.enrollment.problem)}` : ''}`,
          );
      }
    });
  identity
    .command('enroll <identity>')
    .description("an administrator signs that an identity's key belongs to the person and role it names")
    .requiredOption('--as <admin>', 'the administrator (a name or key id)')
    .option('--passphrase-file <file>', 'read the passphrase from a file')
    .action(async (who: string, o: { as: string; passphraseFile?: string }) => {
      const pass = await obtainPassphrase(o, `${o.as} to enroll ${who}`);
      const i = withStore(program, (s) => enrollIdentity(s, who, o.as, pass));
      out(`enrolled ${i.role} ${plain(i.name)}, key ${i.fingerprint}`);
    });

  const policy = program.command('policy').description('the sign-off policy, signed by an administrator');
  policy
    .command('show')
    .description('the policy in force and who signed it')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const p = withStore(program, getPolicy);
      if (o.json) return void json(p);
      if (p.problem) out(`POLICY DOES NOT VERIFY: ${plain(p.problem)}`);
      out(
        p.version
          ? `policy version ${p.version}, signed by ${plain(p.admin!.name)} (${p.admin!.fingerprint}) at ${p.setAt}; root administrator ${plain(p.root?.name ?? '?')}`
          : 'no policy set: the defaults apply',
      );
      out(`  reviewers need keys enrolled by an administrator: ${p.document.requireEnrollment ? 'yes' : 'no'}`);
      out(`  one identity per OS account:                      ${p.document.oneIdentityPerAccount ? 'yes' : 'no'}`);
    });
  policy
    .command('set')
    .description('set the sign-off policy (the first administrator to set it becomes its root)')
    .requiredOption('--as <admin>', 'the administrator who signs the policy')
    .option(
      '--require-enrollment <on|off>',
      'reviewers need keys enrolled by an administrator',
      onOff('--require-enrollment'),
    )
    .option(
      '--one-identity-per-account <on|off>',
      'an OS account may hold only one identity',
      onOff('--one-identity-per-account'),
    )
    .option('--passphrase-file <file>', 'read the passphrase from a file')
    .action(
      async (o: {
        as: string;
        requireEnrollment?: boolean;
        oneIdentityPerAccount?: boolean;
        passphraseFile?: string;
      }) => {
        if (o.requireEnrollment === undefined && o.oneIdentityPerAccount === undefined)
          throw new InputError('policy set: give --require-enrollment on|off and/or --one-identity-per-account on|off');
        const pass = await obtainPassphrase(o, `${o.as} to sign the policy`);
        const p = withStore(program, (s) =>
          setPolicy(
            s,
            {
              ...(o.requireEnrollment !== undefined ? { requireEnrollment: o.requireEnrollment } : {}),
              ...(o.oneIdentityPerAccount !== undefined ? { oneIdentityPerAccount: o.oneIdentityPerAccount } : {}),
            },
            o.as,
            pass,
          ),
        );
        out(
          `policy version ${p.version} signed by ${plain(p.admin!.name)}: enrollment required ${p.document.requireEnrollment ? 'yes' : 'no'}, one identity per account ${p.document.oneIdentityPerAccount ? 'yes' : 'no'}`,
        );
      },
    );

  const runs = program.command('runs').description('saved gradient checks');
  runs
    .command('list')
    .description('list saved runs, newest first')
    .option('--limit <n>', 'how many', (v) => Number(v), 50)
    .option('--json', 'print JSON')
    .action((o: { limit: number; json?: boolean }) => {
      const rs = withStore(program, (s) => listRuns(s, o.limit));
      if (o.json)
        json(
          rs.map((r) => ({
            id: r.id,
            name: r.name,
            tags: r.tags,
            startedAt: r.startedAt,
            status: r.status,
            verdict: r.verdict,
            difference: r.difference,
            model: r.provenance.model.name,
            dataset: r.provenance.dataset.ref,
            implementation: r.provenance.implementation.ref,
            integrity: r.integrity,
          })),
        );
      else if (rs.length === 0) out('no saved runs yet; run: gradproof check');
      else
        for (const r of rs)
          out(
            `${r.id}  ${r.startedAt.slice(0, 19).replace('T', ' ')}  ${r.status.padEnd(11)} ${(r.integrity.ok ? (r.verdict ?? '-') : 'ALTERED').padEnd(12)} ${r.difference === null ? ''.padEnd(10) : r.difference.toExponential(3).padEnd(10)} ${plain(r.provenance.model.name)} on ${plain(r.provenance.dataset.ref)}${r.name ? `  "${plain(r.name)}"` : ''}${r.tags.length ? `  [${r.tags.map(plain).join(', ')}]` : ''}`,
          );
    });
  runs
    .command('show <runId>')
    .description('show one run')
    .option('--json', 'print JSON')
    .action((runId: string, o: { json?: boolean }) => {
      const r = withStore(program, (s) => getRun(s, runId));
      if (!r) throw new NotFoundError(`no run ${runId}; list runs with: gradproof runs list`);
      if (o.json) return void json(r);
      if (!r.integrity.ok) {
        out(`${r.id}  ALTERED: its stored record does not match the audit log; nothing of it is shown as a result`);
        out(`  ${plain(r.integrity.problem ?? '')}`);
        out('  run gradproof verify to see everything that fails');
        setExit(1);
        return;
      }
      out(`${r.id}  ${r.status}${r.verdict ? `  ${verdictWord(r.verdict)}` : ''}`);
      out(
        `  started ${r.startedAt}${r.finishedAt ? `, finished ${r.finishedAt}` : ''}${r.seconds !== null ? ` (${r.seconds.toFixed(3)} s)` : ''}`,
      );
      out(`  model          ${plain(r.provenance.model.name)}  sha256 ${r.provenance.model.sha256}`);
      out(`  weights        ${plain(r.provenance.weights.source)}  sha256 ${r.provenance.weights.sha256}`);
      out(`  dataset        ${plain(r.provenance.dataset.ref)}  sha256 ${r.provenance.dataset.sha256}`);
      out(
        `  implementation ${plain(r.provenance.implementation.ref)}${r.provenance.implementation.defects ? ` (${r.provenance.implementation.defects.join(', ')})` : ''}  sha256 ${r.provenance.implementation.sha256}`,
      );
      if (r.difference !== null) out(`  difference     ${r.difference}`);
      for (const g of r.result?.groups ?? [])
        out(
          `    ${g.name.padEnd(6)} ${g.difference.toExponential(3).padEnd(10)} ${g.verdict.padEnd(12)} ${g.diagnosis?.summary ?? ''}`,
        );
      if (r.error) out(`  error: ${plain(r.error)}`);
      if (r.name || r.tags.length || r.notes) {
        out('  annotations (editable, not evidence):');
        if (r.name) out(`    name   ${plain(r.name)}`);
        if (r.tags.length) out(`    tags   ${r.tags.map(plain).join(', ')}`);
        if (r.notes) out(`    notes  ${plain(r.notes)}`);
      }
    });
  runs
    .command('annotate <runId>')
    .description("edit a run's name, tags or notes (annotations, not evidence; every edit is in the audit log)")
    .option('--name <name>', 'a name for the run ("" removes it)')
    .option('--tag <tag>', 'a tag (repeatable); replaces the tags', (v: string, prev: string[] = []) => [...prev, v])
    .option('--no-tags', 'remove every tag')
    .option('--notes <text>', 'notes ("" removes them)')
    .option('--json', 'print JSON')
    .action((runId: string, o: { name?: string; tag?: string[]; tags?: boolean; notes?: string; json?: boolean }) => {
      const edit = {
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.tag !== undefined ? { tags: o.tag } : o.tags === false ? { tags: [] } : {}),
        ...(o.notes !== undefined ? { notes: o.notes } : {}),
      };
      if (Object.keys(edit).length === 0)
        throw new InputError('runs annotate: give --name, --tag, --no-tags or --notes');
      const r = withStore(program, (s) => annotateRun(s, runId, edit));
      if (o.json) return void json({ id: r.id, name: r.name, tags: r.tags, notes: r.notes });
      out(
        `annotated ${r.id}: name ${r.name === null ? '(none)' : `"${plain(r.name)}"`}, tags ${r.tags.length ? r.tags.map(plain).join(', ') : '(none)'}${r.notes ? ', with notes' : ''}`,
      );
    });

  runs
    .command('compare <runIds...>')
    .description(
      'two or more runs side by side: settings and hashes with differences marked, per-group results, the verdict change',
    )
    .option('--json', 'print JSON')
    .action((runIds: string[], o: { json?: boolean }) => {
      if (runIds.length < 2) throw new InputError('runs compare needs at least two run ids');
      const rs = withStore(program, (s) =>
        runIds.map((id) => {
          const r = getRun(s, id);
          if (!r) throw new NotFoundError(`no run ${id}; list runs with: gradproof runs list`);
          if (!r.integrity.ok) throw new InputError(`run ${id} cannot be compared: ${r.integrity.problem}`);
          if (!r.result) throw new InputError(`run ${id} is ${r.status}: only completed runs can be compared`);
          return r;
        }),
      );
      const c = compareRuns(rs);
      if (o.json) return void json(c);
      const w = Math.max(...c.fields.map((f) => f.field.length), 12);
      const col = (s: string): string => (s.length > 28 ? `${s.slice(0, 27)}…` : s).padEnd(28);
      out(`verdict: ${c.verdictChange}\n`);
      out(`${'  '.padEnd(w + 4)}${c.runs.map(col).join(' ')}`);
      for (const f of c.fields)
        out(`${f.differs ? '≠ ' : '  '}${f.field.padEnd(w + 2)}${f.values.map((v) => col(plain(v))).join(' ')}`);
      out('\nper group (difference, verdict):');
      for (const g of c.groups)
        out(
          `${g.changed ? '≠ ' : '  '}${g.name.padEnd(8)}${g.differences.map((d, i) => col(`${d === null ? '—' : d.toExponential(3)} ${g.verdicts[i] ?? ''}`)).join(' ')}${g.changed ? '  changed' : ''}`,
        );
    });

  const report = program
    .command('report')
    .description('signed audit reports: create, sign, approve or reject, show, export');
  report
    .command('create <runId>')
    .description('create a draft report of a completed run')
    .requiredOption('--as <identity>', 'the author (a name or key id)')
    .option('--json', 'print JSON (with reportId)')
    .action((runId: string, o: { as: string; json?: boolean }) => {
      const r = withStore(program, (s) => createReport(s, runId, o.as));
      if (o.json)
        json({ reportId: r.id, id: r.id, runId: r.runId, state: r.state, sha256: r.sha256, author: r.author });
      else
        out(
          `created draft report ${r.id} of ${r.runId} by ${plain(r.author.name)}\n  sha256 ${r.sha256}\n  next: gradproof report sign ${r.id} --as "${plain(r.author.name)}"`,
        );
    });
  const signing = (name: string, action: Action, description: string, needsReason = false): void => {
    const c = report
      .command(`${name} <reportId>`)
      .description(description)
      .requiredOption('--as <identity>', 'who signs (a name or key id)')
      .option('--passphrase-file <file>', 'read the passphrase from a file')
      .option('--json', 'print JSON');
    if (needsReason) c.requiredOption('--reason <text>', 'why the report is rejected');
    else c.option('--comment <text>', 'a comment, signed with the signature');
    c.action(
      async (
        reportId: string,
        o: { as: string; passphraseFile?: string; json?: boolean; comment?: string; reason?: string },
      ) => {
        // Who signs what, by which keys, is shown before the passphrase is asked for.
        const plan = withStore(program, (s) => {
          const p = planSignOff(s, reportId, action, o.as, o.reason ?? o.comment);
          const r = getReport(s, reportId);
          return { ...p, digest: r.sha256, verdict: r.statement.predicate?.result?.verdict ?? '?' };
        });
        const say = (s: string): boolean => process.stderr.write(`${s}\n`);
        say(
          `${plan.meaning} of report ${reportId} (verdict ${String(plan.verdict).toUpperCase()}, sha256 ${plan.digest})`,
        );
        say(
          `  signing as ${plain(plan.signer.name)} (${plan.signer.role}), key ${plan.signer.fingerprint}, ${describeAccount(plan.signer.account)}`,
        );
        if (action !== 'prepare')
          say(`  author     ${plain(plan.author.name)} (${plan.author.role}), key ${plan.author.fingerprint}`);
        for (const w of plan.warnings) say(`  warning: ${plain(w)}`);
        const pass = await obtainPassphrase(o, `${o.as} to ${name} ${reportId}`);
        const r = withStore(program, (s) => transition(s, reportId, action, o.as, pass, o.reason ?? o.comment));
        const last = r.signatures[r.signatures.length - 1]!;
        if (o.json)
          json({
            id: r.id,
            reportId: r.id,
            state: r.state,
            signature: { meaning: last.meaning, signer: last.signer, signedAt: last.signedAt, comment: last.comment },
            logHead: r.logHead,
            warnings: r.warnings,
          });
        else {
          out(
            `report ${r.id} is now ${r.state}: ${last.meaning} signed by ${plain(last.signer.name)} (${last.signer.role}) at ${last.signedAt}, key ${last.signer.fingerprint}`,
          );
          out(
            `  audit log head: row ${r.logHead.seq} ${r.logHead.hash} (a receipt: gradproof verify --log-head ${r.logHead.seq}:${r.logHead.hash})`,
          );
        }
      },
    );
  };
  signing('sign', 'prepare', 'sign a draft as its author (meaning "authorship"): it becomes prepared');
  signing('approve', 'approve', 'approve a prepared report as a reviewer other than its author');
  signing('reject', 'reject', 'reject a prepared report as a reviewer other than its author, with a reason', true);
  report
    .command('show <reportId>')
    .description('show a report, its signatures and whether it verifies')
    .option('--json', 'print JSON')
    .action((reportId: string, o: { json?: boolean }) => {
      const { r, v } = withStore(program, (s) => ({ r: getReport(s, reportId), v: verifyStoredReport(s, reportId) }), {
        readonly: true,
      });
      if (o.json)
        return void json({
          id: r.id,
          runId: r.runId,
          state: r.state,
          storedState: r.storedState,
          createdAt: r.createdAt,
          sha256: r.sha256,
          author: r.author,
          statement: r.statement,
          signatures: r.signatures.map(({ envelope: _e, ...s }) => s),
          annotations: r.annotations,
          fourEyes: r.fourEyes,
          verification: v,
        });
      const p = r.statement.predicate;
      out(`${r.id}  ${r.state.toUpperCase()}  ${v.ok ? 'verified' : `NOT VERIFIED (${plain(v.problem ?? '')})`}`);
      if (r.storedState !== r.state)
        out(`  the stored state says ${plain(r.storedState)}; the signatures make it ${r.state}`);
      out(
        `  run ${r.runId}: ${p.result?.verdict?.toUpperCase()} difference ${p.result?.difference} (${plain(p.provenance?.model.name ?? '?')} on ${plain(p.provenance?.dataset.ref ?? '?')})`,
      );
      out(`  sha256 ${r.sha256}`);
      for (const s of r.signatures)
        out(
          `  ${s.meaning.padEnd(10)} ${plain(s.signer.name)} (${s.signer.role})  ${s.signedAt}  ${s.signer.fingerprint}${s.comment ? `  "${plain(s.comment)}"` : ''}`,
        );
      for (const f of r.fourEyes) out(`  four eyes: ${plain(f)}`);
      const a = r.annotations;
      if (a.name || a.tags.length || a.notes)
        out(
          `  run annotations (not part of the signed report): ${[a.name && `name "${plain(a.name)}"`, a.tags.length && `tags ${a.tags.map(plain).join(', ')}`, a.notes && 'notes'].filter(Boolean).join(', ')}`,
        );
    });
  report
    .command('list')
    .description('list reports with their states')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const rs = withStore(program, listReports);
      if (o.json) json(rs);
      else if (rs.length === 0) out('no reports yet; create one with: gradproof report create RUN_ID --as NAME');
      else
        for (const r of rs)
          out(`${r.id}  ${r.state.padEnd(9)} ${(r.verdict ?? '').padEnd(12)} ${plain(r.author).padEnd(20)} ${r.runId}`);
    });
  report
    .command('export <reportId>')
    .description('write a bundle a third party can verify offline (openssl alone, or gradproof verify DIR)')
    .requiredOption('--bundle <dir>', 'the folder to write (must be empty or new)')
    .action((reportId: string, o: { bundle: string }) => {
      if (existsSync(o.bundle) && (!statSync(o.bundle).isDirectory() || readdirSync(o.bundle).length > 0))
        throw new InputError(`--bundle ${o.bundle}: not a new or empty folder; give a new or empty folder`);
      const files = withStore(program, (s) => exportBundle(s, reportId, o.bundle), { readonly: true });
      out(`wrote ${files.length} files to ${o.bundle}; see ${o.bundle}/VERIFY.md`);
    });

  report
    .command('pdf <reportId>')
    .description('the report as a PDF: page one for executives, then a technical appendix (headless Chromium)')
    .requiredOption('--out <file>', 'where to write the PDF')
    .addOption(new Option('--paper <size>', 'paper size').choices(['a4', 'letter']).default('a4'))
    .action(async (reportId: string, o: { out: string; paper: Paper }) => {
      const store = openStoreForCli(program, { readonly: true });
      try {
        const pdf = await reportPdf(store, reportId, o.paper);
        writeFileSync(o.out, pdf);
        out(`wrote ${o.out} (${o.paper === 'a4' ? 'A4' : 'Letter'}, ${(pdf.length / 1024).toFixed(0)} KiB)`);
      } finally {
        store.db.close();
      }
    });

  program
    .command('log')
    .description('the audit log, newest first: every change, sign-off and failed passphrase attempt (reads only)')
    .option('--subject <id>', 'only entries about this run, report or identity key id')
    .option('--failed-attempts', 'only failed passphrase attempts')
    .option('--limit <n>', 'how many', (v) => Number(v), 50)
    .option('--json', 'print JSON')
    .action((o: { subject?: string; failedAttempts?: boolean; limit: number; json?: boolean }) => {
      const t = withStore(
        program,
        (s) =>
          auditTrail(s.db, {
            ...(o.subject ? { subject: o.subject } : {}),
            ...(o.failedAttempts ? { actions: ['identity.unlock_failed'] } : {}),
            limit: o.limit,
          }),
        { readonly: true },
      );
      if (o.json) return void json(t);
      if (!t.chain.ok) out(`THE AUDIT LOG IS BROKEN: ${plain(t.chain.problem ?? '')}`);
      for (const e of t.entries) {
        const d = e.details as Record<string, unknown>;
        const about = typeof d?.name === 'string' ? ` (${plain(d.name)})` : '';
        const why = typeof d?.purpose === 'string' ? `: ${plain(d.purpose)}` : '';
        out(`${String(e.seq).padStart(6)}  ${e.at}  ${e.action.padEnd(22)} ${plain(e.subject)}${about}${why}`);
      }
      if (t.entries.length === 0) out('no entries');
    });

  program
    .command('verify [target]')
    .description(
      'verify a report (by id), an exported bundle (a folder), or with no argument the whole database and every report; reads only, never writes; exit 0 only when all holds',
    )
    .option(
      '--log-head <row:hash>',
      'a log head you noted earlier (a receipt): the log must still reach it',
      parseLogHead,
    )
    .option('--json', 'print JSON')
    .action((target: string | undefined, o: { json?: boolean; logHead?: LogHead }) => {
      let vs: Verification[];
      let notes: string[] = [];
      if (target && isBundle(target)) {
        vs = [verifyBundle(target)];
      } else if (target && existsSync(target) && !target.startsWith('rep-'))
        throw new InputError(
          `${target} is not a GradProof bundle (no manifest.json); give a report id or a bundle folder`,
        );
      else
        vs = withStore(
          program,
          (s) => {
            notes = s.notes ?? [];
            const opts = o.logHead ? { expectHead: o.logHead } : {};
            return target ? [verifyStoredReport(s, target, opts)] : verifyStore(s, opts);
          },
          { readonly: true },
        );
      if (o.json) json(vs.length === 1 ? { ...vs[0], ...(notes.length ? { notes } : {}) } : vs);
      else printVerification(vs, notes);
      setExit(vs.every((v) => v.ok) ? 0 : 1);
    });
}
