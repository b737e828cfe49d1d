// A bitmap over 4 KiB indexes of a file, with a population count per 2 MiB block and per 1 GiB
// range. Storage is allocated per 1 GiB chunk on first set, so a 4 TiB guest that never converts
// costs almost nothing, and a full 1 TiB bitmap is 32 MiB. Word-level operations keep range updates
// cheap; single-bit updates are O(1).

export const BITS_PER_CHUNK = 1 << 18; // one 1 GiB range of 4 KiB pages
const WORDS_PER_CHUNK = BITS_PER_CHUNK >>> 5;
const BLOCK_SHIFT = 9; // 512 pages per 2 MiB block
const CHUNK_SHIFT = 18;

export function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

export class PagedBitmap {
  private readonly chunks: (Uint32Array | undefined)[];
  /** Set bits per 2 MiB block. */
  readonly perBlock: Uint16Array;
  /** Set bits per 1 GiB range. */
  readonly perGig: Uint32Array;
  /** Per 1 GiB range: blocks with a set bit. */
  readonly usedBlocks: Uint16Array;
  /** Per 1 GiB range: blocks with a set bit and a clear one (count neither 0 nor 512). */
  readonly partialBlocks: Uint16Array;
  /** Per 1 GiB range: changes so far (a range whose version is unchanged holds the same bits). */
  readonly gigVersion: Float64Array;
  private count = 0;

  constructor(readonly nrBits: number) {
    if (!Number.isInteger(nrBits) || nrBits < 0) throw new RangeError(`bitmap size ${nrBits}`);
    const nrChunks = Math.ceil(nrBits / BITS_PER_CHUNK);
    this.chunks = new Array<Uint32Array | undefined>(nrChunks).fill(undefined);
    this.perBlock = new Uint16Array(Math.ceil(nrBits / 512));
    this.perGig = new Uint32Array(nrChunks);
    this.usedBlocks = new Uint16Array(nrChunks);
    this.partialBlocks = new Uint16Array(nrChunks);
    this.gigVersion = new Float64Array(nrChunks);
  }

  get total(): number {
    return this.count;
  }

  /** Bytes of typed-array storage in use (for the model's own memory figures). */
  get storageBytes(): number {
    let n =
      this.perBlock.byteLength +
      this.perGig.byteLength +
      this.usedBlocks.byteLength +
      this.partialBlocks.byteLength +
      this.gigVersion.byteLength;
    for (const c of this.chunks) if (c) n += c.byteLength;
    return n;
  }

  get(i: number): boolean {
    // Empty and full 2 MiB blocks answer from their counter (one small array, no word read).
    const blk = this.perBlock[i >>> BLOCK_SHIFT];
    if (blk === 0) return false;
    if (blk === 512) return true;
    const chunk = this.chunks[i >>> CHUNK_SHIFT];
    if (!chunk) return false;
    const bit = i & (BITS_PER_CHUNK - 1);
    return (chunk[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** The 32-bit word holding bits [w*32, w*32+32), zero when its chunk was never touched. */
  word(w: number): number {
    const chunk = this.chunks[w >>> (CHUNK_SHIFT - 5)];
    return chunk ? chunk[w & (WORDS_PER_CHUNK - 1)]! : 0;
  }

  /** Set or clear one bit; returns true when it changed. */
  assign(i: number, value: boolean): boolean {
    const c = i >>> CHUNK_SHIFT;
    let chunk = this.chunks[c];
    if (!chunk) {
      if (!value) return false;
      chunk = this.chunks[c] = new Uint32Array(WORDS_PER_CHUNK);
    }
    const bit = i & (BITS_PER_CHUNK - 1);
    const w = bit >>> 5;
    const mask = 1 << (bit & 31);
    const was = (chunk[w]! & mask) !== 0;
    if (was === value) return false;
    const delta = value ? 1 : -1;
    chunk[w] = value ? chunk[w]! | mask : chunk[w]! & ~mask;
    this.addToBlock(i >>> BLOCK_SHIFT, c, delta);
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
      const c = i >>> CHUNK_SHIFT;
      let chunk = this.chunks[c];
      const chunkEnd = Math.min(end, (c + 1) * BITS_PER_CHUNK);
      if (!chunk) {
        if (!value) {
          i = chunkEnd;
          continue;
        }
        chunk = this.chunks[c] = new Uint32Array(WORDS_PER_CHUNK);
      }
      while (i < chunkEnd) {
        const bit = i & (BITS_PER_CHUNK - 1);
        if ((i & 511) === 0 && i + 512 <= chunkEnd && !onChange) {
          // A whole 2 MiB block: 16 words at once, its counter says how many bits change.
          const b = i >>> BLOCK_SHIFT;
          const before = this.perBlock[b]!;
          const delta = value ? 512 - before : -before;
          if (delta !== 0) {
            chunk.fill(value ? 0xffffffff : 0, bit >>> 5, (bit >>> 5) + 16);
            this.addToBlock(b, c, delta);
            this.perGig[c]! += delta;
            this.count += delta;
            changed += value ? delta : -delta;
          }
          i += 512;
          continue;
        }
        const w = bit >>> 5;
        const lo = bit & 31;
        const n = Math.min(32 - lo, chunkEnd - i);
        const mask = n === 32 ? 0xffffffff : (((1 << n) - 1) << lo) >>> 0;
        const old = chunk[w]!;
        const next = value ? (old | mask) >>> 0 : (old & ~mask) >>> 0;
        const ch = (old ^ next) >>> 0;
        if (ch !== 0) {
          if (onChange) onChange((c << (CHUNK_SHIFT - 5)) + w, ch);
          chunk[w] = next;
          const k = popcount32(ch);
          const delta = value ? k : -k;
          this.addToBlock(i >>> BLOCK_SHIFT, c, delta);
          this.perGig[c]! += delta;
          this.count += delta;
          changed += k;
        }
        i += n;
      }
    }
    return changed;
  }

  /** Number of set bits in [start, end). */
  countRange(start: number, end: number): number {
    this.checkRange(start, end);
    let n = 0;
    let i = start;
    while (i < end) {
      // Whole 1 GiB ranges and 2 MiB blocks come from the counters.
      if ((i & (BITS_PER_CHUNK - 1)) === 0 && i + BITS_PER_CHUNK <= end) {
        n += this.perGig[i >>> CHUNK_SHIFT]!;
        i += BITS_PER_CHUNK;
        continue;
      }
      if ((i & 511) === 0 && i + 512 <= end) {
        n += this.perBlock[i >>> BLOCK_SHIFT]!;
        i += 512;
        continue;
      }
      const lo = i & 31;
      const m = Math.min(32 - lo, end - i);
      const mask = m === 32 ? 0xffffffff : (((1 << m) - 1) << lo) >>> 0;
      n += popcount32((this.word(i >>> 5) & mask) >>> 0);
      i += m;
    }
    return n;
  }

  /** First index in [from, end) whose bit equals `value`, or `end` when there is none. */
  find(from: number, end: number, value: boolean): number {
    let i = from;
    while (i < end) {
      const g = i >>> CHUNK_SHIFT;
      const gigFull = this.perGig[g] === BITS_PER_CHUNK;
      const gigEmpty = this.perGig[g] === 0;
      if ((value && gigEmpty) || (!value && gigFull)) {
        i = (g + 1) * BITS_PER_CHUNK;
        continue;
      }
      // A range or block holding only the other value is skipped; one holding only `value`
      // answers at once.
      if ((value && gigFull) || (!value && gigEmpty)) return i;
      const b = i >>> BLOCK_SHIFT;
      const blk = this.perBlock[b]!;
      if ((value && blk === 0) || (!value && blk === 512)) {
        i = (b + 1) << BLOCK_SHIFT;
        continue;
      }
      if ((value && blk === 512) || (!value && blk === 0)) return i;
      const lo = i & 31;
      let word = this.word(i >>> 5);
      if (!value) word = ~word;
      word = (word >>> lo) << lo;
      word >>>= 0;
      if (word !== 0) {
        const found = (i & ~31) + (31 - Math.clz32(word & -word));
        return Math.min(found, end);
      }
      i = (i & ~31) + 32;
    }
    return end;
  }

  /** perBlock[b] += delta, with the block counts of range `c` in step. */
  private addToBlock(b: number, c: number, delta: number): void {
    const before = this.perBlock[b]!;
    const after = before + delta;
    this.perBlock[b] = after;
    this.gigVersion[c]!++;
    if (before === 0) this.usedBlocks[c]!++;
    else if (after === 0) this.usedBlocks[c]!--;
    const wasPartial = before !== 0 && before !== 512;
    const isPartial = after !== 0 && after !== 512;
    if (wasPartial !== isPartial) this.partialBlocks[c]! += isPartial ? 1 : -1;
  }

  private checkRange(start: number, end: number): void {
    if (!(start >= 0 && end <= this.nrBits && start <= end)) {
      throw new RangeError(`bit range [${start}, ${end}) outside [0, ${this.nrBits})`);
    }
  }
}
