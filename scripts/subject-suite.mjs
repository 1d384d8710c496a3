#!/usr/bin/env node
/**
 * The subject suite: realistic numpy implementations (tests/fixtures/subjects/suite/), each
 * run through the built CLI under every scheme and mode and compared with what an honest
 * gradient checker should say (manifest.json there).
 *
 *   node scripts/subject-suite.mjs                  every case × scheme × mode; a score table
 *   node scripts/subject-suite.mjs --json           the same as one JSON object on stdout
 *   node scripts/subject-suite.mjs --scheme forward,central --mode fast --only deep_tanh,conv4d_correct
 *
 * Options: --scheme S[,S], --mode M[,M], --only NAME[,NAME] (repeatable), --jobs 1|2 (checks at
 * a time; default 2, the machine has two cores), --workers N (subject processes per check;
 * default 1), --timeout SECONDS (per check; default 300), --json, --quiet (no progress lines).
 * Exit 0 only when every check matches its expectation; 1 otherwise; 2 on bad usage.
 *
 * The same functions serve tests/integration/subject-suite.test.ts (import them).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SUITE_DIR = 'tests/fixtures/subjects/suite';
export const MANIFEST = path.join(ROOT, SUITE_DIR, 'manifest.json');
const BIN = path.join(ROOT, 'bin/gradproof.js');

const VERDICT_EXIT = { pass: 0, fail: 1, inconclusive: 3 };
const MAX_JOBS = 2;

export function loadManifest(file = MANIFEST) {
  const manifest = JSON.parse(readFileSync(file, 'utf8'));
  const names = new Set();
  for (const c of manifest.cases) {
    if (names.has(c.name)) throw new Error(`${file}: case name ${c.name} appears twice`);
    names.add(c.name);
  }
  return manifest;
}

const list = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Every (case, scheme, mode) to run, in table order, after the filters. */
export function plan(manifest, filters = {}) {
  const schemes = filters.schemes?.length ? filters.schemes : manifest.schemes;
  const modes = filters.modes?.length ? filters.modes : manifest.modes;
  for (const s of schemes)
    if (!manifest.schemes.includes(s)) throw new Error(`--scheme ${s}: not one of ${manifest.schemes.join(', ')}`);
  for (const m of modes)
    if (!manifest.modes.includes(m)) throw new Error(`--mode ${m}: not one of ${manifest.modes.join(', ')}`);
  const only = filters.only ?? [];
  const cases = manifest.cases.filter((c) => !only.length || only.includes(c.name) || only.includes(c.file));
  const unknown = only.filter((n) => !manifest.cases.some((c) => c.name === n || c.file === n));
  if (unknown.length) throw new Error(`--only ${unknown.join(', ')}: no such case in ${path.relative(ROOT, MANIFEST)}`);
  const items = [];
  for (const c of cases) for (const scheme of schemes) for (const mode of modes) items.push({ case: c, scheme, mode });
  return { cases, schemes, modes, items };
}

/** The CLI's arguments for one check, as a user would type them. */
export function checkArgs(c, scheme, mode, options = {}) {
  return [
    'check',
    '--subject',
    `python3 ${SUITE_DIR}/${c.file}`,
    '--json',
    '--no-save',
    '--scheme',
    scheme,
    '--mode',
    mode,
    '--workers',
    String(options.workers ?? 1),
    ...(c.args ?? []),
  ];
}

/** A check's arguments as one shell line, to paste and rerun. */
export function commandLine(args) {
  return ['gradproof', ...args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a))].join(' ');
}

let scratchDb;

/**
 * One check through the built CLI. Never rejects: a check that could not be started or
 * timed out comes back as such, so a caller can hold many of these promises at once.
 */
export function runCheck(c, scheme, mode, options = {}) {
  const timeoutSeconds = options.timeoutSeconds ?? 300;
  scratchDb ??= path.join(mkdtempSync(path.join(tmpdir(), 'gp-suite-')), 'suite.db');
  const args = checkArgs(c, scheme, mode, options);
  const t0 = performance.now();
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let child;
    try {
      // Its own process group, so a check that hangs is killed with its subject processes.
      child = spawn(process.execPath, [BIN, ...args], {
        cwd: ROOT,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          NO_COLOR: '1',
          GRADPROOF_DB: process.env.GRADPROOF_DB ?? scratchDb,
          MALLOC_MMAP_THRESHOLD_: '268435456',
          MALLOC_TRIM_THRESHOLD_: '268435456',
        },
      });
    } catch (err) {
      resolve({ args, status: null, stdout, stderr: String(err), timedOut, seconds: 0 });
      return;
    }
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutSeconds * 1000);
    const finish = (status, error) => {
      clearTimeout(timer);
      let json;
      try {
        json = stdout.trim() ? JSON.parse(stdout) : undefined;
      } catch {
        json = undefined;
      }
      resolve({
        args,
        status,
        stdout,
        stderr: error ? `${stderr}${String(error)}` : stderr,
        json,
        timedOut,
        timeoutSeconds,
        seconds: (performance.now() - t0) / 1000,
      });
    };
    child.on('error', (err) => finish(null, err));
    child.on('close', (status) => finish(status));
  });
}

/** A pool that runs at most `jobs` checks at a time, in the order they were asked for. */
export function createPool(jobs = MAX_JOBS) {
  const limit = Math.max(1, Math.min(MAX_JOBS, jobs));
  let running = 0;
  const queue = [];
  const next = () => {
    while (running < limit && queue.length) {
      const { task, resolve } = queue.shift();
      running++;
      task().then((r) => {
        running--;
        resolve(r);
        next();
      });
    }
  };
  return (task) =>
    new Promise((resolve) => {
      queue.push({ task, resolve });
      next();
    });
}

function lastLine(text) {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

function fmt(x) {
  return typeof x === 'number' ? Number(x.toPrecision(4)).toString() : String(x);
}

/** What a failing group's diagnosis should be, against what the check said. */
function judgeDiagnosis(name, want, got) {
  const out = [];
  if (!got) return [`${name}: no diagnosis on a failing group`];
  const kinds = list(want.kind);
  if (kinds.length && !kinds.includes(got.kind))
    out.push(`${name}: diagnosed ${got.kind}, expected ${kinds.join(' or ')} ("${got.summary ?? ''}")`);
  if (list(want.kindNot).includes(got.kind))
    out.push(`${name}: diagnosed ${got.kind}, which it is not ("${got.summary ?? ''}")`);
  if (want.factor !== undefined) {
    const tol = want.factorTolerance ?? 0.01;
    if (typeof got.factor !== 'number') out.push(`${name}: no factor given, expected ×${fmt(want.factor)}`);
    else if (Math.abs(got.factor - want.factor) > tol * Math.abs(want.factor))
      out.push(`${name}: factor ×${fmt(got.factor)}, expected ×${fmt(want.factor)}`);
  }
  return out;
}

/** Group names, shortened when many share one reason. */
function names(ns) {
  return ns.length <= 4 ? ns.join(', ') : `${ns.slice(0, 3).join(', ')} and ${ns.length - 3} more`;
}

/**
 * Rules from issue 13 that hold for every run with a verdict, whatever the subject: the exit
 * status says the verdict; the verdict follows from the groups; diagnosis words never
 * contradict the verdict; a pass compared the gradient with something real.
 */
export function invariants(json, status) {
  const out = [];
  if (VERDICT_EXIT[json.verdict] !== status) out.push(`exit ${status} does not say ${json.verdict}`);
  const groups = json.groups ?? [];
  const any = (v) => groups.some((g) => g.verdict === v);
  const implied = any('fail') ? 'fail' : any('inconclusive') ? 'inconclusive' : 'pass';
  if (groups.length && implied !== json.verdict) out.push(`verdict ${json.verdict} but its groups say ${implied}`);
  for (const g of groups) {
    const d = g.diagnosis;
    if (g.verdict === 'fail' && d) {
      if (/(^|[^\d.\-−])1\.000×/.test(d.summary ?? '') || (d.kind === 'scale' && Math.abs((d.factor ?? 0) - 1) < 5e-4))
        out.push(`${g.name}: fails, yet its diagnosis says ×1.000 ("${d.summary}")`);
      if (typeof d.correlation === 'number' && d.correlation < 0 && /partly right/i.test(d.summary ?? ''))
        out.push(`${g.name}: correlation ${fmt(d.correlation)} called "partly right"`);
    }
  }
  const againstZero = groups.filter((g) => g.verdict === 'pass' && g.normAnalytic > 0 && g.normNumerical === 0);
  if (againstZero.length)
    out.push(`${names(againstZero.map((g) => g.name))}: pass against a numerical gradient of exactly zero`);
  return out;
}

/**
 * Every way one run differs from its case's expectation, one short line each; empty when
 * it matches. Groups that miss their verdict for the same reason share one line.
 */
export function judge(c, run) {
  const e = c.expect;
  if (run.timedOut) return [`no answer within ${run.timeoutSeconds} s (killed)`];
  const out = [];
  const json = run.json;
  const exits = list(e.exit);
  // With a verdict on stdout, the verdict is compared below and the exit status by the invariants.
  if ((!json || e.verdict === undefined) && !exits.includes(run.status)) {
    const why = json ? `verdict ${json.verdict}` : `"${lastLine(run.stderr).slice(0, 240)}"`;
    out.push(`exit ${run.status}, expected ${exits.join(' or ')}: ${why}`);
  }
  const unmatched = list(e.stderr).filter((pattern) => !new RegExp(pattern, 'i').test(run.stderr));
  if (unmatched.length)
    out.push(
      `message does not match ${unmatched.map((p) => `/${p}/`).join(' ')}: "${lastLine(run.stderr).slice(0, 240)}"`,
    );
  if (e.verdict === undefined) return out;
  if (!json) return out;
  const verdicts = list(e.verdict);
  if (!verdicts.includes(json.verdict)) out.push(`verdict ${json.verdict}, expected ${verdicts.join(' or ')}`);
  const got = new Map((json.groups ?? []).map((g) => [g.name, g]));
  const wrongVerdict = new Map();
  for (const [name, want] of Object.entries(e.groups ?? {})) {
    const g = got.get(name);
    if (!g) {
      out.push(`${name}: no such group in the result`);
      continue;
    }
    const wanted = list(want.verdict);
    if (!wanted.includes(g.verdict)) {
      const key = `${g.verdict}, expected ${wanted.join(' or ')}`;
      const words = g.diagnosis?.summary ?? g.note;
      if (!wrongVerdict.has(key)) wrongVerdict.set(key, { groups: [], words });
      wrongVerdict.get(key).groups.push(name);
    } else if (g.verdict === 'fail' && want.diagnosis) {
      out.push(...judgeDiagnosis(name, want.diagnosis, g.diagnosis));
    }
  }
  for (const [key, { groups, words }] of wrongVerdict)
    out.push(`${names(groups)}: ${key}${words ? ` ("${words.slice(0, 120)}")` : ''}`);
  const extra = [...got.keys()].filter((name) => !(name in (e.groups ?? {})));
  if (extra.length) out.push(`${names(extra)}: group(s) the manifest does not know`);
  const findings = json.findings ?? [];
  for (const pattern of list(e.findings)) {
    if (!findings.some((f) => new RegExp(pattern).test(f)))
      out.push(`no finding matches /${pattern}/ (first: "${(findings[0] ?? '').slice(0, 120)}")`);
  }
  out.push(...invariants(json, run.status));
  return out;
}

/** What a table cell shows: ✓, or what was got. */
export function cell(c, run, mismatches) {
  if (!mismatches.length) return '✓';
  if (run.timedOut) return '✗ timeout';
  if (!run.json) return `✗ exit ${run.status}${list(c.expect.exit).includes(run.status) ? ' message' : ''}`;
  const v = run.json.verdict;
  if (!list(c.expect.verdict).includes(v)) {
    const unexpectedFail = (run.json.groups ?? []).find(
      (g) => g.verdict === 'fail' && !list(c.expect.groups?.[g.name]?.verdict).includes('fail'),
    );
    return `✗ ${v}${v === 'fail' && unexpectedFail ? ` ${unexpectedFail.name}` : ''}`;
  }
  const m = mismatches[0];
  const tag = /^no finding/.test(m) ? 'finding' : (/^(\w+)[:,]/.exec(m)?.[1] ?? 'words');
  return `✗ ${v}: ${tag}`;
}

/** Run the planned checks (at most two at a time) and judge each. */
export async function runSuite(options = {}) {
  const manifest = options.manifest ?? loadManifest();
  const p = plan(manifest, options);
  const pool = createPool(options.jobs ?? MAX_JOBS);
  let done = 0;
  const results = await Promise.all(
    p.items.map((item) =>
      pool(() => runCheck(item.case, item.scheme, item.mode, options)).then((run) => {
        const mismatches = judge(item.case, run);
        const r = {
          name: item.case.name,
          case: item.case,
          scheme: item.scheme,
          mode: item.mode,
          run,
          mismatches,
          ok: !mismatches.length,
        };
        done++;
        options.onResult?.(r, done, p.items.length);
        return r;
      }),
    ),
  );
  return { plan: p, results, score: score(p, results) };
}

export function score(p, results) {
  const tally = (pred) => {
    const rs = results.filter(pred);
    return { matched: rs.filter((r) => r.ok).length, total: rs.length };
  };
  const byCombination = {};
  for (const s of p.schemes)
    for (const m of p.modes) byCombination[`${s}/${m}`] = tally((r) => r.scheme === s && r.mode === m);
  return {
    byCombination,
    byScheme: Object.fromEntries(p.schemes.map((s) => [s, tally((r) => r.scheme === s)])),
    byMode: Object.fromEntries(p.modes.map((m) => [m, tally((r) => r.mode === m)])),
    total: tally(() => true),
  };
}

function pad(s, n) {
  const len = [...s].length;
  return s + ' '.repeat(Math.max(0, n - len));
}

export function formatReport(suite) {
  const { plan: p, results } = suite;
  const combos = p.schemes.flatMap((s) => p.modes.map((m) => `${s}/${m}`));
  const at = new Map(results.map((r) => [`${r.name} ${r.scheme}/${r.mode}`, r]));
  const first = Math.max(4, ...p.cases.map((c) => c.name.length)) + 2;
  const width = Math.max(
    ...combos.map((k) => k.length + 2),
    ...results.map((r) => [...cell(r.case, r.run, r.mismatches)].length + 2),
  );
  const lines = [];
  lines.push(pad('case', first) + combos.map((c) => pad(c, width)).join(''));
  for (const c of p.cases)
    lines.push(
      pad(c.name, first) +
        combos
          .map((k) => {
            const r = at.get(`${c.name} ${k}`);
            return pad(r ? cell(r.case, r.run, r.mismatches) : '', width);
          })
          .join(''),
    );
  const s = suite.score;
  const frac = (t) => `${t.matched}/${t.total}`;
  lines.push(pad('score', first) + combos.map((k) => pad(frac(s.byCombination[k]), width)).join(''));
  lines.push('');
  lines.push(
    `by scheme: ${Object.entries(s.byScheme)
      .map(([k, t]) => `${k} ${frac(t)}`)
      .join(', ')}; by mode: ${Object.entries(s.byMode)
      .map(([k, t]) => `${k} ${frac(t)}`)
      .join(', ')}; all ${frac(s.total)}`,
  );
  const bad = results.filter((r) => !r.ok);
  if (bad.length) {
    lines.push('', 'mismatches:');
    for (const r of bad) lines.push(`  ${r.name} [${r.scheme}/${r.mode}]: ${r.mismatches.join('; ')}`);
  }
  return lines.join('\n');
}

export function toJson(suite) {
  return {
    manifest: path.relative(ROOT, MANIFEST),
    schemes: suite.plan.schemes,
    modes: suite.plan.modes,
    score: suite.score,
    results: suite.results.map((r) => ({
      name: r.name,
      scheme: r.scheme,
      mode: r.mode,
      ok: r.ok,
      status: r.run.status,
      verdict: r.run.json?.verdict ?? null,
      groups: (r.run.json?.groups ?? []).map((g) => ({
        name: g.name,
        verdict: g.verdict,
        ...(g.diagnosis ? { diagnosis: { kind: g.diagnosis.kind, factor: g.diagnosis.factor } } : {}),
      })),
      mismatches: r.mismatches,
      seconds: Number(r.run.seconds.toFixed(2)),
      command: commandLine(r.run.args),
    })),
  };
}

function parseArgs(argv) {
  const o = { schemes: [], modes: [], only: [], json: false, quiet: false };
  const value = (i, flag) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const split = (v) => v.split(',').filter(Boolean);
    if (a === '--scheme') o.schemes.push(...split(value(i++, a)));
    else if (a === '--mode') o.modes.push(...split(value(i++, a)));
    else if (a === '--only') o.only.push(...split(value(i++, a)));
    else if (a === '--jobs') o.jobs = Number(value(i++, a));
    else if (a === '--workers') o.workers = Number(value(i++, a));
    else if (a === '--timeout') o.timeoutSeconds = Number(value(i++, a));
    else if (a === '--json') o.json = true;
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--help' || a === '-h') o.help = true;
    else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (o.jobs !== undefined && !(o.jobs === 1 || o.jobs === 2)) throw new Error('--jobs is 1 or 2 (two cores)');
  if (o.workers !== undefined && !(Number.isInteger(o.workers) && o.workers >= 1))
    throw new Error('--workers needs a whole number ≥ 1');
  if (o.timeoutSeconds !== undefined && !(o.timeoutSeconds > 0)) throw new Error('--timeout needs seconds > 0');
  return o;
}

async function main() {
  let o;
  let manifest;
  try {
    o = parseArgs(process.argv.slice(2));
    if (o.help) {
      const doc = readFileSync(fileURLToPath(import.meta.url), 'utf8').match(/\/\*\*([\s\S]*?)\*\//)[1];
      process.stdout.write(doc.replace(/^ \* ?/gm, '').trim() + '\n');
      return 0;
    }
    manifest = loadManifest();
    plan(manifest, o);
  } catch (err) {
    process.stderr.write(`subject-suite: ${err.message}\n`);
    return 2;
  }
  const suite = await runSuite({
    ...o,
    manifest,
    onResult: (r, done, total) => {
      if (o.quiet) return;
      const mark = r.ok ? '✓' : `✗ ${r.mismatches[0]}`;
      process.stderr.write(
        `[${done}/${total}] ${r.name} ${r.scheme}/${r.mode} ${r.run.seconds.toFixed(1)} s ${mark}\n`,
      );
    },
  });
  process.stdout.write(o.json ? JSON.stringify(toJson(suite), null, 2) + '\n' : formatReport(suite) + '\n');
  return suite.score.total.matched === suite.score.total.total ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
