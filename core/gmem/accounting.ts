// Memory classes of a guest, computed from the file's bitmaps. Each 4 KiB page the guest holds
// falls in exactly one class, so the parts add up to what is allocated (domain.md section 8).
// MemoryClassCounter keeps the classes as the bitmaps change; classifyMemory() counts them from
// scratch, whole 1 GiB ranges and 2 MiB blocks from their counters, only blocks with mixed state
// word by word.
import {
  BITS_PER_CHUNK,
  popcount32,
  type BitmapObserver,
  type PagedBitmap,
} from './paged-bitmap.js';

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
 *
 * A full count of the bitmaps, range by range: what MemoryClassCounter keeps up to date, and the
 * check of it (tests, and the counter's starting point).
 */
export function classifyMemory(bm: ClassBitmaps): MemoryClasses {
  const out = new Float64Array(4);
  let priv = 0;
  let shared = 0;
  let dbl = 0;
  let zeroed = 0;
  for (let g = 0; g < bm.allocated.perGig.length; g++) {
    classifyGig(bm, g, out, 0);
    priv += out[0]!;
    shared += out[1]!;
    dbl += out[2]!;
    zeroed += out[3]!;
  }
  return { private: priv, shared, doubleAllocated: dbl, zeroedNotFreed: zeroed };
}

const ROLE_A = 0;
const ROLE_S = 1;
const ROLE_Z = 2;
const ROLE_B = 3;

/**
 * The memory classes of a file, kept up to date by the changes to its bitmaps: every word or
 * 2 MiB block that changes in A, S, Z or B moves its pages from the classes they were in to the
 * ones they are in now (the other bitmaps are read at the same place). Whatever operation changes
 * the bitmaps (allocation, free, split, merge, conversion, punch, memory error), the classes cost
 * what changed, and reading them costs nothing: a sample no longer depends on the guest's size or
 * on how much of it is touched.
 */
export class MemoryClassCounter implements BitmapObserver {
  private priv = 0;
  private sharedPages = 0;
  private dbl = 0;
  private zeroed = 0;
  private readonly bm: ClassBitmaps;

  /** Counts the bitmaps once, then follows their changes. */
  constructor(bm: ClassBitmaps) {
    this.bm = {
      allocated: bm.allocated,
      shared: bm.shared,
      punched: bm.punched,
      backend: bm.backend,
    };
    const c = classifyMemory(bm);
    this.priv = c.private;
    this.sharedPages = c.shared;
    this.dbl = c.doubleAllocated;
    this.zeroed = c.zeroedNotFreed;
    bm.allocated.observe(this, ROLE_A);
    bm.shared.observe(this, ROLE_S);
    bm.punched.observe(this, ROLE_Z);
    bm.backend?.observe(this, ROLE_B);
  }

  get classes(): MemoryClasses {
    return {
      private: this.priv,
      shared: this.sharedPages,
      doubleAllocated: this.dbl,
      zeroedNotFreed: this.zeroed,
    };
  }

  word(role: number, w: number, old: number, next: number): void {
    const { allocated: A, shared: S, punched: Z, backend: B } = this.bm;
    const m = (old ^ next) >>> 0;
    let aw = role === ROLE_A ? old : A.word(w);
    let sw = role === ROLE_S ? old : S.word(w);
    let zw = role === ROLE_Z ? old : Z.word(w);
    let bw = B === null ? 0 : role === ROLE_B ? old : B.word(w);
    this.count(aw, sw, zw, bw, m, -1);
    if (role === ROLE_A) aw = next;
    else if (role === ROLE_S) sw = next;
    else if (role === ROLE_Z) zw = next;
    else bw = next;
    this.count(aw, sw, zw, bw, m, 1);
  }

  bit(role: number, w: number, mask: number, value: boolean): void {
    const { allocated: A, shared: S, punched: Z, backend: B } = this.bm;
    if (role === ROLE_S && B === null) {
      // In place, a page changing shareability moves between private and shared when it is
      // allocated and not punched, and stays where it is (zeroed, or in no class) otherwise:
      // countPage() out and back in, for the one page a conversion changes.
      if (A.testBit(w, mask) && !Z.testBit(w, mask)) {
        const d = value ? 1 : -1;
        this.priv -= d;
        this.sharedPages += d;
      }
      return;
    }
    let a = role === ROLE_A ? !value : A.testBit(w, mask);
    let s = role === ROLE_S ? !value : S.testBit(w, mask);
    let z = role === ROLE_Z ? !value : Z.testBit(w, mask);
    let b = B === null ? false : role === ROLE_B ? !value : B.testBit(w, mask);
    this.countPage(a, s, z, b, -1);
    if (role === ROLE_A) a = value;
    else if (role === ROLE_S) s = value;
    else if (role === ROLE_Z) z = value;
    else b = value;
    this.countPage(a, s, z, b, 1);
  }

  block(role: number, b: number, value: boolean): void {
    const { allocated: A, shared: S, punched: Z, backend: B } = this.bm;
    const a = A.blockCount(b);
    const s = S.blockCount(b);
    const z = Z.blockCount(b);
    const bk = B === null ? 0 : B.blockCount(b);
    const uniform = (n: number) => n === 0 || n === 512;
    const firstWord = b * 16;
    if (uniform(a) && uniform(s) && uniform(z) && uniform(bk)) {
      // Each bitmap is empty or full over the block: one word stands for its 16.
      const full = (n: number) => (n === 0 ? 0 : 0xffffffff);
      let aw = full(a);
      let sw = full(s);
      let zw = full(z);
      let bw = full(bk);
      const to = value ? 0xffffffff : 0;
      const old = role === ROLE_A ? aw : role === ROLE_S ? sw : role === ROLE_Z ? zw : bw;
      if (old === to) return;
      this.count(aw, sw, zw, bw, 0xffffffff, -16);
      if (role === ROLE_A) aw = to;
      else if (role === ROLE_S) sw = to;
      else if (role === ROLE_Z) zw = to;
      else bw = to;
      this.count(aw, sw, zw, bw, 0xffffffff, 16);
      return;
    }
    const own = role === ROLE_A ? A : role === ROLE_S ? S : role === ROLE_Z ? Z : B!;
    const to = value ? 0xffffffff : 0;
    for (let w = firstWord; w < firstWord + 16; w++) {
      const old = own.word(w);
      if (old !== to) this.word(role, w, old, to);
    }
  }

  chunk(role: number, c: number, value: boolean): void {
    const { allocated: A, shared: S, punched: Z, backend: B } = this.bm;
    const own = role === ROLE_A ? A : role === ROLE_S ? S : role === ROLE_Z ? Z : B!;
    const others = [A, S, Z, B].filter((bm) => bm !== null && bm !== own) as PagedBitmap[];
    if (others.some((bm) => !bm.chunkUniform(c))) {
      // The other bitmaps differ inside the range: block by block, as assignRange() did.
      for (let b = c * 512; b < (c + 1) * 512; b++) this.block(role, b, value);
      return;
    }
    // Each bitmap is empty or full over the range: its first block stands for its 512.
    const b = c * 512;
    const full = (bm: PagedBitmap | null) =>
      bm === null || bm.blockCount(b) === 0 ? 0 : 0xffffffff;
    let aw = role === ROLE_A ? (value ? 0 : 0xffffffff) : full(A);
    let sw = role === ROLE_S ? (value ? 0 : 0xffffffff) : full(S);
    let zw = role === ROLE_Z ? (value ? 0 : 0xffffffff) : full(Z);
    let bw = role === ROLE_B ? (value ? 0 : 0xffffffff) : full(B);
    this.count(aw, sw, zw, bw, 0xffffffff, -16 * 512);
    const to = value ? 0xffffffff : 0;
    if (role === ROLE_A) aw = to;
    else if (role === ROLE_S) sw = to;
    else if (role === ROLE_Z) zw = to;
    else bw = to;
    this.count(aw, sw, zw, bw, 0xffffffff, 16 * 512);
  }

  /** Add `sign` times the classes of one page with these bits in A, S, Z and B. */
  private countPage(a: boolean, s: boolean, z: boolean, b: boolean, sign: number): void {
    if (this.bm.backend === null) {
      if (z) this.zeroed += sign;
      else if (a) {
        if (s) this.sharedPages += sign;
        else this.priv += sign;
      }
      return;
    }
    if (a && !s && !z) this.priv += sign;
    if (s) {
      if (b) this.sharedPages += sign;
      if (a) this.dbl += sign;
    } else {
      if (b) this.dbl += sign;
      if (z) this.zeroed += sign;
    }
  }

  /** Add `sign` times the classes of the pages `m` selects, given the words of A, S, Z and B. */
  private count(aw: number, sw: number, zw: number, bw: number, m: number, sign: number): void {
    const pv = popcount32((aw & ~sw & ~zw & m) >>> 0);
    if (this.bm.backend === null) {
      this.priv += sign * pv;
      this.sharedPages += sign * popcount32((aw & sw & ~zw & m) >>> 0);
      this.zeroed += sign * popcount32((zw & m) >>> 0);
    } else {
      this.priv += sign * pv;
      this.sharedPages += sign * popcount32((bw & sw & m) >>> 0);
      this.dbl += sign * (popcount32((aw & sw & m) >>> 0) + popcount32((bw & ~sw & m) >>> 0));
      this.zeroed += sign * popcount32((zw & ~sw & m) >>> 0);
    }
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
