// Where a booting confidential guest places things in its RAM (domain.md section 5, "CoCo boot"):
// the map of guest physical ranges in use, memblock's first-fit and top-down last-fit, the page
// allocator's scattered placement and the buddy allocator's power-of-two spans.
//
// Placement is in guest_memfd file offsets: the memslot maps the file from offset 0, so a file
// offset is a guest physical address (the PCI hole and other memslots are not modelled).
import type { Rng } from '../rng.js';
import { MiB, PAGE_SIZE, alignDown, alignUp } from '../units.js';

/** MAX_PAGE_ORDER (10) on x86-64: the largest buddy allocation, 4 MiB. */
export const MAX_ORDER_BYTES = 4 * MiB;

export interface Range {
  readonly offset: number;
  readonly size: number;
}

/** Sorted, non-overlapping [start, end) ranges with first-fit, last-fit and random placement. */
export class GuestPhysMap {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  constructor(readonly limit: number) {}

  get count(): number {
    return this.starts.length;
  }

  /** Index of the first range whose end is above x. */
  private firstEndAbove(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  overlaps(start: number, end: number): boolean {
    const i = this.firstEndAbove(start);
    return i < this.starts.length && this.starts[i]! < end;
  }

  add(start: number, end: number): void {
    if (start < 0 || end > this.limit || end <= start)
      throw new RangeError(`range [0x${start.toString(16)}, 0x${end.toString(16)}) outside RAM`);
    if (this.overlaps(start, end))
      throw new RangeError(`range [0x${start.toString(16)}, 0x${end.toString(16)}) is in use`);
    const i = this.firstEndAbove(start);
    this.starts.splice(i, 0, start);
    this.ends.splice(i, 0, end);
  }

  remove(start: number, end: number): void {
    const i = this.firstEndAbove(start);
    if (this.starts[i] !== start || this.ends[i] !== end)
      throw new RangeError(`range [0x${start.toString(16)}, 0x${end.toString(16)}) was not placed`);
    this.starts.splice(i, 1);
    this.ends.splice(i, 1);
  }

  /** Free [start, end), a part of one placed range (memblock_free() of a block's tail, a buddy
   * page handed back): the range is cut around it. */
  release(start: number, end: number): void {
    const i = this.firstEndAbove(start);
    const s = this.starts[i];
    const e = this.ends[i];
    if (s === undefined || e === undefined || s > start || e < end || end <= start)
      throw new RangeError(`range [0x${start.toString(16)}, 0x${end.toString(16)}) was not placed`);
    this.starts.splice(i, 1);
    this.ends.splice(i, 1);
    if (end < e) {
      this.starts.splice(i, 0, end);
      this.ends.splice(i, 0, e);
    }
    if (s < start) {
      this.starts.splice(i, 0, s);
      this.ends.splice(i, 0, start);
    }
  }

  /** The free ranges inside [lo, hi), ascending. */
  freeRanges(lo = 0, hi = this.limit): Range[] {
    const out: Range[] = [];
    let at = lo;
    for (let i = this.firstEndAbove(lo); i < this.starts.length && at < hi; i++) {
      const s = this.starts[i]!;
      if (s >= hi) break;
      if (s > at) out.push({ offset: at, size: s - at });
      at = Math.max(at, this.ends[i]!);
    }
    if (at < hi) out.push({ offset: at, size: hi - at });
    return out;
  }

  /** Lowest free `align`-aligned start at or above `from` with room for `size` below `hi`. */
  firstFit(size: number, align: number, from = 0, hi = this.limit): number | null {
    let c = alignUp(Math.max(0, from), align);
    while (c + size <= hi) {
      const i = this.firstEndAbove(c);
      if (i >= this.starts.length || this.starts[i]! >= c + size) return c;
      c = alignUp(this.ends[i]!, align);
    }
    return null;
  }

  /** Highest free `align`-aligned start with room for `size` below `hi` (memblock top-down). */
  lastFit(size: number, align: number, hi = this.limit, lo = 0): number | null {
    if (hi - size < lo) return null;
    let c = alignDown(hi - size, align);
    while (c >= lo) {
      // The last range starting below c + size overlaps [c, c + size) when it ends above c.
      const i = this.firstEndAbove(c);
      if (i >= this.starts.length || this.starts[i]! >= c + size) return c;
      const next = this.starts[i]! - size;
      if (next < lo) return null;
      c = alignDown(next, align);
    }
    return null;
  }

  /** A free aligned start drawn from `rng` in [lo, hi); first fit from the draw when the random
   * tries all land on used ranges. */
  random(size: number, align: number, rng: Rng, lo = 0, hi = this.limit): number | null {
    const first = alignUp(lo, align);
    if (first + size > hi) return null;
    const slots = Math.floor((hi - size - first) / align) + 1;
    for (let k = 0; k < 16; k++) {
      const c = first + rng.int(slots) * align;
      if (!this.overlaps(c, c + size)) return c;
    }
    const from = first + rng.int(slots) * align;
    return this.firstFit(size, align, from, hi) ?? this.firstFit(size, align, first, hi);
  }
}

/** Mark [offset, offset + size) as used; nothing when no room was found or the size is 0. */
export function reserve(map: GuestPhysMap, offset: number | null, size: number): Range | null {
  if (offset === null || size <= 0) return null;
  map.add(offset, offset + size);
  return { offset, size };
}

export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Buddy allocation of `bytes`: the next power-of-two number of pages, naturally aligned (capped
 * at MAX_PAGE_ORDER, beyond which the span is rounded to 4 MiB). */
export function buddySpan(bytes: number): { span: number; align: number } {
  const pages = Math.ceil(bytes / PAGE_SIZE);
  const span = PAGE_SIZE * nextPowerOfTwo(pages);
  if (span <= MAX_ORDER_BYTES) return { span, align: span };
  return { span: alignUp(bytes, MAX_ORDER_BYTES), align: MAX_ORDER_BYTES };
}

/** What the boot places with once it has accepted its boot range: page-allocator placement. */
export interface Placer {
  readonly map: GuestPhysMap;
  readonly rng: Rng;
  /** End of the range accepted while booting: [0, acceptedHi). */
  readonly acceptedHi: number;
}

/** Page-allocator placement: in memory already accepted (the boot range) when it fits, else
 * anywhere (the allocator then accepts more). */
export function placeScattered(p: Placer, size: number, align: number): number | null {
  return (
    (p.acceptedHi > 0 ? p.map.random(size, align, p.rng, 0, p.acceptedHi) : null) ??
    p.map.random(size, align, p.rng)
  );
}
