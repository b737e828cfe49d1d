// A sweep's results as a plot and a heat map: x = the first swept parameter's values, y = one
// metric, a line per variant (and, with two parameters, per value of the second, dashed apart);
// the heat map shows one variant's metric over both parameters at once.
import type { SweepRow } from '@contract/api';
import type { SweepAxis } from '../../../../core/experiment/sweep';
import { paramLabel } from '../../../../core/experiment/param-unit';
import { metricDef, type MetricName, type MetricUnit } from '../../../../core/metrics/definitions';
import { svgLineChart } from '../../../../core/report/svg-chart';
import { DASHES, PALETTE } from './chart-defs';

export interface SweepSeries {
  readonly label: string;
  readonly color: string;
  readonly dash: readonly number[];
  /** One value per tick; NaN where the run failed (a gap in the line). */
  readonly values: readonly number[];
}

export interface SweepPlot {
  readonly title: string;
  readonly unit: MetricUnit;
  readonly xTitle: string;
  /** Where each value of the first parameter sits: the value itself when every value is a
   * number, else its position. */
  readonly x: readonly number[];
  readonly ticks: readonly { readonly x: number; readonly label: string }[];
  readonly series: readonly SweepSeries[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** A swept value as its tick reads: in the field's unit, without the path. */
export function valueLabel(path: string, value: unknown): string {
  return paramLabel(path, value).slice(path.length + 1);
}

/** The variants of the rows, in their order. */
export function sweepVariants(rows: readonly SweepRow[]): string[] {
  const byIndex = new Map<number, string>();
  for (const r of rows) byIndex.set(r.variantIndex, r.variant);
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, name]) => name);
}

function valueOf(row: SweepRow | undefined, metric: string): number {
  const v = row?.summary?.[metric];
  return typeof v === 'number' ? v : NaN;
}

export function sweepPlot(
  rows: readonly SweepRow[],
  axes: readonly SweepAxis[],
  metric: MetricName,
): SweepPlot {
  const def = metricDef(metric);
  const [first, second] = axes as [SweepAxis, SweepAxis | undefined];
  const numeric = first.values.every((v) => typeof v === 'number');
  const x = first.values.map((v, i) => (numeric ? (v as number) : i));
  const ticks = first.values.map((v, i) => ({ x: x[i]!, label: valueLabel(first.path, v) }));
  const variants = sweepVariants(rows);
  const seconds = second ? second.values : [undefined];
  const series: SweepSeries[] = [];
  variants.forEach((variant, vi) => {
    seconds.forEach((s, si) => {
      const values = first.values.map((v) =>
        valueOf(
          rows.find(
            (r) =>
              r.variant === variant &&
              same(r.params[first.path], v) &&
              (second === undefined || same(r.params[second.path], s)),
          ),
          metric,
        ),
      );
      series.push({
        label: second ? `${variant}, ${paramLabel(second.path, s)}` : variant,
        color: PALETTE[vi % PALETTE.length]!,
        dash: DASHES[si % DASHES.length]!,
        values,
      });
    });
  });
  return {
    title: `${metric} by ${first.path}`,
    unit: def.unit,
    xTitle: first.path,
    x,
    ticks,
    series,
  };
}

/** The plot as standalone SVG (shown in the view, and its SVG export). */
export function sweepSvg(
  plot: SweepPlot,
  colors: { foreground: string; background: string },
): string {
  return svgLineChart({
    title: plot.title,
    unit: plot.unit,
    x: plot.x,
    series: plot.series.map((s) => ({
      label: s.label,
      color: s.color,
      dash: s.dash,
      values: s.values,
    })),
    foreground: colors.foreground,
    background: colors.background,
    xAxis: { title: plot.xTitle, ticks: plot.ticks },
  });
}

export interface HeatMap {
  readonly variant: string;
  readonly rows: readonly string[];
  readonly columns: readonly string[];
  /** cells[row][column]; NaN where the run failed. */
  readonly cells: readonly (readonly number[])[];
}

/** With two parameters: one map per variant, rows the first parameter, columns the second. */
export function sweepHeatMaps(
  rows: readonly SweepRow[],
  axes: readonly SweepAxis[],
  metric: string,
): HeatMap[] {
  const [first, second] = axes;
  if (!first || !second) return [];
  return sweepVariants(rows).map((variant) => ({
    variant,
    rows: first.values.map((v) => valueLabel(first.path, v)),
    columns: second.values.map((v) => valueLabel(second.path, v)),
    cells: first.values.map((a) =>
      second.values.map((b) =>
        valueOf(
          rows.find(
            (r) =>
              r.variant === variant &&
              same(r.params[first.path], a) &&
              same(r.params[second.path], b),
          ),
          metric,
        ),
      ),
    ),
  }));
}
