// A bitmap over 4 KiB indexes of a file, with a population count per 2 MiB block and per 1 GiB
// range. Storage (the bit words and the per-block counts) is allocated per 1 GiB chunk on first
// set, so a 64 TiB guest that touches a few GiB costs a few hundred KiB per touched GiB plus
// 24 bytes per GiB of summaries and chunk slots, and a full 1 TiB bitmap is 33 MiB. Word-level operations keep
// range updates cheap; single-bit updates are O(1).
//
// Indexes reach 2^34 (a 64 TiB guest of 4 KiB pages), past what JavaScript's 32-bit operators
// hold: chunk and block numbers come from Math.floor division (exact below 2^53), and the 32-bit
// operators only see offsets inside one chunk (below 2^18) or masks of the low bits (`i & 511`,
// exact for every non-negative integer because 2^32 is a multiple of the mask's period).
import { chargeStorage } from '../storage-budget.js';

export const BITS_PER_CHUNK = 1 << 18; // one 1 GiB range of 4 KiB pages
const WORDS_PER_CHUNK = BITS_PER_CHUNK >>> 5;
const BLOCKS_PER_CHUNK = 512;
/** Storage of one materialised 1 GiB chunk: its bit words and a 16-bit count per 2 MiB block. */
export const CHUNK_STORAGE_BYTES = WORDS_PER_CHUNK * 4 + BLOCKS_PER_CHUNK * 2;

/**
 * Told of every change to a bitmap's bits, before the change is written (the other bitmaps it
 * reads are still as they were): kept counters derived from several bitmaps (the memory classes,
 * accounting.ts) follow each change instead of counting the bitmaps again.
 */
export interface BitmapObserver {
  /** Word `w` (global word index) of the bitmap observed as `role` goes from `old` to `next`. */
  word(role: number, w: number, old: number, next: number): void;
  /** The one bit `mask` of word `w` of the bitmap observed as `role` becomes `value`. */
  bit(role: number, w: number, mask: number, value: boolean): void;
  /** Every bit of the whole 2 MiB block `b` of the bitmap observed as `role` becomes `value`. */
  block(role: number, b: number, value: boolean): void;
}

export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** The 1 GiB chunk holding 4 KiB index `i`. */
function chunkOf(i: number): number {
  return Math.floor(i / BITS_PER_CHUNK);
}

export class PagedBitmap {
  /** Per 1 GiB chunk: its bits, allocated on first set. */
  private readonly chunks: (Uint32Array | undefined)[];
  /** Per 1 GiB chunk: set bits per 2 MiB block, allocated with the chunk's bits. */
  private readonly blocks: (Uint16Array | undefined)[];
  /** Set bits per 1 GiB range. */
  readonly perGig: Uint32Array;
  /** Per 1 GiB range: blocks with a set bit. */
  readonly usedBlocks: Uint16Array;
  /** Per 1 GiB range: blocks with a set bit and a clear one (count neither 0 nor 512). */
  readonly partialBlocks: Uint16Array;
  /** Blocks with a set bit, over the whole bitmap (the sum of usedBlocks). */
  usedBlocksTotal = 0;
  /** Blocks with a set bit and a clear one, over the whole bitmap (the sum of partialBlocks). */
  partialBlocksTotal = 0;
  private count = 0;
  private allocatedChunks = 0;
  private observer: BitmapObserver | null = null;
  private role = 0;

  constructor(readonly nrBits: number) {
    if (!Number.isSafeInteger(nrBits) || nrBits < 0) throw new RangeError(`bitmap size ${nrBits}`);
    const nrChunks = Math.ceil(nrBits / BITS_PER_CHUNK);
    this.chunks = new Array<Uint32Array | undefined>(nrChunks).fill(undefined);
    this.blocks = new Array<Uint16Array | undefined>(nrChunks).fill(undefined);
    this.perGig = new Uint32Array(nrChunks);
    this.usedBlocks = new Uint16Array(nrChunks);
    this.partialBlocks = new Uint16Array(nrChunks);
  }

  get total(): number {
    return this.count;
  }

  /** Number of 2 MiB blocks the bitmap covers. */
  get nrBlocks(): number {
    return Math.ceil(this.nrBits / 512);
  }

  /** Bytes of typed-array storage in use (for the model's own memory figures). */
  get storageBytes(): number {
    return (
      this.perGig.byteLength +
      this.usedBlocks.byteLength +
      this.partialBlocks.byteLength +
      // The two arrays of chunk references (8 bytes a slot).
      this.chunks.length * 16 +
      this.allocatedChunks * (WORDS_PER_CHUNK * 4 + BLOCKS_PER_CHUNK * 2)
    );
  }

  /** From now on, `observer` is told of every change, with `role` (one observer per bitmap). */
  observe(observer: BitmapObserver, role: number): void {
    if (this.observer && this.observer !== observer) throw new Error('bitmap already observed');
    this.observer = observer;
    this.role = role;
  }

  /** Set bits in 2 MiB block `b`. */
  blockCount(b: number): number {
    const counts = this.blocks[Math.floor(b / BLOCKS_PER_CHUNK)];
    return counts ? counts[b & (BLOCKS_PER_CHUNK - 1)]! : 0;
  }

  get(i: number): boolean {
    const c = chunkOf(i);
    const chunk = this.chunks[c];
    if (!chunk) return false;
    const bit = i & (BITS_PER_CHUNK - 1);
    // Empty and full 2 MiB blocks answer from their counter (one small array, no word read).
    const blk = this.blocks[c]![bit >>> 9];
    if (blk === 0) return false;
    if (blk === 512) return true;
    return (chunk[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** The 32-bit word holding bits [w*32, w*32+32), zero when its chunk was never touched. */
  word(w: number): number {
    const chunk = this.chunks[Math.floor(w / WORDS_PER_CHUNK)];
    return chunk ? chunk[w & (WORDS_PER_CHUNK - 1)]! : 0;
  }

  /** Whether bit `mask` of word `w` is set: like get(), but empty and full 1 GiB ranges and 2 MiB
   * blocks answer from their counters, without reading the word (a random word of a large bitmap
   * is a cache miss). */
  testBit(w: number, mask: number): boolean {
    const c = Math.floor(w / WORDS_PER_CHUNK);
    // Empty and full 1 GiB ranges first: their counters are one small array, mostly in cache.
    const inGig = this.perGig[c]!;
    if (inGig === 0) return false;
    if (inGig === BITS_PER_CHUNK) return true;
    const counts = this.blocks[c]!;
    const local = w & (WORDS_PER_CHUNK - 1);
    const blk = counts[local >>> 4]!;
    if (blk === 0) return false;
    if (blk === 512) return true;
    return (this.chunks[c]![local]! & mask) !== 0;
  }

  /** Clear every bit. */
  clear(): void {
    if (this.count !== 0) this.assignRange(0, this.nrBits, false);
  }

  private chunkFor(c: number): Uint32Array {
    let chunk = this.chunks[c];
    if (!chunk) {
      chargeStorage(CHUNK_STORAGE_BYTES, '4 KiB page bitmaps');
      chunk = this.chunks[c] = new Uint32Array(WORDS_PER_CHUNK);
      this.blocks[c] = new Uint16Array(BLOCKS_PER_CHUNK);
      this.allocatedChunks++;
    }
    return chunk;
  }

  /** Set or clear one bit; returns true when it changed. */
  assign(i: number, value: boolean): boolean {
    const c = chunkOf(i);
    let chunk = this.chunks[c];
    if (!chunk) {
      if (!value) return false;
      chunk = this.chunkFor(c);
    }
    const bit = i & (BITS_PER_CHUNK - 1);
    const w = bit >>> 5;
    const mask = 1 << (bit & 31);
    // An empty or full 2 MiB block says what its words hold: the word is then written without
    // being read first (a store does not wait for a cache miss; a load does).
    const inBlock = this.blocks[c]![bit >>> 9]!;
    let old: number;
    if (inBlock === 0) {
      if (!value) return false;
      old = 0;
    } else if (inBlock === 512) {
      if (value) return false;
      old = 0xffffffff;
    } else {
      old = chunk[w]!;
      if (((old & mask) !== 0) === value) return false;
    }
    const delta = value ? 1 : -1;
    const next = value ? (old | mask) >>> 0 : (old & ~mask) >>> 0;
    if (this.observer !== null) this.observer.bit(this.role, c * WORDS_PER_CHUNK + w, mask, value);
    chunk[w] = next;
    this.addToBlock(c, bit >>> 9, delta);
    this.perGig[c]! += delta;
    this.count += delta;
    return true;
  }

  /**
   * Set (value true) or clear bits [start, end). `onChange(w, changedMask)` sees every word whose
   * bits changed, before the change is applied to counters of other bitmaps. Returns the number of
   * bits that changed.
   */
  assignRange(
    start: number,
    end: number,
    value: boolean,
    onChange?: (wordIndex: number, changedMask: number) => void,
  ): number {
    this.checkRange(start, end);
    if (end - start === 1 && !onChange) return this.assign(start, value) ? 1 : 0;
    let changed = 0;
    let i = start;
    while (i < end) {
      const c = chunkOf(i);
      const chunkBase = c * BITS_PER_CHUNK;
      const chunkEnd = Math.min(end, chunkBase + BITS_PER_CHUNK);
      if (!this.chunks[c] && !value) {
        i = chunkEnd;
        continue;
      }
      const chunk = this.chunkFor(c);
      // Offsets inside the chunk: below 2^18, safe for 32-bit operators.
      let bit = i - chunkBase;
      const stop = chunkEnd - chunkBase;
      while (bit < stop) {
        if ((bit & 511) === 0 && bit + 512 <= stop && !onChange) {
          // A whole 2 MiB block: 16 words at once, its counter says how many bits change.
          const blk = bit >>> 9;
          const before = this.blocks[c]![blk]!;
          const delta = value ? 512 - before : -before;
          if (delta !== 0) {
            if (this.observer !== null)
              this.observer.block(this.role, c * BLOCKS_PER_CHUNK + blk, value);
            chunk.fill(value ? 0xffffffff : 0, bit >>> 5, (bit >>> 5) + 16);
            this.addToBlock(c, blk, delta);
            this.perGig[c]! += delta;
            this.count += delta;
            changed += value ? delta : -delta;
          }
          bit += 512;
          continue;
        }
        const w = bit >>> 5;
        const lo = bit & 31;
        const n = Math.min(32 - lo, stop - bit);
        const mask = n === 32 ? 0xffffffff : (((1 << n) - 1) << lo) >>> 0;
        const old = chunk[w]!;
        const next = value ? (old | mask) >>> 0 : (old & ~mask) >>> 0;
        const ch = (old ^ next) >>> 0;
        if (ch !== 0) {
          if (onChange) onChange(c * WORDS_PER_CHUNK + w, ch);
          if (this.observer !== null)
            this.observer.word(this.role, c * WORDS_PER_CHUNK + w, old, next);
          chunk[w] = next;
          const k = popcount32(ch);
          const delta = value ? k : -k;
          this.addToBlock(c, bit >>> 9, delta);
          this.perGig[c]! += delta;
          this.count += delta;
          changed += k;
        }
        bit += n;
      }
      i = chunkEnd;
    }
    return changed;
  }

  /** Number of set bits in [start, end). */
  countRange(start: number, end: number): number {
    this.checkRange(start, end);
    let n = 0;
    let i = start;
    while (i < end) {
      const c = chunkOf(i);
      const chunkBase = c * BITS_PER_CHUNK;
      const chunkEnd = Math.min(end, chunkBase + BITS_PER_CHUNK);
      const chunk = this.chunks[c];
      // Whole 1 GiB ranges, and ranges never touched, come from the counters.
      if (!chunk || (i === chunkBase && chunkEnd === chunkBase + BITS_PER_CHUNK)) {
        if (chunk) n += this.perGig[c]!;
        i = chunkEnd;
        continue;
      }
      const counts = this.blocks[c]!;
      let bit = i - chunkBase;
      const stop = chunkEnd - chunkBase;
      while (bit < stop) {
        if ((bit & 511) === 0 && bit + 512 <= stop) {
          n += counts[bit >>> 9]!;
          bit += 512;
          continue;
        }
        const lo = bit & 31;
        const m = Math.min(32 - lo, stop - bit);
        const mask = m === 32 ? 0xffffffff : (((1 << m) - 1) << lo) >>> 0;
        n += popcount32((chunk[bit >>> 5]! & mask) >>> 0);
        bit += m;
      }
      i = chunkEnd;
    }
    return n;
  }

  /** First index in [from, end) whose bit equals `value`, or `end` when there is none. */
  find(from: number, end: number, value: boolean): number {
    let i = from;
    while (i < end) {
      const c = chunkOf(i);
      const chunkBase = c * BITS_PER_CHUNK;
      const gigFull = this.perGig[c] === BITS_PER_CHUNK;
      const gigEmpty = this.perGig[c] === 0;
      if ((value && gigEmpty) || (!value && gigFull)) {
        i = chunkBase + BITS_PER_CHUNK;
        continue;
      }
      // A range or block holding only the other value is skipped; one holding only `value`
      // answers at once.
      if ((value && gigFull) || (!value && gigEmpty)) return i;
      const chunk = this.chunks[c]!;
      const counts = this.blocks[c]!;
      const stop = Math.min(end, chunkBase + BITS_PER_CHUNK) - chunkBase;
      let bit = i - chunkBase;
      while (bit < stop) {
        const blk = counts[bit >>> 9]!;
        if ((value && blk === 0) || (!value && blk === 512)) {
          bit = ((bit >>> 9) + 1) << 9;
          continue;
        }
        if ((value && blk === 512) || (!value && blk === 0)) return chunkBase + bit;
        const lo = bit & 31;
        let word = chunk[bit >>> 5]!;
        if (!value) word = ~word;
        word = (word >>> lo) << lo;
        word >>>= 0;
        if (word !== 0) {
          const found = chunkBase + (bit & ~31) + (31 - Math.clz32(word & -word));
          return Math.min(found, end);
        }
        bit = (bit & ~31) + 32;
      }
      i = Math.min(end, chunkBase + bit);
    }
    return end;
  }

  /** The count of block `blk` of chunk `c` += delta, with the chunk's block counts in step. */
  private addToBlock(c: number, blk: number, delta: number): void {
    const counts = this.blocks[c]!;
    const before = counts[blk]!;
    const after = before + delta;
    counts[blk] = after;
    if (before === 0) {
      this.usedBlocks[c]!++;
      this.usedBlocksTotal++;
    } else if (after === 0) {
      this.usedBlocks[c]!--;
      this.usedBlocksTotal--;
    }
    const wasPartial = before !== 0 && before !== 512;
    const isPartial = after !== 0 && after !== 512;
    if (wasPartial !== isPartial) {
      const d = isPartial ? 1 : -1;
      this.partialBlocks[c]! += d;
      this.partialBlocksTotal += d;
    }
  }

  private checkRange(start: number, end: number): void {
    if (!(start >= 0 && end <= this.nrBits && start <= end)) {
      throw new RangeError(`bit range [${start}, ${end}) outside [0, ${this.nrBits})`);
    }
  }
}
