// A bitmap over 4 KiB indexes of a file, with a population count per 2 MiB block and per 1 GiB
// range. Most of a guest is empty or full in every bitmap (a huge folio is all allocated, all
// private, mapped at one level), so each level holds what is uniform below it: a 1 GiB chunk whose
// bits are all clear or all set is its count alone, and so is a 2 MiB block of a mixed chunk. A
// mixed chunk has a block table (a count and a second entry per block, 4 KiB). A block with some
// bits set and some clear (a partial block) holds them in that second entry while it has at most
// SMALL_BITS set (their indexes, 9 bits each: the commonest partial block is one shared page, a
// bounce buffer, in a private huge page), and past that its 512 bits in one 64-byte line (16
// words) whose number the entry holds. Tables and lines come from pools and go back to them when
// their chunk or block turns uniform again, the last freed first: a conversion that shares a page
// and takes it back touches the per-GiB counts and a table still in cache, where a flat bitmap of
// a 1 TiB guest (32 MiB of words, 1 MiB of block counts) misses in the cache on every random page,
// and a line per partial block would too (a random trace over 1 TiB leaves most of its 512 Ki
// blocks with one to three shared pages: 32 MiB of lines, where their indexes take none).
//
// Indexes reach 2^34 (a 64 TiB guest of 4 KiB pages), past what JavaScript's 32-bit operators
// hold: chunk and block numbers come from Math.floor division (exact below 2^53), and the 32-bit
// operators only see offsets inside one chunk (below 2^18) or masks of the low bits (`i & 511`,
// exact for every non-negative integer because 2^32 is a multiple of the mask's period).
import { chargeStorage, releaseStorage } from '../storage-budget.js';

export const BITS_PER_CHUNK = 1 << 18; // one 1 GiB range of 4 KiB pages
const WORDS_PER_CHUNK = BITS_PER_CHUNK >>> 5;
const BLOCKS_PER_CHUNK = 512;
/** Lines per page of the pool; a line holds the 16 words of one partial 2 MiB block. */
const LINES_PER_PAGE = 512;
const PAGE_WORDS = LINES_PER_PAGE * 16;
/** Block table of a mixed chunk: a count and a line number per block (two 32-bit entries). */
const CHUNK_META_BYTES = BLOCKS_PER_CHUNK * 2 * 4;
/** Block tables each pool keeps at most. The pools serve a chunk that goes mixed and back (a
 * conversion and its reversal, the same table each time); a guest filled or emptied a GiB at a
 * time turns a table uniform per GiB, and unbounded pools would keep one per GiB of guest (4 KiB
 * each: 256 MiB for a 64 TiB guest allocated whole). Past the bound a table is rewritten for the
 * other pool while that one has room (a fill block by block reuses one table for every GiB),
 * else given back. */
const POOL_TABLES = 16;
/** End of the free-line list. */
const NO_LINE = -1;
/** Set bits a partial block holds as indexes in its table entry, without a line: 3 of 9 bits. */
const SMALL_BITS = 3;
/** Storage of one 1 GiB chunk at most: a block table and a line for each of its 512 blocks
 * (every block partial with more than SMALL_BITS set). A chunk all clear or all set costs
 * nothing once its table is back in the pool; one whose blocks are each empty or full costs its
 * block table alone. */
export const CHUNK_STORAGE_BYTES = CHUNK_META_BYTES + BLOCKS_PER_CHUNK * 16 * 4;

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
  /** Every bit of the whole 1 GiB chunk `c` of the bitmap observed as `role`, all of them `!value`
   * until now, becomes `value`. */
  chunk(role: number, c: number, value: boolean): void;
}

/** Whether a block of `n` set bits holds them in a line (partial, past SMALL_BITS). */
function lined(n: number): boolean {
  return n > SMALL_BITS && n < 512;
}

/** Whether the `n` indexes packed in `packed` (9 bits each) include block bit `bi` (0-511). */
function smallHas(packed: number, n: number, bi: number): boolean {
  for (let j = 0; j < n; j++) if (((packed >>> (9 * j)) & 511) === bi) return true;
  return false;
}

/** Word `wi` (0-15) of a block whose `n` set bits are the indexes packed in `packed`. */
function smallWord(packed: number, n: number, wi: number): number {
  let word = 0;
  for (let j = 0; j < n; j++) {
    const bi = (packed >>> (9 * j)) & 511;
    if (bi >>> 5 === wi) word |= 1 << (bi & 31);
  }
  return word;
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

/** Mask of bits [lo, lo + n) of a word, 0 < n <= 32 - lo. */
function maskOf(lo: number, n: number): number {
  return n === 32 ? 0xffffffff : (((1 << n) - 1) << lo) >>> 0;
}

export class PagedBitmap {
  /** Per 1 GiB chunk with both set and clear bits (undefined: perGig says all clear or all
   * set): per 2 MiB block, at 2 * blk its count of set bits and at 2 * blk + 1 the pool line
   * holding its words (meaningful while the count is partial). */
  private readonly metas: (Int32Array | undefined)[];
  /** Block tables not in use whose counts are all 0, and those whose counts are all 512. */
  private readonly emptyMetas: Int32Array[] = [];
  private readonly fullMetas: Int32Array[] = [];
  /** The line pool: LINES_PER_PAGE lines of 16 words a page. */
  private readonly pages: Int32Array[] = [];
  /** First free line (a free line's word 0 holds the next), or NO_LINE. */
  private freeLine = NO_LINE;
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
    this.metas = new Array<Int32Array | undefined>(nrChunks).fill(undefined);
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
      // The array of chunk references (8 bytes a slot).
      this.metas.length * 8 +
      this.allocatedChunks * CHUNK_META_BYTES +
      this.pages.length * PAGE_WORDS * 4
    );
  }

  /** From now on, `observer` is told of every change, with `role` (one observer per bitmap). */
  observe(observer: BitmapObserver, role: number): void {
    if (this.observer && this.observer !== observer) throw new Error('bitmap already observed');
    this.observer = observer;
    this.role = role;
  }

  /** Whether the 1 GiB chunk `c` is all clear or all set (it holds no block table). */
  chunkUniform(c: number): boolean {
    return this.metas[c] === undefined;
  }

  /** Set bits in 2 MiB block `b`. */
  blockCount(b: number): number {
    const c = Math.floor(b / BLOCKS_PER_CHUNK);
    const meta = this.metas[c];
    if (meta) return meta[(b & (BLOCKS_PER_CHUNK - 1)) << 1]!;
    return this.perGig[c]! > 0 ? 512 : 0;
  }

  get(i: number): boolean {
    const c = chunkOf(i);
    const meta = this.metas[c];
    if (!meta) return this.perGig[c]! > 0;
    const bit = i & (BITS_PER_CHUNK - 1);
    const k = (bit >>> 9) << 1;
    const n = meta[k]!;
    if (n === 0) return false;
    if (n === 512) return true;
    if (n <= SMALL_BITS) return smallHas(meta[k + 1]!, n, bit & 511);
    return (this.lineWord(meta[k + 1]!, (bit >>> 5) & 15) & (1 << (bit & 31))) !== 0;
  }

  /** The 32-bit word holding bits [w*32, w*32+32). */
  word(w: number): number {
    const c = Math.floor(w / WORDS_PER_CHUNK);
    const meta = this.metas[c];
    if (!meta) return this.perGig[c]! > 0 ? 0xffffffff : 0;
    const local = w & (WORDS_PER_CHUNK - 1);
    return this.blockWord(meta, (local >>> 4) << 1, local & 15) >>> 0;
  }

  /** Whether bit `mask` of word `w` is set: like get(), but empty and full 1 GiB ranges answer
   * from their counter first (one small array, mostly in cache). */
  testBit(w: number, mask: number): boolean {
    const c = Math.floor(w / WORDS_PER_CHUNK);
    const inGig = this.perGig[c]!;
    if (inGig === 0) return false;
    if (inGig === BITS_PER_CHUNK) return true;
    const meta = this.metas[c]!;
    const local = w & (WORDS_PER_CHUNK - 1);
    const k = (local >>> 4) << 1;
    const n = meta[k]!;
    if (n === 0) return false;
    if (n === 512) return true;
    if (n <= SMALL_BITS) return (smallWord(meta[k + 1]!, n, local & 15) & mask) !== 0;
    return (this.lineWord(meta[k + 1]!, local & 15) & mask) !== 0;
  }

  /** Clear every bit. */
  clear(): void {
    if (this.count !== 0) this.assignRange(0, this.nrBits, false);
  }

  /** Set or clear one bit; returns true when it changed. */
  assign(i: number, value: boolean): boolean {
    const c = chunkOf(i);
    let meta = this.metas[c];
    if (!meta) {
      // All clear or all set: the chunk takes a block table only when this bit changes it.
      if (this.perGig[c]! > 0 === value) return false;
      meta = this.chunkFor(c);
    }
    const bit = i & (BITS_PER_CHUNK - 1);
    const k = (bit >>> 9) << 1;
    const mask = 1 << (bit & 31);
    // An empty or full block says what its words hold, without a line.
    const before = meta[k]!;
    let old: number;
    if (before === 0) {
      if (!value) return false;
      old = 0;
    } else if (before === 512) {
      if (value) return false;
      old = -1;
    } else if (before <= SMALL_BITS) {
      if (smallHas(meta[k + 1]!, before, bit & 511) === value) return false;
      old = smallWord(meta[k + 1]!, before, (bit >>> 5) & 15);
    } else {
      old = this.lineWord(meta[k + 1]!, (bit >>> 5) & 15);
      if (((old & mask) !== 0) === value) return false;
    }
    if (this.observer !== null)
      this.observer.bit(this.role, c * WORDS_PER_CHUNK + (bit >>> 5), mask, value);
    const next = value ? old | mask : old & ~mask;
    this.writeWord(c, meta, k, (bit >>> 5) & 15, next, value ? 1 : -1);
    this.settle(c);
    return true;
  }

  /** Set (value true) or clear bits [start, end). Returns the number of bits that changed. */
  assignRange(start: number, end: number, value: boolean): number {
    this.checkRange(start, end);
    if (end - start === 1) return this.assign(start, value) ? 1 : 0;
    let changed = 0;
    let i = start;
    const target = value ? 512 : 0;
    while (i < end) {
      const c = chunkOf(i);
      const chunkBase = c * BITS_PER_CHUNK;
      const chunkEnd = Math.min(end, chunkBase + BITS_PER_CHUNK);
      if (!this.metas[c] && this.perGig[c]! > 0 === value) {
        i = chunkEnd;
        continue;
      }
      if (!this.metas[c] && i === chunkBase && chunkBase + BITS_PER_CHUNK <= end) {
        // A whole chunk, all clear or all set, turns the other way: its counters alone change,
        // no block table is taken (a fallocate or a punch of whole 1 GiB ranges).
        if (this.observer !== null) this.observer.chunk(this.role, c, value);
        const sign = value ? 1 : -1;
        this.perGig[c] = value ? BITS_PER_CHUNK : 0;
        this.count += sign * BITS_PER_CHUNK;
        this.usedBlocks[c] = value ? BLOCKS_PER_CHUNK : 0;
        this.usedBlocksTotal += sign * BLOCKS_PER_CHUNK;
        changed += BITS_PER_CHUNK;
        i = chunkEnd;
        continue;
      }
      const meta = this.chunkFor(c);
      // Offsets inside the chunk: below 2^18, safe for 32-bit operators.
      let bit = i - chunkBase;
      const stop = chunkEnd - chunkBase;
      while (bit < stop) {
        const k = (bit >>> 9) << 1;
        if ((bit & 511) === 0 && bit + 512 <= stop) {
          // A whole 2 MiB block: its counter says how many bits change, and it needs no line.
          const before = meta[k]!;
          if (before !== target) {
            if (this.observer !== null)
              this.observer.block(this.role, c * BLOCKS_PER_CHUNK + (bit >>> 9), value);
            if (lined(before)) this.freeLineOf(meta[k + 1]!);
            const delta = target - before;
            this.setCount(c, meta, k, before, target);
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
        const mask = maskOf(lo, n);
        const old = this.blockWord(meta, k, w & 15);
        const next = value ? old | mask : old & ~mask;
        const ch = old ^ next;
        if (ch !== 0) {
          if (this.observer !== null)
            this.observer.word(this.role, c * WORDS_PER_CHUNK + w, old >>> 0, next >>> 0);
          const bits = popcount32(ch);
          this.writeWord(c, meta, k, w & 15, next, value ? bits : -bits);
          changed += bits;
        }
        bit += n;
      }
      this.settle(c);
      i = chunkEnd;
    }
    return changed;
  }

  /** Number of set bits in [start, end). */
  countRange(start: number, end: number): number {
    this.checkRange(start, end);
    if (end - start === BITS_PER_CHUNK && (start & (BITS_PER_CHUNK - 1)) === 0)
      return this.perGig[start / BITS_PER_CHUNK]!; // one whole 1 GiB range
    let n = 0;
    let i = start;
    while (i < end) {
      const c = chunkOf(i);
      const chunkBase = c * BITS_PER_CHUNK;
      const chunkEnd = Math.min(end, chunkBase + BITS_PER_CHUNK);
      const meta = this.metas[c];
      // Whole 1 GiB ranges, and chunks all clear or all set, come from the counters.
      if (i === chunkBase && chunkEnd === chunkBase + BITS_PER_CHUNK) {
        n += this.perGig[c]!;
        i = chunkEnd;
        continue;
      }
      if (!meta) {
        if (this.perGig[c]! > 0) n += chunkEnd - i;
        i = chunkEnd;
        continue;
      }
      let bit = i - chunkBase;
      const stop = chunkEnd - chunkBase;
      while (bit < stop) {
        const k = (bit >>> 9) << 1;
        const inBlock = meta[k]!;
        if ((bit & 511) === 0 && bit + 512 <= stop) {
          n += inBlock;
          bit += 512;
          continue;
        }
        const lo = bit & 31;
        const m = Math.min(32 - lo, stop - bit);
        if (inBlock === 512) n += m;
        else if (inBlock !== 0)
          n += popcount32((this.blockWord(meta, k, (bit >>> 5) & 15) & maskOf(lo, m)) >>> 0);
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
      const meta = this.metas[c]!;
      const stop = Math.min(end, chunkBase + BITS_PER_CHUNK) - chunkBase;
      let bit = i - chunkBase;
      while (bit < stop) {
        const k = (bit >>> 9) << 1;
        const blk = meta[k]!;
        if ((value && blk === 0) || (!value && blk === 512)) {
          bit = ((bit >>> 9) + 1) << 9;
          continue;
        }
        if ((value && blk === 512) || (!value && blk === 0)) return chunkBase + bit;
        const lo = bit & 31;
        let word = this.blockWord(meta, k, (bit >>> 5) & 15);
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

  /** The block table of chunk `c`: a chunk held by its count takes one from the pool (all 0 or
   * all 512, as the chunk is), or a new one. */
  private chunkFor(c: number): Int32Array {
    let meta = this.metas[c];
    if (meta) return meta;
    const full = this.perGig[c]! > 0;
    meta = full ? this.fullMetas.pop() : this.emptyMetas.pop();
    if (!meta) {
      chargeStorage(CHUNK_META_BYTES, '4 KiB page bitmaps');
      meta = new Int32Array(BLOCKS_PER_CHUNK * 2);
      if (full) for (let k = 0; k < BLOCKS_PER_CHUNK * 2; k += 2) meta[k] = 512;
      this.allocatedChunks++;
    }
    this.metas[c] = meta;
    return meta;
  }

  /** Chunk `c` gives its block table back when it turned all clear or all set (every block is
   * then uniform and holds no line). A short last chunk keeps its table when full (its last
   * block has fewer than 512 bits, which a table of 512s would not say). */
  private settle(c: number): void {
    const inGig = this.perGig[c]!;
    if (inGig !== 0 && inGig !== BITS_PER_CHUNK) return;
    const meta = this.metas[c]!;
    this.metas[c] = undefined;
    const full = inGig !== 0;
    const same = full ? this.fullMetas : this.emptyMetas;
    const other = full ? this.emptyMetas : this.fullMetas;
    if (same.length < POOL_TABLES) same.push(meta);
    else if (other.length < POOL_TABLES) {
      // Every block's count becomes the other pool's (the second entries are unused there).
      const count = full ? 0 : 512;
      for (let k = 0; k < BLOCKS_PER_CHUNK * 2; k += 2) meta[k] = count;
      other.push(meta);
    } else {
      this.allocatedChunks--;
      releaseStorage(CHUNK_META_BYTES);
    }
  }

  /** Word `wi` (0-15) of pool line `line`. */
  private lineWord(line: number, wi: number): number {
    return this.pages[line >>> 9]![((line & (LINES_PER_PAGE - 1)) << 4) + wi]!;
  }

  /** Word `wi` (0-15) of the block at `k` of a block table, whatever holds it. */
  private blockWord(meta: Int32Array, k: number, wi: number): number {
    const n = meta[k]!;
    if (n === 0) return 0;
    if (n === 512) return -1;
    if (n <= SMALL_BITS) return smallWord(meta[k + 1]!, n, wi);
    return this.lineWord(meta[k + 1]!, wi);
  }

  /**
   * Word `wi` of the block at `k` of chunk `c` becomes `next`, its count moving by `delta`
   * (non-zero). A block going past SMALL_BITS set takes a line holding what it held (all clear,
   * all set, or its few indexes); one coming back to SMALL_BITS or fewer keeps their indexes and
   * gives its line back, as does one going empty or full.
   */
  private writeWord(
    c: number,
    meta: Int32Array,
    k: number,
    wi: number,
    next: number,
    delta: number,
  ): void {
    const before = meta[k]!;
    const after = before + delta;
    if (lined(after)) {
      let line: number;
      if (lined(before)) line = meta[k + 1]!;
      else {
        line = this.takeLine(before === 512 ? -1 : 0);
        if (before !== 0 && before !== 512) this.spill(line, meta[k + 1]!, before);
        meta[k + 1] = line;
      }
      this.pages[line >>> 9]![((line & (LINES_PER_PAGE - 1)) << 4) + wi] = next;
    } else if (after !== 0 && after !== 512) {
      meta[k + 1] = this.gather(meta, k, before, wi, next);
    } else if (lined(before)) this.freeLineOf(meta[k + 1]!);
    this.setCount(c, meta, k, before, after);
    this.perGig[c]! += delta;
    this.count += delta;
  }

  /**
   * The indexes, packed, of the set bits of the block at `k` (`before` set) once its word `wi`
   * is `next`, which leaves SMALL_BITS or fewer set; a line it held goes back to the pool. (From
   * all set, one word's change cannot come down to SMALL_BITS.)
   */
  private gather(meta: Int32Array, k: number, before: number, wi: number, next: number): number {
    let packed = 0;
    let n = 0;
    if (lined(before)) {
      const line = meta[k + 1]!;
      for (let w = 0; w < 16; w++) {
        for (let word = w === wi ? next : this.lineWord(line, w); word !== 0; word &= word - 1) {
          packed |= ((w << 5) | (31 - Math.clz32(word & -word))) << (9 * n);
          n++;
        }
      }
      this.freeLineOf(line);
      return packed;
    }
    if (before !== 0) {
      const old = meta[k + 1]!;
      for (let j = 0; j < before; j++) {
        const bi = (old >>> (9 * j)) & 511;
        if (bi >>> 5 !== wi) {
          packed |= bi << (9 * n);
          n++;
        }
      }
    }
    for (let word = next; word !== 0; word &= word - 1) {
      packed |= ((wi << 5) | (31 - Math.clz32(word & -word))) << (9 * n);
      n++;
    }
    return packed;
  }

  /** The `n` packed indexes `packed` set in `line`, which is all clear. */
  private spill(line: number, packed: number, n: number): void {
    const page = this.pages[line >>> 9]!;
    const base = (line & (LINES_PER_PAGE - 1)) << 4;
    for (let j = 0; j < n; j++) {
      const bi = (packed >>> (9 * j)) & 511;
      page[base + (bi >>> 5)]! |= 1 << (bi & 31);
    }
  }

  /** A line from the pool (the last one freed, still in cache), its 16 words set to `fill`. */
  private takeLine(fill: number): number {
    let line = this.freeLine;
    if (line === NO_LINE) {
      chargeStorage(PAGE_WORDS * 4, '4 KiB page bitmaps');
      const page = new Int32Array(PAGE_WORDS);
      const first = this.pages.length * LINES_PER_PAGE;
      this.pages.push(page);
      // Lines 1..511 of the new page go on the free list, in order; line 0 is taken now.
      for (let l = 1; l < LINES_PER_PAGE; l++)
        page[l << 4] = l + 1 < LINES_PER_PAGE ? first + l + 1 : NO_LINE;
      this.freeLine = LINES_PER_PAGE > 1 ? first + 1 : NO_LINE;
      line = first;
    } else {
      const page = this.pages[line >>> 9]!;
      this.freeLine = page[(line & (LINES_PER_PAGE - 1)) << 4]!;
    }
    const base = (line & (LINES_PER_PAGE - 1)) << 4;
    const page = this.pages[line >>> 9]!;
    // Sixteen stores (a call to fill() costs more than the line).
    for (let k = base; k < base + 16; k++) page[k] = fill;
    return line;
  }

  private freeLineOf(line: number): void {
    this.pages[line >>> 9]![(line & (LINES_PER_PAGE - 1)) << 4] = this.freeLine;
    this.freeLine = line;
  }

  /** The count of the block at `k` of chunk `c` goes from `before` to `after`, with the chunk's
   * block counts in step. */
  private setCount(c: number, meta: Int32Array, k: number, before: number, after: number): void {
    meta[k] = after;
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
