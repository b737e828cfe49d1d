// Sweeps: axes parsed from their CLI form, crossed in order, each point a validated experiment;
// mistakes named with the axis they are in.
import { describe, expect, it } from 'vitest';
import { parseExperimentValue } from './load.js';
import { parseSweepAxis, SweepError, sweepPoints } from './sweep.js';
import type { Experiment } from './schema.js';

const GiB = 2 ** 30;

function base(): Experiment {
  const r = parseExperimentValue({
    format: 'gmem-lab-experiment',
    version: 1,
    name: 'base',
    host: { nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7', hugetlb2m: 4096, hugetlb1g: 8 }] },
    guest: { memoryBytes: 2 * GiB, vendor: 'snp', vcpus: 2 },
    workload: { kind: 'lifecycle', runtime: { durationNs: 1_000_000 }, teardown: false },
    variants: [
      { name: 'a', pageSize: '2m', allocator: 'hugetlb' },
      { name: 'b', pageSize: '1g', allocator: 'hugetlb' },
    ],
    sweep: { axes: [{ path: 'guest.vcpus', values: [2, 4] }] },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.experiment;
}

describe('sweeps', () => {
  it('reads an axis in its CLI form, JSON values whole', () => {
    expect(parseSweepAxis('guest.vcpus=2,4,8')).toEqual({ path: 'guest.vcpus', values: [2, 4, 8] });
    expect(parseSweepAxis('variants[0].policies.merge=eager,never').values).toEqual([
      'eager',
      'never',
    ]);
    expect(parseSweepAxis('x.y=[1,2],{"a":1}').values).toEqual([[1, 2], { a: 1 }]);
    expect(() => parseSweepAxis('guest.vcpus')).toThrow(SweepError);
    expect(() => parseSweepAxis('guest.vcpus=2,,4')).toThrow('empty value');
  });

  it('crosses the axes, the last varying fastest, each point the base with its values', () => {
    const points = sweepPoints(base(), [
      { path: 'guest.memoryBytes', values: [2 * GiB, 4 * GiB] },
      { path: 'guest.vcpus', values: [2, 8] },
    ]);
    expect(points.map((p) => [p.experiment.guest.memoryBytes, p.experiment.guest.vcpus])).toEqual([
      [2 * GiB, 2],
      [2 * GiB, 8],
      [4 * GiB, 2],
      [4 * GiB, 8],
    ]);
    expect(points[1]!.label).toBe(`guest.memoryBytes=${2 * GiB} guest.vcpus=8`);
    // A point is an experiment of its own: not a sweep again.
    expect(points[0]!.experiment.sweep).toBeUndefined();
  });

  it('refuses a point the schema refuses, a path given twice and too many points', () => {
    expect(() => sweepPoints(base(), [{ path: 'guest.vcpus', values: [0] }])).toThrow(
      /guest\.vcpus=0 makes the experiment invalid:\n.*guest\.vcpus/,
    );
    expect(() =>
      sweepPoints(base(), [
        { path: 'guest.vcpus', values: [2] },
        { path: 'guest.vcpus', values: [4] },
      ]),
    ).toThrow('guest.vcpus is swept twice');
    const many = Array.from({ length: 17 }, (_, i) => i + 1);
    expect(() =>
      sweepPoints(base(), [
        { path: 'guest.vcpus', values: many },
        { path: 'seed', values: many },
      ]),
    ).toThrow('the sweep has 289 combinations; the limit is 256');
  });

  it('is kept in the experiment file, checked by the schema', () => {
    expect(base().sweep).toEqual({ axes: [{ path: 'guest.vcpus', values: [2, 4] }] });
    const bad = parseExperimentValue({ ...base(), sweep: { axes: [] } });
    expect(bad.ok).toBe(false);
  });
});
