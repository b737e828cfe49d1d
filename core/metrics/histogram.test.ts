// The buffered one-sample path of the latency histogram (recordOne) against record(), which folds
// each sample in at once: after any mix of single samples, repeated samples and reads, the two
// report the same buckets, count, mean, max and percentiles, to the last bit.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf, LatencyHistogram } from './histogram.js';

fc.configureGlobal({ seed: Number(process.env['GMEMLAB_FC_SEED'] ?? 20261207) });

function summary(h: LatencyHistogram): unknown {
  return {
    buckets: h.buckets(),
    count: h.count,
    mean: h.mean,
    max: h.max,
    percentiles: [0, 1, 50, 90, 99, 99.9, 100].map((p) => h.percentile(p)),
  };
}

const value = fc.oneof(
  fc.double({ min: 0, max: 1e12, noNaN: true }),
  fc.constantFrom(0, 0.5, 1, 1.5, 312.5, 1024, 2 ** 40),
);
const step = fc.oneof(
  { weight: 8, arbitrary: value.map((v) => ({ kind: 'one' as const, v })) },
  { weight: 1, arbitrary: value.map((v) => ({ kind: 'many' as const, v, times: 700 })) },
  {
    weight: 1,
    arbitrary: fc.tuple(value, fc.integer({ min: 0, max: 5 })).map(([v, times]) => ({
      kind: 'each' as const,
      v,
      times,
    })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'read' as const }) },
);

describe('LatencyHistogram.recordOne', () => {
  it('reports exactly what record() does, across buffer folds and reads', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 3000 }), (steps) => {
        const buffered = new LatencyHistogram();
        const direct = new LatencyHistogram();
        for (const s of steps) {
          if (s.kind === 'one') {
            buffered.recordOne(s.v);
            direct.record(s.v);
          } else if (s.kind === 'many') {
            for (let i = 0; i < s.times; i++) {
              buffered.recordOne(s.v);
              direct.record(s.v);
            }
          } else if (s.kind === 'each') {
            buffered.recordEach(s.v, s.times);
            direct.recordEach(s.v, s.times);
          } else {
            expect(summary(buffered)).toEqual(summary(direct));
          }
        }
        expect(summary(buffered)).toEqual(summary(direct));
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a negative, NaN or infinite sample when it is recorded', () => {
    const h = new LatencyHistogram();
    for (const bad of [-1, NaN, Infinity, -Infinity])
      expect(() => h.recordOne(bad)).toThrow(/not a finite non-negative number/);
    expect(h.count).toBe(0);
  });
});

describe('bucketOf', () => {
  /** The bucket as the histogram first computed it: floor(log2), then the linear sub-bucket. */
  function byLog2(value: number): number {
    if (value < 1) return 0;
    const exponent = Math.floor(Math.log2(value));
    const base = 2 ** exponent;
    const sub = Math.min(15, Math.floor(((value - base) / base) * 16));
    return Math.min(64 * 16 - 1, exponent * 16 + sub);
  }

  it('reads the same bucket from the bits as from log2, at powers of two and next to them', () => {
    for (let e = 0; e < 70; e++) {
      const p = 2 ** e;
      for (const v of [
        p,
        p * (1 - Number.EPSILON / 2),
        p * (1 + Number.EPSILON),
        p * 1.0625,
        p * 1.9999999,
      ])
        if (v >= 1) expect(bucketOf(v), `value ${v}`).toBe(byLog2(v));
    }
    expect([bucketOf(0), bucketOf(0.999), bucketOf(1), bucketOf(1.5), bucketOf(2 ** 80)]).toEqual([
      0, 0, 0, 8, 1023,
    ]);
  });

  it('reads the same bucket from the bits as from log2, for any value', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 2 ** 70, noNaN: true }), (v) => {
        expect(bucketOf(v)).toBe(byLog2(v));
      }),
      { numRuns: 20000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (v) => {
        expect(bucketOf(v)).toBe(byLog2(v));
      }),
      { numRuns: 20000 },
    );
  });
});
