// The workbench API through the dispatcher, over the real experiment and settings stores in
// temporary folders and the real simulation host (worker threads): presets, runs with progress,
// downsampled results and full-resolution CSV, cancellation, validation, every method's payload
// check, traces and the folders they may come from, dialogs on each transport, settings, events.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  API_METHODS,
  type ApiEnvelope,
  type ApiEvent,
  type ApiEvents,
  type ApiMethod,
  type RunEstimates,
  type RunResultView,
} from '@contract/api.js';
import { DEFAULT_EVENT_LIMIT } from '../../core/events/event-log.js';
import type { RunResult } from '../../core/metrics/result.js';
import { createDispatcher, type Dispatcher } from './dispatch.js';
import { ExperimentStore } from './experiment-store.js';
import { PRESETS_DIR } from './run-preparation.js';
import { SettingsStore } from './settings-store.js';
import { SimulationHost } from './simulation-host.js';
import { makeTempDir, removeDir, validDoc } from './store-test-helpers.js';
import {
  createWorkbench,
  type NativeDialogs,
  type Workbench,
  type WorkbenchSettings,
  type WorkbenchStore,
} from './workbench.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** About ten thousand samples per variant (a 2 s run sampled every 10 us), in under a second. */
function longDoc(): Record<string, unknown> {
  return validDoc('Long run', {
    // Synthetic churn keeps the model busy, so the run has far more samples than are shown.
    workload: {
      kind: 'lifecycle',
      runtime: { durationNs: 2_000_000_000, buffersPerSec: 2000 },
      teardown: false,
    },
    sampling: { intervalNs: 10_000 },
  });
}

/** A run long enough to cancel midway. */
function slowDoc(): Record<string, unknown> {
  return validDoc('Slow run', {
    workload: {
      kind: 'fault-path',
      touchedBytes: 2 * GiB,
      pattern: 'read-then-write',
      order: 'random',
    },
    variants: [
      { name: 'kept', pageSize: '4k', allocator: 'buddy', faultPath: 'change-pte-kept' },
      { name: 'removed', pageSize: '4k', allocator: 'buddy', faultPath: 'change-pte-removed' },
    ],
  });
}

/** A trace workload naming `path` (CSV operation trace). */
function traceDoc(path: string): Record<string, unknown> {
  return validDoc('Trace run', {
    guest: { memoryBytes: 256 * MiB, vendor: 'snp' },
    workload: { kind: 'trace', path, format: 'csv' },
  });
}

class Recorder {
  readonly events: Array<{ event: ApiEvent; payload: unknown }> = [];
  private waiters: Array<() => void> = [];

  emit<E extends ApiEvent>(event: E, payload: ApiEvents[E]): void {
    this.events.push({ event, payload });
    for (const w of this.waiters.splice(0)) w();
  }

  of<E extends ApiEvent>(event: E): ApiEvents[E][] {
    return this.events.filter((e) => e.event === event).map((e) => e.payload as ApiEvents[E]);
  }

  /** Wait until `predicate` holds over the events (checked on every new event; the test's own
   * timeout bounds the wait). */
  async until(predicate: () => boolean): Promise<void> {
    while (!predicate()) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** The end of each of `runIds`: run.done or run.failed. */
  async ends(
    runIds: readonly number[],
  ): Promise<Map<number, ApiEvents['run.done'] | ApiEvents['run.failed']>> {
    const ended = () =>
      new Map(
        [...this.of('run.done'), ...this.of('run.failed')]
          .filter((e) => runIds.includes(e.runId))
          .map((e) => [e.runId, e]),
      );
    await this.until(() => ended().size === runIds.length);
    return ended();
  }
}

interface Bench {
  readonly dir: string;
  readonly workspace: string;
  readonly store: ExperimentStore;
  readonly settings: SettingsStore;
  readonly events: Recorder;
  readonly workbench: Workbench;
  readonly call: <M extends ApiMethod>(method: M, args: unknown) => Promise<ApiEnvelope<unknown>>;
  readonly value: <T = unknown>(method: ApiMethod, args: unknown) => Promise<T>;
}

let host: SimulationHost;
const benches: Bench[] = [];

beforeAll(() => {
  host = new SimulationHost({ size: 2, progressIntervalMs: 20 });
});
afterAll(async () => {
  await host.close();
});
afterEach(async () => {
  for (const b of benches.splice(0)) {
    b.workbench.dispose();
    await removeDir(b.dir);
  }
});

async function bench(
  options: { transport?: 'electron' | 'bridge'; dialogs?: NativeDialogs; keptRuns?: number } = {},
): Promise<Bench> {
  const dir = await makeTempDir('gmemlab-workbench-');
  const workspace = join(dir, 'workspace');
  const settings = await SettingsStore.create(join(dir, 'config'), { workspaceDir: workspace });
  const store = await ExperimentStore.create({ workspaceDir: workspace, settings });
  // The real classes are what the workbench is written against.
  const storeView: WorkbenchStore = store;
  const settingsView: WorkbenchSettings = settings;
  const events = new Recorder();
  const workbench = createWorkbench({
    store: storeView,
    settings: settingsView,
    host,
    events,
    transport: options.transport ?? 'bridge',
    version: '0.0.0-test',
    ...(options.dialogs ? { dialogs: options.dialogs } : {}),
    ...(options.keptRuns ? { keptRuns: options.keptRuns } : {}),
    eventLogDir: join(dir, 'config', 'event-logs'),
  });
  const dispatch: Dispatcher = createDispatcher(workbench, (err) => {
    throw err;
  });
  const call = (method: ApiMethod, args: unknown) => dispatch(method, args);
  const value = async <T>(method: ApiMethod, args: unknown): Promise<T> => {
    const envelope = await call(method, args);
    if (!envelope.ok)
      throw new Error(`${method}: ${envelope.error.code}: ${envelope.error.message}`);
    return envelope.value as T;
  };
  const b: Bench = { dir, workspace, store, settings, events, workbench, call, value };
  benches.push(b);
  return b;
}

function parseCsv(text: string): { header: string[]; rows: number[][] } {
  const [head, ...lines] = text.trimEnd().split('\n');
  return { header: head!.split(','), rows: lines.map((l) => l.split(',').map(Number)) };
}

/** Equal up to the CSV's 12 significant digits. */
function expectSame(shown: number, fromCsv: number): void {
  expect(Math.abs(shown - fromCsv)).toBeLessThanOrEqual(Math.abs(fromCsv) * 1e-11);
}

function extremes(values: ArrayLike<number>): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    min = Math.min(min, values[i]!);
    max = Math.max(max, values[i]!);
  }
  return [min, max];
}

describe('workbench: app and presets', () => {
  it('app.info names the transport and the engine', async () => {
    const b = await bench();
    expect(await b.value('app.info', {})).toMatchObject({
      version: '0.0.0-test',
      transport: 'bridge',
      nativeDialogs: false,
      engineVersion: expect.any(String),
    });
  });

  it('app.setDocumentState keeps the last report and tells each listener, even when unchanged', async () => {
    const b = await bench({ transport: 'electron' });
    expect(b.workbench.documentState()).toBeNull();
    const heard: unknown[] = [];
    const stop = b.workbench.onDocumentState((s) => heard.push(s));
    expect(await b.value('app.setDocumentState', { dirty: true, title: 'a.gmemlab.json' })).toBe(
      null,
    );
    await b.value('app.setDocumentState', { dirty: true, title: 'a.gmemlab.json' });
    stop();
    await b.value('app.setDocumentState', { dirty: false, title: 'a.gmemlab.json' });
    expect(heard).toEqual([
      { dirty: true, title: 'a.gmemlab.json' },
      { dirty: true, title: 'a.gmemlab.json' },
    ]);
    expect(b.workbench.documentState()).toEqual({ dirty: false, title: 'a.gmemlab.json' });
    const bad = await b.call('app.setDocumentState', { dirty: 'yes', title: 'x' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const extra = await b.call('app.setDocumentState', { dirty: true, title: 'x', path: '/etc' });
    expect(extra).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('presets.list lists every bundled preset, validated, with its variants', async () => {
    const b = await bench();
    const presets = await b.value<Array<{ id: string; name: string; variants: string[] }>>(
      'presets.list',
      {},
    );
    expect(presets.map((p) => p.id)).toContain('merge-policies');
    expect(presets.map((p) => p.id)).toContain('trace-replay');
    for (const p of presets) {
      expect(p.name.length).toBeGreaterThan(0);
      expect(p.variants.length).toBeGreaterThanOrEqual(2);
    }
  });

  it('presets.load opens a preset as preset:<id>, defaults filled in; an unknown id is NOT_FOUND', async () => {
    const b = await bench();
    const opened = await b.value<{
      path: string;
      experiment: Record<string, unknown>;
      configHash: string;
    }>('presets.load', { id: 'merge-policies' });
    expect(opened.path).toBe('preset:merge-policies');
    expect(opened.experiment['format']).toBe('gmem-lab-experiment');
    expect(opened.experiment['views']).toEqual([]); // a default
    expect(opened.configHash).toMatch(/^[0-9a-f]{16}$/);
    expect(await b.call('presets.load', { id: 'no-such-preset' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    // A preset is never a file to save over.
    expect(
      await b.call('experiments.save', { experiment: opened.experiment, path: opened.path }),
    ).toMatchObject({ ok: false, error: { code: 'FORBIDDEN_PATH' } });
  });
});

describe('workbench: runs', () => {
  it('streams progress, then run.done with series downsampled to <= 2000 points keeping every extreme; runs.csv is full resolution', async () => {
    const b = await bench();
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', { experiment: longDoc() });
    expect(runIds).toHaveLength(2);
    const ends = await b.events.ends(runIds);

    const progress = b.events.of('run.progress').filter((p) => runIds.includes(p.runId));
    expect(progress.length).toBeGreaterThan(0);
    expect(new Set(progress.map((p) => p.variantIndex))).toEqual(new Set([0, 1]));
    for (const p of progress) {
      expect(p.fraction).toBeGreaterThanOrEqual(0);
      expect(p.fraction).toBeLessThanOrEqual(1);
    }

    for (const [i, runId] of runIds.entries()) {
      const end = ends.get(runId)!;
      expect(end.status).toBe('done');
      const view = (end as ApiEvents['run.done']).result as RunResultView;
      expect(view.variantIndex).toBe(i);
      expect(view.name).toBe(i === 0 ? 'HugeTLB 2 MiB' : '4 KiB');
      const series = view.series as RunResult['series'];
      expect(series.fullLength).toBeGreaterThan(2000);
      expect(series.timeNs.length).toBeLessThanOrEqual(2000);
      expect(series.timeNs).toBeInstanceOf(Float64Array);
      for (const column of [...series.values, ...series.nodeBytes])
        expect(column.length).toBe(series.timeNs.length);

      const csv = parseCsv(await b.value<string>('runs.csv', { runId }));
      expect(csv.rows).toHaveLength(series.fullLength);
      expect(csv.header).toEqual([
        'time_ns',
        ...series.names,
        ...series.nodeBytes.map((_, n) => `node${n}_bytes`),
      ]);
      // Every series keeps its exact minimum and maximum, and its first and last samples.
      [...series.values, ...series.nodeBytes].forEach((shown, c) => {
        const full = csv.rows.map((r) => r[c + 1]!);
        const [min, max] = extremes(full);
        const [shownMin, shownMax] = extremes(shown);
        expectSame(shownMin, min);
        expectSame(shownMax, max);
        expectSame(shown[0]!, full[0]!);
        expectSame(shown.at(-1)!, full.at(-1)!);
      });
      expectSame(series.timeNs[0]!, csv.rows[0]![0]!);
      expectSame(series.timeNs.at(-1)!, csv.rows.at(-1)![0]!);
    }
  });

  it('runs only the variants asked for; a variant that does not exist is BAD_REQUEST', async () => {
    const b = await bench();
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: validDoc(),
      variantIndexes: [1],
    });
    const ends = await b.events.ends(runIds);
    expect((ends.get(runIds[0]!) as ApiEvents['run.done']).result.variantIndex).toBe(1);
    expect(
      await b.call('runs.start', { experiment: validDoc(), variantIndexes: [0, 5] }),
    ).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: /variant 5/ } });
  });

  it('runs.cancel stops a running run: run.failed with status cancelled', async () => {
    const b = await bench();
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: slowDoc(),
      variantIndexes: [0],
    });
    const runId = runIds[0]!;
    await b.events.until(() => b.events.of('run.progress').some((p) => p.runId === runId));
    expect(await b.value('runs.cancel', { runId })).toEqual({ cancelled: true });
    const end = (await b.events.ends([runId])).get(runId)!;
    expect(end).toEqual({
      runId,
      variantIndex: 0,
      status: 'cancelled',
      message: expect.stringMatching(/cancelled/),
    });
    // Nothing left to cancel, and no results to export.
    expect(await b.value('runs.cancel', { runId })).toEqual({ cancelled: false });
    expect(await b.call('runs.csv', { runId })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
  });

  it('runs.csv of a run still going is CONFLICT; of an unknown run NOT_FOUND', async () => {
    const b = await bench();
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: slowDoc(),
      variantIndexes: [0],
    });
    expect(await b.call('runs.csv', { runId: runIds[0] })).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT' },
    });
    await b.value('runs.cancel', { runId: runIds[0] });
    await b.events.ends(runIds);
    expect(await b.call('runs.csv', { runId: 999_999 })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
  });

  it('keeps only the last keptRuns finished runs at full resolution', async () => {
    const b = await bench({ keptRuns: 1 });
    const first = await b.value<{ runIds: number[] }>('runs.start', { experiment: validDoc() });
    await b.events.ends(first.runIds);
    // The two variants run in parallel: whichever finished last is the one kept.
    const answers = await Promise.all(first.runIds.map((runId) => b.call('runs.csv', { runId })));
    expect(answers.filter((a) => a.ok)).toHaveLength(1);
    expect(answers.find((a) => !a.ok)).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND', message: /last 1 finished/ },
    });
  });

  it('runs.estimate says what each variant implies, and which event logs the limit would cut', async () => {
    const b = await bench();
    const estimates = await b.value<RunEstimates>('runs.estimate', { experiment: validDoc() });
    expect(estimates.eventLimit).toBe(DEFAULT_EVENT_LIMIT);
    expect(estimates.variants.map((v) => v.variant)).toEqual(['HugeTLB 2 MiB', '4 KiB']);
    for (const v of estimates.variants) {
      expect(v.guestPages).toBe((validDoc().guest as { memoryBytes: number }).memoryBytes / 4096);
      expect(v.events).toBeGreaterThan(0);
      expect(v.modelBytes).toBeGreaterThan(0);
    }
    expect(estimates.cuts).toEqual([]);
    // A limit below the events the 4 KiB variant logs at least: that variant's log is named.
    const small = await b.value<RunEstimates>('runs.estimate', {
      experiment: validDoc(),
      eventLimit: estimates.variants[1]!.events - 1,
    });
    expect(small.cuts.map((c) => c.variant)).toContain('4 KiB');
    expect(small.cuts.every((c) => c.limit === estimates.variants[1]!.events - 1)).toBe(true);
    expect(await b.call('runs.estimate', { experiment: validDoc(), eventLimit: 0 })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST', message: /at least 1 event/ },
    });
  });

  it('a run that records its event log streams it to the data folder; runs.events gives it back line for line', async () => {
    const b = await bench();
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: validDoc(),
      recordEvents: true,
    });
    const ends = await b.events.ends(runIds);
    for (const runId of runIds) {
      const view = (ends.get(runId) as ApiEvents['run.done']).result;
      expect(view.eventLog!.logged).toBeGreaterThan(0);
      expect(view.eventLog!.dropped).toBe(0);
      const lines = (await b.value<string>('runs.events', { runId })).trimEnd().split('\n');
      expect(lines).toHaveLength(view.eventLog!.logged);
      const first = JSON.parse(lines[0]!) as { variant: string; type: string };
      expect(first.variant).toBe(view.name);
    }
    // The logs are files of this process's folder in the data folder, nowhere else.
    const folders = await readdir(join(b.dir, 'config', 'event-logs'));
    expect(folders).toHaveLength(1);
    expect(await readdir(join(b.dir, 'config', 'event-logs', folders[0]!))).toHaveLength(2);
    // On the bridge there is no save dialog: the browser downloads runs.events.
    expect(await b.call('runs.saveEvents', { runId: runIds[0] })).toMatchObject({
      ok: false,
      error: { code: 'UNSUPPORTED', message: /runs\.events/ },
    });
  });

  it('a log past its limit ends with the line that says how much it left out', async () => {
    const b = await bench();
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: validDoc(),
      variantIndexes: [1],
      recordEvents: true,
      eventLimit: 10,
    });
    const view = ((await b.events.ends(runIds)).get(runIds[0]!) as ApiEvents['run.done']).result;
    expect(view.eventLog).toMatchObject({ logged: 10, limit: 10 });
    expect(view.eventLog!.dropped).toBeGreaterThan(0);
    const lines = (await b.value<string>('runs.events', { runId: runIds[0] }))
      .trimEnd()
      .split('\n');
    expect(lines).toHaveLength(11);
    expect(JSON.parse(lines[10]!)).toMatchObject({
      type: 'log_truncated',
      dropped: view.eventLog!.dropped,
      limit: 10,
    });
  });

  it('runs.events of a run that recorded nothing, or still runs, says so; a cancelled run leaves no log', async () => {
    const b = await bench();
    const plain = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: validDoc(),
      variantIndexes: [0],
    });
    await b.events.ends(plain.runIds);
    expect(await b.call('runs.events', { runId: plain.runIds[0] })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND', message: /recorded no event log/ },
    });
    const slow = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: slowDoc(),
      variantIndexes: [0],
      recordEvents: true,
    });
    const runId = slow.runIds[0]!;
    expect(await b.call('runs.events', { runId })).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT' },
    });
    await b.value('runs.cancel', { runId });
    await b.events.ends([runId]);
    const folder = join(b.dir, 'config', 'event-logs');
    const [own] = await readdir(folder);
    expect(await readdir(join(folder, own!))).toEqual([]);
  });

  it('on Electron, runs.saveEvents writes the log where the user chose; a dropped run takes its log with it', async () => {
    const dir = await makeTempDir('gmemlab-events-save-');
    const target = join(dir, 'chosen.jsonl');
    const dialogs: NativeDialogs = {
      openExperiment: async () => null,
      saveExperiment: async () => null,
      saveFile: async (name, kind) => {
        expect(kind).toBe('jsonl');
        expect(name).toMatch(/\.events\.jsonl$/);
        return target;
      },
    };
    const b = await bench({ transport: 'electron', dialogs, keptRuns: 1 });
    try {
      const first = await b.value<{ runIds: number[] }>('runs.start', {
        experiment: validDoc(),
        variantIndexes: [0],
        recordEvents: true,
      });
      await b.events.ends(first.runIds);
      const text = await b.value<string>('runs.events', { runId: first.runIds[0] });
      expect(await b.value('runs.saveEvents', { runId: first.runIds[0] })).toEqual({
        path: target,
      });
      expect(await readFile(target, 'utf8')).toBe(text);
      // keptRuns 1: the next finished run drops the first, and its log file goes too.
      const second = await b.value<{ runIds: number[] }>('runs.start', {
        experiment: validDoc(),
        variantIndexes: [0],
        recordEvents: true,
      });
      await b.events.ends(second.runIds);
      expect(await b.call('runs.events', { runId: first.runIds[0] })).toMatchObject({
        ok: false,
        error: { code: 'NOT_FOUND', message: /last 1 finished/ },
      });
      const folder = join(b.dir, 'config', 'event-logs');
      const [own] = await readdir(folder);
      expect(await readdir(join(folder, own!))).toHaveLength(1);
    } finally {
      await removeDir(dir);
    }
  });

  it('an invalid experiment is INVALID_EXPERIMENT with every problem and its field path', async () => {
    const b = await bench();
    const doc = validDoc('Bad', {
      variants: [{ name: 'only one', pageSize: '3m', allocator: 'hugetlb' }],
    });
    const envelope = await b.call('runs.start', { experiment: doc });
    expect(envelope).toMatchObject({ ok: false, error: { code: 'INVALID_EXPERIMENT' } });
    if (envelope.ok) return;
    const problems = envelope.error.details as Array<{ path: string; message: string }>;
    expect(problems.map((p) => p.path)).toEqual(
      expect.arrayContaining(['variants[0].pageSize', 'variants']),
    );
    expect(envelope.error.message).toMatch(/variants\[0\]\.pageSize/);
    expect(b.events.events).toEqual([]);
    // A newer format version says so.
    expect(
      await b.call('runs.start', { experiment: { ...validDoc(), version: 99 } }),
    ).toMatchObject({ ok: false, error: { code: 'NEWER_VERSION' } });
  });

  it('a failing run (a bad trace line) ends in run.failed with status failed and the message', async () => {
    const b = await bench();
    await writeFile(
      join(b.workspace, 'bad.csv'),
      'time_ns,op,offset,size,to,who,access\n0,explode,0x0,0x1000,,,\n',
    );
    const { path } = await b.value<{ path: string }>('experiments.save', {
      experiment: traceDoc('bad.csv'),
      fileName: 'bad trace',
    });
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: traceDoc('bad.csv'),
      path,
      variantIndexes: [0],
    });
    const end = (await b.events.ends(runIds)).get(runIds[0]!)!;
    expect(end).toMatchObject({ status: 'failed', message: expect.stringMatching(/bad\.csv:2/) });
  });
});

describe('workbench: sweeps', () => {
  it('runs every point and variant on the pool: one progress, then the summary of each run, the same as a run of that point', async () => {
    const b = await bench();
    const started = await b.value<{ sweepId: number; points: number; runs: number }>(
      'sweeps.start',
      { experiment: validDoc(), axes: [{ path: 'seed', values: [1, 7] }] },
    );
    expect(started).toMatchObject({ points: 2, runs: 4 });
    await b.events.until(() => b.events.of('sweep.done').length === 1);
    const done = b.events.of('sweep.done')[0]!;
    expect(done.status).toBe('done');
    expect(done.sweepId).toBe(started.sweepId);
    const rows = [...done.rows].sort(
      (x, y) => x.point - y.point || x.variantIndex - y.variantIndex,
    );
    expect(rows.map((r) => [r.point, r.params['seed'], r.variantIndex])).toEqual([
      [0, 1, 0],
      [0, 1, 1],
      [1, 7, 0],
      [1, 7, 1],
    ]);
    const progress = b.events.of('sweep.progress');
    expect(progress.at(-1)).toMatchObject({ done: 4, total: 4, failed: 0, fraction: 1 });
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!.done).toBeGreaterThanOrEqual(progress[i - 1]!.done);
    // The point seed=7 gives what a run of that experiment gives.
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: { ...validDoc(), seed: 7 },
    });
    const ends = await b.events.ends(runIds);
    for (const id of runIds) {
      const end = ends.get(id) as ApiEvents['run.done'];
      expect(rows[2 + end.result.variantIndex]!.summary).toEqual(end.result.summary.metrics);
    }
  });

  it("runs the experiment's own sweep; no sweep, or a point the schema refuses, is BAD_REQUEST", async () => {
    const b = await bench();
    const own = await b.value<{ points: number }>('sweeps.start', {
      experiment: { ...validDoc(), sweep: { axes: [{ path: 'seed', values: [1, 2, 3] }] } },
    });
    expect(own.points).toBe(3);
    expect(await b.call('sweeps.start', { experiment: validDoc() })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST', message: /no "sweep"/ },
    });
    expect(
      await b.call('sweeps.start', {
        experiment: validDoc(),
        axes: [{ path: 'guest.vcpus', values: [0] }],
      }),
    ).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST', message: /guest\.vcpus=0 makes the experiment invalid/ },
    });
    await b.events.until(() => b.events.of('sweep.done').length === 1);
  });

  it('sweeps.cancel stops every run of the sweep: sweep.done says cancelled', async () => {
    const b = await bench();
    const { sweepId } = await b.value<{ sweepId: number }>('sweeps.start', {
      experiment: slowDoc(),
      axes: [{ path: 'seed', values: [1, 2, 3] }],
    });
    await b.events.until(() => b.events.of('sweep.progress').some((p) => p.fraction > 0));
    expect(await b.value('sweeps.cancel', { sweepId })).toEqual({ cancelled: true });
    await b.events.until(() => b.events.of('sweep.done').length === 1);
    const done = b.events.of('sweep.done')[0]!;
    expect(done.status).toBe('cancelled');
    expect(done.rows.length).toBeLessThan(6);
    expect(await b.value('sweeps.cancel', { sweepId })).toEqual({ cancelled: false });
  });
});

describe('workbench: traces', () => {
  it('reads a preset trace relative to the presets folder', async () => {
    const b = await bench();
    const preset = await b.value<{ path: string; experiment: Record<string, unknown> }>(
      'presets.load',
      { id: 'trace-replay' },
    );
    // Only the start matters here (the trace is read and handed to the worker); cancel at once.
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: preset.experiment,
      path: preset.path,
      variantIndexes: [2],
    });
    await b.value('runs.cancel', { runId: runIds[0] });
    const end = (await b.events.ends(runIds)).get(runIds[0]!)!;
    expect(['done', 'cancelled']).toContain(end.status);
  });

  it('reads a trace beside a workspace experiment, and an unsaved one from the workspace', async () => {
    const b = await bench();
    await copyFile(join(PRESETS_DIR, '../traces/example.csv'), join(b.workspace, 'example.csv'));
    const { path } = await b.value<{ path: string }>('experiments.save', {
      experiment: traceDoc('example.csv'),
      fileName: 'with trace',
    });
    for (const args of [{ path }, {}]) {
      const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
        experiment: traceDoc('example.csv'),
        ...args,
      });
      const ends = await b.events.ends(runIds);
      expect([...ends.values()].map((e) => e.status)).toEqual(['done', 'done']);
    }
  });

  it('refuses traces outside the workspace and experiment paths nobody opened', async () => {
    const b = await bench();
    const outside = join(b.dir, 'elsewhere');
    await mkdir(outside);
    await copyFile(join(PRESETS_DIR, '../traces/example.csv'), join(outside, 'example.csv'));
    // ../elsewhere from the workspace: outside it.
    expect(
      await b.call('runs.start', { experiment: traceDoc('../elsewhere/example.csv') }),
    ).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN_PATH', message: /outside the folders/ },
    });
    expect(await b.call('runs.start', { experiment: traceDoc('/etc/passwd') })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN_PATH' },
    });
    // An experiment path that is neither in the workspace nor opened: not a place to read from.
    expect(
      await b.call('runs.start', {
        experiment: traceDoc('example.csv'),
        path: join(outside, 'x.gmemlab.json'),
      }),
    ).toMatchObject({ ok: false, error: { code: 'FORBIDDEN_PATH', message: /open it first/ } });
    // A missing trace names the field.
    const missing = await b.call('runs.start', { experiment: traceDoc('missing.csv') });
    expect(missing).toMatchObject({ ok: false, error: { code: 'INVALID_EXPERIMENT' } });
    if (!missing.ok)
      expect(missing.error.details).toEqual([expect.objectContaining({ path: 'workload.path' })]);
  });
});

describe('workbench: payload checks', () => {
  it.each(Object.keys(API_METHODS) as ApiMethod[])(
    '%s refuses an invalid payload with a BAD_REQUEST envelope',
    async (method) => {
      const b = await bench({ transport: 'electron', dialogs: failingDialogs() });
      for (const payload of [{ bogus: 1 }, 'text', 42, [1, 2]]) {
        const envelope = await b.call(method, payload);
        expect(envelope).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
      }
      expect(b.events.events).toEqual([]);
    },
  );

  it('an unknown method is UNKNOWN_METHOD', async () => {
    const b = await bench();
    expect(await b.call('runs.delete' as ApiMethod, {})).toMatchObject({
      ok: false,
      error: { code: 'UNKNOWN_METHOD' },
    });
  });
});

/** Dialogs that fail the test if anything reaches them. */
function failingDialogs(): NativeDialogs {
  const fail = async (): Promise<never> => {
    throw new Error('a dialog was opened');
  };
  return { openExperiment: fail, saveExperiment: fail, saveFile: fail };
}

/** Dialogs that answer with fixed paths and record what they were asked. */
function scriptedDialogs(answers: {
  open?: string | null;
  save?: string | null;
  file?: string | null;
}) {
  const asked: string[] = [];
  const dialogs: NativeDialogs = {
    openExperiment: async () => (asked.push('open'), answers.open ?? null),
    saveExperiment: async (name) => (asked.push(`save ${name}`), answers.save ?? null),
    saveFile: async (name, kind) => (asked.push(`file ${name} ${kind}`), answers.file ?? null),
  };
  return { dialogs, asked };
}

describe('workbench: dialogs and exports', () => {
  it('on the bridge, the dialog methods are UNSUPPORTED (the browser has its own)', async () => {
    const { dialogs, asked } = scriptedDialogs({ open: '/x.gmemlab.json' });
    const b = await bench({ transport: 'bridge', dialogs });
    expect((await b.value<{ nativeDialogs: boolean }>('app.info', {})).nativeDialogs).toBe(false);
    for (const [method, args] of [
      ['experiments.saveAs', { experiment: validDoc() }],
      ['experiments.openDialog', {}],
      ['exports.write', { suggestedName: 'a.csv', kind: 'csv', data: 'a\n' }],
    ] as const) {
      expect(await b.call(method, args)).toMatchObject({
        ok: false,
        error: { code: 'UNSUPPORTED' },
      });
    }
    expect(asked).toEqual([]);
  });

  it('on Electron, saveAs and openDialog go through the dialog, outside the workspace too', async () => {
    const outsideDir = await makeTempDir('gmemlab-outside-');
    try {
      const target = join(outsideDir, 'mine.gmemlab.json');
      const { dialogs, asked } = scriptedDialogs({ save: target, open: target });
      const b = await bench({ transport: 'electron', dialogs });
      expect((await b.value<{ nativeDialogs: boolean }>('app.info', {})).nativeDialogs).toBe(true);
      const saved = await b.value<{ path: string }>('experiments.saveAs', {
        experiment: validDoc('Saved elsewhere'),
      });
      expect(saved.path).toBe(target);
      expect(JSON.parse(await readFile(target, 'utf8')).name).toBe('Saved elsewhere');
      const opened = await b.value<{ path: string; experiment: { name: string } }>(
        'experiments.openDialog',
        {},
      );
      expect(opened).toMatchObject({ path: target, experiment: { name: 'Saved elsewhere' } });
      expect(asked).toEqual(['save Saved elsewhere.gmemlab.json', 'open']);
      // A trace beside a file opened through the dialog may be read.
      await copyFile(join(PRESETS_DIR, '../traces/example.csv'), join(outsideDir, 'example.csv'));
      const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
        experiment: traceDoc('example.csv'),
        path: target,
        variantIndexes: [0],
      });
      expect((await b.events.ends(runIds)).get(runIds[0]!)!.status).toBe('done');
    } finally {
      await removeDir(outsideDir);
    }
  });

  it('a cancelled dialog answers null and writes nothing', async () => {
    const { dialogs } = scriptedDialogs({});
    const b = await bench({ transport: 'electron', dialogs });
    expect(await b.value('experiments.saveAs', { experiment: validDoc() })).toBeNull();
    expect(await b.value('experiments.openDialog', {})).toBeNull();
    expect(
      await b.value('exports.write', { suggestedName: 'a.txt', kind: 'txt', data: 'x' }),
    ).toBeNull();
  });

  it('exports.write writes text and base64 data where the user chose', async () => {
    const b0 = await bench();
    const png = join(b0.dir, 'chart.png');
    const txt = join(b0.dir, 'table.txt');
    const { dialogs, asked } = scriptedDialogs({ file: png });
    const b = await bench({ transport: 'electron', dialogs });
    const bytes = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 255]);
    expect(
      await b.value('exports.write', {
        suggestedName: 'chart.png',
        kind: 'png',
        data: Buffer.from(bytes).toString('base64'),
        encoding: 'base64',
      }),
    ).toEqual({ path: png });
    expect(new Uint8Array(await readFile(png))).toEqual(bytes);
    expect(asked).toEqual(['file chart.png png']);
    expect(
      await b.call('exports.write', {
        suggestedName: 'chart.png',
        kind: 'png',
        data: 'not base64!',
        encoding: 'base64',
      }),
    ).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });

    const { dialogs: textDialogs } = scriptedDialogs({ file: txt });
    const t = await bench({ transport: 'electron', dialogs: textDialogs });
    await t.value('exports.write', { suggestedName: 'table.txt', kind: 'txt', data: 'héllo\n' });
    expect(await readFile(txt, 'utf8')).toBe('héllo\n');
  });
});

describe('workbench: store and settings', () => {
  it('saves, lists, opens, duplicates, renames and deletes through the store', async () => {
    const b = await bench();
    const { path } = await b.value<{ path: string }>('experiments.save', {
      experiment: validDoc('One'),
      fileName: 'one',
    });
    expect(path).toBe(join(b.workspace, 'one.gmemlab.json'));
    const list = await b.value<Array<{ path: string; name: string }>>('experiments.list', {});
    expect(list.map((e) => e.name)).toEqual(['One']);
    expect(
      (await b.value<{ configHash: string }>('experiments.open', { path })).configHash,
    ).toMatch(/^[0-9a-f]{16}$/);
    const copy = await b.value<{ path: string }>('experiments.duplicate', { path });
    const renamed = await b.value<{ path: string }>('experiments.rename', {
      path: copy.path,
      name: 'two',
    });
    expect(renamed.path).toBe(join(b.workspace, 'two.gmemlab.json'));
    const imported = await b.value<{ path: string }>('experiments.import', {
      fileName: 'imported.gmemlab.json',
      text: JSON.stringify(validDoc('Imported')),
    });
    expect(imported.path.startsWith(b.workspace)).toBe(true);
  });

  it('settings.set saves the theme and emits settings.changed', async () => {
    const b = await bench();
    const next = await b.value<{ theme: string }>('settings.set', { theme: 'dark' });
    expect(next.theme).toBe('dark');
    expect(b.events.of('settings.changed').at(-1)).toMatchObject({ theme: 'dark' });
    expect(await b.value('settings.get', {})).toMatchObject({ theme: 'dark' });
  });

  it("the memory budget of the settings holds for the workbench's runs: a run that needs more fails with the reason", async () => {
    const b = await bench();
    expect(
      (await b.value<{ defaultMemoryBudgetBytes: number | null }>('app.info', {}))
        .defaultMemoryBudgetBytes,
    ).toBe(host.storageBudget);
    // 20,000 buffers placed anywhere in 128 GiB, each faulted in and accepted where it lands: page
    // bitmaps for most of its 1 GiB ranges, more than 1 MiB.
    await b.value('settings.set', { memoryBudgetBytes: MiB });
    const doc = validDoc('Budget', {
      host: { nodes: [{ memoryBytes: 256 * GiB, cpus: '0-7' }] },
      guest: { memoryBytes: 128 * GiB, vendor: 'snp' },
      workload: {
        kind: 'lifecycle',
        boot: { accept: { mode: 'lazy' } },
        runtime: { durationNs: 200_000_000, buffersPerSec: 100_000, region: 'all', locality: 0 },
        teardown: false,
      },
      variants: [
        { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
        { name: 'THP 2 MiB', pageSize: '2m', allocator: 'thp' },
      ],
    });
    const { runIds } = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: doc,
      variantIndexes: [0],
    });
    const end = (await b.events.ends(runIds)).get(runIds[0]!)!;
    expect(end).toMatchObject({ status: 'failed' });
    expect((end as { message: string }).message).toMatch(/budget of 1 MiB/);
    // Back to the default: the same run completes.
    await b.value('settings.set', { memoryBudgetBytes: null });
    const again = await b.value<{ runIds: number[] }>('runs.start', {
      experiment: doc,
      variantIndexes: [0],
    });
    expect((await b.events.ends(again.runIds)).get(again.runIds[0]!)).toMatchObject({
      status: 'done',
    });
    expect(await b.call('settings.set', { memoryBudgetBytes: 1000 })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
  });

  it('settings.set refuses a workspace folder: the page does not choose where files are written', async () => {
    const b = await bench();
    const before = b.store.workspaceDir;
    const other = join(b.dir, 'other-workspace');
    expect(await b.call('settings.set', { workspaceDir: other })).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
    expect(b.store.workspaceDir).toBe(before);
    expect(b.events.of('settings.changed')).toEqual([]);
  });

  it('a file another program writes into the workspace gives store.changed', async () => {
    const b = await bench();
    // No wait for the watcher: createWorkbench starts it with fs.watch, which adds the inotify
    // (or FSEvents, ReadDirectoryChangesW) watch before it returns.
    const file = join(b.workspace, 'external.gmemlab.json');
    await writeFile(file, JSON.stringify(validDoc('External')));
    await b.events.until(() => b.events.of('store.changed').length > 0);
    const paths = b.events.of('store.changed').flatMap((e) => e.paths);
    // Some platforms do not say which file changed: then paths is empty.
    if (paths.length > 0) expect(paths).toContain(file);
  });
});

describe('workbench: host closed', () => {
  it('runs.start on a closed host is RUN_FAILED', async () => {
    const closed = new SimulationHost({ size: 1 });
    await closed.close();
    const dir = await makeTempDir('gmemlab-workbench-');
    try {
      const settings = await SettingsStore.create(join(dir, 'config'), {
        workspaceDir: join(dir, 'w'),
      });
      const store = await ExperimentStore.create({ workspaceDir: join(dir, 'w'), settings });
      const workbench = createWorkbench({
        store,
        settings,
        host: closed,
        events: new Recorder(),
        transport: 'bridge',
        version: 'test',
      });
      const envelope = await createDispatcher(workbench)('runs.start', { experiment: validDoc() });
      expect(envelope).toMatchObject({ ok: false, error: { code: 'RUN_FAILED' } });
      workbench.dispose();
    } finally {
      await removeDir(dir);
    }
  });
});
