#!/usr/bin/env node
// The security gate of CI: Electronegativity over the app's own code, failing on HIGH or MEDIUM
// findings that are not reviewed (reviewed.json, each with its reason).
//
//   npm ci --prefix tools/electronegativity     (once; its old dependencies stay in this folder)
//   npm run security                            (builds out/, then runs this script)
//
// What is scanned: package.json, main/ and renderer/ (index.html and src/; tests are left out,
// they are not shipped and hold hostile inputs on purpose), and out/ when it is built. They are
// copied into one folder and scanned together, as the global checks (CSP, navigation limits,
// permission handlers) need to see the HTML and the main process at once. Electronegativity
// cannot read .svelte files; the built renderer in out/ is what it sees of them. Its scope
// analysis does not know class private fields, which the Svelte runtime uses, so the copy of
// that bundle is first lowered to ES2020 with esbuild (the app's own, through tsx and vite).
//
// Electronegativity exits 0 whatever it finds, and its CSV writer races its own header (the first
// finding loses its name and severity), so the findings are taken from its programmatic API, the
// same objects its CLI prints: the tool writes its SARIF report, this script writes a CSV with
// severity, confidence and the review status, both under test-results/electronegativity/.
//
// Exit codes: 0 pass; 1 unreviewed HIGH or MEDIUM findings, or source files the tool could not
// parse; 2 the tool itself failed.
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const REPORTS = join(ROOT, 'test-results', 'electronegativity');
const GATING = new Set(['HIGH', 'MEDIUM']);

/** What is copied into the scanned folder (relative to the checkout). */
const SCANNED = ['package.json', 'main', 'renderer/index.html', 'renderer/src', 'out'];
const LEFT_OUT = /(\.test\.ts$|[\\/]__snapshots__[\\/]?|[\\/]__screenshots__[\\/]?|\.map$)/;

function log(line = '') {
  process.stdout.write(`${line}\n`);
}

async function exists(path) {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The Electron version the app pins (package.json devDependencies), for the version checks. */
async function electronVersion() {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  const spec = pkg.devDependencies?.electron ?? pkg.dependencies?.electron;
  if (!spec) throw new Error('package.json does not name electron');
  return spec.replace(/^[\^~=v]+/, '');
}

/** `*` within a path segment, `**` across segments. */
function globToRegExp(glob) {
  const re = glob
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*');
  return new RegExp(`^${re}$`);
}

async function loadReviews() {
  const data = JSON.parse(await readFile(join(HERE, 'reviewed.json'), 'utf8'));
  const reviewed = data.reviewed ?? [];
  const excluded = data.excludedChecks ?? [];
  for (const r of [...reviewed, ...excluded]) {
    if (typeof r.check !== 'string' || typeof r.reason !== 'string' || r.reason.trim().length < 20)
      throw new Error(
        `reviewed.json: every entry needs a check and a real reason: ${JSON.stringify(r)}`,
      );
  }
  return {
    excluded,
    reviewed: reviewed.map((r) => ({
      ...r,
      files: (r.files ?? ['**']).map(globToRegExp),
      used: 0,
    })),
  };
}

async function stage() {
  const dir = await mkdtemp(join(tmpdir(), 'gmemlab-electronegativity-'));
  const copied = [];
  for (const item of SCANNED) {
    const from = join(ROOT, item);
    if (!(await exists(from))) continue;
    await mkdir(dirname(join(dir, item)), { recursive: true });
    await cp(from, join(dir, item), {
      recursive: true,
      filter: (src) => !LEFT_OUT.test(relative(ROOT, src).split(sep).join('/')),
    });
    copied.push(item);
  }
  return { dir, copied };
}

/** Lower the staged renderer bundle to ES2020 (private fields become WeakMaps), which the tool
 * can analyse; the built files in out/ are not touched. Returns what was lowered. */
async function lowerRendererBundle(dir) {
  const assets = join(dir, 'out', 'renderer', 'assets');
  if (!(await exists(assets))) return [];
  let esbuild;
  try {
    esbuild = createRequire(join(ROOT, 'package.json'))('esbuild');
  } catch {
    log('security: esbuild is not installed: the renderer bundle is scanned as built');
    return [];
  }
  const lowered = [];
  for (const name of await readdir(assets)) {
    if (!name.endsWith('.js')) continue;
    const file = join(assets, name);
    const { code } = await esbuild.transform(await readFile(file, 'utf8'), {
      target: 'es2020',
      format: 'esm',
      loader: 'js',
    });
    await writeFile(file, code);
    lowered.push(`out/renderer/assets/${name}`);
  }
  return lowered;
}

async function countFiles(dir, suffix) {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) n += await countFiles(path, suffix);
    else if (entry.name.endsWith(suffix)) n += 1;
  }
  return n;
}

function csvField(value) {
  const s = String(value ?? '');
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

async function waitForFile(path, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      return JSON.parse(await readFile(path, 'utf8'));
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`Electronegativity did not write ${path}`);
}

async function main() {
  const require = createRequire(join(HERE, 'package.json'));
  let run;
  try {
    run = require('@doyensec/electronegativity');
  } catch (err) {
    log(
      `security: Electronegativity is not installed: run \`npm ci --prefix tools/electronegativity\` (${err.message})`,
    );
    return 2;
  }
  const toolVersion = require('@doyensec/electronegativity/package.json').version;
  const version = await electronVersion();
  const { reviewed, excluded } = await loadReviews();
  const { dir, copied } = await stage();
  const lowered = await lowerRendererBundle(dir);
  await mkdir(REPORTS, { recursive: true });
  const sarifPath = join(REPORTS, 'electronegativity.sarif');
  const csvPath = join(REPORTS, 'electronegativity.csv');
  await rm(sarifPath, { force: true });

  log(
    `security: Electronegativity ${toolVersion}, Electron ${version}, scanning ${copied.join(', ')}`,
  );
  if (!copied.includes('out'))
    log('security: out/ is not built: only the sources are scanned (npm run security builds it)');
  for (const e of excluded) log(`security: check ${e.check} left out: ${e.reason}`);
  for (const f of lowered)
    log(`security: ${f} is scanned lowered to ES2020 (the tool cannot parse class private fields)`);

  let result;
  try {
    result = await run(
      {
        input: dir,
        output: sarifPath,
        isSarif: true,
        customScan: [],
        excludeFromScan: excluded.map((e) => e.check),
        isRelative: true,
        isVerbose: false,
        electronVersionOverride: version,
        parserPlugins: [],
      },
      false,
    );
    await waitForFile(sarifPath);
  } catch (err) {
    log(`security: Electronegativity failed: ${err?.stack ?? err}`);
    await rm(dir, { recursive: true, force: true });
    return 2;
  }

  const svelteFiles = await countFiles(join(dir, 'renderer'), '.svelte').catch(() => 0);
  await rm(dir, { recursive: true, force: true });

  const findings = result.issues.map((issue) => {
    const file = String(issue.file).split(sep).join('/');
    const review = reviewed.find(
      (r) => r.check === issue.id && r.files.some((re) => re.test(file)),
    );
    if (review) review.used += 1;
    return {
      id: issue.id,
      severity: issue.severity.name,
      confidence: issue.confidence.name,
      file,
      location: `${issue.location?.line ?? 0}:${issue.location?.column ?? 0}`,
      description: issue.description,
      sample: issue.sample ?? '',
      review,
    };
  });

  const header = [
    'issue',
    'severity',
    'confidence',
    'file',
    'location',
    'reviewed',
    'description',
    'sample',
  ];
  const rows = findings.map((f) =>
    [
      f.id,
      f.severity,
      f.confidence,
      f.file,
      f.location,
      f.review ? 'yes' : 'no',
      f.description,
      f.sample,
    ]
      .map(csvField)
      .join(','),
  );
  await writeFile(csvPath, `${[header.join(','), ...rows].join('\n')}\n`);

  // The report, as read back: what gates is what the files say.
  const csvText = await readFile(csvPath, 'utf8');
  const sarif = await waitForFile(sarifPath);
  if (sarif.runs?.[0]?.results?.length !== findings.length)
    throw new Error(
      `the SARIF report has ${sarif.runs?.[0]?.results?.length} results, the scan ${findings.length}`,
    );

  const blocking = findings.filter((f) => GATING.has(f.severity) && !f.review);
  const accepted = findings.filter((f) => f.review);
  const other = findings.filter((f) => !GATING.has(f.severity) && !f.review);
  const parseErrors = result.errors.filter((e) => !e.tolerable);
  const sourceParseErrors = parseErrors.filter(
    (e) => !relative(dir, e.file).startsWith(`out${sep}`),
  );

  log(
    `security: ${result.atomicChecks} atomic and ${result.globalChecks} global checks, ${findings.length} findings (${csvText.trim().split('\n').length - 1} in ${relative(ROOT, csvPath)})`,
  );
  for (const f of accepted)
    log(
      `  reviewed  ${f.severity.padEnd(13)} ${f.id} ${f.file}:${f.location}: ${f.review.reason}${f.review.reference ? ` (${f.review.reference})` : ''}`,
    );
  for (const f of other)
    log(`  low       ${f.severity.padEnd(13)} ${f.id} ${f.file}:${f.location}: ${f.description}`);
  for (const f of blocking)
    log(`  BLOCKING  ${f.severity.padEnd(13)} ${f.id} ${f.file}:${f.location}: ${f.description}`);
  for (const r of reviewed.filter((r) => r.used === 0))
    log(
      `security: note: reviewed.json entry ${r.check} matched nothing; remove it if it no longer applies`,
    );
  for (const e of parseErrors)
    log(
      `security: not analysed (the tool cannot parse it): ${relative(dir, e.file)}: ${e.message}`,
    );
  const rendererScanned =
    lowered.length > 0 &&
    !parseErrors.some((e) => relative(dir, e.file).startsWith(join('out', 'renderer')));
  if (svelteFiles > 0)
    log(
      rendererScanned
        ? `security: ${svelteFiles} .svelte files are not read by Electronegativity; the built renderer bundle stands for them`
        : `security: ${svelteFiles} .svelte files are not read by Electronegativity, and no built renderer was analysed for them`,
    );

  if (sourceParseErrors.length > 0) {
    log(`security: FAILED: ${sourceParseErrors.length} source files could not be analysed`);
    return 1;
  }
  if (blocking.length > 0) {
    log(
      `security: FAILED: ${blocking.length} HIGH or MEDIUM findings are not reviewed; fix them, or review them in tools/electronegativity/reviewed.json with the reason`,
    );
    return 1;
  }
  log('security: passed (no unreviewed HIGH or MEDIUM findings)');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    log(`security: ${err?.stack ?? err}`);
    process.exitCode = 2;
  },
);
