// The whole comparison as the compare view's "Export everything (zip)" makes it, for callers
// outside that view (the desktop menu's File > Export): the side-by-side charts of every chart
// definition with data, and the per-NUMA-node charts when there are several nodes.
import { CHARTS } from '../charts/chart-defs';
import { chartHasData, nodeSeries, panelSeries } from '../charts/datasets';
import type { RunResultView } from '../../../../main/api';
import { safeName, type ChartExportSpec, type Theme } from './export';

/** The side-by-side panels of the compare view, one per chart and variant. */
export function comparisonCharts(results: readonly RunResultView[]): ChartExportSpec[] {
  const charts: ChartExportSpec[] = [];
  for (const def of CHARTS) {
    if (def.optional && !chartHasData(def, results)) continue;
    for (const r of results)
      charts.push({
        id: safeName(`${def.id}-${r.variant}`),
        title: `${def.title}: ${r.variant}`,
        unit: def.unit,
        series: panelSeries(def, r),
        stacked: !!def.stacked,
      });
  }
  if (results.some((r) => r.series.nodeBytes.length > 1)) {
    for (const r of results)
      charts.push({
        id: safeName(`nodes-${r.variant}`),
        title: `Memory per NUMA node: ${r.variant}`,
        unit: 'bytes',
        series: nodeSeries(r),
        stacked: true,
      });
  }
  return charts;
}

/** The colours of the light and dark themes (App.svelte), for exported charts. */
export const EXPORT_THEMES: Readonly<Record<'light' | 'dark', Theme>> = {
  light: { background: '#ffffff', foreground: '#1d2330' },
  dark: { background: '#161a21', foreground: '#dde3ea' },
};
