// The summary of several variants as one table: a row per metric, a column per variant, the unit
// and, optionally, the best value marked. The same table feeds the CLI, the workbench's text
// export and the mailing-list copy.
import { LATENCY_OPS, METRICS, type MetricDef } from '../metrics/definitions.js';
import { formatValue } from './format.js';
import { renderTextTable } from './text-table.js';

export interface VariantSummary {
  readonly name: string;
  readonly metrics: Readonly<Record<string, number>>;
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

/** Index of the best variant for a metric, or -1 when all are equal or the metric has no better. */
export function bestIndex(def: MetricDef, values: readonly number[]): number {
  const dir = betterDirection(def);
  if (!dir || values.length < 2) return -1;
  const target = dir === 'lower' ? Math.min(...values) : Math.max(...values);
  if (values.every((v) => v === target)) return -1;
  return values.indexOf(target);
}

export function summaryTableText(
  variants: readonly VariantSummary[],
  options: {
    onlyDiffering?: boolean;
    /** Leave out rows where every variant is 0 (metrics the workload does not touch). */
    hideZero?: boolean;
    markBest?: boolean;
    metrics?: readonly MetricDef[];
  } = {},
): string {
  const defs = options.metrics ?? (METRICS as readonly MetricDef[]);
  const rows: string[][] = [];
  for (const def of defs) {
    const values = variants.map((v) => v.metrics[def.name] ?? 0);
    if (options.onlyDiffering && values.every((v) => v === values[0])) continue;
    if (options.hideZero && values.every((v) => v === 0)) continue;
    const best = options.markBest === false ? -1 : bestIndex(def, values);
    rows.push([
      def.name,
      ...values.map((v, i) => formatValue(v, def.unit) + (i === best ? ' *' : '  ')),
    ]);
  }
  // Every operation the model records a latency for (LATENCY_OPS), where some variant took one.
  for (const op of LATENCY_OPS) {
    if (!variants.some((v) => (v.latencyNs?.[op]?.count ?? 0) > 0)) continue;
    for (const p of ['p50', 'p99'] as const) {
      rows.push([
        `latency_${op}_${p}`,
        ...variants.map((v) => formatValue(v.latencyNs?.[op]?.[p] ?? 0, 'ns') + '  '),
      ]);
    }
  }
  const header = ['metric', ...variants.map((v) => v.name)];
  const right = new Set(variants.map((_, i) => i + 1));
  const note = options.markBest === false ? '' : '* best value of the row\n';
  return renderTextTable({ header, rows, rightAligned: right }) + note;
}
