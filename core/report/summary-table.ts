// The summary of several variants as one table: a row per metric, a column per variant, the unit
// and, optionally, the best value marked. The same table feeds the CLI, the workbench's text
// export and the mailing-list copy.
import {
  LATENCY_OPS,
  METRICS,
  PHASE_METRICS,
  metricDef,
  type MetricDef,
} from '../metrics/definitions.js';
import type { PhaseSummary } from '../metrics/result.js';
import { formatValue } from './format.js';
import { renderTextTable } from './text-table.js';

export interface VariantSummary {
  readonly name: string;
  readonly metrics: Readonly<Record<string, number>>;
  /** Counters per workload phase: rows `<metric>@<phase>` for the PHASE_METRICS. */
  readonly phases?: readonly PhaseSummary[];
  /** Why the variant has no result: its column says "failed" (never a value, never best). */
  readonly failed?: string;
  readonly latencyNs?: Readonly<
    Record<string, { readonly p50: number; readonly p99: number; readonly count: number }>
  >;
}

/** Whether a lower value of the metric is better (memory, failures, cycles) or a higher one
 * (huge mappings); null when neither (configuration echoes, neutral counts). */
function betterDirection(def: MetricDef): 'lower' | 'higher' | null {
  if (def.category === 'coverage') return null;
  if (def.name === 'hvo_saved_bytes' || def.name === 'pages_2m' || def.name === 'pages_1g')
    return 'higher';
  if (
    def.name === 'mapped_2m_ratio' ||
    def.name === 'mapped_1g_ratio' ||
    def.name === 'folios_2m' ||
    def.name === 'folios_1g'
  )
    return 'higher';
  if (
    def.name.startsWith('conversions_') ||
    def.name.startsWith('converted_') ||
    def.name === 'punched_bytes' ||
    def.name === 'freed_bytes'
  )
    return null;
  if (def.name === 'merges_1g' || def.name === 'merges_2m' || def.name === 'merges_deferred')
    return null;
  return 'lower';
}

/** Index of the best variant for a metric, or -1 when all are equal or the metric has no better.
 * NaN stands for a variant without a value (it failed): never the best, not compared. */
function bestIndex(def: MetricDef, values: readonly number[]): number {
  const dir = betterDirection(def);
  const known = values.filter((v) => !Number.isNaN(v));
  if (!dir || known.length < 2) return -1;
  const target = dir === 'lower' ? Math.min(...known) : Math.max(...known);
  if (known.every((v) => v === target)) return -1;
  return values.indexOf(target);
}

/** One row of the summary table: a metric (or a metric during one phase), its value per variant
 * and the index of the best one (-1 for none). */
export interface SummaryRow {
  /** The metric's name, or `<metric>@<phase>` for its growth during one phase. */
  readonly key: string;
  readonly def: MetricDef;
  /** The phase the row counts, for `<metric>@<phase>` rows. */
  readonly phase?: string;
  readonly description: string;
  /** NaN for a variant that failed. */
  readonly values: readonly number[];
  readonly best: number;
}

export interface SummaryRowOptions {
  readonly onlyDiffering?: boolean;
  /** Leave out rows where every variant is 0 (metrics the workload does not touch). */
  readonly hideZero?: boolean;
  readonly markBest?: boolean;
  readonly metrics?: readonly MetricDef[];
  /** Add the `<metric>@<phase>` rows of the variants' phases (default true). */
  readonly phases?: boolean;
}

/** The rows of the summary table: every metric's final value, then, per phase in the order the
 * phases first ran, how much each PHASE_METRICS counter grew during it. The CLI's table, the
 * workbench's table and the text export all read these rows. */
export function summaryRows(
  variants: readonly VariantSummary[],
  options: SummaryRowOptions = {},
): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const push = (row: Omit<SummaryRow, 'best'>): void => {
    const known = row.values.filter((v) => !Number.isNaN(v));
    if (options.onlyDiffering && known.every((v) => v === known[0])) return;
    if (options.hideZero && known.every((v) => v === 0)) return;
    rows.push({ ...row, best: options.markBest === false ? -1 : bestIndex(row.def, row.values) });
  };
  for (const def of options.metrics ?? (METRICS as readonly MetricDef[])) {
    const values = variants.map((v) => (v.failed !== undefined ? NaN : (v.metrics[def.name] ?? 0)));
    push({ key: def.name, def, description: def.description, values });
  }
  if (options.phases === false) return rows;
  const phaseNames = [...new Set(variants.flatMap((v) => (v.phases ?? []).map((p) => p.name)))];
  for (const phase of phaseNames) {
    const during = variants.map((v) => v.phases?.find((p) => p.name === phase));
    for (const name of PHASE_METRICS) {
      const def = metricDef(name);
      push({
        key: `${name}@${phase}`,
        def,
        phase,
        description: `${def.description} Counted during the ${phase} phase only.`,
        values: during.map((p, i) =>
          variants[i]!.failed !== undefined ? NaN : (p?.metrics[name] ?? 0),
        ),
      });
    }
  }
  return rows;
}

export function summaryTableText(
  variants: readonly VariantSummary[],
  options: SummaryRowOptions = {},
): string {
  const rows: string[][] = summaryRows(variants, options).map((row) => [
    row.key,
    ...row.values.map((v, i) =>
      Number.isNaN(v) ? 'failed  ' : formatValue(v, row.def.unit) + (i === row.best ? ' *' : '  '),
    ),
  ]);
  // Every operation the model records a latency for (LATENCY_OPS), where some variant took one.
  for (const op of LATENCY_OPS) {
    if (!variants.some((v) => (v.latencyNs?.[op]?.count ?? 0) > 0)) continue;
    for (const p of ['p50', 'p99'] as const) {
      rows.push([
        `latency_${op}_${p}`,
        ...variants.map((v) =>
          v.failed !== undefined
            ? 'failed  '
            : formatValue(v.latencyNs?.[op]?.[p] ?? 0, 'ns') + '  ',
        ),
      ]);
    }
  }
  const header = ['metric', ...variants.map((v) => v.name)];
  const right = new Set(variants.map((_, i) => i + 1));
  const note = options.markBest === false ? '' : '* best value of the row\n';
  const failures = variants
    .filter((v) => v.failed !== undefined)
    .map((v) => `failed: ${v.name}: ${v.failed}\n`)
    .join('');
  return renderTextTable({ header, rows, rightAligned: right }) + note + failures;
}
