import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { MemoryClassCounter, classifyMemory, type ClassBitmaps } from './accounting.js';
import { PagedBitmap } from './paged-bitmap.js';

/** The classes page by page, straight from their definitions (accounting.ts). */
function naive(bm: ClassBitmaps) {
  const { allocated: A, shared: S, punched: Z, backend: B } = bm;
  const c = { private: 0, shared: 0, doubleAllocated: 0, zeroedNotFreed: 0 };
  for (let i = 0; i < A.nrBits; i++) {
    const a = A.get(i);
    const s = S.get(i);
    const z = Z.get(i);
    if (!B) {
      if (a && !s && !z) c.private++;
      if (a && s && !z) c.shared++;
      if (z) c.zeroedNotFreed++;
    } else {
      const b = B.get(i);
      if (a && !s && !z) c.private++;
      if (b && s) c.shared++;
      if (a && s) c.doubleAllocated++;
      if (b && !s) c.doubleAllocated++;
      if (z && !s) c.zeroedNotFreed++;
    }
  }
  return c;
}

describe('MemoryClassCounter', () => {
  it('follows every change of the bitmaps and always agrees with a full count', () => {
    const chunks = vi.spyOn(MemoryClassCounter.prototype, 'chunk');
    const bits = 3 * 262144 + 4096; // three whole 1 GiB ranges and a partial one
    const range = fc
      .tuple(fc.integer({ min: 0, max: bits - 1 }), fc.constantFrom(1, 7, 512, 3000, 262144))
      .map(([s, n]) => [s, Math.min(bits, s + n)] as const);
    const op = fc.record({
      map: fc.constantFrom('allocated', 'shared', 'punched', 'backend'),
      range,
      value: fc.boolean(),
      // Block-aligned ranges take the whole-block path of assignRange, ranges rounded out to
      // 1 GiB its whole-chunk path.
      align: fc.constantFrom(1, 512, 262144),
    });
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.array(op, { maxLength: 40 }),
        (legacy, startShared, ops) => {
          const bm = {
            allocated: new PagedBitmap(bits),
            shared: new PagedBitmap(bits),
            punched: new PagedBitmap(bits),
            backend: legacy ? new PagedBitmap(bits) : null,
          };
          // A counter attached to bitmaps that already hold bits starts from their count.
          if (startShared) bm.shared.assignRange(0, bits, true);
          const counter = new MemoryClassCounter(bm);
          for (const o of ops) {
            let [start, end] = o.range;
            start -= start % o.align;
            end = Math.min(bits, end + ((o.align - (end % o.align)) % o.align));
            if (o.map === 'punched' && o.value) {
              // Punched pages are allocated pages (the classes assume Z is part of A).
              for (let i = start; i < end; i++) if (bm.allocated.get(i)) bm.punched.assign(i, true);
            } else {
              bm[o.map as 'allocated' | 'shared' | 'punched' | 'backend']?.assignRange(
                start,
                end,
                o.value,
              );
              if (o.map === 'allocated' && !o.value) bm.punched.assignRange(start, end, false);
            }
            expect(counter.classes).toEqual(classifyMemory(bm));
          }
          expect(counter.classes).toEqual(naive(bm));
        },
      ),
      { numRuns: 40 },
    );
    // Whole 1 GiB ranges changed by their counters alone reached the counter.
    expect(chunks).toHaveBeenCalled();
    chunks.mockRestore();
  });
});
