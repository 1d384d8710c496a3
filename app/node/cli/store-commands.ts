import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { compareRuns } from '../../core/report/compare-runs.js';
import { type Paper, reportPdf } from '../pdf/report-pdf.js';
import { type Command, Option } from 'commander';
import { type Action, createReport, getReport, listReports, transition } from '../reports/reports.js';
import { exportBundle } from '../reports/bundle.js';
import { type Verification, isBundle, verifyBundle, verifyStore, verifyStoredReport } from '../reports/verify.js';
import { createIdentity, listIdentities } from '../signing/identities.js';
import { type Store, openStore } from '../store/database.js';
import { defaultDatabasePath } from '../store/paths.js';
import { getRun, listRuns } from '../store/runs.js';
import { obtainPassphrase } from './passphrase.js';
import { verdictWord } from './format.js';
import { InputError, NotFoundError } from '../../core/errors.js';

export interface GlobalOptions {
  db?: string;
}

/** The database every store command uses: --db, else GRADPROOF_DB, else the user's data folder. */
export function storePath(program: Command): string {
  return (program.opts() as GlobalOptions).db ?? defaultDatabasePath();
}

/** Open the CLI's database; report runs found interrupted; a store problem becomes a usage error. */
export function openStoreForCli(program: Command): Store {
  const store = openStore(storePath(program));
  if (store.interrupted.length)
    process.stderr.write(
      `gradproof: marked ${store.interrupted.length} run(s) interrupted (their process had stopped): ${store.interrupted.join(', ')}\n`,
    );
  return store;
}

export function withStore<T>(program: Command, fn: (store: Store) => T): T {
  const store = openStoreForCli(program);
  try {
    return fn(store);
  } finally {
    store.db.close();
  }
}

const out = (s: string): boolean => process.stdout.write(`${s}\n`);
const json = (v: unknown): boolean => process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

function printVerification(vs: Verification[]): void {
  for (const v of vs) {
    out(`${v.ok ? 'VERIFIED' : 'NOT VERIFIED'}  ${v.target}`);
    for (const c of v.checks) out(`  ${c.ok ? '✓' : '✗'} ${c.check}: ${c.detail}`);
    if (!v.ok) out(`  first problem: ${v.problem}`);
  }
}

export function registerStoreCommands(program: Command, setExit: (code: number) => void): void {
  const identity = program
    .command('identity')
    .description(
      'signing identities: a name, a role and an Ed25519 key (its private half encrypted under a passphrase)',
    );
  identity
    .command('create')
    .description(
      'create an identity; you are asked for a passphrase (or give --passphrase-file / GRADPROOF_PASSPHRASE)',
    )
    .requiredOption('--name <name>', 'the person, as reports will show them')
    .addOption(
      new Option('--role <role>', 'engineer (prepares reports) or reviewer (approves or rejects them)')
        .choices(['engineer', 'reviewer'])
        .makeOptionMandatory(),
    )
    .option('--passphrase-file <file>', 'read the passphrase from a file')
    .option('--json', 'print the identity as JSON')
    .action(async (o: { name: string; role: 'engineer' | 'reviewer'; passphraseFile?: string; json?: boolean }) => {
      const pass = await obtainPassphrase(o, `the new identity ${o.name}`, true);
      const id = withStore(program, (s) => createIdentity(s, o.name, o.role, pass));
      if (o.json) json(id);
      else out(`created ${id.role} ${id.name}\n  key id       ${id.id}\n  fingerprint  ${id.fingerprint}`);
    });
  identity
    .command('list')
    .description('list identities')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) => {
      const ids = withStore(program, listIdentities);
      if (o.json) json(ids);
      else if (ids.length === 0)
        out('no identities yet; create one with: gradproof identity create --name NAME --role engineer|reviewer');
      else for (const i of ids) out(`${i.name.padEnd(24)} ${i.role.padEnd(9)} ${i.fingerprint}  ${i.id}`);
    });

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
            startedAt: r.startedAt,
            status: r.status,
            verdict: r.verdict,
            difference: r.difference,
            model: r.provenance.model.name,
            dataset: r.provenance.dataset.ref,
            implementation: r.provenance.implementation.ref,
          })),
        );
      else if (rs.length === 0) out('no saved runs yet; run: gradproof check');
      else
        for (const r of rs)
          out(
            `${r.id}  ${r.startedAt.slice(0, 19).replace('T', ' ')}  ${r.status.padEnd(11)} ${(r.verdict ?? '-').padEnd(12)} ${r.difference === null ? '' : r.difference.toExponential(3).padEnd(10)} ${r.provenance.model.name} on ${r.provenance.dataset.ref}`,
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
      out(`${r.id}  ${r.status}${r.verdict ? `  ${verdictWord(r.verdict)}` : ''}`);
      out(
        `  started ${r.startedAt}${r.finishedAt ? `, finished ${r.finishedAt}` : ''}${r.seconds !== null ? ` (${r.seconds.toFixed(3)} s)` : ''}`,
      );
      out(`  model          ${r.provenance.model.name}  sha256 ${r.provenance.model.sha256}`);
      out(`  weights        ${r.provenance.weights.source}  sha256 ${r.provenance.weights.sha256}`);
      out(`  dataset        ${r.provenance.dataset.ref}  sha256 ${r.provenance.dataset.sha256}`);
      out(
        `  implementation ${r.provenance.implementation.ref}${r.provenance.implementation.defects ? ` (${r.provenance.implementation.defects.join(', ')})` : ''}  sha256 ${r.provenance.implementation.sha256}`,
      );
      if (r.difference !== null) out(`  difference     ${r.difference}`);
      for (const g of r.result?.groups ?? [])
        out(
          `    ${g.name.padEnd(6)} ${g.difference.toExponential(3).padEnd(10)} ${g.verdict.padEnd(12)} ${g.diagnosis?.summary ?? ''}`,
        );
      if (r.error) out(`  error: ${r.error}`);
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
      for (const f of c.fields) out(`${f.differs ? '≠ ' : '  '}${f.field.padEnd(w + 2)}${f.values.map(col).join(' ')}`);
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
          `created draft report ${r.id} of ${r.runId} by ${r.author.name}\n  sha256 ${r.sha256}\n  next: gradproof report sign ${r.id} --as "${r.author.name}"`,
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
        const pass = await obtainPassphrase(o, `${o.as} to ${name} ${reportId}`);
        const r = withStore(program, (s) => transition(s, reportId, action, o.as, pass, o.reason ?? o.comment));
        const last = r.signatures[r.signatures.length - 1]!;
        if (o.json)
          json({
            id: r.id,
            reportId: r.id,
            state: r.state,
            signature: { meaning: last.meaning, signer: last.signer, signedAt: last.signedAt, comment: last.comment },
          });
        else
          out(
            `report ${r.id} is now ${r.state}: ${last.meaning} signed by ${last.signer.name} (${last.signer.role}) at ${last.signedAt}, key ${last.signer.fingerprint}`,
          );
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
      const { r, v } = withStore(program, (s) => ({ r: getReport(s, reportId), v: verifyStoredReport(s, reportId) }));
      if (o.json)
        return void json({
          id: r.id,
          runId: r.runId,
          state: r.state,
          createdAt: r.createdAt,
          sha256: r.sha256,
          author: r.author,
          statement: r.statement,
          signatures: r.signatures.map(({ envelope: _e, ...s }) => s),
          verification: v,
        });
      const p = r.statement.predicate;
      out(`${r.id}  ${r.state.toUpperCase()}  ${v.ok ? 'verified' : `NOT VERIFIED (${v.problem})`}`);
      out(
        `  run ${r.runId}: ${p.result?.verdict?.toUpperCase()} difference ${p.result?.difference} (${p.provenance?.model.name} on ${p.provenance?.dataset.ref})`,
      );
      out(`  sha256 ${r.sha256}`);
      for (const s of r.signatures)
        out(
          `  ${s.meaning.padEnd(10)} ${s.signer.name} (${s.signer.role})  ${s.signedAt}  ${s.signer.fingerprint}${s.comment ? `  "${s.comment}"` : ''}`,
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
          out(`${r.id}  ${r.state.padEnd(9)} ${(r.verdict ?? '').padEnd(12)} ${r.author.padEnd(20)} ${r.runId}`);
    });
  report
    .command('export <reportId>')
    .description('write a bundle a third party can verify offline (openssl alone, or gradproof verify DIR)')
    .requiredOption('--bundle <dir>', 'the folder to write (must be empty or new)')
    .action((reportId: string, o: { bundle: string }) => {
      if (existsSync(o.bundle) && readdirSync(o.bundle).length > 0)
        throw new InputError(`--bundle ${o.bundle}: the folder is not empty; give a new or empty folder`);
      const files = withStore(program, (s) => exportBundle(s, reportId, o.bundle));
      out(`wrote ${files.length} files to ${o.bundle}; see ${o.bundle}/VERIFY.md`);
    });

  report
    .command('pdf <reportId>')
    .description('the report as a PDF: page one for executives, then a technical appendix (headless Chromium)')
    .requiredOption('--out <file>', 'where to write the PDF')
    .addOption(new Option('--paper <size>', 'paper size').choices(['a4', 'letter']).default('a4'))
    .action(async (reportId: string, o: { out: string; paper: Paper }) => {
      const store = openStoreForCli(program);
      try {
        const pdf = await reportPdf(store, reportId, o.paper);
        writeFileSync(o.out, pdf);
        out(`wrote ${o.out} (${o.paper === 'a4' ? 'A4' : 'Letter'}, ${(pdf.length / 1024).toFixed(0)} KiB)`);
      } finally {
        store.db.close();
      }
    });

  program
    .command('verify [target]')
    .description(
      'verify a report (by id), an exported bundle (a folder), or with no argument every report and the audit log; exit 0 only when all holds',
    )
    .option('--json', 'print JSON')
    .action((target: string | undefined, o: { json?: boolean }) => {
      let vs: Verification[];
      if (target && isBundle(target)) vs = [verifyBundle(target)];
      else if (target && existsSync(target) && !target.startsWith('rep-'))
        throw new InputError(
          `${target} is not a GradProof bundle (no manifest.json); give a report id or a bundle folder`,
        );
      else vs = withStore(program, (s) => (target ? [verifyStoredReport(s, target)] : verifyStore(s)));
      if (o.json) json(vs.length === 1 ? vs[0] : vs);
      else printVerification(vs);
      setExit(vs.every((v) => v.ok) ? 0 : 1);
    });
}
