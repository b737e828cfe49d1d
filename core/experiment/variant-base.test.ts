// Variants written as differences from a base (format version 2): what a variant inherits, how the
// file keeps it, that a file read back is the same experiment, that a change of the base carries
// (in the file, in a sweep, in the setup form), and the links that are refused.
import { describe, expect, it } from 'vitest';
import {
  configHash,
  experimentFileText,
  parseExperimentText,
  parseExperimentValue,
} from './load.js';
import { FORMAT_NAME, FORMAT_VERSION, type Experiment } from './schema.js';
import { sweepPoints } from './sweep.js';
import {
  changedLeaves,
  compactVariants,
  differences,
  followBase,
  layOver,
} from './variant-base.js';
import { Rng } from '../rng.js';

const GiB = 2 ** 30;

function doc(variants: unknown[]): Record<string, unknown> {
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    name: 'bases',
    host: {
      nodes: [
        {
          memoryBytes: 64 * GiB,
          cpus: '0-7',
          hugetlb2m: 4096,
          hugetlb1g: 8,
          cma: { sizeBytes: 8 * GiB },
        },
      ],
    },
    guest: { memoryBytes: 2 * GiB, vendor: 'snp', vcpus: 2 },
    workload: { kind: 'lifecycle', runtime: { durationNs: 1_000_000 }, teardown: false },
    variants,
  };
}

function parsed(d: unknown): Experiment {
  const r = parseExperimentValue(d);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.experiment;
}

function problems(d: unknown) {
  const r = parseExperimentValue(d);
  if (r.ok) throw new Error('expected a refusal');
  return r.problems;
}

const HUGETLB_1G = {
  name: 'HugeTLB 1 GiB',
  pageSize: '1g',
  allocator: 'hugetlb',
  policies: { merge: 'deferred', mergeDelayNs: 5_000_000 },
  costs: { cmaAlloc1GBaseMs: 3 },
  mempolicy: { mode: 'bind', nodes: [0] },
  workloadOverrides: { 'runtime.buffersPerSec': 100, 'runtime.durationNs': 2_000_000 },
};

describe('variants written as differences from a base', () => {
  it('inherits every field it does not set: objects field by field, lists and workloadOverrides whole', () => {
    const e = parsed(
      doc([
        HUGETLB_1G,
        {
          name: 'CMA 1 GiB',
          base: 'HugeTLB 1 GiB',
          allocator: 'cma-raw',
          policies: { merge: 'never' },
          workloadOverrides: { 'runtime.buffersPerSec': 7 },
        },
      ]),
    );
    const [h, c] = e.variants;
    expect(c!.base).toBe('HugeTLB 1 GiB');
    expect(c!.allocator).toBe('cma-raw');
    expect(c!.pageSize).toBe('1g');
    // policies merged field by field: merge changed, the delay inherited.
    expect(c!.policies.merge).toBe('never');
    expect(c!.policies.mergeDelayNs).toBe(5_000_000);
    expect(c!.costs).toEqual(h!.costs);
    expect(c!.mempolicy).toEqual(h!.mempolicy);
    // workloadOverrides replaced whole: the base's duration override is not carried.
    expect(c!.workloadOverrides).toEqual({ 'runtime.buffersPerSec': 7 });
    expect(h!.base).toBeUndefined();
  });

  it('follows a chain of bases in any order of the list', () => {
    const e = parsed(
      doc([
        { name: 'c', base: 'b', policies: { split: 'staged' } },
        { name: 'b', base: 'a', pageSize: '1g' },
        { name: 'a', pageSize: '2m', allocator: 'hugetlb', policies: { merge: 'never' } },
      ]),
    );
    const c = e.variants[0]!;
    expect(c.pageSize).toBe('1g');
    expect(c.allocator).toBe('hugetlb');
    expect(c.policies.merge).toBe('never');
    expect(c.policies.split).toBe('staged');
    expect(c.base).toBe('b');
  });

  it('writes only the differences, and reads the file back as the same experiment', () => {
    const e = parsed(
      doc([
        HUGETLB_1G,
        { name: 'CMA 1 GiB', base: 'HugeTLB 1 GiB', allocator: 'cma-raw' },
        { name: 'CMA, never', base: 'CMA 1 GiB', policies: { merge: 'never' } },
      ]),
    );
    const text = experimentFileText(e);
    const written = JSON.parse(text) as { version: number; variants: Record<string, unknown>[] };
    expect(written.version).toBe(2);
    expect(written.variants[1]).toEqual({
      name: 'CMA 1 GiB',
      base: 'HugeTLB 1 GiB',
      allocator: 'cma-raw',
    });
    expect(written.variants[2]).toEqual({
      name: 'CMA, never',
      base: 'CMA 1 GiB',
      policies: { merge: 'never' },
    });
    const back = parseExperimentText(text);
    expect(back.ok).toBe(true);
    if (back.ok) expect(back.experiment).toEqual(e);
  });

  it('leaves the configuration hash alone: a base link changes how the file is written, not what runs', () => {
    const linked = parsed(
      doc([HUGETLB_1G, { name: 'CMA 1 GiB', base: 'HugeTLB 1 GiB', allocator: 'cma-raw' }]),
    );
    const whole = parsed(
      doc([HUGETLB_1G, { ...HUGETLB_1G, name: 'CMA 1 GiB', allocator: 'cma-raw' }]),
    );
    expect(configHash(linked)).toBe(configHash(whole));
    const other = parsed(
      doc([HUGETLB_1G, { ...HUGETLB_1G, name: 'CMA 1 GiB', allocator: 'hugetlb' }]),
    );
    expect(configHash(other)).not.toBe(configHash(whole));
  });

  it('carries a change of the base in the file to the variants that inherit the field, not to one that set it', () => {
    const e = parsed(
      doc([
        HUGETLB_1G,
        { name: 'inherits', base: 'HugeTLB 1 GiB', allocator: 'cma-raw' },
        {
          name: 'sets',
          base: 'HugeTLB 1 GiB',
          allocator: 'cma-raw',
          policies: { mergeDelayNs: 1_000_000 },
        },
      ]),
    );
    const file = JSON.parse(experimentFileText(e)) as { variants: Record<string, unknown>[] };
    (file.variants[0]!['policies'] as Record<string, unknown>)['mergeDelayNs'] = 50_000_000;
    const edited = parsed(file);
    expect(edited.variants[1]!.policies.mergeDelayNs).toBe(50_000_000);
    expect(edited.variants[2]!.policies.mergeDelayNs).toBe(1_000_000);
  });

  it('a sweep of a field of the base carries to the variants that inherit it', () => {
    const e = parsed(
      doc([
        { name: 'a', pageSize: '2m', allocator: 'hugetlb' },
        { name: 'inherits', base: 'a', policies: { merge: 'never' } },
        { name: 'own size', base: 'a', pageSize: '4k', allocator: 'buddy' },
      ]),
    );
    const points = sweepPoints(e, [{ path: 'variants[0].pageSize', values: ['2m', '1g'] }]);
    expect(points.map((p) => p.experiment.variants.map((v) => v.pageSize))).toEqual([
      ['2m', '2m', '4k'],
      ['1g', '1g', '4k'],
    ]);
    // And an allocator that cannot back the inherited size is refused, naming the variant.
    expect(() =>
      sweepPoints(e, [{ path: 'variants[0].allocator', values: ['cma-raw', 'buddy'] }]),
    ).toThrow(/variants\[1\]\.pageSize/);
  });

  it('refuses a base that names no variant, the variant itself, or a loop, naming the field', () => {
    const unknown = problems(doc([HUGETLB_1G, { name: 'x', base: 'HugeTLB 2 MiB' }]));
    expect(unknown[0]!.path).toBe('variants[1].base');
    expect(unknown[0]!.message).toMatch(/"HugeTLB 2 MiB" names no variant.*"HugeTLB 1 GiB"/);
    const self = problems(doc([HUGETLB_1G, { ...HUGETLB_1G, name: 'x', base: 'x' }]));
    expect(self[0]!.path).toBe('variants[1].base');
    expect(self[0]!.message).toMatch(/its own base/);
    const loop = problems(
      doc([
        { name: 'a', base: 'b', pageSize: '2m', allocator: 'hugetlb' },
        { name: 'b', base: 'a', pageSize: '2m', allocator: 'hugetlb' },
      ]),
    );
    expect(loop.map((p) => p.path)).toEqual(['variants[0].base', 'variants[1].base']);
    expect(loop[0]!.message).toContain('a → b → a');
    // A variant whose base leaves a required field unset is refused at that field.
    const missing = problems(
      doc([
        { name: 'a', base: 'b' },
        { name: 'b', allocator: 'hugetlb' },
      ]),
    );
    expect(missing.map((p) => p.path)).toContain('variants[0].pageSize');
  });

  it('round-trips random variants and bases: file text read back is the experiment', () => {
    const rng = new Rng(7);
    const rand = (): number => rng.next();
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    let checked = 0;
    for (let round = 0; round < 60; round++) {
      const n = 2 + Math.floor(rand() * 4);
      const variants: Record<string, unknown>[] = [];
      for (let i = 0; i < n; i++) {
        const v: Record<string, unknown> = { name: `v${i}` };
        if (i > 0 && rand() < 0.7) v['base'] = `v${Math.floor(rand() * i)}`;
        else {
          v['pageSize'] = '2m';
          v['allocator'] = 'hugetlb';
        }
        if (rand() < 0.5) v['policies'] = { merge: pick(['eager', 'never', 'deferred']) };
        if (rand() < 0.3) v['mempolicy'] = { mode: 'bind', nodes: [0] };
        if (rand() < 0.3) v['workloadOverrides'] = { 'runtime.buffersPerSec': round };
        if (rand() < 0.3) v['pageSize'] = pick(['2m', '1g', '4k']);
        if (v['pageSize'] === '4k') v['allocator'] = 'buddy';
        variants.push(v);
      }
      const r = parseExperimentValue(doc(variants));
      if (!r.ok) continue; // an inherited allocator that cannot back the size: refused above
      checked++;
      const text = experimentFileText(r.experiment);
      const back = parseExperimentText(text);
      expect(back.ok).toBe(true);
      if (back.ok) expect(back.experiment).toEqual(r.experiment);
      // Each written variant with a base holds nothing equal to its base.
      const written = (JSON.parse(text) as { variants: Record<string, unknown>[] }).variants;
      written.forEach((w, i) => {
        if (typeof w['base'] !== 'string') return;
        const base = r.experiment.variants.find((v) => v.name === w['base'])!;
        const { name: _n, base: _b, ...own } = w;
        expect(own).toEqual(
          differences(base as Record<string, unknown>, r.experiment.variants[i]!),
        );
        for (const [key, value] of Object.entries(own))
          expect(value).not.toEqual((base as Record<string, unknown>)[key]);
      });
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('writes a variant whole, without its link, when it lacks a field its base sets', () => {
    const e = parsed(doc([HUGETLB_1G, { ...HUGETLB_1G, name: 'x', base: 'HugeTLB 1 GiB' }]));
    // In memory the variant drops a cost override its base sets: no difference can say that.
    const { costs: _c, ...rest } = e.variants[1]!;
    const changed = { ...e, variants: [e.variants[0]!, { ...rest, costs: {} }] };
    const compact = compactVariants(changed);
    expect(compact.variants[1]).not.toHaveProperty('base');
    expect(compact.variants[1]).toEqual({ ...rest, costs: {}, base: undefined });
  });
});

describe('an edit of the base in the setup form', () => {
  it('carries to the fields a variant still inherits, and leaves the ones it changed', () => {
    const before = structuredClone(HUGETLB_1G) as Record<string, unknown>;
    const after = layOver(before, {
      pageSize: '2m',
      policies: { merge: 'eager', mergeDelayNs: 9 },
    });
    expect(changedLeaves(before, after).sort()).toEqual([
      'pageSize',
      'policies.merge',
      'policies.mergeDelayNs',
    ]);
    const derived = layOver(before, { name: 'd', base: 'HugeTLB 1 GiB', allocator: 'cma-raw' });
    derived['policies'] = { merge: 'never', mergeDelayNs: 5_000_000 };
    const carried = followBase(before, after, derived);
    expect(carried.sort()).toEqual(['pageSize', 'policies.mergeDelayNs']);
    expect(derived['pageSize']).toBe('2m');
    expect(derived['policies']).toEqual({ merge: 'never', mergeDelayNs: 9 });
    expect(derived['allocator']).toBe('cma-raw');
    expect(derived['name']).toBe('d');
  });
});
