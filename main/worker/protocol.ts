// Messages between the simulation host and its worker threads. Results cross as typed arrays in
// the transfer list, never as JSON. The request, the progress and the result are the ones of the
// core and the API (core/experiment/run.ts, contract/api.ts, core/metrics/result.ts), not restated.
import type { VariantResult, VariantRunRequest } from '../../core/experiment/run.js';
import { seriesColumns, type RunResult } from '../../core/metrics/result.js';
import type { RunProgress } from '@contract/api.js';

export interface RunRequest extends VariantRunRequest {
  readonly type: 'run';
  readonly runId: number;
  /** Int32 flag the host sets to 1 to cancel; the worker polls it between operations. */
  readonly cancelFlag: SharedArrayBuffer;
  /** Least time between two progress messages. */
  readonly progressIntervalMs: number;
  /** With recordEvents: the file (absolute, created by the worker, which must not exist) the
   * event log streams to as the run goes. Chosen by the host's caller, never by a client. */
  readonly eventsFile?: string;
}

export type WorkerMessage =
  | { readonly type: 'ready' }
  | ({ readonly type: 'progress' } & RunProgress)
  | { readonly type: 'result'; readonly runId: number; readonly result: RunResult }
  | { readonly type: 'cancelled'; readonly runId: number }
  | {
      readonly type: 'error';
      readonly runId: number;
      readonly message: string;
      readonly stack?: string;
    };

/** The core's result as it leaves the thread: series copied into exact-size columns, and the
 * buffers to transfer. */
export function packResult(result: VariantResult): {
  packed: RunResult;
  transfer: ArrayBuffer[];
} {
  const series = seriesColumns(result.series);
  const transfer = [
    series.timeNs.buffer,
    ...series.values.map((v) => v.buffer),
    ...series.nodeBytes.map((v) => v.buffer),
  ] as ArrayBuffer[];
  return {
    packed: {
      name: result.name,
      summary: result.summary,
      series,
      endNs: result.endNs,
      coverage: result.coverage,
      ...(result.eventsJsonl !== undefined ? { eventsJsonl: result.eventsJsonl } : {}),
      ...(result.eventLog !== undefined ? { eventLog: result.eventLog } : {}),
    },
    transfer,
  };
}
