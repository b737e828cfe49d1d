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
import type { LatencySummary, PhaseMark, PhaseSummary, RunSeries, RunSummary } from './result.js';

// The recorder's output types belong to the result model (result.ts).
export type { LatencySummary, PhaseSummary, RunSeries, RunSummary };

/** Positions in METRICS of the counters: what a phase's summary reports. */
const COUNTER_INDEXES: readonly number[] = METRICS.flatMap((m, i) =>
  m.kind === 'counter' ? [i] : [],
);

/** Phase marks a run keeps at most. */
const MAX_PHASE_MARKS = 4096;

/** The phase a run is in before its workload begins one (the simulation's own set-up). */
export const SETUP_PHASE = 'setup';

interface PhaseTotal {
  count: number;
  durationNs: number;
  /** Growth of each counter, in COUNTER_INDEXES order. */
  readonly deltas: Float64Array;
}

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

  /** Phases by name in the order they first ran, with the counters' growth in each. */
  private readonly phaseTotals = new Map<string, PhaseTotal>();
  private phaseName = SETUP_PHASE;
  /** Every phase the workload entered, when. A lifecycle has at most a few hundred (its reboots
   * are bounded by the schema); the cap keeps any future workload's marks bounded too. */
  private readonly marks: PhaseMark[] = [];
  private phaseStartNs = 0;
  /** Counter values when the current phase began, in COUNTER_INDEXES order. */
  private readonly phaseStart = new Float64Array(COUNTER_INDEXES.length);

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
    this.latency[LATENCY_INDEX[op]]!.recordOne(ns);
  }

  /** recordLatency() by LATENCY_INDEX position, once (an operation's or a step's own sample). */
  recordLatencyOnce(index: number, ns: number): void {
    this.latency[index]!.recordOne(ns);
  }

  /** recordLatency() by LATENCY_INDEX position, `times` times in a row (the same as that many
   * calls: the running sum adds `ns` once per call). */
  recordLatencyAt(index: number, ns: number, times = 1): void {
    const h = this.latency[index]!;
    if (times === 1) h.recordOne(ns);
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

  /** The workload enters phase `name` at simulated time `nowNs`: the counters' growth since the
   * last phase began is added to that phase's total. */
  beginPhase(name: string, nowNs: number): void {
    this.addOpenPhase(this.phaseTotals, nowNs);
    if (this.marks.length < MAX_PHASE_MARKS) this.marks.push({ name, startNs: nowNs });
    this.phaseName = name;
    this.phaseStartNs = nowNs;
    COUNTER_INDEXES.forEach((m, i) => (this.phaseStart[i] = this.current[m]!));
  }

  /** The counters per phase up to `nowNs`, the phase now running included. Empty when the
   * workload never began a phase (then the whole run is one, and the totals say it all). The
   * set-up before the first phase shows only when a counter grew in it. */
  phaseSummaries(nowNs: number): PhaseSummary[] {
    if (this.phaseTotals.size === 0 && this.phaseName === SETUP_PHASE) return [];
    const totals = new Map<string, PhaseTotal>();
    for (const [name, t] of this.phaseTotals)
      totals.set(name, { count: t.count, durationNs: t.durationNs, deltas: t.deltas.slice() });
    this.addOpenPhase(totals, nowNs);
    const setup = totals.get(SETUP_PHASE);
    if (setup && setup.deltas.every((d) => d === 0)) totals.delete(SETUP_PHASE);
    return [...totals].map(([name, t]) => ({
      name,
      count: t.count,
      durationNs: t.durationNs,
      metrics: Object.fromEntries(COUNTER_INDEXES.map((m, i) => [METRICS[m]!.name, t.deltas[i]!])),
    }));
  }

  private addOpenPhase(totals: Map<string, PhaseTotal>, nowNs: number): void {
    let t = totals.get(this.phaseName);
    if (!t) {
      t = { count: 0, durationNs: 0, deltas: new Float64Array(COUNTER_INDEXES.length) };
      totals.set(this.phaseName, t);
    }
    t.count += 1;
    t.durationNs += nowNs - this.phaseStartNs;
    COUNTER_INDEXES.forEach((m, i) => (t.deltas[i]! += this.current[m]! - this.phaseStart[i]!));
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

  /** The run's summary at simulated time `nowNs` (for the duration of the phase now running). */
  summary(nowNs: number): RunSummary {
    const metrics = Object.fromEntries(METRICS.map((m, i) => [m.name, this.current[i]!])) as Record<
      MetricName,
      number
    >;
    const latencyNs = Object.fromEntries(
      LATENCY_OPS.map((op) => [op, this.latencySummary(op)]),
    ) as Record<LatencyOp, LatencySummary>;
    return {
      metrics,
      nodeBytes: Array.from(this.nodeCurrent),
      latencyNs,
      phases: this.phaseSummaries(nowNs),
      phaseMarks: this.marks.map((m) => ({ ...m })),
    };
  }
}
