// The guest kernel's page allocator for run-time allocations (mm/page_alloc.c), as far as it
// decides WHERE a CoCo guest's shared pages land: zones, buddy orders, per-CPU page lists,
// watermarks and lazy acceptance of unaccepted memory.
//
//  - Zones (x86-64): ZONE_DMA below 16 MiB, ZONE_DMA32 below 4 GiB, ZONE_NORMAL above. A
//    GFP_KERNEL allocation tries Normal, then DMA32, then DMA (the zonelist); GFP_DMA32 (a device
//    with a 32-bit DMA mask, dma_direct_optimal_gfp_mask()) starts at DMA32.
//  - Boot: memblock_free_all() frees every free range as naturally aligned blocks of up to
//    MAX_PAGE_ORDER (__free_pages_memory()) to the TAIL of the free lists (FPI_TO_TAIL in
//    __free_pages_core(), so pages go out in ascending address order). A MAX_PAGE_ORDER block
//    with unaccepted memory goes to zone->unaccepted_pages instead (__free_unaccepted()); smaller
//    ones are accepted on the spot.
//  - __rmqueue_smallest(): the first block of the smallest order that fits, split by expand(),
//    which keeps the lowest part and puts the upper halves back.
//  - __free_one_page(): merges with the free buddy while it can, to the head of the list.
//  - Per-CPU page lists (rmqueue_pcplist(), free_unref_page_commit()): orders up to
//    PAGE_ALLOC_COSTLY_ORDER (3) go through a list per CPU, refilled with `batch` blocks
//    (rmqueue_bulk(), in list order) and freed to its HEAD, so a just-freed page is handed out
//    first; above `high` pages the list gives `batch` back to the buddy (free_pcppages_bulk()).
//  - Lazy acceptance (cond_accept_memory(), Linux 6.5+): when a zone's free pages fall below its
//    promo watermark it accepts MAX_ORDER blocks from its unaccepted list, lowest first, to the
//    tail of the free list, until it is above it again.
//  - Watermarks (__setup_per_zone_wmarks(), calculate_min_free_kbytes()): min_free_kbytes =
//    sqrt(16 x lowmem KiB) in [128 KiB, 256 MiB], each zone's share in proportion to its pages;
//    low = min + max(min / 4, pages x watermark_scale_factor / 10000), high and promo one step
//    more each. A zone below its low watermark after acceptance is skipped (the zonelist falls
//    back to the next zone).
import { MiB, GiB, KiB, PAGE_SIZE, alignDown } from '../units.js';
import type { GuestPhysMap, Range } from './coco-placement.js';

/** MAX_PAGE_ORDER on x86-64: 4 MiB blocks. */
export const MAX_PAGE_ORDER = 10;
/** PAGE_ALLOC_COSTLY_ORDER: orders up to this go through the per-CPU lists. */
export const PAGE_ALLOC_COSTLY_ORDER = 3;
const MAX_BLOCK = PAGE_SIZE << MAX_PAGE_ORDER;
const WATERMARK_SCALE_FACTOR = 10;

export type ZoneName = 'dma' | 'dma32' | 'normal';
/** The zone an allocation may start from: GFP_KERNEL, GFP_DMA32, GFP_DMA. */
export type GfpZone = ZoneName;

/** What the allocator needs of the guest: its size, acceptance state and acceptance call. */
export interface AcceptingGuest {
  readonly bytes: number;
  isAccepted(offset: number): boolean;
  accept(offset: number, size: number, perChunk?: boolean): void;
}

export interface PageAllocOptions {
  readonly vcpus: number;
  /** Pages per pcp refill; default zone_batchsize(): 63 for zones of 1 GiB or more. */
  readonly pcpBatch?: number;
}

/** The order of a buddy allocation of `bytes` (get_order()). */
export function getOrder(bytes: number): number {
  let order = 0;
  while (PAGE_SIZE << order < bytes) order++;
  return order;
}

interface Entry {
  readonly offset: number;
  readonly gen: number;
}

/** A free list: head (LIFO, last element first) then tail (FIFO from `at`). */
class FreeList {
  readonly head: Entry[] = [];
  readonly tail: Entry[] = [];
  at = 0;
  pushHead(e: Entry): void {
    this.head.push(e);
  }
  pushTail(e: Entry): void {
    this.tail.push(e);
  }
  pop(): Entry | undefined {
    if (this.head.length > 0) return this.head.pop();
    if (this.at < this.tail.length) {
      const e = this.tail[this.at++]!;
      if (this.at > 1024 && this.at * 2 > this.tail.length) {
        this.tail.splice(0, this.at);
        this.at = 0;
      }
      return e;
    }
    return undefined;
  }
}

/** Whole MAX_ORDER blocks of some ranges, in ascending order, produced on demand (the boot's
 * free memory of a big guest is millions of blocks). */
class BlockRuns {
  private i = 0;
  private next: number;
  constructor(private readonly runs: Range[]) {
    this.next = runs[0]?.offset ?? 0;
  }
  take(): number | null {
    while (this.i < this.runs.length) {
      const r = this.runs[this.i]!;
      if (this.next + MAX_BLOCK <= r.offset + r.size) {
        const at = this.next;
        this.next += MAX_BLOCK;
        return at;
      }
      this.i++;
      this.next = this.runs[this.i]?.offset ?? 0;
    }
    return null;
  }
}

class Zone {
  readonly lists: FreeList[] = Array.from({ length: MAX_PAGE_ORDER + 1 }, () => new FreeList());
  /** Accepted MAX_ORDER blocks of the boot's free memory, not yet on a list (the tail of the
   * MAX_ORDER list, before blocks accepted later). */
  accepted: BlockRuns = new BlockRuns([]);
  unaccepted: BlockRuns = new BlockRuns([]);
  freePages = 0;
  acceptedLater: number[] = [];
  minPages = 0;
  lowPages = 0;
  promoPages = 0;
  /** Per CPU and order: the pcp list (LIFO at the end) and its page count. */
  readonly pcp: number[][][];
  readonly pcpCount: number[];
  constructor(
    readonly name: ZoneName,
    readonly start: number,
    readonly end: number,
    vcpus: number,
    readonly batch: number,
  ) {
    this.pcp = Array.from({ length: vcpus }, () =>
      Array.from({ length: PAGE_ALLOC_COSTLY_ORDER + 1 }, () => []),
    );
    this.pcpCount = new Array<number>(vcpus).fill(0);
  }
  get pages(): number {
    return (this.end - this.start) / PAGE_SIZE;
  }
  get pcpHigh(): number {
    // zone_highsize() with percpu_pagelist_high_fraction 0: the low watermark split over the CPUs,
    // at least 4 batches.
    return Math.max(Math.floor(this.lowPages / this.pcp.length), 4 * this.batch);
  }
}

/** zone_batchsize(): a quarter of the zone's pages / 1024, capped at 1 MiB of pages, then
 * rounddown_pow_of_two(batch * 1.5) - 1 (63 for zones of 1 GiB or more). */
export function zoneBatchsize(zonePages: number): number {
  let batch = Math.min(Math.floor(zonePages / 1024), (1 * MiB) / PAGE_SIZE);
  batch = Math.floor(batch / 4);
  if (batch < 1) batch = 1;
  let p = 1;
  while (p * 2 <= batch + (batch >> 1)) p *= 2;
  return Math.max(1, p - 1);
}

/**
 * The guest's page allocator, built from the memory the boot left free in `map` (memblock_free_all()).
 * Blocks it hands out are added to `map`, and removed when they come back to the buddy.
 */
export class GuestPageAllocator {
  private readonly zones: Zone[] = [];
  /** Free buddy blocks: offset -> order and generation (list entries of older generations are
   * stale and skipped). */
  private readonly free = new Map<number, { order: number; gen: number }>();
  private gen = 0;
  /** Blocks handed out and not freed: offset -> order. */
  private readonly used = new Map<number, number>();

  constructor(
    private readonly g: AcceptingGuest,
    private readonly map: GuestPhysMap,
    options: PageAllocOptions,
  ) {
    const bytes = g.bytes;
    const bounds: Array<[ZoneName, number, number]> = [
      ['dma', 0, Math.min(16 * MiB, bytes)],
      ['dma32', 16 * MiB, Math.min(4 * GiB, bytes)],
      ['normal', 4 * GiB, bytes],
    ];
    for (const [name, s, e] of bounds) {
      if (e <= s) continue;
      const batch = options.pcpBatch ?? zoneBatchsize((e - s) / PAGE_SIZE);
      this.zones.push(new Zone(name, s, e, Math.max(1, options.vcpus), batch));
    }
    this.setWatermarks();
    for (const z of this.zones) this.freeBootMemory(z);
  }

  private setWatermarks(): void {
    const lowmemKiB = (this.g.bytes / KiB) | 0;
    const minFreeKiB = Math.min(262144, Math.max(128, Math.floor(Math.sqrt(lowmemKiB * 16))));
    const total = this.zones.reduce((a, z) => a + z.pages, 0);
    for (const z of this.zones) {
      const min = Math.floor(((minFreeKiB * KiB) / PAGE_SIZE) * (z.pages / total));
      const step = Math.max(
        Math.floor(min / 4),
        Math.floor((z.pages * WATERMARK_SCALE_FACTOR) / 10000),
      );
      z.minPages = min;
      z.lowPages = min + step;
      // high = low + step; promo = high + step.
      z.promoPages = min + 3 * step;
    }
  }

  /** memblock_free_all() for one zone: its free ranges as naturally aligned blocks. */
  private freeBootMemory(z: Zone): void {
    const acceptedRuns: Range[] = [];
    const unacceptedRuns: Range[] = [];
    const addInterior = (s: number, e: number) => {
      // Runs of whole MAX_ORDER blocks, split where acceptance changes (chunks of 4 MiB or less
      // make every block wholly accepted or not; larger chunks are checked per block).
      for (let at = s; at < e; at += MAX_BLOCK) {
        const acc = this.g.isAccepted(at) && this.g.isAccepted(at + MAX_BLOCK - PAGE_SIZE);
        const runs = acc ? acceptedRuns : unacceptedRuns;
        const last = runs[runs.length - 1];
        if (last && last.offset + last.size === at)
          runs[runs.length - 1] = { offset: last.offset, size: last.size + MAX_BLOCK };
        else runs.push({ offset: at, size: MAX_BLOCK });
      }
    };
    const addSmall = (s: number, e: number) => {
      // __free_pages_memory(): order = min(MAX_PAGE_ORDER, __ffs(start)), shrunk to fit.
      let at = s;
      while (at < e) {
        let order = MAX_PAGE_ORDER;
        while (order > 0 && (at % (PAGE_SIZE << order) !== 0 || at + (PAGE_SIZE << order) > e))
          order--;
        const size = PAGE_SIZE << order;
        // A block with unaccepted memory below MAX_PAGE_ORDER is accepted at once.
        this.g.accept(at, size);
        this.putFree(z, at, order, 'tail');
        at += size;
      }
    };
    for (const r of this.map.freeRanges(z.start, z.end)) {
      const s = Math.ceil(r.offset / PAGE_SIZE) * PAGE_SIZE;
      const e = alignDown(r.offset + r.size, PAGE_SIZE);
      if (e <= s) continue;
      const a = Math.ceil(s / MAX_BLOCK) * MAX_BLOCK;
      const b = alignDown(e, MAX_BLOCK);
      if (a >= b) {
        addSmall(s, e);
        continue;
      }
      addSmall(s, a);
      addInterior(a, b);
      addSmall(b, e);
    }
    // Large guests: counting blocks lazily, their pages are known from the runs.
    z.accepted = new BlockRuns(acceptedRuns);
    z.unaccepted = new BlockRuns(unacceptedRuns);
    for (const r of acceptedRuns) z.freePages += r.size / PAGE_SIZE;
  }

  private putFree(z: Zone, offset: number, order: number, where: 'head' | 'tail'): void {
    const e = { offset, gen: ++this.gen };
    this.free.set(offset, { order, gen: e.gen });
    if (where === 'head') z.lists[order]!.pushHead(e);
    else z.lists[order]!.pushTail(e);
    z.freePages += 1 << order;
  }

  /** Pop a valid block of `order` from the zone's list (skipping stale entries). */
  private popFree(z: Zone, order: number): number | null {
    const list = z.lists[order]!;
    for (;;) {
      const e = list.pop();
      if (!e) break;
      const f = this.free.get(e.offset);
      if (!f || f.gen !== e.gen || f.order !== order) continue;
      this.free.delete(e.offset);
      z.freePages -= 1 << order;
      return e.offset;
    }
    if (order === MAX_PAGE_ORDER) {
      const at = z.accepted.take() ?? z.acceptedLater.shift() ?? null;
      if (at !== null) {
        z.freePages -= 1 << order;
        return at;
      }
    }
    return null;
  }

  /** cond_accept_memory(): accept MAX_ORDER blocks, lowest first, while below the promo mark. */
  private condAccept(z: Zone, order: number): void {
    while (z.freePages - (1 << order) < z.promoPages) {
      const at = z.unaccepted.take();
      if (at === null) return;
      this.g.accept(at, MAX_BLOCK, true);
      z.acceptedLater.push(at);
      z.freePages += 1 << MAX_PAGE_ORDER;
    }
  }

  /** __rmqueue_smallest(): the smallest order that has a block, split down by expand(). */
  private rmqueue(z: Zone, order: number): number | null {
    for (let o = order; o <= MAX_PAGE_ORDER; o++) {
      const at = this.popFree(z, o);
      if (at === null) continue;
      // expand(): keep the low part, give the upper halves back.
      for (let h = o; h > order; h--) this.putFree(z, at + (PAGE_SIZE << (h - 1)), h - 1, 'tail');
      return at;
    }
    return null;
  }

  private zonelist(gfp: GfpZone): Zone[] {
    const order: ZoneName[] =
      gfp === 'normal' ? ['normal', 'dma32', 'dma'] : gfp === 'dma32' ? ['dma32', 'dma'] : ['dma'];
    return order.map((n) => this.zones.find((z) => z.name === n)).filter((z): z is Zone => !!z);
  }

  private zoneOf(offset: number): Zone {
    for (const z of this.zones) if (offset >= z.start && offset < z.end) return z;
    throw new RangeError(`0x${offset.toString(16)} is in no zone`);
  }

  /**
   * alloc_pages(gfp, order) on `cpu`: the first zone of the zonelist that, after accepting memory,
   * stays above its low watermark, through the CPU's pcp list for small orders. Returns the
   * offset of the block, or null when no zone has one.
   */
  alloc(order: number, gfp: GfpZone = 'normal', cpu = 0): number | null {
    if (order < 0 || order > MAX_PAGE_ORDER) throw new RangeError(`order ${order} out of range`);
    const size = PAGE_SIZE << order;
    for (let tries = 0; tries < 64; tries++) {
      const at = this.take(order, gfp, cpu);
      if (at === null) return null;
      // Memory another placement rule took in the map (the synthetic churn places by its own
      // rule) is not handed out: the allocator drops it and takes the next block.
      if (this.map.overlaps(at, at + size)) continue;
      this.map.add(at, at + size);
      this.used.set(at, order);
      return at;
    }
    return null;
  }

  private take(order: number, gfp: GfpZone, cpu: number): number | null {
    const zones = this.zonelist(gfp);
    for (let pass = 0; pass < 2; pass++) {
      for (const z of zones) {
        this.condAccept(z, order);
        // The fast path honours the low watermark (ALLOC_WMARK_LOW); the slow path takes what
        // is left.
        if (pass === 0 && z.freePages - (1 << order) < z.lowPages) continue;
        const at =
          order <= PAGE_ALLOC_COSTLY_ORDER ? this.pcpAlloc(z, order, cpu) : this.rmqueue(z, order);
        if (at !== null) return at;
      }
    }
    return null;
  }

  private pcpAlloc(z: Zone, order: number, cpu: number): number | null {
    const c = cpu % z.pcp.length;
    const list = z.pcp[c]![order]!;
    if (list.length === 0) {
      // rmqueue_bulk(): nr_pcp_alloc() blocks of this order, in the order the buddy gives them;
      // the list hands out its head, so the first one taken goes out first.
      const n = Math.max(2, z.batch >> order);
      const got: number[] = [];
      for (let i = 0; i < n; i++) {
        const at = this.rmqueue(z, order);
        if (at === null) break;
        got.push(at);
      }
      for (let i = got.length - 1; i >= 0; i--) list.push(got[i]!);
      z.pcpCount[c] = z.pcpCount[c]! + got.length * (1 << order);
    }
    const at = list.pop();
    if (at === undefined) return null;
    z.pcpCount[c] = z.pcpCount[c]! - (1 << order);
    return at;
  }

  /** free_pages(): small orders to the head of the CPU's pcp list, others to the buddy. */
  freePages(offset: number, order: number, cpu = 0): void {
    if (this.used.get(offset) !== order)
      throw new RangeError(`0x${offset.toString(16)} order ${order} was not allocated`);
    this.used.delete(offset);
    this.map.remove(offset, offset + (PAGE_SIZE << order));
    const z = this.zoneOf(offset);
    if (order > PAGE_ALLOC_COSTLY_ORDER) {
      this.freeOne(z, offset, order);
      return;
    }
    const c = cpu % z.pcp.length;
    z.pcp[c]![order]!.push(offset);
    z.pcpCount[c] = z.pcpCount[c]! + (1 << order);
    if (z.pcpCount[c]! > z.pcpHigh) {
      // free_pcppages_bulk(): `batch` pages back to the buddy, oldest (list tail) first.
      let left = z.batch;
      for (let o = 0; o <= PAGE_ALLOC_COSTLY_ORDER && left > 0; o++) {
        const l = z.pcp[c]![o]!;
        while (l.length > 0 && left > 0) {
          const at = l.shift()!;
          z.pcpCount[c] = z.pcpCount[c]! - (1 << o);
          left -= 1 << o;
          this.freeOne(z, at, o);
        }
      }
    }
  }

  /** __free_one_page(): merge with the free buddy while it can, then to the list head. */
  private freeOne(z: Zone, offset: number, order: number): void {
    let at = offset;
    let o = order;
    while (o < MAX_PAGE_ORDER) {
      const size = PAGE_SIZE << o;
      // __find_buddy_pfn(): pfn ^ (1 << order), in arithmetic (offsets exceed 32 bits).
      const buddy = Math.floor(at / size) % 2 === 0 ? at + size : at - size;
      const f = this.free.get(buddy);
      if (!f || f.order !== o || buddy < z.start || buddy + size > z.end) break;
      this.free.delete(buddy);
      z.freePages -= 1 << o;
      at = Math.min(at, buddy);
      o++;
    }
    this.putFree(z, at, o, 'head');
  }

  /** Pages free in a zone (buddy lists, accepted blocks not yet listed). */
  freePagesOf(zone: ZoneName): number {
    return this.zones.find((z) => z.name === zone)?.freePages ?? 0;
  }

  zoneOfOffset(offset: number): ZoneName {
    return this.zoneOf(offset).name;
  }
}
