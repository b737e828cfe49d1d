// Memory classes of a guest, computed from the file's bitmaps. Each 4 KiB page the guest holds
// falls in exactly one class, so the parts add up to what is allocated (domain.md section 8).
// Whole 1 GiB ranges and 2 MiB blocks are classified from their counters; only blocks with mixed
// state are scanned word by word, so a 1 TiB guest costs about its number of mixed blocks.
import { PagedBitmap, popcount32 } from './paged-bitmap.js';

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
  const { allocated: A, shared: S, punched: Z, backend: B } = bm;
  const legacy = B !== null;
  let priv = 0;
  let shared = 0;
  let dbl = 0;
  let zeroed = 0;
  const nrBlocks = A.perBlock.length;
  for (let b = 0; b < nrBlocks; b++) {
    const a = A.perBlock[b]!;
    const s = S.perBlock[b]!;
    const z = Z.perBlock[b]!;
    const bk = B ? B.perBlock[b]! : 0;
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
  return { private: priv, shared, doubleAllocated: dbl, zeroedNotFreed: zeroed };
}

function blockSize(bm: PagedBitmap, b: number): number {
  return Math.min(512, bm.nrBits - b * 512);
}
