// Run an experiment's variants: each variant gets its own simulation of the same host, guest,
// workload and seed, so the comparison is like for like. Used by the worker threads, the CLI and
// the tests alike.
import { resolveCosts, type GmemVariantConfig } from '../config.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import type { ResultCoverage, RunSeries, RunSummary } from '../metrics/result.js';
import type { EventSink } from '../events/event-log.js';
import type { EventLogStats } from '../metrics/result.js';
import { Rng } from '../rng.js';
import { withStorageBudget } from '../storage-budget.js';
import { Simulation } from '../sim/simulation.js';
import { Cancelled, WorkloadContext, type ProgressReport } from '../workloads/context.js';
import { runFaultPath } from '../workloads/fault-path.js';
import { runFleet } from '../workloads/fleet.js';
import { runLifecycle } from '../workloads/lifecycle.js';
import { replayTraceSource, scanTrace, textSource, type TraceSource } from '../workloads/trace.js';

/** The progress phase of a trace's first pass, which checks every line before the replay. */
export const TRACE_CHECK_PHASE = 'check trace';
import { effectiveWorkload, type Experiment, type ExperimentVariant } from './schema.js';

export const ENGINE_VERSION = '1.0.0';

/** How far a variant's run has come: the workload's phase and the fraction done within it. */
export type { ProgressReport };

export interface VariantRunOptions extends Pick<
  VariantRunRequest,
  'traceText' | 'recordEvents' | 'eventLimit' | 'storageBudgetBytes'
> {
  /** The trace a trace workload replays, read a chunk at a time (the worker's reader over the
   * file); else `traceText`. */
  readonly traceSource?: TraceSource;
  readonly onProgress?: (report: ProgressReport) => void;
  readonly isCancelled?: () => boolean;
  /** Stream the event log here as the run goes (each line tagged with the variant's name),
   * instead of keeping it for `eventsJsonl`. */
  readonly eventSink?: EventSink;
}

/** One variant of an experiment to run: what the worker threads, the simulation host and the
 * CLI pass along (the core reads no files: a trace workload comes with the path the worker reads,
 * checked by the caller, or with its text). */
export interface VariantRunRequest {
  readonly experiment: Experiment;
  readonly variantIndex: number;
  /** Text of the trace file the workload names (trace workloads only; small traces, tests). */
  readonly traceText?: string;
  /** Absolute path of the trace the variant replays, which the worker streams (trace workloads
   * only; the caller has checked it against the trace path policy). */
  readonly tracePath?: string;
  /** Record the event log (streamed to a sink, or returned as JSON lines). */
  readonly recordEvents?: boolean;
  /** Events the log keeps before it is cut (default DEFAULT_EVENT_LIMIT). */
  readonly eventLimit?: number;
  /** Memory the model's own state may take (core/storage-budget.ts); unset: no limit. */
  readonly storageBudgetBytes?: number;
}

/** A variant's result straight from the core: the recorder's summary and its live series (see
 * seriesColumns in core/metrics/result.ts for the RunResult that leaves the thread). */
export interface VariantResult {
  readonly name: string;
  readonly summary: RunSummary;
  readonly series: RunSeries;
  /** Simulated time at the end of the run, ns. */
  readonly endNs: number;
  /** The event log as JSON lines, when it was recorded without a sink. */
  readonly eventsJsonl?: string;
  /** How much the event log holds, when it was recorded. */
  readonly eventLog?: EventLogStats;
  readonly coverage: ResultCoverage & { readonly workload: Experiment['workload']['kind'] };
}

/** The full guest_memfd configuration of one variant of the experiment. */
export function variantConfig(
  experiment: Experiment,
  variant: ExperimentVariant,
): GmemVariantConfig {
  // `base` only says how the file writes the variant (variant-base.ts); it is complete here.
  const { faultPath: _faultPath, workloadOverrides: _overrides, base: _base, ...rest } = variant;
  return {
    ...rest,
    guestBytes: experiment.guest.memoryBytes,
    vendor: experiment.guest.vendor,
    memslotGpaBytes: experiment.guest.memslotGpaBytes,
  };
}

export function runVariant(
  experiment: Experiment,
  index: number,
  options: VariantRunOptions = {},
): VariantResult {
  return withStorageBudget(options.storageBudgetBytes, () =>
    runVariantWithin(experiment, index, options),
  );
}

function runVariantWithin(
  experiment: Experiment,
  index: number,
  options: VariantRunOptions,
): VariantResult {
  const variant = experiment.variants[index];
  if (!variant)
    throw new RangeError(
      `variant ${index} does not exist (the experiment has ${experiment.variants.length})`,
    );
  const config = variantConfig(experiment, variant);
  const workload = effectiveWorkload(experiment, variant);
  const coverage = {
    guestBytes: experiment.guest.memoryBytes,
    nodes: experiment.host.nodes.length,
    workload: workload.kind,
  };
  const fromRecorder = (metrics: MetricsRecorder, endNs: number): VariantResult => ({
    name: variant.name,
    summary: metrics.summary(endNs),
    series: metrics.seriesView(),
    endNs,
    coverage,
  });

  if (workload.kind === 'fault-path') {
    const run = runFaultPath(
      workload,
      variant.faultPath ?? 'change-pte-kept',
      resolveCosts(config.costs),
      experiment.seed,
      experiment.sampling.intervalNs,
      options.onProgress,
      options.isCancelled,
    );
    return fromRecorder(run.metrics, run.endNs);
  }
  if (workload.kind === 'fleet') {
    const run = runFleet(workload, experiment.host, config, experiment.seed, {
      sampleIntervalNs: experiment.sampling.intervalNs,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.isCancelled ? { isCancelled: options.isCancelled } : {}),
    });
    return fromRecorder(run.metrics, run.endNs);
  }

  const sim = new Simulation({
    host: experiment.host,
    variant: config,
    seed: experiment.seed,
    recordEvents: options.recordEvents ?? false,
    eventLog: {
      ...(options.eventLimit !== undefined ? { limit: options.eventLimit } : {}),
      ...(options.eventSink ? { sink: options.eventSink, tag: { variant: variant.name } } : {}),
    },
  });
  const ctx = new WorkloadContext(sim, new Rng(experiment.seed).fork(7), {
    sampleIntervalNs: experiment.sampling.intervalNs,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.isCancelled ? { isCancelled: options.isCancelled } : {}),
  });
  if (workload.kind === 'lifecycle') {
    runLifecycle(ctx, workload, experiment.guest);
  } else {
    const given =
      options.traceSource ??
      (options.traceText !== undefined ? textSource(options.traceText, workload.path) : undefined);
    if (given === undefined) {
      throw new Error(
        `the trace workload needs the text of ${workload.path}; the caller reads the file`,
      );
    }
    // Messages and format detection name the trace as the experiment does.
    const source: TraceSource = {
      name: workload.path,
      bytes: given.bytes,
      open: () => given.open(),
      openBytes: () => given.openBytes(),
    };
    // First pass: every line checked, nothing replayed; a trace with a bad line is not run.
    const checked = scanTrace(source, workload.format, {
      onLines: (bytes) => {
        options.onProgress?.({
          phase: TRACE_CHECK_PHASE,
          fraction: source.bytes > 0 ? Math.min(1, bytes / source.bytes) : 1,
        });
        if (options.isCancelled?.()) throw new Cancelled();
      },
    });
    if (!checked.ok) {
      const first = checked.errors
        .slice(0, 5)
        .map((e) => `${workload.path}:${e.line}: ${e.message}`);
      throw new Error(
        `trace rejected (${checked.errors.length} bad line(s)):\n${first.join('\n')}`,
      );
    }
    // Second pass: replayed as it is read.
    replayTraceSource(ctx, workload, source, checked.format);
  }
  ctx.sampleNow();
  sim.log.close();
  const result = sim.result();
  return {
    name: variant.name,
    summary: result.summary,
    series: result.series,
    endNs: sim.now,
    coverage,
    ...(options.recordEvents
      ? {
          eventLog: {
            logged: sim.log.length,
            dropped: sim.log.droppedCount,
            limit: sim.log.eventLimit,
          },
          ...(options.eventSink ? {} : { eventsJsonl: sim.log.toJsonLines() }),
        }
      : {}),
  };
}
