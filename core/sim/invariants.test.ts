// Property tests: random operation sequences against every allocator and policy combination, with
// the invariants of domain.md section 8 checked after every step (among them: every counter the
// gauges read, kept by the operations, equals a full recount of the state), plus determinism.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { KiB } from '../units.js';
import { apply, BACKINGS, build, guestBytesOf, opArb, policiesArb } from './random-ops.js';

// A fixed seed keeps CI repeatable; set GMEMLAB_FC_SEED to explore other sequences.
fc.configureGlobal({ seed: Number(process.env['GMEMLAB_FC_SEED'] ?? 20261121) });

/** What the random runs reached, so the property tests cannot pass by exercising nothing. */
const reached = {
  splits: 0,
  merges: 0,
  eagain: 0,
  refused: 0,
  deferred: 0,
  cancelled: 0,
  freed: 0,
  zeroed: 0,
  double: 0,
};

describe('invariants hold after every operation', () => {
  afterAll(() => {
    for (const [what, n] of Object.entries(reached))
      expect(n, `random runs never reached ${what}`).toBeGreaterThan(0);
  });

  for (const backing of BACKINGS) {
    for (const model of ['in-place', 'legacy'] as const) {
      for (const merge of ['eager', 'deferred', 'never']) {
        it(`${backing.allocator} ${backing.pageSize}, ${model}, merge ${merge}`, () => {
          const pages = guestBytesOf(backing) / (4 * KiB);
          fc.assert(
            fc.property(
              policiesArb,
              fc.array(opArb(pages), { minLength: 5, maxLength: 30 }),
              fc.integer({ min: 1, max: 1e6 }),
              (policies, ops, seed) => {
                const sim = build(backing, model, merge, policies, seed);
                for (const [i, op] of ops.entries()) {
                  apply(sim, op);
                  const problems = sim.checkInvariants();
                  if (problems.length > 0)
                    throw new Error(
                      `after step ${i} ${JSON.stringify(op)}: ${problems.join('; ')}`,
                    );
                }
                const s = sim.summary().metrics;
                reached.splits += s.splits_1g + s.splits_2m;
                reached.merges += s.merges_1g + s.merges_2m;
                reached.eagain += s.eagain_failures;
                reached.refused += s.refused_conversions;
                reached.deferred += s.merges_deferred;
                reached.cancelled += s.merges_cancelled;
                reached.freed += s.freed_bytes;
                reached.zeroed += s.zeroed_not_freed_bytes;
                reached.double += s.double_allocated_bytes;
                sim.teardown();
                const end = sim.summary().metrics;
                // Teardown gives everything back.
                expect(
                  end.private_bytes +
                    end.shared_bytes +
                    end.double_allocated_bytes +
                    end.zeroed_not_freed_bytes,
                ).toBe(0);
                expect(end.reserved_unused_bytes).toBe(0);
                expect(sim.checkInvariants()).toEqual([]);
              },
            ),
            { numRuns: backing.pageSize === '1g' ? 10 : 25 },
          );
        });
      }
    }
  }
});

describe('determinism', () => {
  it('the same configuration and seed give identical results and event logs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...BACKINGS),
        policiesArb,
        fc.integer({ min: 1, max: 1e6 }),
        (backing, policies, seed) => {
          const pages = guestBytesOf(backing) / (4 * KiB);
          const ops = fc.sample(fc.array(opArb(pages), { minLength: 20, maxLength: 20 }), {
            seed,
            numRuns: 1,
          })[0]!;
          const run = () => {
            const sim = build(backing, 'in-place', 'deferred', policies, seed);
            for (const op of ops) apply(sim, op);
            sim.sample();
            return { summary: sim.summary(), log: sim.log.toJsonLines() };
          };
          expect(run()).toEqual(run());
        },
      ),
      { numRuns: 10 },
    );
  });
});
