// The workbench keeps saved results whole: a file's results reopen with their latency
// percentiles and per-node series, and saving writes them back unchanged (through the core's
// toSaved / fromSaved). The results come from real runs of the core; only the transport is a
// stand-in that records what would be written.
import { describe, expect, it } from 'vitest';
import { configHash, parseExperimentValue } from '../../../../core/experiment/load';
import { ENGINE_VERSION, runVariant } from '../../../../core/experiment/run';
import { FORMAT_NAME, FORMAT_VERSION, type Experiment } from '../../../../core/experiment/schema';
import { seriesColumns, toSaved, type ShownResult } from '../../../../core/metrics/result';
import type { GmemLabApi } from '@contract/api';
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

/** A workbench on a transport that answers saves and library listings, keeping what was saved. */
function workbench(): { wb: Workbench; saved: Array<Record<string, unknown>> } {
  const saved: Array<Record<string, unknown>> = [];
  const api: GmemLabApi = {
    call: (async (method: string, args: Record<string, unknown>) => {
      if (method === 'experiments.save') {
        saved.push(args['experiment'] as Record<string, unknown>);
        return { path: '/w/saved.gmemlab.json', modifiedMs: 1 };
      }
      if (method === 'experiments.list') return [];
      throw new Error(`unexpected call ${method}`);
    }) as GmemLabApi['call'],
    on: () => () => {},
  };
  const wb = new Workbench();
  wb.api = api;
  return { wb, saved };
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
    const { wb, saved } = workbench();
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
    const written = saved[0]!['results'] as typeof savedResults;
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
