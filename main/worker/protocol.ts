// Messages between the simulation host and its worker threads. Results cross as typed arrays in
// the transfer list, never as JSON.
import type { Experiment } from '../../core/experiment/schema.js';
import type { VariantResult } from '../../core/experiment/run.js';
import type { LatencySummary } from '../../core/metrics/recorder.js';

export interface RunRequest {
  readonly type: 'run';
  readonly runId: number;
  readonly experiment: Experiment;
  readonly variantIndex: number;
  readonly traceText?: string;
  readonly recordEvents?: boolean;
  /** Int32 flag the host sets to 1 to cancel; the worker polls it between operations. */
  readonly cancelFlag: SharedArrayBuffer;
  /** Least time between two progress messages. */
  readonly progressIntervalMs: number;
}

export interface PackedSeries {
  readonly timeNs: Float64Array;
  /** Metric names in the order of `values`. */
  readonly names: readonly string[];
  readonly values: readonly Float64Array[];
  readonly nodeBytes: readonly Float64Array[];
}

export interface PackedResult {
  readonly name: string;
  readonly summary: {
    readonly metrics: Readonly<Record<string, number>>;
    readonly nodeBytes: readonly number[];
    readonly latencyNs: Readonly<Record<string, LatencySummary>>;
  };
  readonly series: PackedSeries;
  readonly endNs: number;
  readonly coverage: VariantResult['coverage'];
  readonly eventsJsonl?: string;
}

export type WorkerMessage =
  | { readonly type: 'ready' }
  | {
      readonly type: 'progress';
      readonly runId: number;
      readonly phase: string;
      readonly fraction: number;
    }
  | { readonly type: 'result'; readonly runId: number; readonly result: PackedResult }
  | { readonly type: 'cancelled'; readonly runId: number }
  | {
      readonly type: 'error';
      readonly runId: number;
      readonly message: string;
      readonly stack?: string;
    };

/** Copy each series into an exact-size array (the recorder's buffers have spare capacity) and
 * list the buffers to transfer. */
export function packResult(result: VariantResult): {
  packed: PackedResult;
  transfer: ArrayBuffer[];
} {
  const names = Object.keys(result.series.values);
  const values = names.map((n) =>
    result.series.values[n as keyof typeof result.series.values].slice(),
  );
  const timeNs = result.series.timeNs.slice();
  const nodeBytes = result.series.nodeBytes.map((a) => a.slice());
  const transfer = [
    timeNs.buffer,
    ...values.map((v) => v.buffer),
    ...nodeBytes.map((v) => v.buffer),
  ] as ArrayBuffer[];
  return {
    packed: {
      name: result.name,
      summary: result.summary,
      series: { timeNs, names, values, nodeBytes },
      endNs: result.endNs,
      coverage: result.coverage,
      ...(result.eventsJsonl !== undefined ? { eventsJsonl: result.eventsJsonl } : {}),
    },
    transfer,
  };
}
