// The single-page conversion routine (core/gmem/convert-page.ts) against the general flow
// (core/gmem/conversion.ts): random operation sequences on every backing, merge policy, vendor and
// policy set the invariant tests draw from, run twice from the same seed, once with the routine
// and once without, compare the whole model state, every counter, latency distribution and
// sampled series after every step, and the event logs (their length after every step, their
// lines at the end). In-place files only: the legacy model never takes the routine
// (pageFastPathApplies()), and its runs in invariants.test.ts cover it.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { pageFastPath } from '../gmem/convert-page.js';
import { gaugeCounterProblems } from '../gmem/gauges.js';
import type { GmemState } from '../gmem/state.js';
import { KiB } from '../units.js';
import {
  apply,
  BACKINGS,
  build,
  guestBytesOf,
  opArb,
  policiesArb,
  stateOf,
  type Op,
} from './random-ops.js';

fc.configureGlobal({ seed: Number(process.env['GMEMLAB_FC_SEED'] ?? 20261207) });

const VENDORS = ['none', 'snp', 'tdx', 'cca', 'pkvm'] as const;

/** Single 4 KiB conversions weigh more here than in the invariant tests: they are what differs. */
function pageOpArb(pages: number) {
  const page = fc.integer({ min: 0, max: pages - 1 });
  // Pages of the first two units mostly, so conversions meet split and merged units alike.
  const near = fc.integer({ min: 0, max: Math.min(pages, 2 * 262144) - 1 });
  const one = (p: number): readonly [number, number] => [p, 1];
  return fc.oneof(
    { weight: 3, arbitrary: opArb(pages) },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('convert' as const),
        range: fc.oneof(page, near).map(one),
        to: fc.constantFrom('shared' as const, 'private' as const),
      }),
    },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('flip' as const), range: page.map(one) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('dma' as const), range: near.map(one) }) },
  ) as fc.Arbitrary<Op>;
}

const takenBefore = pageFastPath.taken;

describe('single-page conversions: the routine equals the general flow', () => {
  afterAll(() => {
    pageFastPath.enabled = true;
    expect(pageFastPath.taken - takenBefore, 'no run took the routine').toBeGreaterThan(0);
  });

  for (const backing of BACKINGS) {
    {
      const model = 'in-place';
      for (const merge of ['eager', 'deferred', 'never']) {
        it(`${backing.allocator} ${backing.pageSize}, ${model}, merge ${merge}`, () => {
          const pages = guestBytesOf(backing) / (4 * KiB);
          fc.assert(
            fc.property(
              policiesArb,
              fc.constantFrom(...VENDORS),
              fc.array(pageOpArb(pages), { minLength: 5, maxLength: 30 }),
              fc.integer({ min: 1, max: 1e6 }),
              (policies, vendor, ops, seed) => {
                const fast = build(backing, model, merge, policies, seed, vendor);
                const general = build(backing, model, merge, policies, seed, vendor);
                try {
                  for (const [i, op] of ops.entries()) {
                    pageFastPath.enabled = true;
                    apply(fast, op);
                    pageFastPath.enabled = false;
                    apply(general, op);
                    fast.sample();
                    general.sample();
                    const where = `after step ${i} ${JSON.stringify(op)}`;
                    expect(stateOf(fast), where).toEqual(stateOf(general));
                    expect(fast.metrics.seriesView(), where).toEqual(general.metrics.seriesView());
                    const problems = [
                      ...fast.checkInvariants(),
                      ...gaugeCounterProblems((fast.gmem as unknown as { gmem: GmemState }).gmem),
                    ];
                    expect(problems, where).toEqual([]);
                  }
                  expect(fast.log.toJsonLines()).toEqual(general.log.toJsonLines());
                } finally {
                  pageFastPath.enabled = true;
                }
              },
            ),
            { numRuns: backing.pageSize === '1g' ? 4 : 15 },
          );
        });
      }
    }
  }
});
