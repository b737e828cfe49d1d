// Everything between "the user named an experiment" and "the variants go to the workers", done
// the same way for the CLI, the workbench services and (through them) the localhost bridge:
// bounded file reading (byte-order mark stripped), loading and validating the experiment,
// the bundled presets, and each variant's own trace, read from inside the folders the path policy
// (path-policy.ts) allows. Every refusal names the file, the field and what to do.
import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  formatProblems,
  MAX_EXPERIMENT_BYTES,
  parseExperimentText,
  type LoadErrorCode,
  type LoadProblem,
} from '../../core/experiment/load.js';
import type { VariantRunRequest } from '../../core/experiment/run.js';
import { effectiveWorkload, type Experiment } from '../../core/experiment/schema.js';
import { estimateRun, type RunEstimate } from '../../core/experiment/estimate.js';
import { MAX_REPORTED_ERRORS, scanTrace, type TraceFormat } from '../../core/workloads/trace.js';
import { isInside, PathPolicyError, resolveContained } from './path-policy.js';
import { resourcesDir } from './resources-dir.js';
import { countTraceLines, fileTraceSource } from './trace-file.js';

/** The bundled presets: resources/presets in a checkout or beside out/, the packaged app's
 * resources folder otherwise (resources-dir.ts). */
export const PRESETS_DIR = join(resourcesDir(), 'presets');
export const PRESET_SUFFIX = '.gmemlab.json';
/** Presets are named `preset:<id>` on the command line and in the workbench. */
export const PRESET_PREFIX = 'preset:';
export const PRESET_ID = /^[a-z0-9-]{1,80}$/;

export type PreparationErrorCode =
  | LoadErrorCode
  | 'NOT_FOUND'
  | 'NOT_A_FILE'
  | 'FORBIDDEN_PATH'
  | 'TRACE_NOT_FOUND'
  | 'TRACE_REJECTED';

/** A file that cannot be used as it is: every problem with its field path. The message is one
 * line per problem, each starting with the file. */
export class ExperimentFileError extends Error {
  constructor(
    readonly file: string,
    readonly code: PreparationErrorCode,
    readonly problems: readonly LoadProblem[],
  ) {
    super(formatProblems(problems, file));
    this.name = 'ExperimentFileError';
  }
}

// ---------------------------------------------------------------------------------------------
// Bounded reading

export type ReadOutcome =
  | { readonly kind: 'missing'; readonly message: string }
  | { readonly kind: 'not-a-file'; readonly modifiedMs: number }
  | { readonly kind: 'too-large'; readonly size: number; readonly modifiedMs: number }
  | { readonly kind: 'ok'; readonly text: string; readonly modifiedMs: number };

export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Read a whole UTF-8 file without its byte-order mark, refusing (unread) anything that is not a
 * regular file or is larger than `maxBytes`, and never reading more than `maxBytes + 1` bytes
 * even if it grows meanwhile. Other read errors (permissions, I/O) are thrown. */
export async function readTextBounded(path: string, maxBytes: number): Promise<ReadOutcome> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { kind: 'missing', message: 'no such file' };
    throw err;
  }
  if (!st.isFile()) return { kind: 'not-a-file', modifiedMs: st.mtimeMs };
  if (st.size > maxBytes) return { kind: 'too-large', size: st.size, modifiedMs: st.mtimeMs };
  // O_NONBLOCK: should the path turn into a FIFO between stat and open, open does not hang.
  const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
  let handle;
  try {
    handle = await open(path, flags);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { kind: 'missing', message: 'no such file' };
    throw err;
  }
  try {
    const hst = await handle.stat();
    if (!hst.isFile()) return { kind: 'not-a-file', modifiedMs: hst.mtimeMs };
    if (hst.size > maxBytes) return { kind: 'too-large', size: hst.size, modifiedMs: hst.mtimeMs };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const want = Math.min(Math.max(hst.size - total, 64 * 1024), maxBytes + 1 - total);
      if (want <= 0) break;
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buf, 0, want, total);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total > maxBytes) return { kind: 'too-large', size: total, modifiedMs: hst.mtimeMs };
    return {
      kind: 'ok',
      text: stripBom(Buffer.concat(chunks, total).toString('utf8')),
      modifiedMs: hst.mtimeMs,
    };
  } finally {
    await handle.close();
  }
}

/** "limited to 16 MiB (16777216 bytes)" */
function limitText(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB (${bytes} bytes)` : `${bytes} bytes`;
}

/** The message for a file over its limit: what, the limit, and what to do. */
export function tooLargeMessage(size: number, limit: number): string {
  return `the file is ${size} bytes; experiment files are limited to ${limitText(limit)}: remove saved results or views (or split the notes) to make it smaller`;
}

// ---------------------------------------------------------------------------------------------
// Experiments

export type ExperimentRead =
  | {
      readonly ok: true;
      readonly experiment: Experiment;
      readonly migratedFrom?: number;
      readonly modifiedMs: number;
    }
  | {
      readonly ok: false;
      readonly code: PreparationErrorCode;
      readonly problems: readonly LoadProblem[];
      readonly modifiedMs: number;
    };

/** Read and validate one experiment file; never modifies it. */
export async function readExperiment(
  path: string,
  maxBytes: number = MAX_EXPERIMENT_BYTES,
): Promise<ExperimentRead> {
  const refuse = (code: PreparationErrorCode, message: string, modifiedMs = 0): ExperimentRead => ({
    ok: false,
    code,
    problems: [{ path: '', message }],
    modifiedMs,
  });
  let read: ReadOutcome;
  try {
    read = await readTextBounded(path, maxBytes);
  } catch (err) {
    return refuse('NOT_FOUND', `cannot read the file: ${(err as Error).message}`);
  }
  switch (read.kind) {
    case 'missing':
      return refuse('NOT_FOUND', `cannot read the file: ${read.message}`);
    case 'not-a-file':
      return refuse('NOT_A_FILE', 'not a regular file', read.modifiedMs);
    case 'too-large':
      return refuse('TOO_LARGE', tooLargeMessage(read.size, maxBytes), read.modifiedMs);
    case 'ok': {
      const parsed = parseExperimentText(read.text);
      if (!parsed.ok)
        return {
          ok: false,
          code: parsed.code,
          problems: parsed.problems,
          modifiedMs: read.modifiedMs,
        };
      return {
        ok: true,
        experiment: parsed.experiment,
        ...(parsed.migratedFrom !== undefined ? { migratedFrom: parsed.migratedFrom } : {}),
        modifiedMs: read.modifiedMs,
      };
    }
  }
}

export interface LoadedExperiment {
  readonly path: string;
  readonly experiment: Experiment;
  readonly migratedFrom?: number;
  readonly modifiedMs: number;
}

/** readExperiment, throwing ExperimentFileError for a file that cannot be used. */
export async function loadExperimentFile(path: string): Promise<LoadedExperiment> {
  const read = await readExperiment(path);
  if (!read.ok) throw new ExperimentFileError(path, read.code, read.problems);
  return { path, ...read };
}

/** `preset:NAME` names a bundled preset; anything else is a path (relative to `cwd`). */
export function resolveExperimentPath(
  arg: string,
  cwd = process.cwd(),
  presetsDir = PRESETS_DIR,
): string {
  if (arg.startsWith(PRESET_PREFIX)) return presetFile(arg.slice(PRESET_PREFIX.length), presetsDir);
  return isAbsolute(arg) ? arg : resolve(cwd, arg);
}

/** The file of preset `id`; an id that cannot be one is a NOT_FOUND refusal. */
export function presetFile(id: string, presetsDir = PRESETS_DIR): string {
  if (!PRESET_ID.test(id))
    throw new ExperimentFileError(`${PRESET_PREFIX}${id}`, 'NOT_FOUND', [
      {
        path: '',
        message: `there is no preset "${id}": preset names are lower-case letters, digits and dashes (gmem-lab presets lists them)`,
      },
    ]);
  return join(presetsDir, `${id}${PRESET_SUFFIX}`);
}

export interface PresetInfo {
  readonly id: string;
  readonly path: string;
  readonly experiment: Experiment;
}

/** The bundled presets that validate, by id. A preset that does not validate is a packaging bug
 * (the preset tests catch it): the list holds the ones that can be opened. */
export async function listPresets(presetsDir = PRESETS_DIR): Promise<PresetInfo[]> {
  const ids = (await readdir(presetsDir))
    .filter((n) => n.endsWith(PRESET_SUFFIX))
    .map((n) => n.slice(0, -PRESET_SUFFIX.length))
    .filter((id) => PRESET_ID.test(id))
    .sort();
  const presets: PresetInfo[] = [];
  for (const id of ids) {
    const path = join(presetsDir, `${id}${PRESET_SUFFIX}`);
    const read = await readExperiment(path);
    if (read.ok) presets.push({ id, path, experiment: read.experiment });
  }
  return presets;
}

// ---------------------------------------------------------------------------------------------
// Traces

/** Where an experiment's relative trace paths start (its file) and the folders traces may be
 * read from. */
export interface TraceScope {
  readonly experimentPath: string;
  readonly roots: readonly string[];
}

/** The folders an experiment at `experimentPath` may read traces from: a preset's, the bundled
 * resources (presets name the sample traces as ../traces/NAME); any other file's, its own folder
 * and `alsoRoots` (the workbench adds its workspace). */
export function traceScope(
  experimentPath: string,
  options: { readonly presetsDir?: string; readonly alsoRoots?: readonly string[] } = {},
): TraceScope {
  const presetsDir = options.presetsDir ?? PRESETS_DIR;
  if (isInside(presetsDir, experimentPath))
    return { experimentPath, roots: [dirname(resolve(presetsDir))] };
  return {
    experimentPath,
    roots: [dirname(resolve(experimentPath)), ...(options.alsoRoots ?? [])],
  };
}

export interface PreparedVariant {
  readonly index: number;
  /** For a trace workload: the trace (the variant's own when its workloadOverrides name one). */
  readonly trace?: {
    readonly path: string;
    /** The field that names it: workload.path, or the variant's override. */
    readonly field: string;
    readonly format: 'auto' | TraceFormat;
    /** Its size, bytes (the worker streams it; nothing reads it whole). */
    readonly bytes: number;
  };
}

export interface PreparedRun {
  readonly experiment: Experiment;
  /** The file the refusals name. */
  readonly file: string;
  readonly variants: readonly PreparedVariant[];
}

/** Each variant of `indexes` (default: all) with the trace it replays, read once per file. */
export async function prepareRun(
  experiment: Experiment,
  scope: TraceScope,
  indexes: readonly number[] = experiment.variants.map((_, i) => i),
): Promise<PreparedRun> {
  const file = scope.experimentPath;
  const sizes = new Map<string, Promise<number>>();
  const variants: PreparedVariant[] = [];
  for (const index of indexes) {
    const variant = experiment.variants[index]!;
    const workload = effectiveWorkload(experiment, variant);
    if (workload.kind !== 'trace') {
      variants.push({ index });
      continue;
    }
    const field =
      'path' in variant.workloadOverrides
        ? `variants[${index}].workloadOverrides.path`
        : 'workload.path';
    const path = await containedTrace(file, field, workload.path, scope);
    if (!sizes.has(path)) sizes.set(path, checkTrace(file, field, path));
    variants.push({
      index,
      trace: { path, field, format: workload.format, bytes: await sizes.get(path)! },
    });
  }
  return { experiment, file, variants };
}

/** The requests for the simulation host, one per prepared variant. */
export function runRequests(
  prepared: PreparedRun,
  options: { readonly recordEvents?: boolean; readonly eventLimit?: number } = {},
): VariantRunRequest[] {
  return prepared.variants.map((v) => ({
    experiment: prepared.experiment,
    variantIndex: v.index,
    ...(v.trace ? { tracePath: v.trace.path } : {}),
    ...(options.recordEvents !== undefined ? { recordEvents: options.recordEvents } : {}),
    ...(options.eventLimit !== undefined ? { eventLimit: options.eventLimit } : {}),
  }));
}

/** What each prepared variant's run implies (core/experiment/estimate.ts), in variant order: a
 * trace's operations are its lines that are not blank (each trace file counted once). */
export async function estimatePrepared(prepared: PreparedRun): Promise<RunEstimate[]> {
  const counts = new Map<string, Promise<number>>();
  const traceOps: (number | undefined)[] = [];
  for (const v of prepared.variants) {
    if (!v.trace) continue;
    if (!counts.has(v.trace.path)) counts.set(v.trace.path, countTraceLines(v.trace.path));
    traceOps[v.index] = await counts.get(v.trace.path)!;
  }
  return estimateRun(prepared.experiment, traceOps);
}

/** The problems of the traces these variants replay, one entry per bad line, each trace once.
 * Reading a large trace takes a while, so it is done only for variants whose run failed: a
 * rejected trace is then bad input, reported once, not once per variant. */
export function traceProblems(
  prepared: PreparedRun,
  indexes: readonly number[],
): ExperimentFileError | null {
  const seen = new Set<string>();
  const problems: LoadProblem[] = [];
  for (const v of prepared.variants) {
    if (!v.trace || !indexes.includes(v.index)) continue;
    const key = `${v.trace.path}\0${v.trace.format}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const parsed = scanTrace(fileTraceSource(v.trace.path), v.trace.format);
    if (parsed.ok) continue;
    for (const e of parsed.errors.slice(0, MAX_REPORTED_ERRORS + 1))
      problems.push({ path: v.trace.field, message: `${v.trace.path}:${e.line}: ${e.message}` });
  }
  return problems.length > 0
    ? new ExperimentFileError(prepared.file, 'TRACE_REJECTED', problems)
    : null;
}

async function containedTrace(
  file: string,
  field: string,
  requested: string,
  scope: TraceScope,
): Promise<string> {
  try {
    return (await resolveContained(requested, { base: dirname(file), roots: scope.roots })).path;
  } catch (err) {
    if (!(err instanceof PathPolicyError)) throw err;
    const where = scope.roots.join(', ');
    const message =
      err.reason === 'NOT_A_PATH'
        ? `the trace path ${JSON.stringify(requested)} is empty or has a NUL byte: name the trace file, relative to the experiment file`
        : err.reason === 'OUTSIDE'
          ? `the trace ${err.resolved} is outside the folders gmem-lab reads traces from (${where}); copy it beside the experiment file`
          : `the trace ${resolve(dirname(file), requested)} is a link to ${err.resolved}, outside the folders gmem-lab reads traces from (${where}); copy the trace itself beside the experiment file`;
    throw new ExperimentFileError(file, 'FORBIDDEN_PATH', [{ path: field, message }]);
  }
}

/** The trace at `path` is a regular file the run can read: its size, or a refusal naming the
 * field. Its text is not read here; the worker streams it (core/workloads/trace-stream.ts). */
async function checkTrace(file: string, field: string, path: string): Promise<number> {
  const refuse = (message: string) =>
    new ExperimentFileError(file, 'TRACE_NOT_FOUND', [{ path: field, message }]);
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw refuse(
        `cannot read the trace ${path}: no such file; paths are relative to the experiment file`,
      );
    throw refuse(`cannot read the trace ${path}: ${(err as Error).message}`);
  }
  if (!st.isFile()) throw refuse(`the trace ${path} is not a regular file`);
  // Readable now (a file without read permission is refused before any worker starts).
  try {
    await (await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))).close();
  } catch (err) {
    throw refuse(`cannot read the trace ${path}: ${(err as Error).message}`);
  }
  return st.size;
}
