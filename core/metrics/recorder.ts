// The metrics a run observes: current values, time series sampled over simulated time, latency
// distributions and per-node memory. The rules that change state report into it; nothing here
// changes simulation state.
import { chargeStorage, releaseStorage } from '../storage-budget.js';
import {
  LATENCY_INDEX,
  LATENCY_OPS,
  LATENCY_PERCENTILES,
  METRICS,
  METRIC_INDEX,
  type LatencyOp,
  type MetricName,
} from './definitions.js';
import { addRepeated } from '../repeat.js';
import { LatencyHistogram } from './histogram.js';
import type { LatencySummary, RunSeries, RunSummary } from './result.js';

// The recorder's output types belong to the result model (result.ts).
export type { LatencySummary, RunSeries, RunSummary };

class GrowableSeries {
  data: Float64Array;
  length = 0;
  constructor(capacity = 256) {
    this.data = new Float64Array(capacity);
  }
  push(value: number): void {
    if (this.length === this.data.length) {
      // The old array goes when the new one has its copy: both are held for the copy.
      chargeStorage(this.data.length * 2 * 8, 'sampled time series');
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      releaseStorage(this.data.length * 8);
      this.data = next;
    }
    this.data[this.length++] = value;
  }
  view(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

export class MetricsRecorder {
  private readonly current = new Float64Array(METRICS.length);
  private readonly nodeCurrent: Float64Array;
  private readonly time = new GrowableSeries();
  private readonly series: GrowableSeries[] = METRICS.map(() => new GrowableSeries());
  private readonly nodeSeries: GrowableSeries[];
  /** One histogram per LATENCY_OPS entry, in that order (indexed by LATENCY_INDEX). */
  private readonly latency: readonly LatencyHistogram[] = LATENCY_OPS.map(
    () => new LatencyHistogram(),
  );

  constructor(readonly nodeCount: number) {
    this.nodeCurrent = new Float64Array(nodeCount);
    this.nodeSeries = Array.from({ length: nodeCount }, () => new GrowableSeries());
  }

  add(name: MetricName, delta: number): void {
    this.current[METRIC_INDEX[name]]! += delta;
  }

  /** add() by METRIC_INDEX position: for hot paths, which resolve the index once. */
  addAt(index: number, delta: number): void {
    this.current[index]! += delta;
  }

  /** `times` calls of addAt(index, delta), in one go (the same result, see addRepeated). */
  addRepeatedAt(index: number, delta: number, times: number): void {
    this.current[index] = addRepeated(this.current[index]!, delta, times);
  }

  getAt(index: number): number {
    return this.current[index]!;
  }

  set(name: MetricName, value: number): void {
    this.current[METRIC_INDEX[name]] = value;
  }

  get(name: MetricName): number {
    return this.current[METRIC_INDEX[name]]!;
  }

  setNodeBytes(node: number, bytes: number): void {
    this.nodeCurrent[node] = bytes;
  }

  nodeBytes(node: number): number {
    return this.nodeCurrent[node]!;
  }

  recordLatency(op: LatencyOp, ns: number): void {
    this.latency[LATENCY_INDEX[op]]!.record(ns);
  }

  /** recordLatency() by LATENCY_INDEX position, `times` times in a row (the same as that many
   * calls: the running sum adds `ns` once per call). */
  recordLatencyAt(index: number, ns: number, times = 1): void {
    const h = this.latency[index]!;
    if (times === 1) h.record(ns);
    else h.recordEach(ns, times);
  }

  /** The latency distribution of `op`, bucket by bucket (LatencyHistogram.buckets()). */
  latencyBuckets(op: LatencyOp): ReturnType<LatencyHistogram['buckets']> {
    return this.latency[LATENCY_INDEX[op]]!.buckets();
  }

  latencySummary(op: LatencyOp): LatencySummary {
    const h = this.latency[LATENCY_INDEX[op]]!;
    const [p50, p90, p99] = LATENCY_PERCENTILES.slice(0, 3).map((p) => h.percentile(p));
    return { count: h.count, mean: h.mean, p50: p50!, p90: p90!, p99: p99!, max: h.max };
  }

  /** Append the current values as one sample at simulated time `timeNs`. */
  sample(timeNs: number): void {
    const last = this.time.length > 0 ? this.time.data[this.time.length - 1]! : -Infinity;
    if (timeNs < last) throw new RangeError(`sample time ${timeNs} ns goes back before ${last} ns`);
    this.time.push(timeNs);
    for (let i = 0; i < this.series.length; i++) this.series[i]!.push(this.current[i]!);
    for (let n = 0; n < this.nodeSeries.length; n++) this.nodeSeries[n]!.push(this.nodeCurrent[n]!);
  }

  get sampleCount(): number {
    return this.time.length;
  }

  seriesView(): RunSeries {
    const values = Object.fromEntries(
      METRICS.map((m, i) => [m.name, this.series[i]!.view()]),
    ) as Record<MetricName, Float64Array>;
    return { timeNs: this.time.view(), values, nodeBytes: this.nodeSeries.map((s) => s.view()) };
  }

  summary(): RunSummary {
    const metrics = Object.fromEntries(METRICS.map((m, i) => [m.name, this.current[i]!])) as Record<
      MetricName,
      number
    >;
    const latencyNs = Object.fromEntries(
      LATENCY_OPS.map((op) => [op, this.latencySummary(op)]),
    ) as Record<LatencyOp, LatencySummary>;
    return { metrics, nodeBytes: Array.from(this.nodeCurrent), latencyNs };
  }
}
