// Reading an experiment file: size limit, JSON syntax with line and column, format name and
// version (newer versions refused, older ones migrated), then the schema with the path of every
// bad field. Nothing here touches the file itself: the caller decides what to do with a refusal,
// and a refused file is never rewritten.
import { z } from 'zod';
import { LEGACY_ALLOCATOR_NAMES } from '../config.js';
import { issueMessage } from './issue-message.js';
import { unitOfPath } from './param-unit.js';
import { compactVariants, resolveVariantBases } from './variant-base.js';
import { ExperimentSchema, FORMAT_NAME, FORMAT_VERSION, type Experiment } from './schema.js';

/** Experiment files are small JSON documents; anything larger is refused unread. */
export const MAX_EXPERIMENT_BYTES = 16 * 1024 * 1024;

export interface LoadProblem {
  /** Field path like `variants[1].policies.merge`, or '' for the whole document. */
  readonly path: string;
  readonly message: string;
}

export type LoadResult =
  | { readonly ok: true; readonly experiment: Experiment; readonly migratedFrom?: number }
  | { readonly ok: false; readonly code: LoadErrorCode; readonly problems: readonly LoadProblem[] };

export type LoadErrorCode =
  'TOO_LARGE' | 'BAD_JSON' | 'NOT_AN_EXPERIMENT' | 'NEWER_VERSION' | 'INVALID';

/** Migrations from version N to N + 1, applied in order to the raw document. */
const MIGRATIONS: Record<number, (doc: Record<string, unknown>) => Record<string, unknown>> = {
  // 1 → 2: version 2 lets a variant name a `base` (variant-base.ts), which version 1 files never
  // do, so their variants stay whole. Version 1's allocator "cma" is read as "cma-raw".
  1: (doc) => ({ ...renameLegacyAllocators(doc), version: 2 }),
};

export function parseExperimentText(text: string): LoadResult {
  const bytes = utf8Length(text);
  if (bytes > MAX_EXPERIMENT_BYTES) {
    return fail(
      'TOO_LARGE',
      '',
      `the file is ${bytes} bytes; experiment files are limited to ${MAX_EXPERIMENT_BYTES} bytes`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail('BAD_JSON', '', `not valid JSON: ${describeJsonError(text, err)}`);
  }
  return parseExperimentValue(raw);
}

export function parseExperimentValue(raw: unknown): LoadResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail('NOT_AN_EXPERIMENT', '', `expected a JSON object with "format": "${FORMAT_NAME}"`);
  }
  let doc = raw as Record<string, unknown>;
  if (doc['format'] !== FORMAT_NAME) {
    return fail(
      'NOT_AN_EXPERIMENT',
      'format',
      `expected "${FORMAT_NAME}", found ${JSON.stringify(doc['format']) ?? 'nothing'}`,
    );
  }
  const version = doc['version'];
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    return fail(
      'INVALID',
      'version',
      `expected a format version number (this build writes ${FORMAT_VERSION}), found ${JSON.stringify(version)}`,
    );
  }
  if (version > FORMAT_VERSION) {
    return fail(
      'NEWER_VERSION',
      'version',
      `the file is format version ${version}, newer than this build of gmem-lab understands (${FORMAT_VERSION}); open it with a newer gmem-lab`,
    );
  }
  const migratedFrom = version < FORMAT_VERSION ? version : undefined;
  for (let v = version; v < FORMAT_VERSION; v++) {
    const step = MIGRATIONS[v];
    if (!step) return fail('INVALID', 'version', `no migration from format version ${v}`);
    doc = step(doc);
  }
  const resolved = resolveVariantBases(doc);
  if (resolved.problems.length > 0)
    return { ok: false, code: 'INVALID', problems: resolved.problems };
  doc = resolved.doc;
  const parsed = ExperimentSchema.safeParse(doc);
  if (!parsed.success) {
    return { ok: false, code: 'INVALID', problems: zodProblems(parsed.error) };
  }
  return migratedFrom === undefined
    ? { ok: true, experiment: parsed.data }
    : { ok: true, experiment: parsed.data, migratedFrom };
}

/**
 * Allocator names of version 1 files, read as today's (LEGACY_ALLOCATOR_NAMES): "cma", which modelled
 * the raw-CMA allocator (runtime cma_alloc(), no HVO), is "cma-raw"; HugeTLB pages from
 * hugetlb_cma= are the separate "hugetlb-cma". The document is copied, never changed in place.
 */
function renameLegacyAllocators(doc: Record<string, unknown>): Record<string, unknown> {
  const variants = doc['variants'];
  if (!Array.isArray(variants)) return doc;
  let renamed = false;
  const next = variants.map((v: unknown) => {
    if (typeof v !== 'object' || v === null) return v;
    const allocator = (v as Record<string, unknown>)['allocator'];
    const now = typeof allocator === 'string' ? LEGACY_ALLOCATOR_NAMES[allocator] : undefined;
    if (!now) return v;
    renamed = true;
    return { ...(v as Record<string, unknown>), allocator: now };
  });
  return renamed ? { ...doc, variants: next } : doc;
}

/** zod issues as field paths and messages a user can act on, limits in the field's unit
 * (`unitOf`: the unit of a field path; default: the experiment schema's, core/experiment/param-unit.ts). */
export function zodProblems(
  error: z.ZodError,
  unitOf: (path: string) => string | undefined = unitOfPath,
): LoadProblem[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path);
    return { path, message: issueMessage(issue, path ? safeUnit(unitOf, path) : undefined) };
  });
}

function safeUnit(unitOf: (path: string) => string | undefined, path: string): string | undefined {
  try {
    return unitOf(path);
  } catch {
    return undefined;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Problems as one message per line: `path: message`. */
export function formatProblems(problems: readonly LoadProblem[], fileName?: string): string {
  return problems
    .map((p) => `${fileName ? `${fileName}: ` : ''}${p.path ? `${p.path}: ` : ''}${p.message}`)
    .join('\n');
}

function fail(code: LoadErrorCode, path: string, message: string): LoadResult {
  return { ok: false, code, problems: [{ path, message }] };
}

function describeJsonError(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const pos = /position (\d+)/.exec(message);
  if (!pos) {
    if (/Unexpected end/.test(message)) return `the file ends early (truncated?): ${message}`;
    return message;
  }
  const offset = Number(pos[1]);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}: ${message}`;
}

/** The file's text: canonical pretty JSON, variants that name a base written as their
 * differences from it (variant-base.ts). parseExperimentText() reads it back to the same
 * experiment. */
export function experimentFileText(experiment: Experiment): string {
  return `${JSON.stringify(compactVariants(experiment), null, 2)}\n`;
}

/** A stable hash of everything that decides the results (not the name, notes, results, views or
 * variant bases), so saved results can be shown as stale when the configuration changed.
 * FNV-1a over canonical JSON, hex. */
export function configHash(experiment: Experiment): string {
  const { host, guest, workload, seed, sampling } = experiment;
  // A variant's `base` says how the file writes it, not what runs: its fields are complete.
  const variants = experiment.variants.map(({ base: _base, ...v }) => v);
  const canonical = canonicalJson({ host, guest, workload, seed, variants, sampling });
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < canonical.length; i++) {
    const c = canonical.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Bytes of `text` in UTF-8, without TextEncoder (the core runs where no DOM or Node API is). */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
