// The workbench state: the open experiment (an editable JSON document), its validation, the
// library, the runs and their results. Views read and change it; the API does the rest.
import type {
  ApiEvents,
  AppInfo,
  ExperimentEntry,
  GmemLabApi,
  OpenedExperiment,
  PresetEntry,
  RunResultView,
  Settings,
} from '@contract/api';
import { ApiError } from '@contract/api';
import {
  configHash,
  parseExperimentValue,
  type LoadProblem,
} from '../../../../core/experiment/load';
import { ENGINE_VERSION } from '../../../../core/experiment/run';
import { PhaseEta } from '../../../../core/report/eta';
import { deliver } from '../export/export';
import { RunRecording } from './run-recording.svelte';
import {
  fromSaved,
  SavedResultsSchema,
  toSaved,
  type ResultPart,
} from '../../../../core/metrics/result';

export type View = 'library' | 'setup' | 'runs' | 'compare' | 'reference';

type RunStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface VariantRun {
  readonly variantIndex: number;
  readonly name: string;
  runId: number | null;
  status: RunStatus;
  phase: string;
  fraction: number;
  /** Milliseconds left in the phase (core/report/eta.ts), null while too early to say. */
  etaMs?: number | null;
  message?: string;
  result?: RunResultView;
}

export interface Banner {
  readonly kind: 'error' | 'info';
  readonly title: string;
  readonly message: string;
}

type Doc = Record<string, unknown>;

/** Words for the parts of a result an older file did not keep. */
const PART_WORDS: Record<ResultPart, string> = {
  series: 'time series',
  nodeBytes: 'final memory per NUMA node',
  latency: 'latency percentiles',
  phases: 'counters per phase (boot, runtime, ...)',
  phaseMarks: 'phase marks on the charts',
  endTime: 'simulated end time',
  nodeSeries: 'memory per NUMA node over time',
  fullLength: 'sample count',
};

/** The saved results of a file as runs again (core/metrics/result.ts fromSaved), and the parts of
 * them the file did not keep. */
function runsFromDoc(doc: Doc): { runs: VariantRun[]; absent: ResultPart[] } {
  const parsed = SavedResultsSchema.safeParse(doc['results']);
  if (!parsed.success) return { runs: [], absent: [] };
  const names = Array.isArray(doc['variants'])
    ? (doc['variants'] as Array<{ name?: unknown }>).map((v) => v?.name)
    : [];
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- built and read within this function.
  const absent = new Set<ResultPart>();
  const runs = fromSaved(parsed.data).variants.flatMap((v, i): VariantRun[] => {
    const at = names.indexOf(v.name);
    const variantIndex = at >= 0 ? at : i;
    const base = { variantIndex, name: v.name, runId: null, fraction: 1 };
    if (v.result) {
      for (const part of v.absent) absent.add(part);
      const result: RunResultView = { ...v.result, runId: -1 - variantIndex, variantIndex };
      return [{ ...base, status: 'done', phase: 'saved', result }];
    }
    if (v.error !== undefined)
      return [{ ...base, status: 'failed', phase: 'saved', message: v.error }];
    return [];
  });
  return { runs, absent: [...absent] };
}

export class Workbench {
  api: GmemLabApi | null = $state(null);
  info: AppInfo | null = $state(null);
  settings: Settings | null = $state(null);
  view: View = $state('library');
  presets: PresetEntry[] = $state([]);
  library: ExperimentEntry[] = $state([]);
  doc: Doc | null = $state(null);
  path: string | null = $state(null);
  /** The document as last saved or opened, to tell unsaved changes. */
  savedJson = $state('');
  runs: VariantRun[] = $state([]);
  /** The column of the summary the others are compared with (-1: none), in variant order; the
   * table and every export of it use the same. */
  summaryBaseline = $state(0);
  /** The next run's event log switch and limit, and its estimate. */
  readonly recording = new RunRecording();
  /** Configuration hash the current runs (or saved results) belong to. */
  resultsHash: string | null = $state(null);
  resultsFromFile = $state(false);
  banner: Banner | null = $state(null);
  busy = $state(false);

  readonly validation = $derived.by(() => {
    if (!this.doc)
      return { ok: false as const, problems: [] as LoadProblem[], experiment: null, hash: null };
    const r = parseExperimentValue($state.snapshot(this.doc));
    if (!r.ok)
      return { ok: false as const, problems: [...r.problems], experiment: null, hash: null };
    return {
      ok: true as const,
      problems: [] as LoadProblem[],
      experiment: r.experiment,
      hash: configHash(r.experiment),
    };
  });

  readonly dirty = $derived(this.doc !== null && JSON.stringify(this.doc) !== this.savedJson);

  readonly results: RunResultView[] = $derived(
    this.runs
      .flatMap((r) => (r.result ? [r.result] : []))
      .sort((a, b) => a.variantIndex - b.variantIndex),
  );

  /** Results no longer match the configuration being edited. */
  readonly stale = $derived(
    this.resultsHash !== null &&
      this.validation.hash !== null &&
      this.resultsHash !== this.validation.hash,
  );

  readonly running = $derived(
    this.runs.some((r) => r.status === 'queued' || r.status === 'running'),
  );

  private unsubscribers: Array<() => void> = [];

  async connect(api: GmemLabApi): Promise<void> {
    this.api = api;
    this.unsubscribers.push(
      api.on('run.progress', (e) => this.onProgress(e)),
      api.on('run.done', (e) => this.onDone(e)),
      api.on('run.failed', (e) => this.onFailed(e)),
      api.on('store.changed', () => void this.refreshLibrary()),
      api.on('settings.changed', (s) => (this.settings = s)),
    );
    const [info, presets, settings] = await Promise.all([
      api.call('app.info', {}),
      api.call('presets.list', {}),
      api.call('settings.get', {}),
    ]);
    this.info = info;
    this.presets = [...presets];
    this.settings = settings;
    await this.refreshLibrary();
  }

  disconnect(): void {
    for (const u of this.unsubscribers.splice(0)) u();
  }

  private get client(): GmemLabApi {
    if (!this.api) throw new Error('not connected');
    return this.api;
  }

  /** Run an action and show its error where the user looks. */
  async guard<T>(title: string, action: () => Promise<T>): Promise<T | undefined> {
    try {
      this.busy = true;
      return await action();
    } catch (err) {
      this.showError(title, err);
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  showError(title: string, err: unknown): void {
    let message = err instanceof Error ? err.message : String(err);
    if (err instanceof ApiError && Array.isArray(err.details)) {
      const lines = (err.details as Array<{ path?: string; message?: string }>)
        .slice(0, 12)
        .map((d) => `${d.path ? `${d.path}: ` : ''}${d.message ?? ''}`);
      if (lines.length > 0 && !message.includes(lines[0]!)) message += '\n' + lines.join('\n');
    }
    this.banner = { kind: 'error', title, message };
  }

  async refreshLibrary(): Promise<void> {
    if (!this.api) return;
    try {
      this.library = [...(await this.client.call('experiments.list', {}))];
    } catch (err) {
      this.showError('Could not list the workspace', err);
    }
  }

  /** Replace the open experiment; refuses to drop unsaved changes unless told to. */
  load(opened: OpenedExperiment, fromPreset = false): void {
    const doc = structuredClone(opened.experiment) as Doc;
    this.doc = doc;
    this.path = fromPreset ? null : opened.path;
    // A preset as bundled has nothing to lose yet: only edits make it unsaved (else opening
    // anything after the default preset would ask to discard changes nobody made).
    this.savedJson = JSON.stringify(doc);
    const saved = runsFromDoc(doc);
    this.runs = saved.runs;
    const results = doc['results'] as { configHash?: string } | undefined;
    this.resultsHash = results?.configHash ?? null;
    this.resultsFromFile = saved.runs.length > 0;
    this.banner =
      saved.absent.length > 0
        ? {
            kind: 'info',
            title: 'Saved results are incomplete',
            message: `This file was saved without the ${saved.absent.map((p) => PART_WORDS[p]).join(', ')} of its results; run the experiment again to see them.`,
          }
        : null;
  }

  async openPreset(id: string): Promise<void> {
    await this.guard('Could not open the preset', async () => {
      this.load(await this.client.call('presets.load', { id }), true);
      this.view = 'setup';
    });
  }

  async openPath(path: string): Promise<void> {
    await this.guard(`Could not open ${path.split('/').pop()}`, async () => {
      this.load(await this.client.call('experiments.open', { path }));
      this.view = 'setup';
    });
  }

  async openDialog(): Promise<void> {
    await this.guard('Could not open the file', async () => {
      const opened = await this.client.call('experiments.openDialog', {});
      if (opened) {
        this.load(opened);
        this.view = 'setup';
      }
    });
  }

  async importFile(fileName: string, text: string): Promise<void> {
    await this.guard(`Could not open ${fileName}`, async () => {
      this.load(await this.client.call('experiments.import', { fileName, text }));
      this.view = 'setup';
      await this.refreshLibrary();
    });
  }

  /** The document to write: with the results when they belong to this configuration. */
  private documentToSave(): Doc {
    const doc = $state.snapshot(this.doc!) as Doc;
    const hash = this.validation.hash;
    const done = this.runs.filter((r) => r.result);
    if (hash && this.resultsHash === hash && done.length > 0) {
      doc['results'] = toSaved(
        // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a timestamp string, not state.
        { engineVersion: ENGINE_VERSION, configHash: hash, createdAt: new Date().toISOString() },
        done.map((r) => r.result!),
      );
    } else if (hash && this.resultsHash !== hash) {
      delete doc['results'];
    }
    return doc;
  }

  async save(fileName?: string): Promise<boolean> {
    if (!this.doc) return false;
    if (!this.validation.ok) {
      this.banner = {
        kind: 'error',
        title: 'Not saved: the experiment has problems',
        message: this.validation.problems.map((p) => `${p.path}: ${p.message}`).join('\n'),
      };
      return false;
    }
    const result = await this.guard('Could not save', async () => {
      const doc = this.documentToSave();
      const name = fileName ?? (String(doc['name'] ?? 'experiment') || 'experiment');
      const saved = this.path
        ? await this.client.call('experiments.save', { experiment: doc, path: this.path })
        : await this.client.call('experiments.save', { experiment: doc, fileName: name });
      this.doc = doc;
      this.path = saved.path;
      this.savedJson = JSON.stringify(doc);
      await this.refreshLibrary();
      return true;
    });
    return result ?? false;
  }

  async saveAs(): Promise<void> {
    if (!this.doc || !this.validation.ok) {
      await this.save();
      return;
    }
    if (!this.info?.nativeDialogs) {
      this.path = null;
      await this.save();
      return;
    }
    await this.guard('Could not save', async () => {
      const doc = this.documentToSave();
      const saved = await this.client.call('experiments.saveAs', {
        experiment: doc,
        suggestedName: String(doc['name'] ?? ''),
      });
      if (!saved) return;
      this.doc = doc;
      this.path = saved.path;
      this.savedJson = JSON.stringify(doc);
      await this.refreshLibrary();
    });
  }

  newFromPreset(): void {
    this.view = 'library';
  }

  // Runs ---------------------------------------------------------------------------------------

  /** The estimate of what a run of the open experiment implies (shown before it starts). */
  async refreshEstimate(): Promise<void> {
    if (!this.api || !this.doc) return this.recording.clear(null);
    if (!this.validation.ok) return this.recording.clear('the experiment has problems: see Setup');
    const doc = $state.snapshot(this.doc) as Doc;
    delete doc['results'];
    await this.recording.refresh(this.api, doc, this.path);
  }

  /** Save the event log a finished run recorded: a save dialog in the desktop app, a download
   * in a browser. */
  async saveEventLog(variantIndex: number): Promise<void> {
    const run = this.runs.find((r) => r.variantIndex === variantIndex);
    if (!run?.result || run.runId === null) return;
    const runId = run.runId;
    const name = `${run.name.replace(/[^A-Za-z0-9._-]+/g, '_') || 'variant'}.events.jsonl`;
    await this.guard('Could not save the event log', async () => {
      if (this.info?.nativeDialogs) {
        await this.client.call('runs.saveEvents', { runId });
        return;
      }
      const text = await this.client.call('runs.events', { runId });
      await deliver(this.client, false, name, text, 'jsonl');
    });
  }

  async run(): Promise<void> {
    if (!this.doc) return;
    const options = this.recording.runOptions;
    if (options === null) {
      this.banner = {
        kind: 'error',
        title: 'Cannot run: the event limit is wrong',
        message: this.recording.limit.ok ? '' : this.recording.limit.message,
      };
      return;
    }
    if (!this.validation.ok) {
      this.banner = {
        kind: 'error',
        title: 'Cannot run: the experiment has problems',
        message: this.validation.problems.map((p) => `${p.path}: ${p.message}`).join('\n'),
      };
      this.view = 'setup';
      return;
    }
    const experiment = this.validation.experiment!;
    const doc = $state.snapshot(this.doc) as Doc;
    delete doc['results'];
    this.runs = experiment.variants.map((v, i) => ({
      variantIndex: i,
      name: v.name,
      runId: null,
      status: 'queued' as const,
      phase: 'queued',
      fraction: 0,
    }));
    this.resultsHash = this.validation.hash;
    this.resultsFromFile = false;
    this.view = 'runs';
    const started = await this.guard('Could not start the run', () =>
      this.client.call('runs.start', {
        experiment: doc,
        ...(this.path ? { path: this.path } : {}),
        ...options,
      }),
    );
    if (!started) {
      for (const r of this.runs) r.status = 'failed';
      return;
    }
    started.runIds.forEach((id, i) => {
      const run = this.runs[i];
      if (run && run.runId === null) run.runId = id;
    });
  }

  async cancel(variantIndex?: number): Promise<void> {
    for (const r of this.runs) {
      if (r.runId === null || (variantIndex !== undefined && r.variantIndex !== variantIndex))
        continue;
      if (r.status === 'queued' || r.status === 'running') {
        await this.guard('Could not cancel', () =>
          this.client.call('runs.cancel', { runId: r.runId! }),
        );
      }
    }
  }

  private runFor(runId: number, variantIndex?: number): VariantRun | undefined {
    return (
      this.runs.find((r) => r.runId === runId) ??
      (variantIndex !== undefined
        ? this.runs.find((r) => r.variantIndex === variantIndex && r.runId === null)
        : undefined)
    );
  }

  /** Time left in each run's phase, from its progress reports (not reactive state). */
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- not state: each update is copied into run.etaMs.
  private readonly etas = new Map<number, PhaseEta>();

  private onProgress(e: ApiEvents['run.progress']): void {
    const run = this.runFor(e.runId, e.variantIndex);
    if (!run) return;
    run.runId = e.runId;
    if (run.status === 'queued') run.status = 'running';
    run.phase = e.phase;
    run.fraction = e.fraction;
    let eta = this.etas.get(e.runId);
    if (!eta) this.etas.set(e.runId, (eta = new PhaseEta()));
    run.etaMs = eta.update(e.phase, e.fraction, Date.now());
  }

  /** Set the memory each run's model may take (null: the default); false when refused. */
  async setMemoryBudget(bytes: number | null): Promise<boolean> {
    return this.guard('Could not change the memory budget', async () => {
      this.settings = await this.api!.call('settings.set', { memoryBudgetBytes: bytes });
      return true;
    }).then((ok) => ok === true);
  }

  private onDone(e: ApiEvents['run.done']): void {
    const run = this.runFor(e.runId, e.variantIndex);
    if (!run) return;
    run.runId = e.runId;
    run.status = 'done';
    run.fraction = 1;
    run.phase = 'done';
    run.result = e.result;
  }

  private onFailed(e: ApiEvents['run.failed']): void {
    const run = this.runFor(e.runId, e.variantIndex);
    if (!run) return;
    run.runId = e.runId;
    run.status = e.status;
    run.message = e.message;
  }
}
