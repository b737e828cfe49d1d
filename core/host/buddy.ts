// The buddy allocator of one NUMA node (mm/page_alloc.c), reduced to what guest_memfd sees: a byte
// count of free memory that serves 4 KiB pages while any is left, and best-effort 2 MiB THPs whose
// odds of finding a free order-9 block are set by a fragmentation parameter. It also provides the
// vmemmap pages HVO has to restore before a huge folio can be split (mm/hugetlb_vmemmap.c allocates
// them with __GFP_THISNODE, so only this node's buddy memory counts).
//
// Memory is counted in bytes, never as page objects: a node may hold terabytes.
import type { Rng } from '../rng.js';
import { PAGE_SIZE, bytesOfOrder, ORDER_2M } from '../units.js';

const THP_BYTES = bytesOfOrder(ORDER_2M);

/** Result of one order-9 attempt: a block, no block although memory is free (fragmentation), or
 * no memory at all. */
export type ThpAttempt = 'ok' | 'fragmented' | 'no-memory';

export interface BuddyCounters {
  readonly node: number;
  /** Memory the buddy allocator managed at boot: node memory minus host-reserved, pools and CMA. */
  readonly totalBytes: number;
  readonly freeBytes: number;
  /** 4 KiB pages and THPs handed to guest_memfd files and not yet freed. */
  readonly guestBytes: number;
  /** vmemmap pages taken from (positive) or given to (negative) this buddy allocator by HVO since
   * boot: restores on split take pages, re-optimisation gives them back. Boot-time vmemmap is part
   * of hostReservedBytes and is not counted here. */
  readonly vmemmapNetPages: number;
  /** Guest memory that left service after a memory error (hwpoison) and never returns. */
  readonly hwpoisonedBytes: number;
}

export class BuddyMemory {
  private free: number;
  private guest = 0;
  private vmemmapNet = 0;
  private hwpoisoned = 0;

  constructor(
    readonly node: number,
    readonly totalBytes: number,
    /** Odds that an order-9 request finds no free 2 MiB block (HostConfig.thpFragmentation). */
    readonly thpFragmentation: number,
    /** This node's own stream, used when a caller does not bring one. */
    private readonly rng: Rng,
  ) {
    this.free = totalBytes;
  }

  get freeBytes(): number {
    return this.free;
  }

  /** `count` order-0 pages for a guest; false (nothing taken) when the node cannot cover them. */
  allocBasePages(count: number): boolean {
    const bytes = count * PAGE_SIZE;
    if (bytes > this.free) return false;
    this.take(bytes);
    this.guest += bytes;
    return true;
  }

  /** Up to `count` order-0 pages for a guest, one after another: the number allocateBasePages(1)
   * calls in a row would have served before the first refusal. */
  allocBasePagesUpTo(count: number): number {
    if (Number.isSafeInteger(this.free) && Number.isSafeInteger(this.guest)) {
      const n = Math.max(0, Math.min(count, Math.floor(this.free / PAGE_SIZE)));
      const bytes = n * PAGE_SIZE;
      this.free -= bytes;
      this.guest += bytes;
      return n;
    }
    let n = 0;
    while (n < count && this.allocBasePages(1)) n++;
    return n;
  }

  /**
   * One best-effort THP (order 9). The buddy allocator is not modelled block by block, so whether
   * a free 2 MiB block exists is drawn: it is missing with probability `thpFragmentation`. The draw
   * is made only when enough memory is free, so a full node never consumes random numbers.
   * Allocators pass their own stream so one file's draws do not shift another's (see Rng.fork).
   */
  tryAllocThp(rng: Rng = this.rng): ThpAttempt {
    if (this.free < THP_BYTES) return 'no-memory';
    if (rng.chance(this.thpFragmentation)) return 'fragmented';
    this.take(THP_BYTES);
    this.guest += THP_BYTES;
    return 'ok';
  }

  /** Guest memory (whole 4 KiB pages or THPs, in bytes) goes back to the free lists. */
  freeGuest(bytes: number): void {
    assertPageMultiple(bytes, 'freeGuest');
    if (bytes > this.guest) {
      throw new Error(
        `buddy node ${this.node}: freeing ${bytes} B of guest memory but only ${this.guest} B is allocated`,
      );
    }
    this.guest -= bytes;
    this.free += bytes;
  }

  /** Guest memory hit by a memory error: it stays allocated to nobody and never comes back. */
  poisonGuest(bytes: number): void {
    assertPageMultiple(bytes, 'poisonGuest');
    if (bytes > this.guest) {
      throw new Error(
        `buddy node ${this.node}: poisoning ${bytes} B of guest memory but only ${this.guest} B is allocated`,
      );
    }
    this.guest -= bytes;
    this.hwpoisoned += bytes;
  }

  /** vmemmap pages for an HVO restore; false (nothing taken) when the node has too little free. */
  allocVmemmap(pages: number): boolean {
    const bytes = pages * PAGE_SIZE;
    if (bytes > this.free) return false;
    this.take(bytes);
    this.vmemmapNet += pages;
    return true;
  }

  /** vmemmap pages HVO released (re-optimisation after a merge, or HVO of a fresh CMA folio). */
  freeVmemmap(pages: number): void {
    this.free += pages * PAGE_SIZE;
    this.vmemmapNet -= pages;
  }

  counters(): BuddyCounters {
    return {
      node: this.node,
      totalBytes: this.totalBytes,
      freeBytes: this.free,
      guestBytes: this.guest,
      vmemmapNetPages: this.vmemmapNet,
      hwpoisonedBytes: this.hwpoisoned,
    };
  }

  private take(bytes: number): void {
    if (bytes > this.free) {
      throw new Error(`buddy node ${this.node}: free memory would go negative`);
    }
    this.free -= bytes;
  }
}

function assertPageMultiple(bytes: number, op: string): void {
  if (!Number.isInteger(bytes / PAGE_SIZE) || bytes < 0) {
    throw new Error(`buddy ${op}: ${bytes} B is not a whole number of 4 KiB pages`);
  }
}
