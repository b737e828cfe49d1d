// The runs of the open experiment: one per variant, queued, running (with the time left in its
// phase: core/report/eta.ts), done with its result, failed or cancelled; the event log and the
// estimate of the next run (run-recording.svelte.ts); the results a saved file carries
// (core/metrics/result.ts toSaved / fromSaved) and whether they still match the configuration.
import type { ApiEvents, GmemLabApi, RunResultView } from '@contract/api';
import { ENGINE_VERSION } from '../../../../core/experiment/run';
import {
  fromSaved,
  SavedResultsSchema,
  toSaved,
  type ResultPart,
  type SavedResults,
} from '../../../../core/metrics/result';
import { PhaseEta } from '../../../../core/report/eta';
import { deliver } from '../export/export';
import type { Connection } from './connection.svelte';
import type { Doc, OpenDocument, SavedResultsPort, View } from './experiments.svelte';
import type { Notices } from './notices.svelte';
import { RunRecording } from './run-recording.svelte';

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

/** A variant's run before runs.start answers. */
function queued(variantIndex: number, name: string): VariantRun {
  return { variantIndex, name, runId: null, status: 'queued', phase: 'queued', fraction: 0 };
}

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

export class RunsState implements SavedResultsPort {
  runs: VariantRun[] = $state([]);
  /** The column of the summary the others are compared with (-1: none), in variant order; the
   * table and every export of it use the same. */
  summaryBaseline = $state(0);
  /** The next run's event log switch and limit, and its estimate. */
  readonly recording = new RunRecording();
  /** Configuration hash the current runs (or saved results) belong to. */
  resultsHash: string | null = $state(null);
  resultsFromFile = $state(false);

  readonly results: RunResultView[] = $derived(
    this.runs
      .flatMap((r) => (r.result ? [r.result] : []))
      .sort((a, b) => a.variantIndex - b.variantIndex),
  );

  readonly running = $derived(
    this.runs.some((r) => r.status === 'queued' || r.status === 'running'),
  );

  /** Time left in each run's phase, from its progress reports (not reactive state). */
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- not state: each update is copied into run.etaMs.
  private readonly etas = new Map<number, PhaseEta>();

  constructor(
    private readonly connection: Connection,
    private readonly notices: Notices,
    private readonly document: OpenDocument,
    /** Show a view (the runs once started, the setup when the experiment has problems). */
    private readonly show: (view: View) => void = () => {},
    /** The clock of the time left (milliseconds). */
    private readonly now: () => number = Date.now,
  ) {}

  /** Results no longer match the configuration being edited. */
  get stale(): boolean {
    const hash = this.document.validation.hash;
    return this.resultsHash !== null && hash !== null && this.resultsHash !== hash;
  }

  /** Follow the runs' events; returns the unsubscribe functions. */
  listen(api: GmemLabApi): Array<() => void> {
    return [
      api.on('run.progress', (e) => this.onProgress(e)),
      api.on('run.done', (e) => this.onDone(e)),
      api.on('run.failed', (e) => this.onFailed(e)),
    ];
  }

  /** Show the results a document was saved with, and say which parts of them it lacks. */
  restore(doc: Doc): void {
    const saved = runsFromDoc(doc);
    this.runs = saved.runs;
    const results = doc['results'] as { configHash?: string } | undefined;
    this.resultsHash = results?.configHash ?? null;
    this.resultsFromFile = saved.runs.length > 0;
    if (saved.absent.length > 0)
      this.notices.info(
        'Saved results are incomplete',
        `This file was saved without the ${saved.absent.map((p) => PART_WORDS[p]).join(', ')} of its results; run the experiment again to see them.`,
      );
  }

  toSave(hash: string): SavedResults | 'drop' | 'keep' {
    if (this.resultsHash !== hash) return 'drop';
    const done = this.runs.filter((r) => r.result);
    if (done.length === 0) return 'keep';
    return toSaved(
      // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a timestamp string, not state.
      { engineVersion: ENGINE_VERSION, configHash: hash, createdAt: new Date().toISOString() },
      done.map((r) => r.result!),
    );
  }

  /** The estimate of what a run of the open experiment implies (shown before it starts). */
  async refreshEstimate(): Promise<void> {
    const { doc, validation, path } = this.document;
    if (!this.connection.api || !doc) return this.recording.clear(null);
    if (!validation.ok) return this.recording.clear('the experiment has problems: see Setup');
    await this.recording.refresh(this.connection.api, this.runnable(doc), path);
  }

  /** Save the event log a finished run recorded: a save dialog in the desktop app, a download
   * in a browser. */
  async saveEventLog(variantIndex: number): Promise<void> {
    const run = this.runs.find((r) => r.variantIndex === variantIndex);
    if (!run?.result || run.runId === null) return;
    const runId = run.runId;
    const name = `${run.name.replace(/[^A-Za-z0-9._-]+/g, '_') || 'variant'}.events.jsonl`;
    await this.notices.guard('Could not save the event log', async () => {
      const client = this.connection.client;
      if (this.connection.nativeDialogs) {
        await client.call('runs.saveEvents', { runId });
        return;
      }
      const text = await client.call('runs.events', { runId });
      await deliver(client, false, name, text, 'jsonl');
    });
  }

  /** Run every variant of the open experiment. */
  async run(): Promise<void> {
    const ready = this.startable();
    if (!ready) return;
    const { experiment, options, validation, path } = ready;
    this.runs = validation.experiment.variants.map((v, i) => queued(i, v.name));
    this.resultsHash = validation.hash;
    this.resultsFromFile = false;
    this.show('runs');
    const started = await this.notices.guard('Could not start the run', () =>
      this.connection.client.call('runs.start', {
        experiment,
        ...(path ? { path } : {}),
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

  /** Whether one variant can run again beside the others' results: it failed or was cancelled,
   * and the configuration is still the one they ran. */
  canRunAgain(variantIndex: number): boolean {
    const run = this.runs.find((r) => r.variantIndex === variantIndex);
    return (
      (run?.status === 'failed' || run?.status === 'cancelled') &&
      this.resultsHash !== null &&
      this.resultsHash === this.document.validation.hash
    );
  }

  /** Run one variant again (runs.start with its index), keeping the other variants' results;
   * every variant runs when the configuration changed since. */
  async runAgain(variantIndex: number): Promise<void> {
    if (!this.canRunAgain(variantIndex)) return this.run();
    const ready = this.startable();
    if (!ready) return;
    const { experiment, options, validation, path } = ready;
    const at = this.runs.findIndex((r) => r.variantIndex === variantIndex);
    this.runs[at] = queued(variantIndex, validation.experiment.variants[variantIndex]!.name);
    const run = this.runs[at]!;
    const started = await this.notices.guard('Could not start the run', () =>
      this.connection.client.call('runs.start', {
        experiment,
        ...(path ? { path } : {}),
        variantIndexes: [variantIndex],
        ...options,
      }),
    );
    if (!started) {
      run.status = 'failed';
      return;
    }
    if (run.runId === null) run.runId = started.runIds[0] ?? null;
  }

  /** What runs.start takes for the open experiment, or null after saying why it cannot run. */
  private startable() {
    const { doc, validation, path } = this.document;
    if (!doc) return null;
    const options = this.recording.runOptions;
    if (options === null) {
      const limit = this.recording.limit;
      this.notices.error('Cannot run: the event limit is wrong', limit.ok ? '' : limit.message);
      return null;
    }
    if (!validation.ok) {
      this.notices.error(
        'Cannot run: the experiment has problems',
        validation.problems.map((p) => `${p.path}: ${p.message}`).join('\n'),
      );
      this.show('setup');
      return null;
    }
    return { experiment: this.runnable(doc), options, validation, path };
  }

  /** Cancel one variant's run, or all that are queued or running. */
  async cancel(variantIndex?: number): Promise<void> {
    for (const r of this.runs) {
      if (r.runId === null || (variantIndex !== undefined && r.variantIndex !== variantIndex))
        continue;
      if (r.status === 'queued' || r.status === 'running') {
        const runId = r.runId;
        await this.notices.guard('Could not cancel', () =>
          this.connection.client.call('runs.cancel', { runId }),
        );
      }
    }
  }

  /** The document as a run takes it: without the results it was saved with. */
  private runnable(doc: Doc): Doc {
    const copy = $state.snapshot(doc) as Doc;
    delete copy['results'];
    return copy;
  }

  /** The run an event is about: by its id, else (the event came before runs.start answered)
   * the variant's run that has no id yet. */
  private runFor(runId: number, variantIndex?: number): VariantRun | undefined {
    return (
      this.runs.find((r) => r.runId === runId) ??
      (variantIndex !== undefined
        ? this.runs.find((r) => r.variantIndex === variantIndex && r.runId === null)
        : undefined)
    );
  }

  private onProgress(e: ApiEvents['run.progress']): void {
    const run = this.runFor(e.runId, e.variantIndex);
    if (!run) return;
    run.runId = e.runId;
    if (run.status === 'queued') run.status = 'running';
    run.phase = e.phase;
    run.fraction = e.fraction;
    let eta = this.etas.get(e.runId);
    if (!eta) this.etas.set(e.runId, (eta = new PhaseEta()));
    run.etaMs = eta.update(e.phase, e.fraction, this.now());
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
