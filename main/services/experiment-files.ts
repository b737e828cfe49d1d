// Reading experiment files and the trace files they name, with messages that say which file, which
// field and what to do. Reading never modifies a file.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import {
  formatProblems,
  MAX_EXPERIMENT_BYTES,
  parseExperimentText,
  type LoadProblem,
} from '../../core/experiment/load.js';
import type { Experiment } from '../../core/experiment/schema.js';
import { resourcesDir } from './resources-dir.js';

/** The bundled presets: resources/presets in a checkout or beside out/, the packaged app's
 * resources folder otherwise (resources-dir.ts). */
export const PRESETS_DIR = join(resourcesDir(), 'presets');
export const PRESET_SUFFIX = '.gmemlab.json';
/** Trace files are read whole; bound them like experiment files. */
const MAX_TRACE_BYTES = 256 * 1024 * 1024;

export class ExperimentFileError extends Error {
  constructor(
    readonly file: string,
    readonly code: string,
    readonly problems: readonly LoadProblem[],
  ) {
    super(formatProblems(problems, file));
    this.name = 'ExperimentFileError';
  }
}

export interface LoadedExperiment {
  readonly path: string;
  readonly experiment: Experiment;
  readonly migratedFrom?: number;
  /** Text of the trace file, for trace workloads. */
  readonly traceText?: string;
}

/** `preset:NAME` names a bundled preset; anything else is a path. */
export function resolveExperimentPath(arg: string, cwd = process.cwd()): string {
  if (arg.startsWith('preset:'))
    return join(PRESETS_DIR, `${arg.slice('preset:'.length)}${PRESET_SUFFIX}`);
  return isAbsolute(arg) ? arg : resolve(cwd, arg);
}

export async function listPresets(): Promise<Array<{ name: string; path: string; title: string }>> {
  const names = (await readdir(PRESETS_DIR)).filter((n) => n.endsWith(PRESET_SUFFIX)).sort();
  return Promise.all(
    names.map(async (n) => {
      const path = join(PRESETS_DIR, n);
      const doc = JSON.parse(await readFile(path, 'utf8')) as { name?: string };
      return { name: n.slice(0, -PRESET_SUFFIX.length), path, title: doc.name ?? '' };
    }),
  );
}

export async function loadExperimentFile(path: string): Promise<LoadedExperiment> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile())
      throw new ExperimentFileError(path, 'NOT_A_FILE', [
        { path: '', message: 'not a regular file' },
      ]);
    size = st.size;
  } catch (err) {
    if (err instanceof ExperimentFileError) throw err;
    throw new ExperimentFileError(path, 'NOT_FOUND', [
      { path: '', message: `cannot read the file: ${(err as Error).message}` },
    ]);
  }
  if (size > MAX_EXPERIMENT_BYTES) {
    throw new ExperimentFileError(path, 'TOO_LARGE', [
      {
        path: '',
        message: `the file is ${size} bytes; experiment files are limited to ${MAX_EXPERIMENT_BYTES} bytes`,
      },
    ]);
  }
  const text = await readFile(path, 'utf8');
  const parsed = parseExperimentText(text);
  if (!parsed.ok) throw new ExperimentFileError(path, parsed.code, parsed.problems);
  const experiment = parsed.experiment;
  const traceText = await loadTraceFor(path, experiment);
  return {
    path,
    experiment,
    ...(parsed.migratedFrom !== undefined ? { migratedFrom: parsed.migratedFrom } : {}),
    ...(traceText !== undefined ? { traceText } : {}),
  };
}

/** The trace a trace workload names, resolved against the experiment file's folder. */
export async function loadTraceFor(
  experimentPath: string,
  experiment: Experiment,
): Promise<string | undefined> {
  if (experiment.workload.kind !== 'trace') return undefined;
  const tracePath = resolve(dirname(experimentPath), experiment.workload.path);
  let size: number;
  try {
    size = (await stat(tracePath)).size;
  } catch (err) {
    throw new ExperimentFileError(experimentPath, 'TRACE_NOT_FOUND', [
      {
        path: 'workload.path',
        message: `cannot read the trace ${tracePath}: ${(err as Error).message}; paths are relative to the experiment file`,
      },
    ]);
  }
  if (size > MAX_TRACE_BYTES) {
    throw new ExperimentFileError(experimentPath, 'TRACE_TOO_LARGE', [
      {
        path: 'workload.path',
        message: `the trace ${basename(tracePath)} is ${size} bytes; the limit is ${MAX_TRACE_BYTES}`,
      },
    ]);
  }
  return readFile(tracePath, 'utf8');
}
