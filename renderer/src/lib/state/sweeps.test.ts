// Sweeps in the workbench: the parameters as typed (sizes in binary units), kept in the open
// experiment's "sweep", sweeps.start with them, the sweep's own progress and end (another sweep's
// events ignored), cancel, and the plot and heat map built from the rows.
import { describe, expect, it } from 'vitest';
import type { SweepRow } from '@contract/api';
import preset from '../../../../resources/presets/merge-policies.gmemlab.json';
import { sweepHeatMaps, sweepPlot } from '../charts/sweep-plot';
import { Connection } from './connection.svelte';
import { ExperimentsState, type Doc, type SavedResultsPort } from './experiments.svelte';
import { fakeApi, GiB } from './fake-api';
import { parseExperimentValue } from '../../../../core/experiment/load';
import { Notices } from './notices.svelte';
import { checkAxis, SweepsState } from './sweeps.svelte';

function setup() {
  const fake = fakeApi({ 'sweeps.start': () => ({ sweepId: 7, points: 2, runs: 6 }) });
  const connection = new Connection();
  connection.api = fake.api;
  const notices = new Notices();
  const experiments = new ExperimentsState(
    connection,
    notices,
    { restore: () => {}, toSave: () => undefined } as unknown as SavedResultsPort,
    () => {},
  );
  experiments.load({
    path: '/w/m.gmemlab.json',
    experiment: structuredClone(preset) as Doc,
    modifiedMs: 1,
    configHash: 'x',
  });
  const sweeps = new SweepsState(connection, notices, experiments);
  sweeps.listen(fake.api);
  return { fake, notices, experiments, sweeps };
}

const row = (
  point: number,
  params: Record<string, unknown>,
  v: number,
  splits?: number,
): SweepRow => ({
  point,
  params,
  variantIndex: v,
  variant: ['A', 'B'][v]!,
  ...(splits === undefined ? { error: 'ENOMEM' } : { summary: { splits_2m: splits } }),
});

describe('SweepsState', () => {
  it('reads values as --param does, sizes in binary units, and says what is wrong where', () => {
    expect(checkAxis({ path: 'guest.vcpus', values: '2, 8 ,32' })).toEqual({
      ok: true,
      axis: { path: 'guest.vcpus', values: [2, 8, 32] },
    });
    expect(checkAxis({ path: 'guest.memoryBytes', values: '16 GiB, 64G' })).toEqual({
      ok: true,
      axis: { path: 'guest.memoryBytes', values: [16 * GiB, 64 * GiB] },
    });
    const badSize = checkAxis({ path: 'guest.memoryBytes', values: '16 GiB, lots' });
    expect(!badSize.ok && badSize.message).toMatch(/^"lots": expected a size/);
    const noPath = checkAxis({ path: ' ', values: '1' });
    expect(!noPath.ok && noPath.message).toMatch(/name a parameter/);
    const noValues = checkAxis({ path: 'seed', values: '' });
    expect(!noValues.ok && noValues.message).toMatch(/at least one value/);
  });

  it('starts the sweep with the open experiment, keeps the axes in it, and follows its own events', async () => {
    const { fake, experiments, sweeps } = setup();
    sweeps.axes = [{ path: 'guest.memoryBytes', values: '2 GiB, 4 GiB' }];
    await sweeps.start();
    const [args] = fake.argsOf('sweeps.start');
    expect(args!.axes).toEqual([{ path: 'guest.memoryBytes', values: [2 * GiB, 4 * GiB] }]);
    expect(args!.path).toBe('/w/m.gmemlab.json');
    expect(experiments.doc!['sweep']).toEqual({
      axes: [{ path: 'guest.memoryBytes', values: [2 * GiB, 4 * GiB] }],
      metric: 'splits_2m',
    });
    expect(sweeps.running).toBe(true);
    // Another sweep's events change nothing.
    fake.emit('sweep.progress', { sweepId: 3, done: 1, failed: 0, total: 2, fraction: 0.5 });
    expect(sweeps.progress).toBeNull();
    fake.emit('sweep.progress', { sweepId: 7, done: 3, failed: 0, total: 6, fraction: 0.5 });
    expect(sweeps.progress?.done).toBe(3);
    const rows = [row(0, { 'guest.memoryBytes': 2 * GiB }, 0, 5)];
    fake.emit('sweep.done', { sweepId: 7, status: 'done', rows });
    expect(sweeps.status).toBe('done');
    expect(sweeps.rows).toEqual(rows);
    expect(sweeps.running).toBe(false);
  });

  it('cancels the sweep going, and refuses to start with a bad parameter', async () => {
    const { fake, notices, sweeps } = setup();
    await sweeps.start();
    await sweeps.cancel();
    expect(fake.argsOf('sweeps.cancel')).toEqual([{ sweepId: 7 }]);
    sweeps.axes = [{ path: 'guest.vcpus', values: '' }];
    fake.emit('sweep.done', { sweepId: 7, status: 'cancelled', rows: [] });
    await sweeps.start();
    expect(fake.argsOf('sweeps.start')).toHaveLength(1);
    expect(notices.banner?.message).toMatch(/at least one value/);
  });

  it('opens with the sweep the experiment file keeps, sizes shown in binary units', () => {
    const { experiments, sweeps } = setup();
    experiments.doc!['sweep'] = {
      axes: [
        { path: 'guest.memoryBytes', values: [16 * GiB, 64 * GiB] },
        { path: 'guest.vcpus', values: [8, 32] },
      ],
      metric: 'splits_1g',
    };
    sweeps.loadFromDoc();
    expect(sweeps.axes).toEqual([
      { path: 'guest.memoryBytes', values: '16 GiB, 64 GiB' },
      { path: 'guest.vcpus', values: '8, 32' },
    ]);
    expect(sweeps.metric).toBe('splits_1g');
  });
});

describe('sweep results kept with the experiment', () => {
  it('keeps a finished sweep in the experiment, reopens it, and tells it stale once the configuration changes', async () => {
    const { fake, experiments, sweeps } = setup();
    sweeps.axes = [{ path: 'seed', values: '1, 2' }];
    await sweeps.start();
    const rows = [row(0, { seed: 1 }, 0, 5), row(1, { seed: 2 }, 0)];
    fake.emit('sweep.done', { sweepId: 7, status: 'done', rows });
    const kept = (experiments.doc!['sweep'] as { results: Record<string, unknown> }).results;
    expect(kept).toMatchObject({
      configHash: experiments.validation.hash,
      axes: [{ path: 'seed', values: [1, 2] }],
      rows,
    });
    // The file, with its sweep results, is still a valid experiment.
    expect(parseExperimentValue(JSON.parse(JSON.stringify(experiments.doc))).ok).toBe(true);
    // A fresh workbench opening the same document shows the same rows.
    const again = setup();
    again.experiments.load({
      path: '/w/m.gmemlab.json',
      experiment: JSON.parse(JSON.stringify(experiments.doc)) as Doc,
      modifiedMs: 2,
      configHash: 'x',
    });
    again.sweeps.loadFromDoc();
    expect(again.sweeps.rows).toEqual(rows);
    expect(again.sweeps.ranAxes).toEqual([{ path: 'seed', values: [1, 2] }]);
    expect(again.sweeps.stale).toBe(false);
    (again.experiments.doc!['guest'] as Record<string, unknown>)['vcpus'] = 3;
    expect(again.sweeps.stale).toBe(true);
  });
});

describe('the sweep plot and heat map', () => {
  const axes = [
    { path: 'guest.vcpus', values: [2, 8] },
    { path: 'seed', values: [1, 2] },
  ];
  const rows = [
    row(0, { 'guest.vcpus': 2, seed: 1 }, 0, 10),
    row(0, { 'guest.vcpus': 2, seed: 1 }, 1, 20),
    row(1, { 'guest.vcpus': 2, seed: 2 }, 0, 11),
    row(1, { 'guest.vcpus': 2, seed: 2 }, 1, 21),
    row(2, { 'guest.vcpus': 8, seed: 1 }, 0, 12),
    row(2, { 'guest.vcpus': 8, seed: 1 }, 1),
    row(3, { 'guest.vcpus': 8, seed: 2 }, 0, 13),
    row(3, { 'guest.vcpus': 8, seed: 2 }, 1, 23),
  ];

  it('puts the first parameter on x at its values, a line per variant and second value, gaps where a run failed', () => {
    const plot = sweepPlot(rows, axes, 'splits_2m');
    expect(plot.x).toEqual([2, 8]);
    expect(plot.ticks.map((t) => t.label)).toEqual(['2', '8']);
    expect(plot.series.map((s) => s.label)).toEqual([
      'A, seed=1',
      'A, seed=2',
      'B, seed=1',
      'B, seed=2',
    ]);
    expect(plot.series.map((s) => s.values)).toEqual([
      [10, 12],
      [11, 13],
      [20, NaN],
      [21, 23],
    ]);
    // Values that are not numbers sit at their positions.
    const policies = sweepPlot(
      [row(0, { m: 'eager' }, 0, 1), row(1, { m: 'never' }, 0, 2)],
      [{ path: 'm', values: ['eager', 'never'] }],
      'splits_2m',
    );
    expect(policies.x).toEqual([0, 1]);
    expect(policies.ticks.map((t) => t.label)).toEqual(['eager', 'never']);
  });

  it('gives one heat map per variant over both parameters', () => {
    const maps = sweepHeatMaps(rows, axes, 'splits_2m');
    expect(maps.map((m) => m.variant)).toEqual(['A', 'B']);
    expect(maps[1]).toEqual({
      variant: 'B',
      rows: ['2', '8'],
      columns: ['1', '2'],
      cells: [
        [20, 21],
        [NaN, 23],
      ],
    });
    expect(sweepHeatMaps(rows, axes.slice(0, 1), 'splits_2m')).toEqual([]);
  });
});
