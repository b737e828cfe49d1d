// Full-resolution results of finished runs, kept in memory for CSV export while the workbench
// shows the downsampled view. Bounded both ways: the last `maxRuns` runs, and no more than
// `maxBytes` of series; the least recently used run goes first.
import type { RunResult } from '../../core/metrics/result.js';

export const DEFAULT_KEPT_RUNS = 64;
const DEFAULT_KEPT_BYTES = 1024 * 1024 * 1024;

export class RunResults {
  // A Map iterates in insertion order: re-inserting on use makes the first key the least recent.
  private readonly runs = new Map<number, { result: RunResult; bytes: number }>();
  private totalBytes = 0;

  constructor(
    private readonly maxRuns: number = DEFAULT_KEPT_RUNS,
    private readonly maxBytes: number = DEFAULT_KEPT_BYTES,
    /** Told when a run is no longer kept (to drop what belongs to it, such as its event log). */
    private readonly onEvict?: (runId: number) => void,
  ) {}

  set(runId: number, result: RunResult): void {
    this.delete(runId);
    const bytes = seriesBytes(result);
    this.runs.set(runId, { result, bytes });
    this.totalBytes += bytes;
    // Keep the newest run even when it alone is over the byte bound: it is the one asked for.
    while (this.runs.size > 1 && (this.runs.size > this.maxRuns || this.totalBytes > this.maxBytes))
      this.evict(this.runs.keys().next().value!);
  }

  has(runId: number): boolean {
    return this.runs.has(runId);
  }

  private evict(runId: number): void {
    this.delete(runId);
    this.onEvict?.(runId);
  }

  get(runId: number): RunResult | undefined {
    const entry = this.runs.get(runId);
    if (!entry) return undefined;
    this.runs.delete(runId);
    this.runs.set(runId, entry);
    return entry.result;
  }

  get size(): number {
    return this.runs.size;
  }

  private delete(runId: number): void {
    const entry = this.runs.get(runId);
    if (!entry) return;
    this.runs.delete(runId);
    this.totalBytes -= entry.bytes;
  }
}

function seriesBytes(result: RunResult): number {
  const { timeNs, values, nodeBytes } = result.series;
  return [timeNs, ...values, ...nodeBytes].reduce((sum, a) => sum + a.byteLength, 0);
}
