// The result model from a real run to the experiment file and back: every part a run produces is
// saved and restored exactly; files saved before latency and per-node series were kept still
// open, with those parts absent rather than made up.
import { describe, expect, it } from 'vitest';
import { configHash, parseExperimentText, parseExperimentValue } from '../experiment/load.js';
import { ENGINE_VERSION, runVariant } from '../experiment/run.js';
import { FORMAT_NAME, FORMAT_VERSION, type Experiment } from '../experiment/schema.js';
import { LATENCY_OPS, METRICS } from './definitions.js';
import {
  fromSaved,
  SavedResultsSchema,
  seriesColumns,
  toSaved,
  type ShownResult,
} from './result.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** A small two-node SNP guest: boot, some run time with shared buffers, two reboots, teardown. */
function smallDoc(): Record<string, unknown> {
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    name: 'result round trip',
    seed: 7,
    host: {
      nodes: [
        { memoryBytes: 8 * GiB, cpus: '0-3', hugetlb2m: 512 },
        { memoryBytes: 8 * GiB, cpus: '4-7', hugetlb2m: 512 },
      ],
    },
    guest: { memoryBytes: 1 * GiB, vcpus: 2, vendor: 'snp' },
    workload: { kind: 'lifecycle', runtime: { durationNs: 20_000_000 }, reboots: 1 },
    sampling: { intervalNs: 100_000 },
    variants: [
      {
        name: 'HugeTLB 2 MiB interleaved',
        pageSize: '2m',
        allocator: 'hugetlb',
        mempolicy: { mode: 'interleave', nodes: [0, 1] },
      },
      { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
    ],
  };
}

function experimentOf(doc: unknown): Experiment {
  const r = parseExperimentValue(doc);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.experiment;
}

/** Every variant run through the core, its series as the columns that leave the worker. */
function runAll(experiment: Experiment): ShownResult[] {
  return experiment.variants.map((_, i) => {
    const r = runVariant(experiment, i);
    return { name: r.name, summary: r.summary, series: seriesColumns(r.series), endNs: r.endNs };
  });
}

describe('the result model', () => {
  it('saves a real run with toSaved, validates as an experiment file and reopens deep-equal with fromSaved', () => {
    const doc = smallDoc();
    const experiment = experimentOf(doc);
    const results = runAll(experiment);

    // The run produced every part the model keeps, so the round trip below proves something.
    for (const r of results) {
      expect(Object.keys(r.summary.latencyNs!).sort()).toEqual([...LATENCY_OPS].sort());
      expect(r.series.names).toEqual(METRICS.map((m) => m.name));
      expect(r.series.nodeBytes).toHaveLength(2);
      expect(r.series.timeNs.length).toBeGreaterThan(10);
      expect(r.series.fullLength).toBe(r.series.timeNs.length);
      expect(r.endNs).toBeGreaterThan(0);
      expect(r.summary.phases!.map((p) => p.name)).toEqual([
        'boot',
        'runtime',
        'reboot',
        'teardown',
      ]);
    }
    expect(results[0]!.summary.latencyNs!.fault.count).toBeGreaterThan(0);
    expect(results[0]!.summary.latencyNs!.convert.count).toBeGreaterThan(0);
    expect(results[0]!.summary.latencyNs!.convert.p99).toBeGreaterThan(0);
    // Interleaved over both nodes: node 1 holds memory at some point.
    expect(Math.max(...results[0]!.series.nodeBytes![1]!)).toBeGreaterThan(0);

    const info = {
      engineVersion: ENGINE_VERSION,
      configHash: configHash(experiment),
      createdAt: '2025-01-02T03:04:05.000Z',
    };
    const text = JSON.stringify({ ...doc, results: toSaved(info, results) });
    const loaded = parseExperimentText(text);
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    expect(configHash(loaded.experiment)).toBe(info.configHash);

    const restored = fromSaved(loaded.experiment.results!);
    expect(restored).toMatchObject(info);
    expect(restored.variants.map((v) => v.absent)).toEqual([[], []]);
    expect(restored.variants.map((v) => v.result)).toEqual(results);
    // The typed arrays come back as typed arrays, not as plain lists.
    expect(restored.variants[0]!.result!.series.timeNs).toBeInstanceOf(Float64Array);
    expect(restored.variants[0]!.result!.series.nodeBytes![1]).toBeInstanceOf(Float64Array);

    // Saving the reopened results again gives the same file.
    const again = toSaved(
      info,
      restored.variants.map((v) => v.result!),
    );
    expect(JSON.stringify({ ...doc, results: again })).toBe(text);
  });

  it('opens a file saved before latency, per-node series, end time and sample count were kept, reporting them absent', () => {
    const doc = smallDoc();
    const old = {
      ...doc,
      results: {
        engineVersion: '1.0.0',
        configHash: configHash(experimentOf(doc)),
        createdAt: '2024-06-01T00:00:00.000Z',
        variants: [
          {
            name: 'HugeTLB 2 MiB interleaved',
            summary: { host_total_bytes: 1 * GiB, guest_memfd_bytes: 1 * GiB },
            nodeBytes: [512 * MiB, 512 * MiB],
            series: {
              timeNs: [0, 1000, 2000],
              values: { host_total_bytes: [0, 512 * MiB, 1 * GiB] },
            },
          },
          // Older still: not even the final memory per node.
          {
            name: '4 KiB',
            summary: { host_total_bytes: 1 * GiB },
            series: { timeNs: [0, 2000], values: { host_total_bytes: [0, 1 * GiB] } },
          },
        ],
      },
    };
    const loaded = parseExperimentText(JSON.stringify(old));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    const [a, b] = fromSaved(loaded.experiment.results!).variants;

    expect(a!.absent).toEqual([
      'latency',
      'phases',
      'phaseMarks',
      'endTime',
      'nodeSeries',
      'fullLength',
    ]);
    expect(a!.result).toEqual({
      name: 'HugeTLB 2 MiB interleaved',
      summary: {
        metrics: { host_total_bytes: 1 * GiB, guest_memfd_bytes: 1 * GiB },
        nodeBytes: [512 * MiB, 512 * MiB],
      },
      series: {
        timeNs: Float64Array.from([0, 1000, 2000]),
        names: ['host_total_bytes'],
        values: [Float64Array.from([0, 512 * MiB, 1 * GiB])],
      },
    });
    // Absent means absent: no empty latency table, no empty node list, no guessed end time.
    expect(a!.result!.summary).not.toHaveProperty('latencyNs');
    expect(a!.result!.summary).not.toHaveProperty('phases');
    expect(a!.result!.series).not.toHaveProperty('nodeBytes');
    expect(a!.result).not.toHaveProperty('endNs');

    expect(b!.absent).toEqual([
      'nodeBytes',
      'latency',
      'phases',
      'phaseMarks',
      'endTime',
      'nodeSeries',
      'fullLength',
    ]);
    expect(b!.result!.summary).not.toHaveProperty('nodeBytes');
  });

  it('keeps a failed variant that has no series as its error, with no result', () => {
    const saved = SavedResultsSchema.parse({
      engineVersion: '1.0.0',
      configHash: 'x',
      createdAt: 'now',
      variants: [{ name: 'broken', summary: {}, error: 'allocation failed' }],
    });
    expect(fromSaved(saved).variants).toEqual([
      {
        name: 'broken',
        result: null,
        error: 'allocation failed',
        absent: ['series', 'nodeBytes', 'latency', 'phases', 'phaseMarks', 'endTime'],
      },
    ]);
  });

  it('refuses saved series whose columns do not line up with their sample times, and a partial latency table, naming the field', () => {
    const doc = smallDoc();
    const bad = {
      ...doc,
      results: {
        engineVersion: '1.0.0',
        configHash: 'x',
        createdAt: 'now',
        variants: [
          {
            name: 'HugeTLB 2 MiB interleaved',
            summary: {},
            latencyNs: { fault: { count: 1, mean: 1, p50: 1, p90: 1, p99: 1, max: 1 } },
            series: {
              timeNs: [0, 1, 2],
              values: { host_total_bytes: [0, 1] },
              nodeBytes: [[0, 1, 2], [0]],
            },
          },
        ],
      },
    };
    const r = parseExperimentText(JSON.stringify(bad));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.problems.map((p) => p.path);
    expect(paths).toContain('results.variants[0].series.values.host_total_bytes');
    expect(paths).toContain('results.variants[0].series.nodeBytes[1]');
    expect(paths.some((p) => p.startsWith('results.variants[0].latencyNs'))).toBe(true);
    const message = r.problems.find((p) => p.path.endsWith('host_total_bytes'))!.message;
    expect(message).toMatch(/2 samples, timeNs has 3/);
  });
});
