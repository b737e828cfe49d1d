// The workbench keeps saved results whole: a file's results reopen with their latency
// percentiles and per-node series, and saving writes them back unchanged (through the core's
// toSaved / fromSaved). The results come from real runs of the core; only the transport is a
// stand-in that records what would be written (fake-api.ts). And connecting wires every store to
// the API's events.
import { describe, expect, it } from 'vitest';
import { API_EVENTS } from '@contract/api';
import { configHash, parseExperimentValue } from '../../../../core/experiment/load';
import { ENGINE_VERSION, runVariant } from '../../../../core/experiment/run';
import { FORMAT_NAME, FORMAT_VERSION, type Experiment } from '../../../../core/experiment/schema';
import { seriesColumns, toSaved, type ShownResult } from '../../../../core/metrics/result';
import { fakeApi, fakeInfo, fakeSettings, type FakeApi } from './fake-api';
import { Workbench } from './workbench.svelte';

const GiB = 1024 ** 3;

const doc = {
  format: FORMAT_NAME,
  version: FORMAT_VERSION,
  name: 'saved results',
  host: {
    nodes: [
      { memoryBytes: 8 * GiB, cpus: '0-3', hugetlb2m: 512 },
      { memoryBytes: 8 * GiB, cpus: '4-7', hugetlb2m: 512 },
    ],
  },
  guest: { memoryBytes: 1 * GiB, vcpus: 2, vendor: 'snp' },
  workload: { kind: 'lifecycle', runtime: { durationNs: 5_000_000 } },
  sampling: { intervalNs: 200_000 },
  variants: [
    {
      name: 'interleaved',
      pageSize: '2m',
      allocator: 'hugetlb',
      mempolicy: { mode: 'interleave', nodes: [0, 1] },
    },
    { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
  ],
};

function validated(raw: unknown): Experiment {
  const r = parseExperimentValue(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.experiment;
}

/** A workbench on the fake transport, keeping what was saved. */
function workbench(): { wb: Workbench; fake: FakeApi } {
  const fake = fakeApi();
  const wb = new Workbench();
  wb.api = fake.api;
  return { wb, fake };
}

function open(wb: Workbench, experiment: Experiment): void {
  wb.load({
    path: '/w/saved.gmemlab.json',
    experiment: experiment as unknown as Record<string, unknown>,
    modifiedMs: 0,
    configHash: configHash(experiment),
  });
}

describe('Workbench saved results', () => {
  it('reopens summary, series, latency percentiles and per-node series, and saves them back unchanged', async () => {
    const experiment = validated(doc);
    const results: ShownResult[] = experiment.variants.map((_, i) => {
      const r = runVariant(experiment, i);
      return { name: r.name, summary: r.summary, series: seriesColumns(r.series), endNs: r.endNs };
    });
    const info = {
      engineVersion: ENGINE_VERSION,
      configHash: configHash(experiment),
      createdAt: '2025-01-01T00:00:00.000Z',
    };
    const savedResults = toSaved(info, results);
    const { wb, fake } = workbench();
    open(wb, validated({ ...doc, results: savedResults }));

    expect(wb.banner).toBeNull();
    expect(wb.stale).toBe(false);
    expect(wb.results).toHaveLength(2);
    wb.results.forEach((shown, i) => {
      expect(shown.variantIndex).toBe(i);
      expect({
        name: shown.name,
        summary: shown.summary,
        series: shown.series,
        endNs: shown.endNs,
      }).toEqual(results[i]);
    });
    expect(wb.results[0]!.summary.latencyNs!.convert.count).toBeGreaterThan(0);
    expect(wb.results[0]!.series.nodeBytes).toHaveLength(2);

    expect(await wb.save()).toBe(true);
    const written = fake.argsOf('experiments.save')[0]!.experiment[
      'results'
    ] as typeof savedResults;
    expect({ ...written, createdAt: info.createdAt }).toEqual(savedResults);
  });

  it('opens a file saved without latency and per-node series, and says what it lacks', () => {
    const experiment = validated(doc);
    const { wb } = workbench();
    open(
      wb,
      validated({
        ...doc,
        results: {
          engineVersion: '1.0.0',
          configHash: configHash(experiment),
          createdAt: '2024-01-01T00:00:00.000Z',
          variants: [
            {
              name: '4 KiB',
              summary: { host_total_bytes: GiB },
              nodeBytes: [GiB, 0],
              series: { timeNs: [0, 1], values: { host_total_bytes: [0, GiB] } },
            },
          ],
        },
      }),
    );
    expect(wb.results).toHaveLength(1);
    const r = wb.results[0]!;
    // Matched to its variant by name, not by its place in the saved list.
    expect(r.variantIndex).toBe(1);
    expect(r.summary.latencyNs).toBeUndefined();
    expect(r.series.nodeBytes).toBeUndefined();
    expect(r.endNs).toBeUndefined();
    expect(wb.banner?.kind).toBe('info');
    expect(wb.banner?.message).toMatch(/latency percentiles/);
    expect(wb.banner?.message).toMatch(/memory per NUMA node over time/);
  });
});

describe('Workbench connection', () => {
  it("subscribes to every store's events before reading the app, and unsubscribes on disconnect", async () => {
    const fake = fakeApi(
      {
        'presets.list': () => [{ id: 'p', name: 'P', notes: '', variants: [] }],
        'experiments.list': () => [],
      },
      { info: fakeInfo({ version: '9' }), settings: fakeSettings({ theme: 'dark' }) },
    );
    const wb = new Workbench();
    await wb.connect(fake.api);
    // Every event of the contract but the desktop menu's, which connectDesktop() subscribes to.
    const events = API_EVENTS.filter((e) => e !== 'menu.command');
    const subscribed = fake.order.filter((o) => o.startsWith('on ')).map((o) => o.slice(3));
    expect(subscribed.sort()).toEqual([...events].sort());
    expect(fake.order.findIndex((o) => o.startsWith('call '))).toBe(events.length);
    expect(wb.info?.version).toBe('9');
    expect(wb.presets.map((p) => p.id)).toEqual(['p']);
    expect(wb.settings?.theme).toBe('dark');
    expect(fake.calls.at(-1)![0]).toBe('experiments.list');

    fake.emit('settings.changed', fakeSettings({ theme: 'light' }));
    expect(wb.settings?.theme).toBe('light');
    wb.disconnect();
    for (const e of events) expect(fake.listeners(e as never)).toBe(0);
  });

  it('shows the setup once an experiment is opened, the runs once they start', async () => {
    const fake = fakeApi({
      'experiments.open': (a) => ({
        path: a['path'],
        experiment: structuredClone(doc),
        modifiedMs: 1,
        configHash: 'x',
      }),
      'runs.start': () => ({ runIds: [1, 2] }),
    });
    const wb = new Workbench();
    await wb.connect(fake.api);
    await wb.openPath('/w/a.gmemlab.json');
    expect(wb.view).toBe('setup');
    await wb.run();
    expect(wb.view).toBe('runs');
    expect(wb.running).toBe(true);
  });
});
