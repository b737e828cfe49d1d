// The runs of the open experiment: starting them, following their events (progress with the
// time left, done, failed, cancelled), cancelling, the results a file carries, the estimate and
// the event logs, against the fake of the contract's client. The open document is the real
// experiments store (its validation is core's).
import { describe, expect, it } from 'vitest';
import { ApiError, type RunResultView } from '@contract/api';
import preset from '../../../../resources/presets/merge-policies.gmemlab.json';
import { configHash, parseExperimentValue } from '../../../../core/experiment/load';
import { Connection } from './connection.svelte';
import { ExperimentsState, type Doc, type SavedResultsPort, type View } from './experiments.svelte';
import { fakeApi, fakeInfo, GiB } from './fake-api';
import { Notices } from './notices.svelte';
import { RunsState } from './runs.svelte';

const VARIANTS = preset.variants.map((v) => v.name);

function setup(answers: Parameters<typeof fakeApi>[0] = {}, nativeDialogs = false) {
  const fake = fakeApi({ 'runs.start': () => ({ runIds: [11, 12, 13, 14] }), ...answers });
  const connection = new Connection();
  connection.api = fake.api;
  connection.info = fakeInfo({ nativeDialogs });
  const notices = new Notices();
  const shown: View[] = [];
  const show = (v: View) => void shown.push(v);
  let nowMs = 0;
  const clock = { set: (ms: number) => (nowMs = ms) };
  const experiments: ExperimentsState = new ExperimentsState(
    connection,
    notices,
    { restore: (d) => runs.restore(d), toSave: (h) => runs.toSave(h) } as SavedResultsPort,
    show,
  );
  const runs: RunsState = new RunsState(connection, notices, experiments, show, () => nowMs);
  runs.listen(fake.api);
  return { fake, notices, experiments, runs, shown, clock };
}

function open(experiments: ExperimentsState, extra: Doc = {}): void {
  experiments.load({
    path: '/w/m.gmemlab.json',
    experiment: { ...structuredClone(preset), ...extra } as Doc,
    modifiedMs: 1,
    configHash: 'x',
  });
}

function result(runId: number, variantIndex: number): RunResultView {
  return {
    runId,
    variantIndex,
    name: VARIANTS[variantIndex]!,
    summary: { metrics: { host_total_bytes: GiB * (variantIndex + 1) } },
    series: { timeNs: new Float64Array(0), names: [], values: [] },
  };
}

describe('RunsState', () => {
  it('queues a run per variant, starts them without the saved results, and shows the runs', async () => {
    const { fake, experiments, runs, shown } = setup();
    open(experiments);
    await runs.run();
    expect(shown).toEqual(['runs']);
    const [args] = fake.argsOf('runs.start');
    expect(args).toMatchObject({ path: '/w/m.gmemlab.json', experiment: { name: preset.name } });
    expect(args!.experiment).not.toHaveProperty('results');
    expect(args).not.toHaveProperty('recordEvents');
    expect(runs.runs.map((r) => [r.name, r.status, r.runId])).toEqual(
      VARIANTS.map((name, i) => [name, 'queued', 11 + i]),
    );
    expect(runs.running).toBe(true);
    expect(runs.resultsHash).toBe(experiments.validation.hash);
  });

  it('follows progress with the time left in the phase, then the results in variant order', async () => {
    const { fake, experiments, runs, clock } = setup();
    open(experiments);
    await runs.run();
    const progress = (runId: number, fraction: number) =>
      fake.emit('run.progress', { runId, variantIndex: runId - 11, phase: 'boot', fraction });
    clock.set(0);
    progress(11, 0.1);
    expect(runs.runs[0]).toMatchObject({ status: 'running', phase: 'boot', fraction: 0.1 });
    // Too early to say after one report.
    expect(runs.runs[0]!.etaMs).toBeNull();
    clock.set(2000);
    progress(11, 0.3);
    // 0.2 of the phase in 2 s: 0.7 left takes 7 s.
    expect(runs.runs[0]!.etaMs).toBeCloseTo(7000);

    fake.emit('run.done', { runId: 12, variantIndex: 1, status: 'done', result: result(12, 1) });
    fake.emit('run.done', { runId: 11, variantIndex: 0, status: 'done', result: result(11, 0) });
    fake.emit('run.failed', { runId: 13, variantIndex: 2, status: 'failed', message: 'OOM' });
    expect(runs.running).toBe(true);
    fake.emit('run.failed', { runId: 14, variantIndex: 3, status: 'cancelled', message: 'x' });
    expect(runs.running).toBe(false);
    expect(runs.results.map((r) => r.variantIndex)).toEqual([0, 1]);
    expect(runs.runs[2]).toMatchObject({ status: 'failed', message: 'OOM' });
    expect(runs.runs[3]!.status).toBe('cancelled');
    // Another run's events are not these runs'.
    fake.emit('run.done', { runId: 99, variantIndex: 0, status: 'done', result: result(99, 0) });
    expect(runs.results.map((r) => r.runId)).toEqual([11, 12]);
  });

  it('takes the events that come before runs.start answers, by variant', async () => {
    let emitEarly = () => {};
    const { fake, experiments, runs } = setup({
      'runs.start': () => {
        emitEarly();
        return { runIds: [21, 22, 23, 24] };
      },
    });
    emitEarly = () =>
      fake.emit('run.progress', { runId: 22, variantIndex: 1, phase: 'boot', fraction: 0.5 });
    open(experiments);
    await runs.run();
    expect(runs.runs.map((r) => r.runId)).toEqual([21, 22, 23, 24]);
    expect(runs.runs[1]).toMatchObject({ status: 'running', fraction: 0.5 });
  });

  it('marks the runs failed when the start is refused, and says why', async () => {
    const { experiments, runs, notices } = setup({
      'runs.start': () => {
        throw new ApiError('TOO_LARGE', 'the model needs 9 GiB, the budget is 6 GiB');
      },
    });
    open(experiments);
    await runs.run();
    expect(runs.runs.every((r) => r.status === 'failed')).toBe(true);
    expect(runs.running).toBe(false);
    expect(notices.banner).toMatchObject({
      title: 'Could not start the run',
      message: expect.stringMatching(/budget/),
    });
  });

  it('does not start an experiment with problems: says which, and shows the setup', async () => {
    const { fake, experiments, runs, notices, shown } = setup();
    open(experiments);
    (experiments.doc!['guest'] as Doc)['vcpus'] = 0;
    await runs.run();
    expect(fake.calls).toEqual([]);
    expect(shown).toEqual(['setup']);
    expect(notices.banner?.title).toBe('Cannot run: the experiment has problems');
    expect(notices.banner?.message).toMatch(/^guest\.vcpus: /);
  });

  it('records the event log with the limit typed, and refuses a wrong limit', async () => {
    const { fake, experiments, runs, notices } = setup();
    open(experiments);
    runs.recording.record = true;
    runs.recording.limitText = '2,000,000';
    await runs.run();
    expect(fake.argsOf('runs.start')[0]).toMatchObject({
      recordEvents: true,
      eventLimit: 2_000_000,
    });
    runs.recording.limitText = '0';
    await runs.run();
    expect(fake.argsOf('runs.start')).toHaveLength(1);
    expect(notices.banner).toMatchObject({
      title: 'Cannot run: the event limit is wrong',
      message: expect.stringMatching(/at least 1 event/),
    });
  });

  it('cancels the queued and running runs, or one variant, and leaves finished ones', async () => {
    const { fake, experiments, runs } = setup();
    open(experiments);
    await runs.run();
    fake.emit('run.done', { runId: 11, variantIndex: 0, status: 'done', result: result(11, 0) });
    await runs.cancel(1);
    expect(fake.argsOf('runs.cancel')).toEqual([{ runId: 12 }]);
    await runs.cancel();
    expect(fake.argsOf('runs.cancel').map((a) => a.runId)).toEqual([12, 12, 13, 14]);
  });

  it('runs a failed or cancelled variant again alone, keeping the others; all of them once the configuration changed', async () => {
    const { fake, experiments, runs } = setup({
      'runs.start': (args) => ({
        runIds: (args['variantIndexes'] as number[] | undefined)?.map((i) => 31 + i) ?? [
          11, 12, 13, 14,
        ],
      }),
    });
    open(experiments);
    await runs.run();
    fake.emit('run.done', { runId: 11, variantIndex: 0, status: 'done', result: result(11, 0) });
    fake.emit('run.failed', { runId: 12, variantIndex: 1, status: 'failed', message: 'OOM' });
    fake.emit('run.failed', { runId: 13, variantIndex: 2, status: 'cancelled', message: 'x' });
    expect([0, 1, 2, 3].map((i) => runs.canRunAgain(i))).toEqual([false, true, true, false]);

    await runs.runAgain(1);
    expect(fake.argsOf('runs.start')[1]).toMatchObject({ variantIndexes: [1] });
    expect(runs.runs.map((r) => [r.status, r.runId])).toEqual([
      ['done', 11],
      ['queued', 32],
      ['cancelled', 13],
      ['queued', 14],
    ]);
    expect(runs.results.map((r) => r.runId)).toEqual([11]);
    expect(runs.runs[1]!.message).toBeUndefined();
    fake.emit('run.done', { runId: 32, variantIndex: 1, status: 'done', result: result(32, 1) });
    expect(runs.results.map((r) => r.runId)).toEqual([11, 32]);

    (experiments.doc!['guest'] as Doc)['vcpus'] = 2;
    expect(runs.canRunAgain(2)).toBe(false);
    await runs.runAgain(2);
    expect(fake.argsOf('runs.start')[2]).not.toHaveProperty('variantIndexes');
    expect(runs.runs.every((r) => r.status === 'queued')).toBe(true);
  });

  it('calls results stale once the configuration changes, not for its notes', async () => {
    const { experiments, runs } = setup();
    open(experiments);
    await runs.run();
    expect(runs.stale).toBe(false);
    experiments.doc!['notes'] = 'about this run';
    expect(runs.stale).toBe(false);
    (experiments.doc!['guest'] as Doc)['vcpus'] = 2;
    expect(runs.stale).toBe(true);
  });

  it('shows the results a file was saved with, and saves them only for their configuration', () => {
    const { experiments, runs, notices } = setup();
    const parsed = parseExperimentValue(structuredClone(preset));
    if (!parsed.ok) throw new Error('the preset does not validate');
    const hash = configHash(parsed.experiment);
    open(experiments, {
      results: {
        engineVersion: 't',
        configHash: hash,
        createdAt: '2026-01-01T00:00:00.000Z',
        variants: [
          {
            name: VARIANTS[1],
            summary: { host_total_bytes: GiB },
            series: { timeNs: [0, 1], values: { host_total_bytes: [0, GiB] } },
          },
          { name: VARIANTS[0], summary: {}, error: 'OOM' },
        ],
      },
    });
    expect(runs.resultsFromFile).toBe(true);
    expect(runs.runs.map((r) => [r.variantIndex, r.status])).toEqual([
      [1, 'done'],
      [0, 'failed'],
    ]);
    expect(runs.results[0]!.runId).toBeLessThan(0);
    // Saved without latency, per-node memory and the rest: the user is told.
    expect(notices.banner).toMatchObject({ kind: 'info', title: 'Saved results are incomplete' });
    const saved = runs.toSave(hash);
    expect(saved).toMatchObject({ configHash: hash, variants: [{ name: VARIANTS[1] }] });
    expect(runs.toSave('another configuration')).toBe('drop');
  });

  it('asks for the estimate of the open experiment, without its results, or says why not', async () => {
    const { fake, experiments, runs } = setup({
      'runs.estimate': () => ({ variants: [], cuts: [], eventLimit: 1_000_000 }),
    });
    await runs.refreshEstimate();
    expect(runs.recording.estimateProblem).toBeNull();
    expect(fake.calls).toEqual([]);
    open(experiments, {
      results: { engineVersion: 't', configHash: 'h', createdAt: 'then', variants: [] },
    });
    await runs.refreshEstimate();
    const [args] = fake.argsOf('runs.estimate');
    expect(args).toMatchObject({ path: '/w/m.gmemlab.json' });
    expect(args!.experiment).not.toHaveProperty('results');
    expect(runs.recording.estimates?.eventLimit).toBe(1_000_000);
    (experiments.doc!['guest'] as Doc)['vcpus'] = 0;
    await runs.refreshEstimate();
    expect(runs.recording.estimates).toBeNull();
    expect(runs.recording.estimateProblem).toBe('the experiment has problems: see Setup');
  });

  it("saves a finished run's event log through the save dialog on the desktop", async () => {
    const { fake, experiments, runs } = setup({}, true);
    open(experiments);
    await runs.run();
    await runs.saveEventLog(0);
    expect(fake.argsOf('runs.saveEvents')).toEqual([]);
    fake.emit('run.done', { runId: 11, variantIndex: 0, status: 'done', result: result(11, 0) });
    await runs.saveEventLog(0);
    expect(fake.argsOf('runs.saveEvents')).toEqual([{ runId: 11 }]);
    expect(fake.argsOf('runs.events')).toEqual([]);
  });
});
