import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PagedBitmap, popcount32 } from './paged-bitmap.js';

describe('PagedBitmap', () => {
  it('counts per 2 MiB block and per 1 GiB range', () => {
    const b = new PagedBitmap(3 * 262144);
    expect(b.assignRange(511, 1025, true)).toBe(514);
    expect(b.blockCount(0)).toBe(1);
    expect(b.blockCount(1)).toBe(512);
    expect(b.blockCount(2)).toBe(1);
    expect(b.perGig[0]).toBe(514);
    expect(b.total).toBe(514);
    expect(b.assignRange(0, 1024, false)).toBe(513);
    expect(b.total).toBe(1);
    expect(b.get(1024)).toBe(true);
  });

  it('allocates no storage for untouched 1 GiB chunks, and words only for blocks past three bits', () => {
    const b = new PagedBitmap(4 * 1024 * 262144); // 4 TiB of 4 KiB pages
    const before = b.storageBytes;
    b.assign(5, true);
    b.assign(300, true);
    b.assign(511, true);
    // One chunk's block table (a count and an entry per 2 MiB block, 4 bytes each), whose entry
    // for block 0 holds its three set bits.
    expect(b.storageBytes - before).toBe(4096);
    expect([b.get(5), b.get(300), b.get(511), b.get(6), b.blockCount(0)]).toEqual([
      true,
      true,
      true,
      false,
      3,
    ]);
    // A fourth takes the first page of the line pool (512 lines of 64 bytes).
    b.assign(40, true);
    expect(b.storageBytes - before).toBe(4096 + 32 * 1024);
    expect(b.word(1)).toBe(1 << 8);
    expect(b.word(15)).toBe(0x80000000);
    b.assign(262144 * 1024 * 3 + 7, true);
    expect(b.storageBytes - before).toBe(2 * 4096 + 32 * 1024);
    // A whole GiB set at once is held by its counter alone: it takes no block table, and neither
    // does clearing it again.
    b.assignRange(262144, 2 * 262144, true);
    expect(b.storageBytes - before).toBe(2 * 4096 + 32 * 1024);
    expect(b.countRange(262144, 2 * 262144)).toBe(262144);
    expect([b.blockCount(512), b.blockCount(1023), b.get(262144 + 77), b.total]).toEqual([
      512,
      512,
      true,
      262144 + 5,
    ]);
    expect([b.usedBlocksTotal, b.partialBlocksTotal]).toEqual([512 + 2, 2]);
    b.assignRange(262144, 2 * 262144, false);
    expect(b.storageBytes - before).toBe(2 * 4096 + 32 * 1024);
    expect([b.blockCount(512), b.total, b.usedBlocksTotal]).toEqual([0, 5, 2]);
    // Across chunks, a range takes the whole-chunk path for the chunks it covers whole alone.
    b.assignRange(262144 + 100, 3 * 262144 + 50, true);
    expect(b.countRange(262144, 4 * 262144)).toBe(2 * 262144 - 100 + 50);
    expect(b.get(262144 * 3 + 7)).toBe(true);
    expect(b.get(262144 * 3 + 60)).toBe(false);
  });

  it('reuses the lines of blocks that went uniform, and grows the pool past 512 partial blocks', () => {
    const b = new PagedBitmap(4 * 262144);
    const before = b.storageBytes;
    /** Four bits of block `blk` from `first` on, every 7th: more than its entry holds. */
    const four = (blk: number, first: number, value: boolean) => {
      for (let j = 0; j < 4; j++) b.assign(blk * 512 + first + 7 * j, value);
    };
    for (let round = 0; round < 3; round++) {
      for (let blk = 0; blk < 1024; blk += 2) four(blk, round, true);
      for (let blk = 0; blk < 1024; blk += 2) four(blk, round, false);
    }
    // 512 blocks with lines at once: one page of lines, reused each round.
    expect(b.storageBytes - before).toBe(2 * 4096 + 32 * 1024);
    expect(b.total).toBe(0);
    // 600 at once need a second page; a block set whole gives its line back.
    for (let blk = 0; blk < 600; blk++) four(blk, 3, true);
    expect(b.partialBlocksTotal).toBe(600);
    expect(b.storageBytes - before).toBe(2 * 4096 + 2 * 32 * 1024);
    b.assignRange(0, 512, true);
    b.assignRange(512 + 1, 512 + 512, true);
    expect(b.blockCount(0)).toBe(512);
    expect(b.blockCount(1)).toBe(511);
    expect(b.get(512)).toBe(false);
    expect(b.get(512 + 3)).toBe(true);
    for (let blk = 2; blk < 600; blk++) {
      expect(b.get(blk * 512 + 3)).toBe(true);
      expect(b.get(blk * 512 + 24)).toBe(true);
      expect(b.countRange(blk * 512, blk * 512 + 512)).toBe(4);
    }
    // Clearing one bit of a full block gives it a line of ones.
    b.assign(100, false);
    expect(b.countRange(0, 512)).toBe(511);
    expect(b.find(0, 512, false)).toBe(100);
    expect(b.word(3)).toBe(0xffffffef);
    expect(b.total).toBe(511 + 511 + 598 * 4);
  });

  it('keeps a bounded pool of block tables however many GiB turn uniform, and they answer right when reused', () => {
    const gigs = 64;
    const b = new PagedBitmap(gigs * 262144);
    const base = b.storageBytes;
    // Filled 2 MiB at a time, each GiB goes mixed, then full: one table would be kept per GiB.
    for (let blk = 0; blk < gigs * 512; blk++) b.assignRange(blk * 512, blk * 512 + 512, true);
    expect(b.total).toBe(gigs * 262144);
    expect(b.storageBytes - base).toBeLessThanOrEqual(2 * 16 * 4096);
    // One page cleared in each GiB: tables from the pools (some rewritten from the other one).
    for (let g = 0; g < gigs; g++) b.assign(g * 262144 + g, false);
    for (let g = 0; g < gigs; g++) {
      expect(b.countRange(g * 262144, (g + 1) * 262144)).toBe(262143);
      expect(b.get(g * 262144 + g)).toBe(false);
      expect(b.get(g * 262144 + g + 1)).toBe(true);
      expect(b.blockCount(g * 512)).toBe(511);
      expect(b.blockCount(g * 512 + 1)).toBe(512);
    }
    // Emptied whole, then one page set in each GiB.
    b.assignRange(0, gigs * 262144, false);
    expect(b.total).toBe(0);
    for (let g = 0; g < gigs; g++) b.assign(g * 262144 + 3, true);
    for (let g = 0; g < gigs; g++) {
      expect(b.blockCount(g * 512)).toBe(1);
      expect(b.blockCount(g * 512 + 1)).toBe(0);
      expect(b.find(g * 262144, (g + 1) * 262144, true)).toBe(g * 262144 + 3);
    }
    for (let g = 0; g < gigs; g++) b.assign(g * 262144 + 3, false);
    expect(b.storageBytes - base).toBeLessThanOrEqual(2 * 16 * 4096 + 32 * 1024);
  });

  it('keeps 64 TiB indexes apart (2^34 bits, past the 32-bit operators)', () => {
    const b = new PagedBitmap(64 * 1024 * 262144);
    const at8T = 8 * 1024 * 262144;
    // Each index and the one 2^32 below it would share a word under `>>> 5`.
    b.assignRange(at8T * 2 - 512, at8T * 2 + 512, true);
    expect(b.get(at8T * 2 - 512 - 2 ** 32)).toBe(false);
    expect(b.countRange(0, at8T)).toBe(0);
    expect(b.blockCount((at8T * 2) / 512)).toBe(512);
    expect(b.blockCount((at8T * 2 - 2 ** 32) / 512)).toBe(0);
    expect(b.find(0, b.nrBits, true)).toBe(at8T * 2 - 512);
    expect(b.find(at8T * 2 - 512, b.nrBits, false)).toBe(at8T * 2 + 512);
    expect(b.perGig[(at8T * 2) / 262144 - 1]).toBe(512);
    expect(b.total).toBe(1024);
    b.clear();
    expect(b.total).toBe(0);
    expect(b.find(0, b.nrBits, true)).toBe(b.nrBits);
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

  // The same operations at a window starting at 0, 8 TiB and 48 TiB of a 64 TiB bitmap: the answers
  // shift with the window and nothing else changes.
  it.each([
    ['0', 0],
    ['8 TiB', 8 * 1024 * 262144],
    ['48 TiB', 48 * 1024 * 262144],
  ])('agrees with a plain boolean array under random range operations at %s', (_name, base) => {
    const size = 262144 + 4096;
    const nrBits = base === 0 ? size : 64 * 1024 * 262144;
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
          const b = new PagedBitmap(nrBits);
          const ref = new Uint8Array(size);
          for (const [start, len, value] of ops) {
            const end = Math.min(size, start + len);
            let expected = 0;
            for (let i = start; i < end; i++) {
              if (ref[i] !== (value ? 1 : 0)) expected++;
              ref[i] = value ? 1 : 0;
            }
            expect(b.assignRange(base + start, base + end, value)).toBe(expected);
          }
          let total = 0;
          for (let i = 0; i < size; i++) total += ref[i]!;
          expect(b.total).toBe(total);
          const end = Math.min(size, probe + 2000);
          let inRange = 0;
          for (let i = probe; i < end; i++) inRange += ref[i]!;
          expect(b.countRange(base + probe, base + end)).toBe(inRange);
          let firstSet = end;
          for (let i = probe; i < end; i++)
            if (ref[i]) {
              firstSet = i;
              break;
            }
          expect(b.find(base + probe, base + end, true)).toBe(base + firstSet);
          let firstClear = end;
          for (let i = probe; i < end; i++)
            if (!ref[i]) {
              firstClear = i;
              break;
            }
          expect(b.find(base + probe, base + end, false)).toBe(base + firstClear);
          for (let k = 0; k < 8; k++) {
            const i = probe + k * 97;
            if (i < size) expect(b.get(base + i)).toBe(ref[i] === 1);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  // Blocks move between their four forms (all clear, a few indexes in the table entry, a line,
  // all set) one bit or a few at a time: every answer, and every change the observer is told of,
  // must be what a plain array says, whatever the form.
  it.each([
    ['0', 0],
    ['40 TiB', 40 * 1024 * 262144],
  ])('agrees with a plain array under single-bit and short-range changes at %s', (_name, base) => {
    const size = 3 * 512 + 100;
    const nrBits = base === 0 ? size : 64 * 1024 * 262144;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(size - 1), fc.nat(40), fc.boolean(), fc.boolean()), {
          minLength: 1,
          maxLength: 120,
        }),
        (ops) => {
          const b = new PagedBitmap(nrBits);
          const ref = new Uint8Array(size);
          const refWord = (w: number) => {
            let x = 0;
            for (let j = 0; j < 32; j++) if (ref[w * 32 + j]) x |= 1 << j;
            return x >>> 0;
          };
          const baseWord = base / 32;
          // The observer is told of each change before it is written: its `old` is the array's.
          b.observe(
            {
              word: (_role, w, old, next) => {
                expect(old).toBe(refWord(w - baseWord));
                expect(next).not.toBe(old);
              },
              bit: (_role, w, mask, value) => {
                expect((refWord(w - baseWord) & mask) !== 0).toBe(!value);
              },
              block: (_role, blk, value) => {
                const first = (blk - base / 512) * 512;
                expect(ref.subarray(first, first + 512).every((v) => v === (value ? 1 : 0))).toBe(
                  false,
                );
              },
              chunk: () => expect.fail('a whole 1 GiB chunk changed in a range of three blocks'),
            },
            0,
          );
          for (const [at, len, value, single] of ops) {
            const end = single ? at + 1 : Math.min(size, at + len);
            let changed = 0;
            for (let i = at; i < end; i++) if (ref[i] !== (value ? 1 : 0)) changed++;
            const got = single
              ? b.assign(base + at, value)
                ? 1
                : 0
              : b.assignRange(base + at, base + end, value);
            ref.fill(value ? 1 : 0, at, end);
            expect(got).toBe(changed);
          }
          let total = 0;
          for (let i = 0; i < size; i++) total += ref[i]!;
          expect(b.total).toBe(total);
          let partial = 0;
          let used = 0;
          for (let blk = 0; blk * 512 < size; blk++) {
            const n = ref.subarray(blk * 512, blk * 512 + 512).reduce((x, v) => x + v, 0);
            expect(b.blockCount(base / 512 + blk), `block ${blk}`).toBe(n);
            if (n > 0) used++;
            if (n > 0 && n < 512) partial++;
          }
          expect([b.partialBlocksTotal, b.usedBlocksTotal]).toEqual([partial, used]);
          for (let w = 0; w * 32 < size; w++) {
            expect(b.word(baseWord + w), `word ${w}`).toBe(refWord(w));
            expect(b.testBit(baseWord + w, 1 << (w % 32))).toBe(
              ((refWord(w) >>> (w % 32)) & 1) === 1,
            );
          }
          for (let i = 0; i < size; i++) expect(b.get(base + i)).toBe(ref[i] === 1);
          for (const [from, to] of [
            [0, size],
            [5, 517],
            [511, 1030],
            [700, 701],
          ] as const) {
            expect(b.countRange(base + from, base + to)).toBe(
              ref.subarray(from, to).reduce((x, v) => x + v, 0),
            );
            const set = ref.subarray(from, to).indexOf(1);
            const clear = ref.subarray(from, to).indexOf(0);
            expect(b.find(base + from, base + to, true)).toBe(base + (set < 0 ? to : from + set));
            expect(b.find(base + from, base + to, false)).toBe(
              base + (clear < 0 ? to : from + clear),
            );
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
