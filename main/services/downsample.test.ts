// Display downsampling: never more than the limit, every series' extremes kept at their exact
// values, one shared time axis, counters exact.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { downsampleAligned } from './downsample.js';

function axis(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => i * 1000);
}

function minMax(a: Float64Array): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

describe('downsampleAligned', () => {
  it('returns short series unchanged', () => {
    const t = axis(10);
    const v = Float64Array.from(t, (x) => x * 2);
    const out = downsampleAligned(t, [v], 2000);
    expect(out.timeNs).toBe(t);
    expect(out.columns[0]).toBe(v);
  });

  it('keeps at most maxPoints, aligned, with the first and last samples exact', () => {
    const n = 100_003;
    const t = axis(n);
    const sine = Float64Array.from(t, (_, i) => Math.sin(i / 500) * 1e6);
    const counter = Float64Array.from(t, (_, i) => i * 3);
    const out = downsampleAligned(t, [sine, counter], 2000);
    expect(out.timeNs.length).toBeLessThanOrEqual(2000);
    for (const column of out.columns) expect(column.length).toBe(out.timeNs.length);
    expect(out.timeNs[0]).toBe(0);
    expect(out.timeNs.at(-1)).toBe(t.at(-1));
    expect(out.columns[0]![0]).toBe(sine[0]);
    expect(out.columns[0]!.at(-1)).toBe(sine.at(-1));
    // Strictly increasing time: every bucket has at least two samples.
    for (let i = 1; i < out.timeNs.length; i++)
      expect(out.timeNs[i]!).toBeGreaterThan(out.timeNs[i - 1]!);
  });

  it('keeps a one-sample spike and dip of one series while another series is flat', () => {
    const n = 50_000;
    const t = axis(n);
    const spiky = new Float64Array(n).fill(5);
    spiky[12_345] = 1e9;
    spiky[40_001] = -7;
    const flat = new Float64Array(n).fill(1);
    const out = downsampleAligned(t, [spiky, flat], 500);
    expect(minMax(out.columns[0]!)).toEqual([-7, 1e9]);
    expect(minMax(out.columns[1]!)).toEqual([1, 1]);
    // The spike is drawn within one bucket of where it happened.
    const at = out.columns[0]!.indexOf(1e9);
    const bucketNs = (n / 249) * 1000;
    expect(Math.abs(out.timeNs[at]! - t[12_345]!)).toBeLessThanOrEqual(bucketNs + 1000);
  });

  it('is exact at every kept time for a non-decreasing counter', () => {
    const n = 30_000;
    const t = axis(n);
    let acc = 0;
    const counter = Float64Array.from(t, (_, i) => (acc += (i * 7919) % 13));
    const out = downsampleAligned(t, [counter], 1000);
    for (let i = 0; i < out.timeNs.length; i++)
      expect(out.columns[0]![i]).toBe(counter[out.timeNs[i]! / 1000]);
  });

  it('skips NaN samples', () => {
    const n = 10_000;
    const v = new Float64Array(n).fill(NaN);
    v[0] = 1;
    v[5000] = 9;
    const out = downsampleAligned(axis(n), [v], 100);
    const finite = Array.from(out.columns[0]!).filter((x) => !Number.isNaN(x));
    expect(Math.max(...finite)).toBe(9);
  });

  it('refuses mismatched lengths and a limit below 4', () => {
    expect(() => downsampleAligned(axis(10), [new Float64Array(9)], 100)).toThrow(/samples/);
    expect(() => downsampleAligned(axis(10), [], 3)).toThrow(/at least 4/);
  });

  it('property: bounded length, exact global extremes, every point within its bucket range', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ noNaN: true, min: -1e12, max: 1e12 }), { minLength: 1 }), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.integer({ min: 4, max: 64 }),
        (raw, maxPoints) => {
          const n = Math.min(...raw.map((r) => r.length));
          const t = axis(n);
          // -0 and 0 compare equal as samples; keep one of them so extremes compare exactly.
          const columns = raw.map((r) =>
            Float64Array.from(r.slice(0, n), (v) => (v === 0 ? 0 : v)),
          );
          const out = downsampleAligned(t, columns, maxPoints);
          expect(out.timeNs.length).toBeLessThanOrEqual(Math.min(n, maxPoints));
          out.columns.forEach((column, c) => {
            expect(column.length).toBe(out.timeNs.length);
            expect(minMax(column)).toEqual(minMax(columns[c]!));
            // Every drawn value is a sample of that series.
            const values = new Set(columns[c]);
            for (const v of column) expect(values.has(v)).toBe(true);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
