// Sweeps: the experiment run once per combination of parameter values, to see how a metric scales
// with guest size, vCPUs, merge delay, ... One or more axes, each a parameter path (the same
// paths as `gmem-lab sweep --param`, core/experiment/param-path.ts) and its values; the points
// are the axes crossed, each a validated experiment. The CLI and the workbench expand them here.
import { formatProblems, zodProblems } from './load.js';
import { parseParamValue, parsePath, withPath } from './param-path.js';
import { compactVariants, resolveVariantBases } from './variant-base.js';
import { METRICS } from '../metrics/definitions.js';
import { ExperimentSchema, type Experiment } from './schema.js';
import { MAX_AXIS_VALUES } from './sweep-schema.js';

export { MAX_AXIS_VALUES, SweepSchema, type Sweep } from './sweep-schema.js';

/** More points than this is a mistake more often than a plan: each runs every variant. */
export const MAX_SWEEP_POINTS = 256;

export class SweepError extends Error {}

export interface SweepAxis {
  readonly path: string;
  readonly values: readonly unknown[];
}

export interface SweepPoint {
  /** "path=value path=value", values as JSON unless strings. */
  readonly label: string;
  /** The value of each axis at this point, by path. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly experiment: Experiment;
}

/** One axis from its CLI form, `PATH=V1,V2,...` (values JSON where they parse as JSON, commas
 * inside brackets and quotes kept). */
export function parseSweepAxis(text: string): SweepAxis {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1)
    throw new SweepError(
      `"${text}": expected PATH=V1,V2,... (e.g. variants[0].policies.merge=eager,never)`,
    );
  const path = text.slice(0, eq);
  try {
    parsePath(path);
  } catch (err) {
    throw new SweepError(`"${text}": ${(err as Error).message}`);
  }
  return { path, values: splitValues(text.slice(eq + 1)).map(parseParamValue) };
}

/** Every combination of the axes' values, in order (the last axis varies fastest), each the base
 * experiment with those values set and validated. */
export function sweepPoints(base: Experiment, axes: readonly SweepAxis[]): SweepPoint[] {
  if (axes.length === 0) throw new SweepError('a sweep needs at least one parameter');
  for (const axis of axes) {
    try {
      parsePath(axis.path);
    } catch (err) {
      throw new SweepError(`${axis.path}: ${(err as Error).message}`);
    }
    if (axis.values.length === 0) throw new SweepError(`${axis.path}: give at least one value`);
    if (axis.values.length > MAX_AXIS_VALUES)
      throw new SweepError(
        `${axis.path}: ${axis.values.length} values; an axis takes at most ${MAX_AXIS_VALUES}`,
      );
  }
  const paths = axes.map((a) => a.path);
  const repeated = paths.find((p, i) => paths.indexOf(p) !== i);
  if (repeated !== undefined) throw new SweepError(`${repeated} is swept twice: give it once`);
  let combos: Array<Record<string, unknown>> = [{}];
  for (const axis of axes)
    combos = combos.flatMap((c) => axis.values.map((v) => ({ ...c, [axis.path]: v })));
  if (combos.length > MAX_SWEEP_POINTS)
    throw new SweepError(
      `the sweep has ${combos.length} combinations; the limit is ${MAX_SWEEP_POINTS}`,
    );
  return combos.map((params) => {
    // The base's own sweep and saved results are not part of a point.
    const { sweep: _sweep, results: _results, ...rest } = base;
    // Set on the file's form, where a variant with a base holds only its differences: a swept
    // field of the base carries to every variant that inherits it (variant-base.ts).
    let doc: unknown = compactVariants(rest);
    for (const [path, value] of Object.entries(params)) {
      try {
        doc = withPath(doc, path, value);
      } catch (err) {
        throw new SweepError(`${path}: ${(err as Error).message}`);
      }
    }
    const label = Object.entries(params)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    const resolved = resolveVariantBases(doc as Record<string, unknown>);
    if (resolved.problems.length > 0)
      throw new SweepError(
        `${label} makes the experiment invalid:\n${formatProblems(resolved.problems)}`,
      );
    const parsed = ExperimentSchema.safeParse(resolved.doc);
    if (!parsed.success) {
      throw new SweepError(
        `${label} makes the experiment invalid:\n${formatProblems(zodProblems(parsed.error))}`,
      );
    }
    return { label, params, experiment: parsed.data };
  });
}

/** Values split on commas outside brackets and quotes, so JSON lists and objects pass whole. */
function splitValues(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && (ch === '[' || ch === '{')) depth++;
    if (!quoted && (ch === ']' || ch === '}')) depth--;
    if (ch === ',' && depth === 0 && !quoted) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  out.push(current);
  if (out.some((v) => v === '')) throw new SweepError(`empty value in "${text}"`);
  return out;
}

/** One row per point and variant: the swept values (as the file holds them), the variant, why it
 * failed when it did, and every metric. */
export function sweepRowsCsv(
  rows: readonly {
    params: Record<string, unknown>;
    variant: string;
    summary?: Record<string, number>;
    error?: string;
  }[],
): string {
  const cell = (v: unknown): string => {
    const t = typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
    return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  const paths = [...new Set(rows.flatMap((r) => Object.keys(r.params)))];
  const header = [...paths, 'variant', 'error', ...METRICS.map((m) => m.name)];
  const lines = [header.map(cell).join(',')];
  for (const r of rows)
    lines.push(
      [
        ...paths.map((p) => r.params[p]),
        r.variant,
        r.error ?? '',
        ...METRICS.map((m) => (r.summary ? r.summary[m.name] : undefined)),
      ]
        .map(cell)
        .join(','),
    );
  return lines.join('\n') + '\n';
}
