// The gmem-lab command line: the same core as the workbench, headless. Exit codes: 0 success,
// 1 a run failed, 2 bad input (arguments, experiment file, trace).
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { LoadProblem } from '../../core/experiment/load.js';
import {
  parseSweepAxis,
  SweepError,
  sweepPoints,
  sweepRowsCsv,
} from '../../core/experiment/sweep.js';
import type { Experiment } from '../../core/experiment/schema.js';
import { ENGINE_VERSION } from '../../core/experiment/run.js';
import { paramLabel } from '../../core/experiment/param-unit.js';
import { METRICS, type MetricDef } from '../../core/metrics/definitions.js';
import {
  summaryTableCsv,
  summaryTableText,
  type VariantSummary,
} from '../../core/report/summary-table.js';
import type { RunResult } from '../../core/metrics/result.js';
import { writeExport, writeSeriesCsvFiles } from '../services/export-service.js';
import {
  ExperimentFileError,
  listPresets,
  loadExperimentFile,
  prepareRun,
  resolveExperimentPath,
  estimatePrepared,
  runRequests,
  traceProblems,
  traceScope,
  type LoadedExperiment,
  type PreparedRun,
} from '../services/run-preparation.js';
import { SimulationHost, type RunOutcome } from '../services/simulation-host.js';
import { EventLogFiles } from '../services/event-files.js';
import { DEFAULT_EVENT_LIMIT } from '../../core/events/event-log.js';
import { ProgressLine } from './progress.js';
import {
  baseChanges,
  baseChangesText,
  commitEventLog,
  estimateText,
  eventCount,
  warnEventLogCuts,
} from './run-output.js';
import { serveWorkbench } from './serve.js';
import { addTraceCommand } from './trace-info.js';

export const EXIT_OK = 0;
export const EXIT_RUN_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

class UsageError extends Error {}

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly stderrIsTty: boolean;
  readonly cwd: string;
  /** Ends `serve` when aborted; default SIGINT or SIGTERM. */
  readonly stop?: AbortSignal;
}

const defaultIo: CliIo = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  stderrIsTty: Boolean(process.stderr.isTTY),
  cwd: process.cwd(),
};

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new InvalidArgumentError('expected a whole number from 1 to 256');
  return n;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** A memory size: a number of bytes, or a number with a binary unit (512MiB, 4GiB, 1.5 TiB). */
function byteSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]iB|B)?$/i.exec(value.trim());
  const bytes = m ? Math.floor(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!) : NaN;
  if (!(bytes >= 1 << 20) || !Number.isSafeInteger(bytes))
    throw new InvalidArgumentError(
      'expected a size of at least 1 MiB, as bytes or with a unit: 512MiB, 4GiB, 1.5TiB',
    );
  return bytes;
}

const MEMORY_BUDGET_HELP =
  "memory each run's model state may take, for example 8GiB; a run that needs more stops with a message (default: half of this machine's memory, shared by the worker threads)";

function portNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new InvalidArgumentError('expected a port number from 0 (any free port) to 65535');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Run the CLI on `argv` (without the node and script names); resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  let exitCode = EXIT_OK;
  const program = new Command()
    .name('gmem-lab')
    .description(
      'Simulate KVM guest_memfd huge-page backing (HugeTLB, CMA, THP, 4 KiB) under private/shared conversions and compare designs side by side.',
    )
    .version(ENGINE_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  program.addHelpText(
    'after',
    `
FILE is an experiment file (*.gmemlab.json) or preset:NAME for a bundled preset (see "gmem-lab presets").
Exit codes: 0 success, 1 a run failed, 2 bad input (arguments, experiment file, trace).`,
  );

  program
    .command('run')
    .description('run every variant of an experiment and print a summary table')
    .argument('<file>', 'experiment file, or preset:NAME')
    .option('--json', 'print the full summary of every variant as JSON, keyed by metric name')
    .option(
      '--events <file>',
      'write the event log of every variant as JSON lines, streamed to disk as the run goes',
    )
    .option(
      '--events-limit <n>',
      `events each variant's log keeps before it is cut (default ${DEFAULT_EVENT_LIMIT.toLocaleString('en-US')})`,
      eventCount,
    )
    .option('--csv <dir>', 'write every series of every variant as CSV files into DIR')
    .option('--all-metrics', 'also list metrics that are 0 for every variant in the table')
    .option(
      '--baseline <variant>',
      'the variant the table compares every other with, by name or number from 1 (default: the first): a difference and a ratio column per variant',
    )
    .option('--no-baseline', 'values only, no difference or ratio columns')
    .option(
      '--summary-csv <file>',
      'also write the summary table as CSV (values, and the differences and ratios against the baseline)',
    )
    .option('--workers <n>', 'worker threads (default: one per core)', positiveInt)
    .option('--memory-budget <size>', MEMORY_BUDGET_HELP, byteSize)
    .option('--no-progress', 'no progress on stderr')
    .addHelpText(
      'after',
      '\nExamples:\n  gmem-lab run preset:snp-boot-16g-backings --csv out/\n  gmem-lab run preset:hugetlb-vs-cma-1g --baseline "HugeTLB 1 GiB" --summary-csv summary.csv',
    )
    .action(
      async (
        file: string,
        opts: {
          json?: boolean;
          events?: string;
          eventsLimit?: number;
          csv?: string;
          allMetrics?: boolean;
          baseline?: string | false;
          summaryCsv?: string;
          workers?: number;
          memoryBudget?: number;
          progress: boolean;
        },
      ) => {
        const loaded = await load(file, io);
        // A baseline that names no variant is refused before anything runs.
        const baseline = baselineIndex(
          opts.baseline,
          loaded.experiment.variants.map((v) => v.name),
        );
        const results = await runAll(loaded, io, {
          ...opts,
          ...(opts.events !== undefined ? { eventsFile: resolve(io.cwd, opts.events) } : {}),
        });
        exitCode = await report(loaded.experiment, results, io, { ...opts, baseline });
      },
    );

  program
    .command('validate')
    .description(
      'check an experiment file against the schema; prints every problem with its field path',
    )
    .argument('<file>', 'experiment file, or preset:NAME')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nAlso prints what a run of each variant implies: guest pages, the operations to model (faults, conversions, folio allocations and frees), the events its log would hold and an estimate of the memory the model needs.',
    )
    .action(async (file: string, opts: { json?: boolean }) => {
      const loaded = await load(file, io);
      const { experiment } = loaded;
      const estimates = await estimatePrepared(
        await prepareRun(experiment, traceScope(loaded.path)),
      );
      if (opts.json) {
        io.stdout(
          JSON.stringify({
            ok: true,
            file: loaded.path,
            name: experiment.name,
            variants: experiment.variants.map((v) => v.name),
            bases: baseChanges(experiment),
            migratedFrom: loaded.migratedFrom ?? null,
            estimates,
          }) + '\n',
        );
      } else {
        io.stdout(
          `${loaded.path}: valid (${experiment.name}; ${experiment.variants.length} variants: ${experiment.variants.map((v) => v.name).join(', ')}; workload ${experiment.workload.kind})\n`,
        );
        if (loaded.migratedFrom !== undefined)
          io.stdout(`note: migrated from format version ${loaded.migratedFrom}\n`);
        io.stdout(baseChangesText(experiment));
        io.stdout(estimateText(estimates));
      }
    });

  program
    .command('sweep')
    .description(
      'run the experiment once per combination of parameter values; variants run in parallel on worker threads',
    )
    .argument('<file>', 'experiment file, or preset:NAME')
    .option(
      '--param <path=v1,v2,...>',
      'a parameter path and its values (repeatable; combinations are crossed); default: the sweep the experiment file defines',
      collect,
      [] as string[],
    )
    .option('--json', 'print every combination and variant summary as JSON')
    .option(
      '--csv <file>',
      'also write one row per point and variant as CSV: the swept values, the variant, every metric',
    )
    .option(
      '--all-metrics',
      'show every metric in the table (default: the memory, folio, split, merge, fault and cost metrics a sweep is usually about)',
    )
    .option('--workers <n>', 'worker threads (default: one per core)', positiveInt)
    .option('--memory-budget <size>', MEMORY_BUDGET_HELP, byteSize)
    .option('--no-progress', 'no progress on stderr')
    .addHelpText(
      'after',
      '\nExample: gmem-lab sweep preset:merge-policies --param guest.memoryBytes=4294967296,17179869184 --param variants[0].policies.split=to-4k,staged',
    )
    .action(
      async (
        file: string,
        opts: {
          param: string[];
          json?: boolean;
          csv?: string;
          allMetrics?: boolean;
          workers?: number;
          memoryBudget?: number;
          progress: boolean;
        },
      ) => {
        const loaded = await load(file, io);
        const combos = sweepCombinations(loaded.experiment, opts.param);
        const results = await runCombos(loaded, combos, io, opts);
        exitCode = await reportSweep(combos, results, io, {
          json: Boolean(opts.json),
          allMetrics: Boolean(opts.allMetrics),
          ...(opts.csv !== undefined ? { csv: resolve(io.cwd, opts.csv) } : {}),
        });
      },
    );

  program
    .command('presets')
    .description('list the bundled preset experiments')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const presets = (await listPresets()).map((p) => ({
        name: p.id,
        path: p.path,
        title: p.experiment.name,
      }));
      if (opts.json) io.stdout(JSON.stringify(presets) + '\n');
      else for (const p of presets) io.stdout(`preset:${p.name.padEnd(32)} ${p.title}\n`);
    });

  addTraceCommand(
    program,
    io,
    (code) => (exitCode = code),
    (message) => new UsageError(message),
  );

  program
    .command('serve')
    .description(
      'serve the workbench and its API to a browser on this machine (HTTP + WebSocket on 127.0.0.1, token required)',
    )
    .option('--port <n>', 'port on 127.0.0.1; 0 picks a free one', portNumber, 0)
    .option(
      '--workspace <dir>',
      'folder of experiment files for this session (default: the saved setting, else Documents/gmem-lab)',
    )
    .option('--config-dir <dir>', 'folder of settings.json (default: ~/.config/gmem-lab)')
    .option('--workers <n>', 'worker threads (default: cores - 1)', positiveInt)
    .option(
      '--memory-budget <size>',
      `${MEMORY_BUDGET_HELP}; the workbench's settings can set another`,
      byteSize,
    )
    .option('--no-open', 'only print the URL (gmem-lab does not open a browser itself)')
    .addHelpText(
      'after',
      `
Prints "gmem-lab workbench: http://127.0.0.1:PORT/?token=TOKEN" on stdout and serves until Ctrl+C
(SIGINT) or SIGTERM. Open that URL in a browser. The token is random for each start and every
request needs it: anyone who has the URL can use the workbench as you.
The server listens on 127.0.0.1 only. From another machine, tunnel the port:
  remote$ gmem-lab serve --port 8080
  local$  ssh -N -L 8080:127.0.0.1:8080 remote    then open the printed URL locally
The page is the built workbench (out/renderer): run \`npm run build\` first. Without it, the API
still works. Scripts: POST /api/METHOD with a JSON body and "Authorization: Bearer TOKEN".`,
    )
    .action(
      async (opts: {
        port: number;
        workspace?: string;
        configDir?: string;
        workers?: number;
        memoryBudget?: number;
        open: boolean;
      }) => {
        let server: Awaited<ReturnType<typeof serveWorkbench>>;
        try {
          server = await serveWorkbench({
            port: opts.port,
            ...(opts.workspace !== undefined ? { workspace: resolve(io.cwd, opts.workspace) } : {}),
            ...(opts.configDir !== undefined ? { configDir: resolve(io.cwd, opts.configDir) } : {}),
            ...(opts.workers !== undefined ? { workers: opts.workers } : {}),
            ...(opts.memoryBudget !== undefined ? { memoryBudget: opts.memoryBudget } : {}),
            log: (line) => io.stderr(`gmem-lab: ${line}\n`),
          });
        } catch (err) {
          throw new UsageError(`serve: ${(err as Error).message}`);
        }
        io.stdout(`gmem-lab workbench: ${server.bridge.url}\n`);
        io.stderr(`gmem-lab: workspace ${server.workspaceDir}\n`);
        if (!server.servesRenderer)
          io.stderr(
            'gmem-lab: the workbench page is not built (out/renderer/index.html is missing): run `npm run build` first. The API works meanwhile (POST /api/METHOD, WebSocket /ws).\n',
          );
        io.stderr('gmem-lab: serving until Ctrl+C\n');
        await stopRequested(io.stop);
        io.stderr('gmem-lab: shutting down\n');
        await server.close();
      },
    );

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT_OK;
      return EXIT_BAD_INPUT;
    }
    if (err instanceof ExperimentFileError || err instanceof UsageError) {
      io.stderr(`gmem-lab: ${err.message}\n`);
      return EXIT_BAD_INPUT;
    }
    io.stderr(`gmem-lab: ${(err as Error).message}\n`);
    return EXIT_RUN_FAILED;
  }
}

/** Resolves when `signal` aborts, or on the first SIGINT or SIGTERM (a second one then ends the
 * process at once, as Node does with no listener). */
function stopRequested(signal: AbortSignal | undefined): Promise<void> {
  if (signal)
    return signal.aborted
      ? Promise.resolve()
      : new Promise((done) => signal.addEventListener('abort', () => done(), { once: true }));
  return new Promise((done) => {
    const onSignal = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      done();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

async function load(file: string, io: CliIo): Promise<LoadedExperiment> {
  return loadExperimentFile(resolveExperimentPath(file, io.cwd));
}

interface RunOpts {
  readonly workers?: number;
  readonly memoryBudget?: number;
  readonly progress: boolean;
  /** Stream every variant's event log into this file (absolute). */
  readonly eventsFile?: string;
  readonly eventsLimit?: number;
}

async function runAll(loaded: LoadedExperiment, io: CliIo, opts: RunOpts): Promise<RunOutcome[]> {
  const combos = [{ label: '', experiment: loaded.experiment }];
  const [first] = await runCombos(loaded, combos, io, opts);
  return first!;
}

interface Combo {
  readonly label: string;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly experiment: Experiment;
}

/** Runs every variant of every combination. A trace that the core rejects is bad input: it is
 * reported once (ExperimentFileError), not as one failure per variant that replays it. */
async function runCombos(
  loaded: LoadedExperiment,
  combos: readonly Combo[],
  io: CliIo,
  opts: RunOpts,
): Promise<RunOutcome[][]> {
  const scope = traceScope(loaded.path);
  const prepared: PreparedRun[] = [];
  for (const combo of combos) prepared.push(await prepareRun(combo.experiment, scope));
  const total = prepared.reduce((n, p) => n + p.variants.length, 0);
  // One worker per core by default: this process only waits while they run.
  const host = new SimulationHost({
    size: Math.min(opts.workers ?? availableParallelism(), total),
    ...(opts.memoryBudget !== undefined ? { storageBudgetBytes: opts.memoryBudget } : {}),
  });
  const progress = opts.progress && io.stderrIsTty ? new ProgressLine(io.stderr) : null;
  const events = opts.eventsFile !== undefined ? new EventLogFiles(opts.eventsFile) : null;
  if (events) await warnEventLogCuts(prepared, opts.eventsLimit ?? DEFAULT_EVENT_LIMIT, io);
  let outcomes: RunOutcome[][];
  let key = 0;
  try {
    const handles = combos.map((combo, c) =>
      runRequests(prepared[c]!, {
        recordEvents: events !== null,
        ...(opts.eventsLimit !== undefined ? { eventLimit: opts.eventsLimit } : {}),
      }).map((request) => {
        const variant = combo.experiment.variants[request.variantIndex]!;
        const label = `${combo.label}${combo.label ? ' ' : ''}${variant.name}`;
        return host.run(request, (p) => progress?.update(label, p.phase, p.fraction), {
          ...(events ? { eventsFile: events.partFor(key++) } : {}),
        });
      }),
    );
    outcomes = await Promise.all(handles.map((hs) => Promise.all(hs.map((h) => h.done))));
    progress?.clear();
    if (events) await commitEventLog(events, outcomes.flat(), io);
  } finally {
    await host.close();
    await events?.discard();
  }
  const rejected = combos.flatMap((_, c) => {
    const failed = outcomes[c]!.flatMap((o, i) =>
      o.status === 'failed' ? [prepared[c]!.variants[i]!.index] : [],
    );
    const problems = failed.length > 0 ? traceProblems(prepared[c]!, failed) : null;
    return problems ? [...problems.problems] : [];
  });
  if (rejected.length > 0)
    throw new ExperimentFileError(loaded.path, 'TRACE_REJECTED', uniqueProblems(rejected));
  return outcomes;
}

function uniqueProblems(problems: readonly LoadProblem[]): LoadProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\0${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The baseline variant's index: by name, else by number from 1; undefined for none. */
function baselineIndex(
  given: string | false | undefined,
  names: readonly string[],
): number | undefined {
  if (given === false) return undefined;
  if (given === undefined) return 0;
  const byName = names.indexOf(given);
  if (byName >= 0) return byName;
  if (/^[0-9]+$/.test(given) && Number(given) >= 1 && Number(given) <= names.length)
    return Number(given) - 1;
  throw new UsageError(
    `--baseline "${given}": no variant has that name or number; give one of ${names.map((n, i) => `${i + 1} "${n}"`).join(', ')}`,
  );
}

async function report(
  experiment: Experiment,
  outcomes: readonly RunOutcome[],
  io: CliIo,
  opts: {
    json?: boolean;
    csv?: string;
    allMetrics?: boolean;
    baseline: number | undefined;
    summaryCsv?: string;
  },
): Promise<number> {
  const failed = outcomes.flatMap((o, i) =>
    o.status === 'done'
      ? []
      : [`${experiment.variants[i]!.name}: ${o.status === 'failed' ? o.message : 'cancelled'}`],
  );
  const done = outcomes.flatMap((o) => (o.status === 'done' ? [o.result] : []));
  if (opts.csv) await writeSeriesCsvFiles(resolve(io.cwd, opts.csv), done);
  // Every variant in its place; one that failed is a column that says so, never zeros.
  const summaries: VariantSummary[] = outcomes.map((o, i) =>
    o.status === 'done'
      ? {
          name: o.result.name,
          metrics: o.result.summary.metrics,
          latencyNs: o.result.summary.latencyNs,
          phases: o.result.summary.phases,
        }
      : {
          name: experiment.variants[i]!.name,
          metrics: {},
          failed: o.status === 'failed' ? o.message : 'cancelled',
        },
  );
  const tableOptions = {
    hideZero: !opts.allMetrics,
    ...(opts.baseline !== undefined ? { baseline: opts.baseline } : {}),
  };
  if (opts.summaryCsv)
    await writeExport(resolve(io.cwd, opts.summaryCsv), summaryTableCsv(summaries, tableOptions));
  if (opts.json) {
    io.stdout(JSON.stringify(jsonSummary(experiment, done, failed), null, 2) + '\n');
  } else {
    io.stdout(`${experiment.name}\n\n`);
    io.stdout(summaryTableText(summaries, tableOptions));
  }
  for (const f of failed) io.stderr(`gmem-lab: variant ${f}\n`);
  return failed.length > 0 ? EXIT_RUN_FAILED : EXIT_OK;
}

function jsonSummary(
  experiment: Experiment,
  done: readonly RunResult[],
  failed: readonly string[],
) {
  return {
    experiment: experiment.name,
    engineVersion: ENGINE_VERSION,
    variants: done.map((r) => ({
      name: r.name,
      summary: r.summary.metrics,
      nodeBytes: r.summary.nodeBytes,
      latencyNs: r.summary.latencyNs,
      phases: r.summary.phases,
      endNs: r.endNs,
      coverage: r.coverage,
    })),
    failures: failed,
  };
}

/** Every combination of the --param values, or of the file's own sweep without them, each a
 * validated experiment (core/experiment/sweep.ts). */
export function sweepCombinations(base: Experiment, params: readonly string[]): Combo[] {
  try {
    if (params.length > 0) return sweepPoints(base, params.map(parseSweepAxis));
    if (base.sweep) return sweepPoints(base, base.sweep.axes);
  } catch (err) {
    if (err instanceof SweepError)
      throw new UsageError(`${params.length > 0 ? '--param ' : 'sweep: '}${err.message}`);
    throw err;
  }
  throw new UsageError(
    'sweep needs at least one --param PATH=V1,V2,... (or a "sweep" in the experiment file)',
  );
}

const SWEEP_METRICS = [
  'host_total_bytes',
  'double_allocated_bytes',
  'vmemmap_bytes',
  'splits_1g',
  'splits_2m',
  'merges_1g',
  'merges_2m',
  'mapped_2m_ratio',
  'mapped_1g_ratio',
  'vm_exits',
  'cycles_total',
];

async function reportSweep(
  combos: readonly Combo[],
  outcomes: readonly RunOutcome[][],
  io: CliIo,
  opts: { json: boolean; allMetrics: boolean; csv?: string },
): Promise<number> {
  const { json, allMetrics } = opts;
  const failures: string[] = [];
  const rows: Array<{
    params: Record<string, unknown>;
    variant: string;
    summary?: Record<string, number>;
    error?: string;
  }> = [];
  combos.forEach((combo, c) => {
    outcomes[c]!.forEach((o, v) => {
      const variant = combo.experiment.variants[v]!.name;
      if (o.status === 'done')
        rows.push({
          params: { ...combo.params },
          variant,
          summary: { ...o.result.summary.metrics },
        });
      else {
        const error = o.status === 'failed' ? o.message : 'cancelled';
        failures.push(`${combo.label} ${variant}: ${error}`);
        rows.push({ params: { ...combo.params }, variant, error });
      }
    });
  });
  if (opts.csv !== undefined) await writeExport(opts.csv, sweepRowsCsv(rows));
  if (json)
    io.stdout(JSON.stringify({ engineVersion: ENGINE_VERSION, runs: rows }, null, 2) + '\n');
  else {
    // Each column names its point as path=value, the value in the field's unit.
    const variants = rows.map((r) => ({
      name: `${Object.entries(r.params)
        .map(([path, v]) => paramLabel(path, v))
        .join(', ')} | ${r.variant}`,
      metrics: r.summary ?? {},
      ...(r.error !== undefined ? { failed: r.error } : {}),
    }));
    io.stdout(
      summaryTableText(variants, {
        markBest: true,
        phases: false,
        ...(allMetrics
          ? {}
          : {
              metrics: (METRICS as readonly MetricDef[]).filter((d) =>
                SWEEP_METRICS.includes(d.name),
              ),
            }),
      }),
    );
  }
  for (const f of failures) io.stderr(`gmem-lab: ${f}\n`);
  return failures.length > 0 ? EXIT_RUN_FAILED : EXIT_OK;
}
