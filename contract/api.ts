// The one API contract between the workbench (renderer) and the Node side, whatever the transport
// (Electron IPC or the localhost bridge). Every method has an argument schema that the main side
// checks on every call (the renderer is untrusted) and a result type; every event has a payload
// type. Errors cross as { ok: false, error: { code, message, details } } and are rebuilt as
// ApiError on the other side.
//
// This file must stay importable from the renderer: zod and types only, no Node or Electron.
import { z } from 'zod';
import { DEFAULT_EVENT_LIMIT, MAX_EVENT_LIMIT } from '../core/events/event-log.js';
import type { EventLogCut, RunEstimate } from '../core/experiment/estimate.js';
import type { EventLogStats, ShownResult } from '../core/metrics/result.js';
import type { ProgressReport } from '../core/experiment/run.js';

// ---------------------------------------------------------------------------------------------
// Shared shapes

/** An experiment document as JSON; the main side validates it with the experiment schema. */
const ExperimentDoc = z
  .record(z.string(), z.unknown())
  .meta({ description: 'experiment document (JSON object)' });
const FilePath = z.string().min(1).max(4096);
const RunId = z.number().int().positive();
/** Kinds of file the workbench exports (save dialogs filter by them). */
const ExportKindSchema = z.enum(['png', 'svg', 'csv', 'json', 'jsonl', 'txt', 'zip']);

export interface ExperimentEntry {
  readonly path: string;
  readonly fileName: string;
  /** The experiment's name, or null when the file cannot be read as an experiment. */
  readonly name: string | null;
  readonly modifiedMs: number;
  readonly variants: readonly string[];
  /** Saved results: fresh when they match the configuration, stale when it changed since. */
  readonly results: 'none' | 'fresh' | 'stale';
  /** Why the file cannot be opened (it is listed, never touched). */
  readonly problem?: string;
}

export interface OpenedExperiment {
  readonly path: string;
  /** The validated document, defaults filled in. */
  readonly experiment: Record<string, unknown>;
  readonly modifiedMs: number;
  readonly migratedFrom?: number;
  readonly configHash: string;
}

export interface PresetEntry {
  readonly id: string;
  readonly name: string;
  readonly notes: string;
  readonly variants: readonly string[];
}

/** The workbench's colour themes: follow the system's, or always light or dark. The one list the
 * settings file, the API, the menu and the workbench take their choices from. */
export const THEMES = ['system', 'light', 'dark'] as const;
export type Theme = (typeof THEMES)[number];
/** What the page and the exported charts are drawn in: 'system' resolves to one of these. */
export type ResolvedTheme = Exclude<Theme, 'system'>;
export const ThemeSchema = z.enum(THEMES);

export interface Settings {
  readonly theme: Theme;
  readonly workspaceDir: string;
  readonly recentFiles: readonly string[];
  /** Memory each run's model state may take (core/storage-budget.ts), bytes; null: the default
   * (AppInfo.defaultMemoryBudgetBytes). */
  readonly memoryBudgetBytes: number | null;
}

/** Least and most memory budget the settings take: 1 MiB (as the CLI's --memory-budget), and
 * 1 PiB (no limit in practice). */
const MEMORY_BUDGET_MIN_BYTES = 2 ** 20;
const MEMORY_BUDGET_MAX_BYTES = 2 ** 50;
export const MemoryBudgetSchema = z
  .number()
  .int()
  .min(MEMORY_BUDGET_MIN_BYTES, 'must be at least 1 MiB')
  .max(MEMORY_BUDGET_MAX_BYTES, 'must be at most 1 PiB')
  .nullable();

export interface ValidationProblem {
  readonly path: string;
  readonly message: string;
}

/** One variant's result as it reaches the workbench (core/metrics/result.ts): a summary, and
 * series downsampled for display (at most about 2000 points each, extremes kept). Full resolution
 * stays on the Node side for CSV export. Results reopened from a saved file have runId < 0. */
export interface RunResultView extends ShownResult {
  readonly runId: number;
  readonly variantIndex: number;
  /** How much the run's event log holds, when the run recorded one (runs.start recordEvents):
   * save it with runs.saveEvents (desktop) or runs.events (browser). */
  readonly eventLog?: EventLogStats;
}

/** Events a run's log keeps before it is cut (runs.start, runs.estimate): 1 to 2^31, as the
 * CLI's --events-limit (core/events/event-log.ts). */
export const EventLimitSchema = z
  .number()
  .int('must be a whole number of events')
  .min(1, 'must be at least 1 event')
  .max(MAX_EVENT_LIMIT, `must be at most ${MAX_EVENT_LIMIT.toLocaleString('en-US')} events`)
  .meta({
    description: `Events each variant's log keeps before it is cut (default ${DEFAULT_EVENT_LIMIT.toLocaleString('en-US')}).`,
  });

/** What a run of each variant implies, before it runs (runs.estimate; the CLI's validate). */
export interface RunEstimates {
  readonly variants: readonly RunEstimate[];
  /** Variants whose event log would be cut at the limit asked for. */
  readonly cuts: readonly EventLogCut[];
  readonly eventLimit: number;
}

/** Largest event log runs.events returns as text (the browser's download); larger logs are saved
 * from the desktop app (runs.saveEvents) or written by the CLI (run --events). */
export const EVENTS_TEXT_MAX_BYTES = 64 * 1024 * 1024;

/** How far one run has come ('run.progress'): the core's progress report of the variant's run. */
export interface RunProgress extends ProgressReport {
  readonly runId: number;
  readonly variantIndex: number;
}

export interface AppInfo {
  readonly version: string;
  readonly engineVersion: string;
  readonly transport: 'electron' | 'bridge';
  readonly platform: string;
  /** Whether native open/save dialogs exist (Electron) or files come through the browser. */
  readonly nativeDialogs: boolean;
  /** The memory budget of a run when the settings leave it unset (null: no limit). */
  readonly defaultMemoryBudgetBytes: number | null;
}

/** What the workbench reports of its open document (app.setDocumentState). */
export interface DocumentState {
  readonly dirty: boolean;
  readonly title: string;
}

/** Commands the desktop app's menu sends to the workbench ('menu.command'). */
export const MENU_COMMANDS = [
  /** New experiment: the library, to pick a preset. */
  'new',
  /** Open: the file in `path` (recent files, files from the system), else the open dialog. */
  'open',
  'save',
  'save-as',
  /** Export the comparison as one zip. */
  'export',
  /** Save, then report the document state (the app closes the window once it is clean). */
  'save-then-close',
] as const;
export type MenuCommand = (typeof MENU_COMMANDS)[number];

export interface MenuCommandEvent {
  readonly command: string;
  readonly path?: string;
}

// ---------------------------------------------------------------------------------------------
// Sweeps

/** One variant at one point of a sweep. */
export interface SweepRow {
  /** Index of the point, in the sweep's order. */
  readonly point: number;
  /** The swept values at the point, by parameter path. */
  readonly params: Readonly<Record<string, unknown>>;
  readonly variantIndex: number;
  readonly variant: string;
  /** Final value of every metric; absent when the run failed. */
  readonly summary?: Readonly<Record<string, number>>;
  readonly error?: string;
}

export interface SweepProgress {
  readonly sweepId: number;
  /** Runs finished (done or failed), of `total`. */
  readonly done: number;
  readonly failed: number;
  readonly total: number;
  /** Overall fraction, the runs in flight counted by their own progress. */
  readonly fraction: number;
}

export interface SweepDone {
  readonly sweepId: number;
  readonly status: 'done' | 'cancelled';
  readonly rows: readonly SweepRow[];
}

const SweepAxisArg = z
  .object({
    path: z.string().min(1).max(200),
    values: z.array(z.unknown()).min(1).max(64),
  })
  .strict();

// ---------------------------------------------------------------------------------------------
// Methods

export const API_METHODS = {
  'app.info': { args: z.object({}).strict(), result: {} as AppInfo },
  /** The workbench reports its open document: whether it has unsaved changes and its name. The
   * desktop app shows both in the window title and asks before closing a window with unsaved
   * changes; the first report also tells it the workbench is ready for 'menu.command' events. */
  'app.setDocumentState': {
    args: z.object({ dirty: z.boolean(), title: z.string().max(200) }).strict(),
    result: null as null,
  },
  'presets.list': { args: z.object({}).strict(), result: [] as readonly PresetEntry[] },
  'presets.load': {
    args: z.object({ id: z.string().regex(/^[a-z0-9-]{1,80}$/) }).strict(),
    result: {} as OpenedExperiment,
  },
  'experiments.list': { args: z.object({}).strict(), result: [] as readonly ExperimentEntry[] },
  'experiments.open': {
    args: z.object({ path: FilePath }).strict(),
    result: {} as OpenedExperiment,
  },
  /** Save to `path` (a file already in the workspace or opened before), or create a new file in
   * the workspace named after `fileName`. */
  'experiments.save': {
    args: z
      .object({
        experiment: ExperimentDoc,
        path: FilePath.optional(),
        fileName: z.string().min(1).max(200).optional(),
      })
      .strict(),
    result: {} as { path: string; modifiedMs: number },
  },
  /** Native "save as" dialog (Electron only); null when the user cancels. */
  'experiments.saveAs': {
    args: z
      .object({ experiment: ExperimentDoc, suggestedName: z.string().max(200).optional() })
      .strict(),
    result: null as { path: string; modifiedMs: number } | null,
  },
  /** Native "open" dialog (Electron only); null when the user cancels. */
  'experiments.openDialog': {
    args: z.object({}).strict(),
    result: null as OpenedExperiment | null,
  },
  /** Validate a file the user picked in the browser and copy it into the workspace. */
  'experiments.import': {
    args: z
      .object({ fileName: z.string().min(1).max(200), text: z.string().max(16 * 1024 * 1024) })
      .strict(),
    result: {} as OpenedExperiment,
  },
  'experiments.duplicate': {
    args: z.object({ path: FilePath }).strict(),
    result: {} as { path: string },
  },
  'experiments.rename': {
    args: z.object({ path: FilePath, name: z.string().min(1).max(200) }).strict(),
    result: {} as { path: string },
  },
  /** Move to the trash. */
  'experiments.delete': {
    args: z.object({ path: FilePath }).strict(),
    result: {} as { trashed: true },
  },
  /** Start one run per variant (all of them when variantIndexes is left out). */
  'runs.start': {
    args: z
      .object({
        experiment: ExperimentDoc,
        path: FilePath.optional(),
        variantIndexes: z.array(z.number().int().min(0).max(15)).max(16).optional(),
        /** Record each variant's event log, streamed to a file in the app's data folder. */
        recordEvents: z.boolean().optional(),
        eventLimit: EventLimitSchema.optional(),
      })
      .strict(),
    result: {} as { runIds: readonly number[] },
  },
  /** What a run of each variant implies (pages, operations, events, model memory), and which
   * event logs the limit would cut: for the workbench to say before the run starts. */
  'runs.estimate': {
    args: z
      .object({
        experiment: ExperimentDoc,
        path: FilePath.optional(),
        eventLimit: EventLimitSchema.optional(),
      })
      .strict(),
    result: {} as RunEstimates,
  },
  /** A finished run's event log as JSON lines (the browser downloads it); at most
   * EVENTS_TEXT_MAX_BYTES. */
  'runs.events': { args: z.object({ runId: RunId }).strict(), result: '' as string },
  /** Save a finished run's event log where the user chooses (desktop: save dialog), any size. */
  'runs.saveEvents': {
    args: z.object({ runId: RunId }).strict(),
    result: null as { path: string } | null,
  },
  'runs.cancel': {
    args: z.object({ runId: RunId }).strict(),
    result: {} as { cancelled: boolean },
  },
  /** Run every point of a sweep (the axes given, else the experiment's own "sweep"), every
   * variant at each, on the worker pool: 'sweep.progress' as it goes, 'sweep.done' with each
   * run's summary at the end. */
  'sweeps.start': {
    args: z
      .object({
        experiment: ExperimentDoc,
        path: FilePath.optional(),
        axes: z.array(SweepAxisArg).min(1).max(2).optional(),
      })
      .strict(),
    result: {} as { sweepId: number; points: number; runs: number },
  },
  'sweeps.cancel': {
    args: z.object({ sweepId: z.number().int().min(1) }).strict(),
    result: {} as { cancelled: boolean },
  },
  /** Full-resolution CSV of a finished run's series. */
  'runs.csv': { args: z.object({ runId: RunId }).strict(), result: '' as string },
  /** Write an export the workbench produced to a path the user chooses (Electron: save dialog). */
  'exports.write': {
    args: z
      .object({
        suggestedName: z.string().min(1).max(200),
        kind: ExportKindSchema,
        /** Text, or base64 for png. */
        data: z.string().max(64 * 1024 * 1024),
        encoding: z.enum(['utf8', 'base64']).default('utf8'),
      })
      .strict(),
    result: null as { path: string } | null,
  },
  'settings.get': { args: z.object({}).strict(), result: {} as Settings },
  'settings.set': {
    args: z
      .object({
        theme: ThemeSchema.optional(),
        memoryBudgetBytes: MemoryBudgetSchema.optional(),
      })
      .strict(),
    result: {} as Settings,
  },
} as const;

export type ApiMethod = keyof typeof API_METHODS;
export type ApiArgs<M extends ApiMethod> = z.input<(typeof API_METHODS)[M]['args']>;
export type ApiParsedArgs<M extends ApiMethod> = z.output<(typeof API_METHODS)[M]['args']>;
export type ApiResult<M extends ApiMethod> = (typeof API_METHODS)[M]['result'];

// ---------------------------------------------------------------------------------------------
// Events (Node side -> workbench)

export interface ApiEvents {
  'run.progress': RunProgress;
  'run.done': {
    readonly runId: number;
    readonly variantIndex: number;
    readonly status: 'done';
    readonly result: RunResultView;
  };
  'run.failed': {
    readonly runId: number;
    readonly variantIndex: number;
    readonly status: 'failed' | 'cancelled';
    readonly message: string;
  };
  'sweep.progress': SweepProgress;
  'sweep.done': SweepDone;
  'store.changed': { readonly paths: readonly string[] };
  'settings.changed': Settings;
  /** A command from the desktop app's menu, or a file the system asked the app to open
   * (command 'open' with its path). The renderer ignores commands it does not know. */
  'menu.command': MenuCommandEvent;
}
export type ApiEvent = keyof ApiEvents;
export const API_EVENTS: readonly ApiEvent[] = [
  'run.progress',
  'run.done',
  'run.failed',
  'sweep.progress',
  'sweep.done',
  'store.changed',
  'settings.changed',
  'menu.command',
];

// ---------------------------------------------------------------------------------------------
// Errors

export type ApiErrorCode =
  | 'BAD_REQUEST'
  | 'UNKNOWN_METHOD'
  | 'NOT_FOUND'
  | 'INVALID_EXPERIMENT'
  | 'NEWER_VERSION'
  | 'TOO_LARGE'
  | 'FORBIDDEN_PATH'
  | 'CONFLICT'
  | 'UNSUPPORTED'
  | 'IO_ERROR'
  | 'RUN_FAILED'
  | 'INTERNAL';

export interface ApiErrorPayload {
  readonly code: ApiErrorCode;
  readonly message: string;
  readonly details?: unknown;
}

export type ApiEnvelope<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: ApiErrorPayload };

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toPayload(): ApiErrorPayload {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }

  static fromPayload(payload: ApiErrorPayload): ApiError {
    return new ApiError(payload.code, payload.message, payload.details);
  }
}

/** Check a method name and its arguments as they arrive from the workbench. */
export function parseRequest<M extends ApiMethod>(
  method: string,
  args: unknown,
): { method: M; args: ApiParsedArgs<M> } {
  if (!Object.hasOwn(API_METHODS, method))
    throw new ApiError('UNKNOWN_METHOD', `unknown API method "${String(method).slice(0, 80)}"`);
  const schema = API_METHODS[method as M].args;
  const parsed = schema.safeParse(args ?? {});
  if (!parsed.success) {
    throw new ApiError(
      'BAD_REQUEST',
      `${method}: invalid arguments: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(arguments)'}: ${i.message}`).join('; ')}`,
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  return { method: method as M, args: parsed.data as ApiParsedArgs<M> };
}

/** The typed API object the workbench calls, implemented by each transport. */
export type GmemLabApi = {
  call<M extends ApiMethod>(method: M, args: ApiArgs<M>): Promise<ApiResult<M>>;
  on<E extends ApiEvent>(event: E, listener: (payload: ApiEvents[E]) => void): () => void;
};
