// The result model of a run, one definition from the recorder to the screen and the file: the
// summary (final metrics, host memory per node, latency of every LATENCY_OPS operation), the time
// series as aligned columns (every metric and the host memory of each NUMA node), and the shape
// saved in the experiment file with toSaved / fromSaved between the two.
//
// Results reopened from a file may lack parts that older builds did not save (latency, per-node
// series, end time, sample count): those are absent, never made up, and fromSaved lists them.
// Importable from the renderer: zod and types only.
import { z } from 'zod';
import { LATENCY_OPS, type LatencyOp, type MetricName } from './definitions.js';

// ---------------------------------------------------------------------------------------------
// What the recorder produces

/** A latency distribution as the recorder's histogram reports it (ns). */
export interface LatencySummary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Latency of every operation of LATENCY_OPS. */
export type LatencyTable = Readonly<Record<LatencyOp, LatencySummary>>;

/** What the counters did during one phase of the workload ('boot', 'runtime', 'reboot',
 * 'teardown', 'replay', ...): every phase of that name summed (a guest rebooted twice boots three
 * times), so that "N split during boot, M merged at run time" reads off directly. */
export interface PhaseSummary {
  readonly name: string;
  /** How many times the workload entered the phase. */
  readonly count: number;
  /** Simulated time spent in it, ns. */
  readonly durationNs: number;
  /** How much each counter (METRICS of kind 'counter') grew during the phase. Summed over the
   * phases of a run, each counter gives its final value. */
  readonly metrics: Readonly<Record<string, number>>;
}

/** When the workload entered a phase: charts mark it on their time axis. */
export interface PhaseMark {
  readonly name: string;
  /** Simulated time the phase began, ns. */
  readonly startNs: number;
}

/** The end of a run: every metric's final value, host memory per node, latency per operation,
 * the counters per phase and when each phase began (both empty for workloads without phases). */
export interface RunSummary {
  readonly metrics: Readonly<Record<MetricName, number>>;
  readonly nodeBytes: readonly number[];
  readonly latencyNs: LatencyTable;
  readonly phases: readonly PhaseSummary[];
  readonly phaseMarks: readonly PhaseMark[];
}

/** The recorder's live series: views of its buffers, keyed by metric. */
export interface RunSeries {
  /** Simulated time of each sample, in ns. */
  readonly timeNs: Float64Array;
  /** One array per metric, in METRICS order, aligned with timeNs. */
  readonly values: Readonly<Record<MetricName, Float64Array>>;
  /** Host memory the guest costs, per NUMA node, aligned with timeNs. */
  readonly nodeBytes: readonly Float64Array[];
}

// ---------------------------------------------------------------------------------------------
// A variant's result, as shown and saved

/** A summary as the workbench shows it. Only a result reopened from an older file lacks parts. */
export interface ResultSummary {
  readonly metrics: Readonly<Record<string, number>>;
  readonly nodeBytes?: readonly number[];
  readonly latencyNs?: LatencyTable;
  readonly phases?: readonly PhaseSummary[];
  readonly phaseMarks?: readonly PhaseMark[];
}

/** Series as aligned columns: one time axis, one column per metric, one per NUMA node. */
export interface ResultSeries {
  readonly timeNs: Float64Array;
  /** Metric names in the order of `values`. */
  readonly names: readonly string[];
  readonly values: readonly Float64Array[];
  /** Host memory per NUMA node, aligned with timeNs. */
  readonly nodeBytes?: readonly Float64Array[];
  /** Samples the run recorded, before any downsampling for display. */
  readonly fullLength?: number;
}

/** One variant's result: what the workbench shows, saves with the file and reopens. */
export interface ShownResult {
  readonly name: string;
  readonly summary: ResultSummary;
  readonly series: ResultSeries;
  /** Simulated time at the end of the run, ns. */
  readonly endNs?: number;
}

/** What a run covered: guest size, host nodes and the workload kind. */
export interface ResultCoverage {
  readonly guestBytes: number;
  readonly nodes: number;
  readonly workload: string;
}

/** One variant's complete result as a run produces it, series at full resolution as columns
 * (what crosses from the worker threads, what the CLI reports). */
export interface RunResult extends ShownResult {
  readonly summary: RunSummary;
  readonly series: ResultSeries & {
    readonly nodeBytes: readonly Float64Array[];
    readonly fullLength: number;
  };
  readonly endNs: number;
  readonly coverage: ResultCoverage;
  /** The event log as JSON lines, when the run kept it in memory (no file to stream to). */
  readonly eventsJsonl?: string;
  /** How much the event log holds, when the run recorded one. */
  readonly eventLog?: EventLogStats;
}

/** A recorded event log's size: events logged, events left out past the limit, the limit. */
export interface EventLogStats {
  readonly logged: number;
  readonly dropped: number;
  readonly limit: number;
}

/** The recorder's series as exact-size columns (copies: the recorder's buffers have spare
 * capacity and keep growing). */
export function seriesColumns(series: RunSeries): RunResult['series'] {
  const names = Object.keys(series.values) as MetricName[];
  return {
    timeNs: series.timeNs.slice(),
    names,
    values: names.map((n) => series.values[n].slice()),
    nodeBytes: series.nodeBytes.map((a) => a.slice()),
    fullLength: series.timeNs.length,
  };
}

// ---------------------------------------------------------------------------------------------
// The saved shape (the experiment file's `results`)

const finite = z.number().refine(Number.isFinite, 'expected a finite number');

const LatencySummarySchema = z
  .object({
    count: z.number().nonnegative().meta({ description: 'Operations measured.' }),
    mean: finite.meta({ unit: 'ns', description: 'Mean latency.' }),
    p50: finite.meta({ unit: 'ns', description: 'Median latency.' }),
    p90: finite.meta({ unit: 'ns', description: '90th percentile latency.' }),
    p99: finite.meta({ unit: 'ns', description: '99th percentile latency.' }),
    max: finite.meta({ unit: 'ns', description: 'Largest latency.' }),
  })
  .strict();

const PhaseSummarySchema = z
  .object({
    name: z.string().min(1).meta({ description: "Phase name ('boot', 'runtime', 'reboot', ...)." }),
    count: z.number().int().nonnegative().meta({ description: 'Times the workload entered it.' }),
    durationNs: z
      .number()
      .nonnegative()
      .meta({ unit: 'ns', description: 'Simulated time spent in it.' }),
    metrics: z
      .record(z.string(), finite)
      .meta({ description: 'How much each counter grew during the phase, keyed by metric name.' }),
  })
  .strict();

const SavedVariantSchema = z
  .object({
    name: z.string().meta({ description: 'Variant name.' }),
    summary: z
      .record(z.string(), z.number())
      .meta({ description: 'Final value of every metric, keyed by metric name.' }),
    nodeBytes: z
      .array(z.number())
      .optional()
      .meta({ description: 'Host memory per NUMA node at the end, bytes.' }),
    latencyNs: z
      .record(z.enum(LATENCY_OPS), LatencySummarySchema)
      .optional()
      .meta({
        description: `Latency of every operation (${LATENCY_OPS.join(', ')}): count, mean, p50, p90, p99 and max, ns. Absent in files saved before latency was kept.`,
      }),
    phases: z.array(PhaseSummarySchema).optional().meta({
      description:
        'Counters per workload phase (boot, runtime, reboot, ...), in the order the phases first ran. Absent in files saved before phases were kept.',
    }),
    phaseMarks: z
      .array(
        z
          .object({
            name: z.string().min(1).meta({ description: 'Phase name.' }),
            startNs: z
              .number()
              .nonnegative()
              .meta({ unit: 'ns', description: 'Simulated time the phase began.' }),
          })
          .strict(),
      )
      .optional()
      .meta({
        description:
          'Every time the workload entered a phase, in order, for the marks on the charts. Absent in files saved before they were kept.',
      }),
    endNs: z
      .number()
      .nonnegative()
      .optional()
      .meta({ unit: 'ns', description: 'Simulated time at the end of the run.' }),
    series: z
      .object({
        timeNs: z.array(z.number()).meta({ description: 'Sample times, ns of simulated time.' }),
        values: z
          .record(z.string(), z.array(z.number()))
          .meta({ description: 'Downsampled series per metric name.' }),
        nodeBytes: z.array(z.array(z.number())).optional().meta({
          description:
            'Downsampled host memory per NUMA node (one list per node, aligned with timeNs), bytes. Absent in files saved before per-node series were kept.',
        }),
        fullLength: z
          .number()
          .int()
          .nonnegative()
          .optional()
          .meta({ description: 'Samples the run recorded before downsampling.' }),
      })
      .strict()
      .superRefine((series, ctx) => {
        const n = series.timeNs.length;
        for (const [name, column] of Object.entries(series.values)) {
          if (column.length !== n)
            ctx.addIssue({
              code: 'custom',
              path: ['values', name],
              message: `has ${column.length} samples, timeNs has ${n}: every series needs one value per sample time`,
            });
        }
        series.nodeBytes?.forEach((column, node) => {
          if (column.length !== n)
            ctx.addIssue({
              code: 'custom',
              path: ['nodeBytes', node],
              message: `has ${column.length} samples, timeNs has ${n}: every series needs one value per sample time`,
            });
        });
      })
      .optional()
      .meta({ description: 'Series downsampled for display.' }),
    error: z.string().optional().meta({ description: 'Why the variant failed, when it did.' }),
  })
  .strict();
export type SavedVariant = z.infer<typeof SavedVariantSchema>;

/** Results saved with the file: enough to show them again, and to tell when they are stale. */
export const SavedResultsSchema = z
  .object({
    engineVersion: z
      .string()
      .meta({ description: 'Version of the simulation engine that produced the results.' }),
    configHash: z
      .string()
      .meta({ description: 'Hash of the configuration the results belong to.' }),
    createdAt: z.string().meta({ description: 'When the results were produced (ISO 8601).' }),
    variants: z
      .array(SavedVariantSchema)
      .meta({ description: 'Results of each variant, in the order of the variants.' }),
  })
  .strict();
export type SavedResults = z.infer<typeof SavedResultsSchema>;

/** What saved results belong to. */
export interface SavedResultsInfo {
  readonly engineVersion: string;
  readonly configHash: string;
  readonly createdAt: string;
}

/** Parts of a result a saved file may lack (files from builds that did not keep them). */
export type ResultPart =
  | 'series'
  | 'nodeBytes'
  | 'latency'
  | 'phases'
  | 'phaseMarks'
  | 'endTime'
  | 'nodeSeries'
  | 'fullLength';

/** One saved variant reopened: its result (null when the file kept no series, e.g. the variant
 * failed), why it failed when it did, and the parts the file did not keep. */
export interface RestoredVariant {
  readonly name: string;
  readonly result: ShownResult | null;
  readonly error?: string;
  readonly absent: readonly ResultPart[];
}

export interface RestoredResults extends SavedResultsInfo {
  readonly variants: readonly RestoredVariant[];
}

/** One variant's result in the saved shape: every part it has, as plain JSON values. */
function toSavedVariant(result: ShownResult): SavedVariant {
  const { summary, series } = result;
  return {
    name: result.name,
    summary: { ...summary.metrics },
    ...(summary.nodeBytes ? { nodeBytes: [...summary.nodeBytes] } : {}),
    ...(summary.latencyNs ? { latencyNs: cloneLatency(summary.latencyNs) } : {}),
    ...(summary.phases ? { phases: clonePhases(summary.phases) } : {}),
    ...(summary.phaseMarks ? { phaseMarks: summary.phaseMarks.map((m) => ({ ...m })) } : {}),
    ...(result.endNs !== undefined ? { endNs: result.endNs } : {}),
    series: {
      timeNs: Array.from(series.timeNs),
      values: Object.fromEntries(series.names.map((n, i) => [n, Array.from(series.values[i]!)])),
      ...(series.nodeBytes ? { nodeBytes: series.nodeBytes.map((a) => Array.from(a)) } : {}),
      ...(series.fullLength !== undefined ? { fullLength: series.fullLength } : {}),
    },
  };
}

/** The results to save with the file. */
export function toSaved(info: SavedResultsInfo, results: readonly ShownResult[]): SavedResults {
  return {
    engineVersion: info.engineVersion,
    configHash: info.configHash,
    createdAt: info.createdAt,
    variants: results.map(toSavedVariant),
  };
}

/** One saved variant as a result again, with the parts the file did not keep. */
function fromSavedVariant(saved: SavedVariant): RestoredVariant {
  const absent: ResultPart[] = [];
  if (saved.nodeBytes === undefined) absent.push('nodeBytes');
  if (saved.latencyNs === undefined) absent.push('latency');
  if (saved.phases === undefined) absent.push('phases');
  if (saved.phaseMarks === undefined) absent.push('phaseMarks');
  if (saved.endNs === undefined) absent.push('endTime');
  const error = saved.error !== undefined ? { error: saved.error } : {};
  const s = saved.series;
  if (!s) return { name: saved.name, result: null, ...error, absent: ['series', ...absent] };
  if (s.nodeBytes === undefined) absent.push('nodeSeries');
  if (s.fullLength === undefined) absent.push('fullLength');
  const names = Object.keys(s.values);
  const summary: ResultSummary = {
    metrics: { ...saved.summary },
    ...(saved.nodeBytes ? { nodeBytes: [...saved.nodeBytes] } : {}),
    ...(saved.latencyNs ? { latencyNs: cloneLatency(saved.latencyNs) } : {}),
    ...(saved.phases ? { phases: clonePhases(saved.phases) } : {}),
    ...(saved.phaseMarks ? { phaseMarks: saved.phaseMarks.map((m) => ({ ...m })) } : {}),
  };
  const series: ResultSeries = {
    timeNs: Float64Array.from(s.timeNs),
    names,
    values: names.map((n) => Float64Array.from(s.values[n]!)),
    ...(s.nodeBytes ? { nodeBytes: s.nodeBytes.map((a) => Float64Array.from(a)) } : {}),
    ...(s.fullLength !== undefined ? { fullLength: s.fullLength } : {}),
  };
  const result: ShownResult = {
    name: saved.name,
    summary,
    series,
    ...(saved.endNs !== undefined ? { endNs: saved.endNs } : {}),
  };
  return { name: saved.name, result, ...error, absent };
}

/** Saved results as results again. */
export function fromSaved(saved: SavedResults): RestoredResults {
  return {
    engineVersion: saved.engineVersion,
    configHash: saved.configHash,
    createdAt: saved.createdAt,
    variants: saved.variants.map(fromSavedVariant),
  };
}

function cloneLatency(table: LatencyTable): Record<LatencyOp, LatencySummary> {
  return Object.fromEntries(Object.entries(table).map(([op, l]) => [op, { ...l }])) as Record<
    LatencyOp,
    LatencySummary
  >;
}

function clonePhases(phases: readonly PhaseSummary[]): PhaseSummary[] {
  return phases.map((p) => ({ ...p, metrics: { ...p.metrics } }));
}
