// The summary of several variants as one table: a row per metric, a column per variant, the unit
// and, optionally, the best value marked and each variant's difference and ratio against a
// baseline variant. The same table feeds the CLI, the workbench's table, its text export (the
// mailing-list copy) and the summary CSV.
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

/** A variant's value against the baseline's: better or worse by the metric's direction (null for
 * metrics with no better, such as conversion counts). */
export type Verdict = 'better' | 'worse' | 'same';

export interface BaselineComparison {
  /** value - baseline; NaN when either failed. */
  readonly delta: number;
  /** value / baseline: 1 when both are 0, +-Infinity when only the baseline is; NaN when either
   * failed. */
  readonly ratio: number;
  readonly verdict: Verdict | null;
}

/** `value` against `base` for metric `def`. */
export function compareWithBaseline(
  def: MetricDef,
  value: number,
  base: number,
): BaselineComparison {
  if (Number.isNaN(value) || Number.isNaN(base)) return { delta: NaN, ratio: NaN, verdict: null };
  const delta = value - base;
  const ratio = base === 0 ? (value === 0 ? 1 : Math.sign(value) * Infinity) : value / base;
  const dir = betterDirection(def);
  const verdict: Verdict | null =
    delta === 0
      ? 'same'
      : dir === null
        ? null
        : (dir === 'lower') === delta < 0
          ? 'better'
          : 'worse';
  return { delta, ratio, verdict };
}

/** A difference in the metric's unit, signed: "+31 Mcycles", "-2", "+3 pp" for ratios. */
export function formatDelta(delta: number, def: MetricDef): string {
  if (Number.isNaN(delta)) return 'failed';
  const sign = delta > 0 ? '+' : '';
  if (def.unit === 'ratio') return `${sign}${formatValue(delta, 'ratio').replace(/ %$/, ' pp')}`;
  return `${sign}${formatValue(delta, def.unit)}`;
}

/** A ratio against the baseline: "x1.031"; "new" where the baseline is 0 and the value is not. */
export function formatRatio(ratio: number): string {
  if (Number.isNaN(ratio)) return 'failed';
  if (!Number.isFinite(ratio)) return 'new';
  return `x${Number(ratio.toFixed(ratio >= 100 ? 0 : 3))}`;
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
  /** With a baseline: each variant against it (null in the baseline's own column). */
  readonly vsBaseline?: readonly (BaselineComparison | null)[];
}

export interface SummaryRowOptions {
  readonly onlyDiffering?: boolean;
  /** Leave out rows where every variant is 0 (metrics the workload does not touch). */
  readonly hideZero?: boolean;
  readonly markBest?: boolean;
  readonly metrics?: readonly MetricDef[];
  /** Add the `<metric>@<phase>` rows of the variants' phases (default true). */
  readonly phases?: boolean;
  /** Index of the baseline variant: rows then compare every other variant with it. */
  readonly baseline?: number;
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
    const base = options.baseline;
    rows.push({
      ...row,
      best: options.markBest === false ? -1 : bestIndex(row.def, row.values),
      ...(base !== undefined && base >= 0 && base < row.values.length
        ? {
            vsBaseline: row.values.map((v, i) =>
              i === base ? null : compareWithBaseline(row.def, v, row.values[base]!),
            ),
          }
        : {}),
    });
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
  const base = baselineOf(variants, options);
  const others = variants.flatMap((_, i) => (i === base || base === undefined ? [] : [i]));
  const rows: string[][] = summaryRows(variants, options).map((row) => [
    row.key,
    ...row.values.map((v, i) =>
      Number.isNaN(v) ? 'failed  ' : formatValue(v, row.def.unit) + (i === row.best ? ' *' : '  '),
    ),
    ...others.flatMap((i) => {
      const c = row.vsBaseline![i]!;
      return [formatDelta(c.delta, row.def), formatRatio(c.ratio)];
    }),
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
        ...others.flatMap(() => ['', '']),
      ]);
    }
  }
  const header = [
    'metric',
    ...variants.map((v) => v.name),
    ...others.flatMap((i) => [`Δ ${variants[i]!.name}`, `× ${variants[i]!.name}`]),
  ];
  const right = new Set(header.map((_, i) => i).filter((i) => i > 0));
  const note =
    (options.markBest === false ? '' : '* best value of the row\n') +
    (base === undefined
      ? ''
      : `Δ and ×: each variant against the baseline, ${variants[base]!.name}\n`);
  const failures = variants
    .filter((v) => v.failed !== undefined)
    .map((v) => `failed: ${v.name}: ${v.failed}\n`)
    .join('');
  return renderTextTable({ header, rows, rightAligned: right }) + note + failures;
}

/** The baseline of the options when it names a variant, and there is another to compare. */
function baselineOf(
  variants: readonly VariantSummary[],
  options: SummaryRowOptions,
): number | undefined {
  const b = options.baseline;
  return b !== undefined && b >= 0 && b < variants.length && variants.length > 1 ? b : undefined;
}

function csvCell(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The summary as CSV (RFC 4180): a row per metric with its unit and raw value per variant, then,
 * with a baseline, each other variant's difference and ratio; a failed variant's cells are empty
 * and a last `failed` row says why. */
export function summaryTableCsv(
  variants: readonly VariantSummary[],
  options: SummaryRowOptions = {},
): string {
  const base = baselineOf(variants, options);
  const others = variants.flatMap((_, i) => (i === base || base === undefined ? [] : [i]));
  const num = (v: number) => (Number.isNaN(v) ? '' : Number.isFinite(v) ? String(v) : '');
  const header = [
    'metric',
    'unit',
    ...variants.map((v) => v.name),
    ...others.flatMap((i) => [
      `delta ${variants[i]!.name} vs ${variants[base!]!.name}`,
      `ratio ${variants[i]!.name} vs ${variants[base!]!.name}`,
    ]),
  ];
  const lines = [header.map(csvCell).join(',')];
  for (const row of summaryRows(variants, { ...options, baseline: base })) {
    lines.push(
      [
        row.key,
        row.def.unit,
        ...row.values.map(num),
        ...others.flatMap((i) => {
          const c = row.vsBaseline![i]!;
          return [num(c.delta), num(c.ratio)];
        }),
      ]
        .map(csvCell)
        .join(','),
    );
  }
  if (variants.some((v) => v.failed !== undefined)) {
    lines.push(
      ['failed', '', ...variants.map((v) => v.failed ?? ''), ...others.flatMap(() => ['', ''])]
        .map(csvCell)
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}
