// The whole comparison as the compare view's "Export everything (zip)" makes it, for callers
// outside that view (the desktop menu's File > Export): the side-by-side charts of every chart
// definition with data, and the per-NUMA-node charts when there are several nodes.
import type { RunResultView } from '@contract/api';
import { chartRows } from '../charts/panels';
import { safeName, type ChartExportSpec } from './export';

/** The side-by-side panels of the compare view, one per chart and variant. */
export function comparisonCharts(results: readonly RunResultView[]): ChartExportSpec[] {
  return chartRows(results, 'side-by-side').flatMap((row) =>
    row.panels.map((p) => ({
      id: safeName(p.id),
      title: p.title,
      unit: p.unit,
      series: p.series,
      stacked: p.stacked,
      marks: p.marks,
    })),
  );
}
