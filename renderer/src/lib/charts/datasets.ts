// Chart data from run results: series of the compare view's charts, side by side (one panel per
// variant) or overlaid (every variant in one chart).
import type { RunResultView } from '@contract/api';
import type { MetricName } from '../../../../core/metrics/definitions';
import { DASHES, PALETTE, metricLabel, type ChartDef } from './chart-defs';

export interface SeriesSpec {
  readonly label: string;
  readonly color: string;
  readonly dash: readonly number[];
  /** Points as {x: ns, y}. */
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly metric: MetricName | null;
}

function seriesOf(result: RunResultView, metric: MetricName): Float64Array | null {
  const i = result.series.names.indexOf(metric);
  return i >= 0 ? result.series.values[i]! : null;
}

/** The series of one chart for one variant (side-by-side panels). */
export function panelSeries(def: ChartDef, result: RunResultView): SeriesSpec[] {
  return def.metrics.flatMap((metric, i) => {
    const y = seriesOf(result, metric);
    if (!y) return [];
    return [
      {
        label: metricLabel(metric),
        color: PALETTE[i % PALETTE.length]!,
        dash: [],
        x: result.series.timeNs,
        y,
        metric,
      },
    ];
  });
}

/** The series of one chart for every variant at once: colour per variant, dash per metric. */
export function overlaySeries(def: ChartDef, results: readonly RunResultView[]): SeriesSpec[] {
  return results.flatMap((result, v) =>
    def.metrics.flatMap((metric, m) => {
      const y = seriesOf(result, metric);
      if (!y) return [];
      return [
        {
          label: `${result.name}: ${metricLabel(metric)}`,
          color: PALETTE[v % PALETTE.length]!,
          dash: DASHES[m % DASHES.length]!,
          x: result.series.timeNs,
          y,
          metric,
        },
      ];
    }),
  );
}

/** Host memory per NUMA node, one series per node (none for a result reopened from a file saved
 * before per-node series were kept). */
export function nodeSeries(result: RunResultView): SeriesSpec[] {
  return (result.series.nodeBytes ?? []).map((y, n) => ({
    label: `node ${n}`,
    color: PALETTE[n % PALETTE.length]!,
    dash: [],
    x: result.series.timeNs,
    y,
    metric: null,
  }));
}

/** Whether any variant has a non-zero value for any metric of the chart. */
export function chartHasData(def: ChartDef, results: readonly RunResultView[]): boolean {
  return results.some((r) =>
    def.metrics.some(
      (m) => (r.summary.metrics[m] ?? 0) !== 0 || (seriesOf(r, m) ?? []).some((v) => v !== 0),
    ),
  );
}
