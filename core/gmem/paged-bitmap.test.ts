import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PagedBitmap, popcount32 } from './paged-bitmap.js';

describe('PagedBitmap', () => {
  it('counts per 2 MiB block and per 1 GiB range', () => {
    const b = new PagedBitmap(3 * 262144);
    expect(b.assignRange(511, 1025, true)).toBe(514);
    expect(b.perBlock[0]).toBe(1);
    expect(b.perBlock[1]).toBe(512);
    expect(b.perBlock[2]).toBe(1);
    expect(b.perGig[0]).toBe(514);
    expect(b.total).toBe(514);
    expect(b.assignRange(0, 1024, false)).toBe(513);
    expect(b.total).toBe(1);
    expect(b.get(1024)).toBe(true);
  });

  it('allocates no storage for untouched 1 GiB chunks', () => {
    const b = new PagedBitmap(4 * 1024 * 262144); // 4 TiB of 4 KiB pages
    const before = b.storageBytes;
    b.assign(5, true);
    expect(b.storageBytes - before).toBe(32 * 1024);
  });

  it('popcount32 matches a naive count', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (x) => {
        let n = 0;
        for (let i = 0; i < 32; i++) if ((x >>> i) & 1) n++;
        return popcount32(x) === n;
      }),
    );
  });

  it('agrees with a plain boolean array under random range operations', () => {
    const size = 262144 + 4096;
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: size }),
            fc.integer({ min: 0, max: 3000 }),
            fc.boolean(),
          ),
          { maxLength: 40 },
        ),
        fc.integer({ min: 0, max: size - 1 }),
        (ops, probe) => {
          const b = new PagedBitmap(size);
          const ref = new Uint8Array(size);
          for (const [start, len, value] of ops) {
            const end = Math.min(size, start + len);
            let expected = 0;
            for (let i = start; i < end; i++) {
              if (ref[i] !== (value ? 1 : 0)) expected++;
              ref[i] = value ? 1 : 0;
            }
            expect(b.assignRange(start, end, value)).toBe(expected);
          }
          let total = 0;
          for (let i = 0; i < size; i++) total += ref[i]!;
          expect(b.total).toBe(total);
          const end = Math.min(size, probe + 2000);
          let inRange = 0;
          for (let i = probe; i < end; i++) inRange += ref[i]!;
          expect(b.countRange(probe, end)).toBe(inRange);
          let firstSet = end;
          for (let i = probe; i < end; i++)
            if (ref[i]) {
              firstSet = i;
              break;
            }
          expect(b.find(probe, end, true)).toBe(firstSet);
          let firstClear = end;
          for (let i = probe; i < end; i++)
            if (!ref[i]) {
              firstClear = i;
              break;
            }
          expect(b.find(probe, end, false)).toBe(firstClear);
        },
      ),
      { numRuns: 60 },
    );
  });
});
