// The chart rows of the compare view, built once for the screen and for the exports: side by
// side (one panel per variant, a shared y scale per row) or overlaid (one panel per chart).
import type { RunResultView } from '@contract/api';
import { metricDef, type MetricUnit } from '../../../../core/metrics/definitions';
import { CHARTS, PALETTE, metricHelp, type ChartDef } from './chart-defs';
import { chartHasData, nodeSeries, overlaySeries, panelSeries, type SeriesSpec } from './datasets';
import type { TimeMark } from './sync';

/** The phases a run went through, as marks on the time axis. */
export function phaseMarks(result: RunResultView): TimeMark[] {
  return (result.summary.phaseMarks ?? []).map((m) => ({ x: m.startNs, label: m.name }));
}

/** Marks for a chart of every variant: those the variants share (the same phases at the same
 * times), none when they differ. */
function sharedMarks(results: readonly RunResultView[]): TimeMark[] {
  const first = results[0] ? phaseMarks(results[0]) : [];
  const key = (ms: readonly TimeMark[]) => ms.map((m) => `${m.x}:${m.label}`).join();
  return results.every((r) => key(phaseMarks(r)) === key(first)) ? first : [];
}

export type ChartLayout = 'side-by-side' | 'overlay';

export interface Panel {
  readonly id: string;
  readonly title: string;
  readonly unit: MetricUnit;
  readonly stacked: boolean;
  readonly series: readonly SeriesSpec[];
  readonly help: string;
  /** The series are rates: the unit per second of simulated time. */
  readonly perSecond?: boolean;
  /** When each phase of the workload began (lifecycle boot, runtime, reboot, ...). */
  readonly marks: readonly TimeMark[];
}

export interface ChartRow {
  readonly id: string;
  readonly title: string;
  readonly help: string;
  readonly panels: readonly Panel[];
  /** The largest value the row shows, so side-by-side panels share one y scale. */
  readonly yMax: number;
}

export interface ChartRowOptions {
  /** Charts of counters show each counter's rate per second of simulated time instead of its
   * running total; charts of gauges (memory, mapped shares, folios) are unchanged. */
  readonly perSecond?: boolean;
}

/** Whether every metric of the chart is a counter (a running total, which has a rate). */
export function isCounterChart(def: ChartDef): boolean {
  return def.metrics.every((m) => metricDef(m).kind === 'counter');
}

/** A counter's rate per second of simulated time: the growth over each sample interval divided
 * by its length, at the interval's end; the first sample has no interval (NaN, not drawn). */
export function ratePerSecond(s: SeriesSpec): SeriesSpec {
  const y = new Float64Array(s.y.length);
  y[0] = NaN;
  for (let k = 1; k < s.y.length; k++) {
    const dt = s.x[k]! - s.x[k - 1]!;
    y[k] = dt > 0 ? ((s.y[k]! - s.y[k - 1]!) / dt) * 1e9 : NaN;
  }
  return { ...s, y };
}

export function chartRows(
  results: readonly RunResultView[],
  layout: ChartLayout,
  options: ChartRowOptions = {},
): ChartRow[] {
  const rows: ChartRow[] = [];
  for (const def of CHARTS) {
    if (def.optional && !chartHasData(def, results)) continue;
    const help = def.metrics.map(metricHelp).join('\n');
    const rate = !!options.perSecond && isCounterChart(def);
    const title = rate ? `${def.title} per second` : def.title;
    const shown = (series: SeriesSpec[]) => (rate ? series.map(ratePerSecond) : series);
    const panels: Panel[] =
      layout === 'overlay'
        ? [
            {
              id: def.id,
              title,
              unit: def.unit,
              stacked: false,
              series: shown(overlaySeries(def, results)),
              help,
              perSecond: rate,
              marks: sharedMarks(results),
            },
          ]
        : results.map((r) => ({
            id: `${def.id}-${r.name}`,
            title: `${title}: ${r.name}`,
            unit: def.unit,
            stacked: !!def.stacked,
            series: shown(panelSeries(def, r)),
            help,
            perSecond: rate,
            marks: phaseMarks(r),
          }));
    rows.push({ id: def.id, title, help, panels, yMax: rowMax(panels) });
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
              marks: sharedMarks(results),
            },
          ]
        : results.map((r) => ({
            id: `nodes-${r.name}`,
            title: `Memory per NUMA node: ${r.name}`,
            unit: 'bytes' as const,
            stacked: true,
            series: nodeSeries(r),
            help,
            marks: phaseMarks(r),
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
      for (const s of p.series) {
        const y = Number.isFinite(s.y[i]) ? s.y[i]! : 0;
        v = p.stacked ? v + y : Math.max(v, y);
      }
      if (v > max) max = v;
    }
  }
  return max;
}
