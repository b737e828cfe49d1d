// Memory classes of a guest, computed from the file's bitmaps. Each 4 KiB page the guest holds
// falls in exactly one class, so the parts add up to what is allocated (domain.md section 8).
// Whole 1 GiB ranges and 2 MiB blocks are classified from their counters; only blocks with mixed
// state are scanned word by word, so a 1 TiB guest costs about its number of mixed blocks.
import { BITS_PER_CHUNK, PagedBitmap, popcount32 } from './paged-bitmap.js';

export interface MemoryClasses {
  /** Pages, not bytes. */
  readonly private: number;
  readonly shared: number;
  readonly doubleAllocated: number;
  readonly zeroedNotFreed: number;
}

export interface ClassBitmaps {
  /** A: pages allocated in guest_memfd. */
  readonly allocated: PagedBitmap;
  /** S: pages whose current state is shared (shareability, or VM attributes in the legacy model). */
  readonly shared: PagedBitmap;
  /** Z: pages punched but kept (zeroed, not freed). Always a subset of A. */
  readonly punched: PagedBitmap;
  /** B: pages allocated in the legacy model's separate shared backend (null for in-place). */
  readonly backend: PagedBitmap | null;
}

/**
 * In-place: private = A & !S & !Z, shared = A & S & !Z, zeroed = Z.
 * Legacy: private = A & !S & !Z, shared = B & S, double = (A & S) | (B & !S) counted per backend,
 * zeroed = Z & !S (a punched private page; punched shared pages are already double-allocated).
 */
export function classifyMemory(bm: ClassBitmaps): MemoryClasses {
  return new MemoryClassifier().classify(bm);
}

/**
 * classifyMemory() for repeated calls on the same bitmaps (every sample of a run): the classes of
 * each 1 GiB range are kept with the versions of the bitmaps they came from, and only ranges that
 * changed since are counted again.
 */
export class MemoryClassifier {
  /** Per range: private, shared, double-allocated, zeroed pages (4 entries per range). */
  private counts = new Float64Array(0);
  /** Per range: gigVersion of A, S, Z and B when `counts` was taken (4 entries per range). */
  private versions = new Float64Array(0);
  private valid = new Uint8Array(0);
  /** The bitmaps the versions belong to. */
  private source: ClassBitmaps | null = null;

  classify(bm: ClassBitmaps): MemoryClasses {
    const { allocated: A, shared: S, punched: Z, backend: B } = bm;
    const nrGigs = A.perGig.length;
    const last = this.source;
    if (
      !last ||
      last.allocated !== A ||
      last.shared !== S ||
      last.punched !== Z ||
      last.backend !== B ||
      this.valid.length !== nrGigs
    ) {
      this.source = { allocated: A, shared: S, punched: Z, backend: B };
      this.counts = new Float64Array(nrGigs * 4);
      this.versions = new Float64Array(nrGigs * 4);
      this.valid = new Uint8Array(nrGigs);
    }
    const counts = this.counts;
    const versions = this.versions;
    let priv = 0;
    let shared = 0;
    let dbl = 0;
    let zeroed = 0;
    for (let g = 0; g < nrGigs; g++) {
      const k = g * 4;
      const va = A.gigVersion[g]!;
      const vs = S.gigVersion[g]!;
      const vz = Z.gigVersion[g]!;
      const vb = B ? B.gigVersion[g]! : 0;
      if (
        this.valid[g] !== 1 ||
        versions[k] !== va ||
        versions[k + 1] !== vs ||
        versions[k + 2] !== vz ||
        versions[k + 3] !== vb
      ) {
        classifyGig(bm, g, counts, k);
        versions[k] = va;
        versions[k + 1] = vs;
        versions[k + 2] = vz;
        versions[k + 3] = vb;
        this.valid[g] = 1;
      }
      priv += counts[k]!;
      shared += counts[k + 1]!;
      dbl += counts[k + 2]!;
      zeroed += counts[k + 3]!;
    }
    return { private: priv, shared, doubleAllocated: dbl, zeroedNotFreed: zeroed };
  }
}

/** The classes of 1 GiB range `g`, into out[k..k+3] (private, shared, double, zeroed). */
function classifyGig(bm: ClassBitmaps, g: number, out: Float64Array, k: number): void {
  const { allocated: A, shared: S, punched: Z, backend: B } = bm;
  const legacy = B !== null;
  let priv = 0;
  let shared = 0;
  let dbl = 0;
  let zeroed = 0;
  const nrBlocks = A.nrBlocks;
  // A 1 GiB range whose bitmaps are each empty or full adds up like its blocks would.
  const bitsInGig = Math.min(BITS_PER_CHUNK, A.nrBits - g * BITS_PER_CHUNK);
  const ag = A.perGig[g]!;
  const sg = S.perGig[g]!;
  const bg = B ? B.perGig[g]! : 0;
  if (
    Z.perGig[g] === 0 &&
    (ag === 0 || ag === bitsInGig) &&
    (sg === 0 || sg === bitsInGig) &&
    (bg === 0 || bg === bitsInGig)
  ) {
    if (sg === 0) {
      priv += ag;
      dbl += bg;
    } else if (legacy) {
      shared += bg;
      dbl += ag;
    } else {
      shared += ag;
    }
  } else {
    const gEnd = Math.min(nrBlocks, (g + 1) * 512);
    for (let b = g * 512; b < gEnd; b++) {
      const a = A.blockCount(b);
      const s = S.blockCount(b);
      const z = Z.blockCount(b);
      const bk = B ? B.blockCount(b) : 0;
      if (a === 0 && bk === 0) continue;
      const full = blockSize(A, b);
      if (
        z === 0 &&
        (s === 0 || s === full) &&
        (a === 0 || a === full) &&
        (bk === 0 || bk === full)
      ) {
        // Uniform block: no word scan needed.
        if (s === 0) {
          priv += a;
          dbl += bk;
        } else if (legacy) {
          shared += bk;
          dbl += a;
        } else {
          shared += a;
        }
        continue;
      }
      const firstWord = b * 16;
      const words = Math.ceil(full / 32);
      for (let w = firstWord; w < firstWord + words; w++) {
        const aw = A.word(w);
        const sw = S.word(w);
        const zw = Z.word(w);
        if (!legacy) {
          priv += popcount32((aw & ~sw & ~zw) >>> 0);
          shared += popcount32((aw & sw & ~zw) >>> 0);
          zeroed += popcount32(zw);
        } else {
          const bw = B!.word(w);
          priv += popcount32((aw & ~sw & ~zw) >>> 0);
          shared += popcount32((bw & sw) >>> 0);
          dbl += popcount32((aw & sw) >>> 0) + popcount32((bw & ~sw) >>> 0);
          zeroed += popcount32((zw & ~sw) >>> 0);
        }
      }
    }
  }
  out[k] = priv;
  out[k + 1] = shared;
  out[k + 2] = dbl;
  out[k + 3] = zeroed;
}

function blockSize(bm: PagedBitmap, b: number): number {
  return Math.min(512, bm.nrBits - b * 512);
}
