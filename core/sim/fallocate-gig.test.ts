// fallocate of whole 1 GiB ranges on 2 MiB pages (allocateGig2M() in core/gmem/allocation.ts)
// against the unit-by-unit loop it stands for: random sequences of conversions, punches, memory
// errors, pins, faults and fallocates of small and whole-GiB ranges, on HugeTLB and raw CMA 2 MiB
// pages, under every mempolicy mode over two nodes (interleave puts a range's folios on both, which
// the layout cannot hold as one summary; the default policy's HugeTLB reservation spans both
// nodes, so a run of folios from the first node ends part-way through a range), with a CMA area smaller than the guest (allocation fails
// part-way through a range), run twice from the same seed, once with the whole-range path and once
// without, comparing the whole model state, counters, latencies and series after every step and
// the event logs at the end.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { gigFastPath } from '../gmem/allocation.js';
import { gaugeCounterProblems } from '../gmem/gauges.js';
import type { GmemState } from '../gmem/state.js';
import { GiB, KiB, MiB } from '../units.js';
import { apply, opArb, policiesArb, stateOf, type Op } from './random-ops.js';
import { Simulation } from './simulation.js';
import { hostOf } from './test-helpers.js';

fc.configureGlobal({ seed: Number(process.env['GMEMLAB_FC_SEED'] ?? 20261207) });

/** Three whole 1 GiB ranges and a partial fourth. */
const GUEST = 3 * GiB + 4 * MiB;
const PAGES = GUEST / (4 * KiB);
const GIG_PAGES = GiB / (4 * KiB);

const MEMPOLICIES = [
  { mode: 'default', nodes: [] },
  { mode: 'bind', nodes: [1] },
  { mode: 'preferred', nodes: [1] },
  { mode: 'interleave', nodes: [0, 1] },
  { mode: 'weighted-interleave', nodes: [0, 1], weights: [3, 1] },
] as const;

function build(
  allocator: 'hugetlb' | 'cma-raw',
  mempolicy: (typeof MEMPOLICIES)[number],
  policies: object,
  vendor: 'none' | 'snp' | 'tdx',
  seed: number,
): Simulation {
  const host = hostOf({
    nodes: 2,
    memoryBytes: 8 * GiB,
    // Enough on node 1 for the mempolicies that bind it.
    hugetlb2m: 1600,
    // Smaller than the guest: a fallocate of all of it runs out part-way.
    cma: { sizeBytes: 2 * GiB, movableOccupiedFraction: 0.2 },
  });
  // Node 0 cannot hold the whole file: the default policy's reservation spills to node 1, and a
  // whole-range fallocate moves there part-way through a range when node 0's share is used up.
  host.nodes[0]!.hugetlb2m = 1000;
  return new Simulation({
    host,
    variant: {
      name: 'gig',
      guestBytes: GUEST,
      pageSize: '2m',
      allocator,
      mempolicy: {
        mode: mempolicy.mode,
        nodes: [...mempolicy.nodes],
        weights: 'weights' in mempolicy ? [...mempolicy.weights] : [],
      },
      policies: policies as never,
      vendor,
    },
    seed,
    recordEvents: true,
  });
}

/** fallocates of ranges made of whole 1 GiB ranges, or that cover some whole and part of others. */
const wholeRanges = fc
  .constantFrom(
    [0, PAGES],
    [GIG_PAGES, GIG_PAGES],
    [0, 2 * GIG_PAGES + 256],
    [GIG_PAGES - 512, 2 * GIG_PAGES + 512],
    [2 * GIG_PAGES, PAGES - 2 * GIG_PAGES],
  )
  .map(([start, len]) => ({ op: 'fallocate' as const, range: [start!, len!] as const }));

const punchGig = fc
  .integer({ min: 0, max: 2 })
  .map((g) => ({ op: 'punch' as const, range: [g * GIG_PAGES, GIG_PAGES] as const }));

const opsArb = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: opArb(PAGES) },
    { weight: 2, arbitrary: wholeRanges },
    { weight: 1, arbitrary: punchGig },
  ) as fc.Arbitrary<Op>,
  { minLength: 2, maxLength: 12 },
);

const takenBefore = gigFastPath.taken;

describe('fallocate of whole 1 GiB ranges of 2 MiB folios equals the unit-by-unit loop', () => {
  afterAll(() => {
    gigFastPath.enabled = true;
    expect(gigFastPath.taken - takenBefore, 'no run took the whole-range path').toBeGreaterThan(0);
  });

  for (const allocator of ['hugetlb', 'cma-raw'] as const) {
    it(`${allocator} 2m, every mempolicy`, () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...MEMPOLICIES),
          policiesArb,
          fc.constantFrom('none' as const, 'snp' as const, 'tdx' as const),
          opsArb,
          fc.integer({ min: 1, max: 1e6 }),
          (mempolicy, policies, vendor, ops, seed) => {
            const whole = build(allocator, mempolicy, policies, vendor, seed);
            const units = build(allocator, mempolicy, policies, vendor, seed);
            try {
              for (const [i, op] of ops.entries()) {
                gigFastPath.enabled = true;
                apply(whole, op);
                gigFastPath.enabled = false;
                apply(units, op);
                whole.sample();
                units.sample();
                const where = `after step ${i} ${JSON.stringify(op)}`;
                expect(stateOf(whole), where).toEqual(stateOf(units));
                expect(whole.metrics.seriesView(), where).toEqual(units.metrics.seriesView());
                const problems = [
                  ...whole.checkInvariants(),
                  ...gaugeCounterProblems((whole.gmem as unknown as { gmem: GmemState }).gmem),
                ];
                expect(problems, where).toEqual([]);
              }
              expect(whole.log.toJsonLines()).toEqual(units.log.toJsonLines());
            } finally {
              gigFastPath.enabled = true;
            }
          },
        ),
        { numRuns: 12 },
      );
    });
  }
});
