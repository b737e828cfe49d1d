// The chart rows of the compare view, built once for the screen and for the exports: side by
// side (one panel per variant, a shared y scale per row) or overlaid (one panel per chart).
import type { RunResultView } from '@contract/api';
import type { MetricUnit } from '../../../../core/metrics/definitions';
import { CHARTS, PALETTE, metricHelp } from './chart-defs';
import { chartHasData, nodeSeries, overlaySeries, panelSeries, type SeriesSpec } from './datasets';

export type ChartLayout = 'side-by-side' | 'overlay';

export interface Panel {
  readonly id: string;
  readonly title: string;
  readonly unit: MetricUnit;
  readonly stacked: boolean;
  readonly series: readonly SeriesSpec[];
  readonly help: string;
}

export interface ChartRow {
  readonly id: string;
  readonly title: string;
  readonly help: string;
  readonly panels: readonly Panel[];
  /** The largest value the row shows, so side-by-side panels share one y scale. */
  readonly yMax: number;
}

export function chartRows(results: readonly RunResultView[], layout: ChartLayout): ChartRow[] {
  const rows: ChartRow[] = [];
  for (const def of CHARTS) {
    if (def.optional && !chartHasData(def, results)) continue;
    const help = def.metrics.map(metricHelp).join('\n');
    const panels: Panel[] =
      layout === 'overlay'
        ? [
            {
              id: def.id,
              title: def.title,
              unit: def.unit,
              stacked: false,
              series: overlaySeries(def, results),
              help,
            },
          ]
        : results.map((r) => ({
            id: `${def.id}-${r.name}`,
            title: `${def.title}: ${r.name}`,
            unit: def.unit,
            stacked: !!def.stacked,
            series: panelSeries(def, r),
            help,
          }));
    rows.push({ id: def.id, title: def.title, help, panels, yMax: rowMax(panels) });
  }
  if (results.some((r) => (r.series.nodeBytes?.length ?? 0) > 1)) {
    const help = 'Host memory the guest costs on each NUMA node (bytes).';
    const panels: Panel[] =
      layout === 'overlay'
        ? [
            {
              id: 'nodes',
              title: 'Memory per NUMA node',
              unit: 'bytes',
              stacked: false,
              series: results.flatMap((r, v) =>
                nodeSeries(r).map((s, n) => ({
                  ...s,
                  label: `${r.name}: node ${n}`,
                  color: PALETTE[v % PALETTE.length]!,
                  dash: n ? [6, 3] : [],
                })),
              ),
              help,
            },
          ]
        : results.map((r) => ({
            id: `nodes-${r.name}`,
            title: `Memory per NUMA node: ${r.name}`,
            unit: 'bytes' as const,
            stacked: true,
            series: nodeSeries(r),
            help,
          }));
    rows.push({ id: 'nodes', title: 'Memory per NUMA node', help, panels, yMax: rowMax(panels) });
  }
  return rows;
}

function rowMax(panels: readonly Panel[]): number {
  let max = 0;
  for (const p of panels) {
    const n = Math.max(0, ...p.series.map((s) => s.y.length));
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (const s of p.series) v = p.stacked ? v + (s.y[i] ?? 0) : Math.max(v, s.y[i] ?? 0);
      if (v > max) max = v;
    }
  }
  return max;
}
