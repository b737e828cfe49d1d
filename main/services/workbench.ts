// The workbench's API, transport-free: every method of the contract (contract/api.ts) implemented over
// the experiment store, the settings, the simulation host and, on the desktop, native dialogs.
// Both transports serve it through createDispatcher: Electron IPC (main/shell/ipc.ts) and the localhost
// bridge (main/bridge/). Arguments arrive already checked against the contract's schemas; what
// they name (experiments, paths, run ids) is checked here.
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import {
  ApiError,
  EVENTS_TEXT_MAX_BYTES,
  type ApiParsedArgs,
  type AppInfo,
  type DocumentState,
  type ExperimentEntry,
  type OpenedExperiment,
  type PresetEntry,
  type RunResultView,
  type Settings,
  type ValidationProblem,
} from '@contract/api.js';
import {
  configHash,
  formatProblems,
  parseExperimentValue,
  type LoadProblem,
  type LoadResult,
} from '../../core/experiment/load.js';
import { DEFAULT_EVENT_LIMIT } from '../../core/events/event-log.js';
import { eventLogCuts } from '../../core/experiment/estimate.js';
import { ENGINE_VERSION, type VariantRunRequest } from '../../core/experiment/run.js';
import { formatBytes } from '../../core/units.js';
import type { Experiment } from '../../core/experiment/schema.js';
import type { RunResult } from '../../core/metrics/result.js';
import type { ApiHandlers, EventSink } from './dispatch.js';
import { DISPLAY_POINTS, downsampleAligned } from './downsample.js';
import { EXPERIMENT_SUFFIX, sanitizeFileStem } from './experiment-store.js';
import { concatFilesDurable } from './durable-write.js';
import { seriesCsv, writeExport } from './export-service.js';
import { isInside } from './path-policy.js';
import {
  ExperimentFileError,
  listPresets as readPresets,
  PRESETS_DIR,
  PRESET_ID,
  PRESET_PREFIX,
  presetFile,
  estimatePrepared,
  prepareRun,
  readExperiment,
  runRequests,
  traceScope,
  type PreparationErrorCode,
  type TraceScope,
} from './run-preparation.js';
import { RunEventLogs } from './run-event-logs.js';
import { SweepRuns } from './sweep-runs.js';
import { SweepError, sweepPoints, type SweepPoint } from '../../core/experiment/sweep.js';
import { DEFAULT_KEPT_RUNS, RunResults } from './run-results.js';
import type { RunHandle, SimulationHost } from './simulation-host.js';

/** What the workbench needs of the experiment store (main/services/experiment-store.ts). */
export interface WorkbenchStore {
  readonly workspaceDir: string;
  list(): Promise<readonly ExperimentEntry[]>;
  open(path: string): Promise<OpenedExperiment>;
  /** Allow `path` (chosen in a native dialog) although it is outside the workspace. */
  grant(path: string): void;
  save(
    doc: unknown,
    options: { path?: string; fileName?: string },
  ): Promise<{ path: string; modifiedMs: number }>;
  importText(fileName: string, text: string): Promise<OpenedExperiment>;
  duplicate(path: string): Promise<{ path: string }>;
  rename(path: string, newName: string): Promise<{ path: string }>;
  delete(path: string): Promise<{ trashed: true }>;
  recent(): readonly string[];
  watch(onChange: (paths: string[]) => void): () => void;
}

/** What the workbench needs of the settings store (main/services/settings-store.ts). */
export interface WorkbenchSettings {
  get(): Settings;
  set(patch: Partial<Pick<Settings, 'theme' | 'workspaceDir'>>): Promise<Settings>;
  onChange(listener: (settings: Settings) => void): () => void;
}

export type ExportKind = ApiParsedArgs<'exports.write'>['kind'];

/** Native open and save dialogs (Electron only). Each resolves to null when the user cancels. */
export interface NativeDialogs {
  openExperiment(): Promise<string | null>;
  saveExperiment(suggestedName: string): Promise<string | null>;
  saveFile(suggestedName: string, kind: ExportKind): Promise<string | null>;
}

export interface WorkbenchOptions {
  readonly store: WorkbenchStore;
  readonly settings: WorkbenchSettings;
  readonly host: Pick<SimulationHost, 'run' | 'storageBudget'>;
  readonly events: EventSink;
  readonly dialogs?: NativeDialogs;
  readonly transport: 'electron' | 'bridge';
  readonly version: string;
  /** Folder of the bundled presets; default resources/presets. */
  readonly presetsDir?: string;
  /** Points per series sent for display; default DISPLAY_POINTS. */
  readonly displayPoints?: number;
  /** Finished runs kept at full resolution for CSV; default DEFAULT_KEPT_RUNS. */
  readonly keptRuns?: number;
  /** Folder in the app's data folder for the event logs of runs that record one; without it,
   * runs.start refuses recordEvents. */
  readonly eventLogDir?: string;
}

/** The API handlers, plus `dispose` to stop listening to the stores and cancel active runs, and
 * the document state the workbench last reported (app.setDocumentState) for the desktop window. */
export type Workbench = ApiHandlers & {
  dispose(): void;
  /** The last reported state, or null before the first report (the page is not ready yet). */
  documentState(): DocumentState | null;
  /** Hear each report, changed or not (a repeated report answers a 'save-then-close'). */
  onDocumentState(listener: (state: DocumentState) => void): () => void;
};

/** Presets open as `preset:<id>`: not a file path, so they are never saved over (save them as). */
const PRESET_PATH_PREFIX = PRESET_PREFIX;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function createWorkbench(options: WorkbenchOptions): Workbench {
  const { store, settings, host, events, transport, version } = options;
  const dialogs = transport === 'electron' ? options.dialogs : undefined;
  const presetsDir = options.presetsDir ?? PRESETS_DIR;
  const displayPoints = options.displayPoints ?? DISPLAY_POINTS;
  const eventLogs = options.eventLogDir ? new RunEventLogs(options.eventLogDir) : null;
  // A run's event log is kept as long as its full result.
  // Removals of the logs of runs no longer kept, awaited before the run that dropped them is
  // reported (so a client that hears run.done finds the data folder as it says).
  const forgetting: Promise<void>[] = [];
  const finished = new RunResults(options.keptRuns ?? DEFAULT_KEPT_RUNS, undefined, (runId) => {
    if (eventLogs) forgetting.push(eventLogs.forget(runId));
  });
  const active = new Map<number, RunHandle>();
  // Sweeps run on the same pool with the settings' budget; only summaries come back.
  const sweeps = new SweepRuns(
    (request, onProgress) => {
      const budget = settings.get().memoryBudgetBytes;
      return host.run(budget !== null ? { ...request, storageBudgetBytes: budget } : request, (p) =>
        onProgress(p.fraction),
      );
    },
    {
      progress: (p) => events.emit('sweep.progress', p),
      done: (d) => events.emit('sweep.done', d),
    },
  );
  // Experiment files outside the workspace that this session opened or saved through the store
  // (dialogs, grants): runs.start reads traces beside them, and nothing beside other paths.
  const knownPaths = new Set<string>();

  let documentState: DocumentState | null = null;
  const documentListeners = new Set<(state: DocumentState) => void>();

  const unwatchStore = store.watch((paths) => events.emit('store.changed', { paths }));
  const unwatchSettings = settings.onChange((s) => events.emit('settings.changed', s));

  const remember = <T extends { path: string }>(value: T): T => {
    knownPaths.add(resolve(value.path));
    return value;
  };

  function needDialogs(what: string): NativeDialogs {
    if (dialogs) return dialogs;
    throw new ApiError(
      'UNSUPPORTED',
      `${what} needs the desktop app's native dialogs; in the browser, ${
        what === 'exports.write'
          ? 'the workbench downloads the file itself'
          : what === 'runs.saveEvents'
            ? 'use runs.events, which the workbench downloads'
            : 'use experiments.import and experiments.save'
      }`,
    );
  }

  // --------------------------------------------------------------------------------------------
  // Presets

  async function listPresets(): Promise<PresetEntry[]> {
    return (await readPresets(presetsDir)).map(({ id, experiment }) => ({
      id,
      name: experiment.name,
      notes: experiment.notes,
      variants: experiment.variants.map((v) => v.name),
    }));
  }

  async function loadPreset(id: string): Promise<OpenedExperiment> {
    const read = PRESET_ID.test(id) ? await readExperiment(presetFile(id, presetsDir)) : null;
    if (read === null || (!read.ok && (read.code === 'NOT_FOUND' || read.code === 'NOT_A_FILE')))
      throw new ApiError('NOT_FOUND', `there is no preset "${id}"; presets.list names them all`);
    const experiment = validated(read, `preset ${id}`);
    return {
      path: `${PRESET_PATH_PREFIX}${id}`,
      experiment: experiment as unknown as Record<string, unknown>,
      modifiedMs: read.modifiedMs,
      configHash: configHash(experiment),
    };
  }

  // --------------------------------------------------------------------------------------------
  // Runs

  /** Where an experiment's relative trace paths start, and the folders its traces may be in:
   * the experiment's folder and the workspace, for a workspace file or one this session opened
   * or saved through the store; the bundled resources for a preset. */
  function traceScopeOf(path: string | undefined): TraceScope {
    const workspace = resolve(store.workspaceDir);
    const scoped = (file: string) => traceScope(file, { presetsDir, alsoRoots: [workspace] });
    // Not saved yet: it will be saved into the workspace, so its traces are read from there.
    if (path === undefined) return scoped(join(workspace, 'untitled.gmemlab.json'));
    if (path.startsWith(PRESET_PATH_PREFIX)) {
      const id = path.slice(PRESET_PATH_PREFIX.length);
      if (!PRESET_ID.test(id)) throw new ApiError('NOT_FOUND', `there is no preset "${id}"`);
      return scoped(presetFile(id, presetsDir));
    }
    if (!isAbsolute(path))
      throw new ApiError('FORBIDDEN_PATH', `${path}: expected an absolute experiment path`);
    const file = resolve(path);
    if (isInside(workspace, file) || knownPaths.has(file)) return scoped(file);
    throw new ApiError(
      'FORBIDDEN_PATH',
      `${path} is neither in the workspace (${workspace}) nor a file opened through a dialog; open it first`,
    );
  }

  /** Start one variant's run; with `recordEvents`, its worker streams the event log to a new
   * file in the data folder (eventLogs). */
  async function startRun(request: VariantRunRequest): Promise<number> {
    const { experiment, variantIndex } = request;
    const eventsFile = request.recordEvents && eventLogs ? await eventLogs.newFile() : undefined;
    let handle: RunHandle;
    try {
      // The budget of the settings, when set; else the pool's default.
      const budget = settings.get().memoryBudgetBytes;
      handle = host.run(
        budget !== null ? { ...request, storageBudgetBytes: budget } : request,
        (p) => events.emit('run.progress', p),
        eventsFile !== undefined ? { eventsFile } : {},
      );
    } catch (err) {
      if (eventsFile !== undefined) void eventLogs?.discard(eventsFile);
      // The host is closed (the app is quitting): nothing was started for this variant.
      throw new ApiError('RUN_FAILED', `cannot start a run: ${(err as Error).message}`);
    }
    const { runId } = handle;
    active.set(runId, handle);
    if (eventsFile !== undefined) eventLogs!.attach(runId, eventsFile);
    const failed = async (status: 'failed' | 'cancelled', message: string): Promise<void> => {
      await eventLogs?.forget(runId);
      events.emit('run.failed', { runId, variantIndex, status, message });
    };
    handle.done.then(
      async (outcome) => {
        active.delete(runId);
        if (outcome.status === 'done') {
          finished.set(runId, outcome.result);
          await Promise.all(forgetting.splice(0));
          const result = resultView(runId, variantIndex, outcome.result, displayPoints);
          events.emit('run.done', { runId, variantIndex, status: 'done', result });
        } else if (outcome.status === 'cancelled') {
          await failed('cancelled', `${experiment.variants[variantIndex]!.name}: cancelled`);
        } else {
          await failed('failed', outcome.message);
        }
      },
      async (err: unknown) => {
        active.delete(runId);
        await failed(
          'failed',
          `the run could not finish: ${(err as Error)?.message ?? String(err)}`,
        );
      },
    );
    return runId;
  }

  /** The event log file of a finished run that recorded one, or an error that says why not. */
  function eventLogOf(runId: number): string {
    if (active.has(runId))
      throw new ApiError(
        'CONFLICT',
        `run ${runId} has not finished yet; save its event log when done`,
      );
    const file = eventLogs?.fileOf(runId);
    if (file !== undefined && finished.has(runId)) return file;
    if (finished.has(runId))
      throw new ApiError(
        'NOT_FOUND',
        `run ${runId} recorded no event log; turn on "record event log" and run it again`,
      );
    throw new ApiError(
      'NOT_FOUND',
      `run ${runId} is not in memory (the last ${options.keptRuns ?? DEFAULT_KEPT_RUNS} finished runs are kept, with their event logs); run the experiment again`,
    );
  }

  // --------------------------------------------------------------------------------------------
  // The handlers

  const handlers: ApiHandlers = {
    'app.info': async (): Promise<AppInfo> => ({
      version,
      engineVersion: ENGINE_VERSION,
      transport,
      platform: process.platform,
      nativeDialogs: dialogs !== undefined,
      defaultMemoryBudgetBytes: host.storageBudget,
    }),
    'app.setDocumentState': async ({ dirty, title }) => {
      const state: DocumentState = Object.freeze({ dirty, title });
      documentState = state;
      for (const listener of documentListeners) {
        try {
          listener(state);
        } catch {
          // a listener's failure is its own
        }
      }
      return null;
    },

    'presets.list': () => listPresets(),
    'presets.load': ({ id }) => loadPreset(id),

    'experiments.list': async () => store.list(),
    'experiments.open': async ({ path }) => remember(await store.open(path)),
    'experiments.save': async ({ experiment, path, fileName }) =>
      remember(
        await store.save(experiment, {
          ...(path !== undefined ? { path } : {}),
          ...(fileName !== undefined ? { fileName } : {}),
        }),
      ),
    'experiments.saveAs': async ({ experiment, suggestedName }) => {
      const chosen = await needDialogs('experiments.saveAs').saveExperiment(
        suggestedName ?? suggestedFileName(experiment),
      );
      if (chosen === null) return null;
      store.grant(chosen);
      return remember(await store.save(experiment, { path: chosen }));
    },
    'experiments.openDialog': async () => {
      const chosen = await needDialogs('experiments.openDialog').openExperiment();
      if (chosen === null) return null;
      store.grant(chosen);
      return remember(await store.open(chosen));
    },
    'experiments.import': async ({ fileName, text }) =>
      remember(await store.importText(fileName, text)),
    'experiments.duplicate': async ({ path }) => remember(await store.duplicate(path)),
    'experiments.rename': async ({ path, name }) => {
      const renamed = await store.rename(path, name);
      knownPaths.delete(resolve(path));
      return remember(renamed);
    },
    'experiments.delete': async ({ path }) => {
      const deleted = await store.delete(path);
      knownPaths.delete(resolve(path));
      return deleted;
    },

    'runs.start': async ({ experiment: doc, path, variantIndexes, recordEvents, eventLimit }) => {
      if (recordEvents && !eventLogs)
        throw new ApiError(
          'UNSUPPORTED',
          'runs.start: this workbench has no data folder for event logs; record them with the CLI (gmem-lab run --events FILE)',
        );
      const experiment = validated(parseExperimentValue(doc), 'the experiment');
      const count = experiment.variants.length;
      const indexes = [...new Set(variantIndexes ?? experiment.variants.map((_, i) => i))];
      const missing = indexes.filter((i) => i >= count);
      if (missing.length > 0) {
        throw new ApiError(
          'BAD_REQUEST',
          `runs.start: variant ${missing.join(', ')} does not exist (the experiment has ${count} variants, 0 to ${count - 1})`,
        );
      }
      const prepared = await prepareRun(experiment, traceScopeOf(path), indexes).catch(
        preparationError,
      );
      const requests = runRequests(prepared, {
        ...(recordEvents ? { recordEvents: true } : {}),
        ...(eventLimit !== undefined ? { eventLimit } : {}),
      });
      const runIds: number[] = [];
      for (const request of requests) runIds.push(await startRun(request));
      return { runIds };
    },
    'runs.estimate': async ({ experiment: doc, path, eventLimit }) => {
      const experiment = validated(parseExperimentValue(doc), 'the experiment');
      const prepared = await prepareRun(experiment, traceScopeOf(path)).catch(preparationError);
      const variants = await estimatePrepared(prepared);
      const limit = eventLimit ?? DEFAULT_EVENT_LIMIT;
      return { variants, cuts: eventLogCuts(variants, limit), eventLimit: limit };
    },
    'runs.events': async ({ runId }) => {
      const file = eventLogOf(runId);
      const { size } = await stat(file);
      if (size > EVENTS_TEXT_MAX_BYTES)
        throw new ApiError(
          'TOO_LARGE',
          `the event log of run ${runId} is ${formatBytes(size)}, more than the ${formatBytes(EVENTS_TEXT_MAX_BYTES)} the browser takes; save it from the desktop app, or write it with gmem-lab run --events FILE`,
        );
      return readFile(file, 'utf8');
    },
    'runs.saveEvents': async ({ runId }) => {
      const file = eventLogOf(runId);
      const result = finished.get(runId)!;
      const chosen = await needDialogs('runs.saveEvents').saveFile(
        `${sanitizeFileStem(result.name)}.events.jsonl`,
        'jsonl',
      );
      if (chosen === null) return null;
      try {
        await concatFilesDurable(chosen, [file]);
      } catch (err) {
        throw new ApiError(
          'IO_ERROR',
          `cannot write the event log to ${chosen}: ${(err as Error).message}`,
        );
      }
      return { path: chosen };
    },
    'runs.cancel': async ({ runId }) => {
      const handle = active.get(runId);
      if (!handle) return { cancelled: false };
      handle.cancel();
      return { cancelled: true };
    },
    'sweeps.start': async ({ experiment: doc, path, axes }) => {
      const experiment = validated(parseExperimentValue(doc), 'the experiment');
      const given = axes ?? experiment.sweep?.axes;
      if (!given)
        throw new ApiError(
          'BAD_REQUEST',
          'sweeps.start: the experiment has no "sweep" and no axes were given: choose a parameter and its values',
        );
      let points: SweepPoint[];
      try {
        points = sweepPoints(experiment, given);
      } catch (err) {
        if (err instanceof SweepError) throw new ApiError('BAD_REQUEST', `sweep: ${err.message}`);
        throw err;
      }
      // Every point prepared (its traces checked) before any runs: a bad point starts nothing.
      const scope = traceScopeOf(path);
      const requests: VariantRunRequest[][] = [];
      for (const point of points) {
        const prepared = await prepareRun(point.experiment, scope).catch(preparationError);
        requests.push(runRequests(prepared));
      }
      let sweepId: number;
      try {
        sweepId = sweeps.start(points, requests);
      } catch (err) {
        throw new ApiError('RUN_FAILED', `cannot start the sweep: ${(err as Error).message}`);
      }
      return { sweepId, points: points.length, runs: requests.flat().length };
    },
    'sweeps.cancel': async ({ sweepId }) => ({ cancelled: sweeps.cancel(sweepId) }),
    'runs.csv': async ({ runId }) => {
      const result = finished.get(runId);
      if (result) return seriesCsv(result);
      if (active.has(runId))
        throw new ApiError('CONFLICT', `run ${runId} has not finished yet; export it when done`);
      throw new ApiError(
        'NOT_FOUND',
        `run ${runId} is not in memory (the last ${options.keptRuns ?? DEFAULT_KEPT_RUNS} finished runs are kept); run the experiment again`,
      );
    },

    'exports.write': async ({ suggestedName, kind, data, encoding }) => {
      const chosen = await needDialogs('exports.write').saveFile(suggestedName, kind);
      if (chosen === null) return null;
      await writeExport(chosen, decodeExport(data, encoding));
      return { path: chosen };
    },

    'settings.get': async () => settings.get(),
    // The workspace folder is not the page's to choose (the renderer is untrusted, and every
    // write of experiments.save lands there): settings.json and `serve --workspace` set it.
    'settings.set': async ({ theme, memoryBudgetBytes }) =>
      settings.set({
        ...(theme !== undefined ? { theme } : {}),
        ...(memoryBudgetBytes !== undefined ? { memoryBudgetBytes } : {}),
      }),
  };

  return {
    ...handlers,
    dispose() {
      unwatchStore();
      unwatchSettings();
      documentListeners.clear();
      for (const handle of active.values()) handle.cancel();
      sweeps.cancelAll();
      void eventLogs?.dispose();
    },
    documentState: () => documentState,
    onDocumentState(listener) {
      documentListeners.add(listener);
      return () => {
        documentListeners.delete(listener);
      };
    },
  };
}

/** One finished variant as the workbench shows it: series downsampled, same buckets for all. */
export function resultView(
  runId: number,
  variantIndex: number,
  result: RunResult,
  displayPoints: number = DISPLAY_POINTS,
): RunResultView {
  const { timeNs, names, values, nodeBytes } = result.series;
  const shown = downsampleAligned(timeNs, [...values, ...nodeBytes], displayPoints);
  return {
    runId,
    name: result.name,
    variantIndex,
    summary: result.summary,
    endNs: result.endNs,
    ...(result.eventLog ? { eventLog: result.eventLog } : {}),
    series: {
      timeNs: shown.timeNs,
      names,
      values: shown.columns.slice(0, values.length),
      nodeBytes: shown.columns.slice(values.length),
      fullLength: timeNs.length,
    },
  };
}

function validated(
  parsed:
    | LoadResult
    | {
        readonly ok: false;
        readonly code: PreparationErrorCode;
        readonly problems: readonly LoadProblem[];
      },
  what: string,
): Experiment {
  if (parsed.ok) return parsed.experiment;
  const problems: ValidationProblem[] = parsed.problems.map((p) => ({
    path: p.path,
    message: p.message,
  }));
  throw new ApiError(
    parsed.code === 'NEWER_VERSION' ? 'NEWER_VERSION' : 'INVALID_EXPERIMENT',
    `${what} is not valid:\n${formatProblems(problems)}`,
    problems,
  );
}

/** A refusal of the run preparation as the API's error: the same problems, with their fields. */
function preparationError(err: unknown): never {
  if (err instanceof ExperimentFileError) {
    throw new ApiError(
      err.code === 'FORBIDDEN_PATH' ? 'FORBIDDEN_PATH' : 'INVALID_EXPERIMENT',
      formatProblems(err.problems),
      err.problems.map((p) => ({ path: p.path, message: p.message })),
    );
  }
  throw err;
}

function decodeExport(data: string, encoding: 'utf8' | 'base64'): string | Uint8Array {
  if (encoding === 'utf8') return data;
  const compact = data.replace(/\s+/g, '');
  if (!BASE64.test(compact) || compact.length % 4 === 1)
    throw new ApiError('BAD_REQUEST', 'exports.write: data is not valid base64');
  return Buffer.from(compact, 'base64');
}

/** `My experiment` -> `My experiment.gmemlab.json`, named as the store names new files. */
function suggestedFileName(doc: Record<string, unknown>): string {
  return `${sanitizeFileStem(typeof doc['name'] === 'string' ? doc['name'] : '')}${EXPERIMENT_SUFFIX}`;
}
