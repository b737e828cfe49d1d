// The DMA API of a confidential guest (domain.md section 5): what each call converts.
//
//  - Streaming mappings (dma_map_page()/dma_map_sg(), kernel/dma/direct.h dma_direct_map_page()):
//    a CoCo guest bounces every one through SWIOTLB (arch/x86/kernel/pci-dma.c
//    pci_swiotlb_detect() sets SWIOTLB_FORCE for CC_ATTR_GUEST_MEM_ENCRYPT;
//    swiotlb_tbl_map_single() takes 2 KiB slots of the buffer decrypted at boot), so they convert
//    nothing.
//  - dma_alloc_coherent() that may sleep (kernel/dma/direct.c dma_direct_alloc() ->
//    __dma_direct_alloc_pages(): alloc_pages_node() of get_order(size), ZONE_DMA32 for a 32-bit
//    mask): the pages, then dma_set_decrypted() -> set_memory_decrypted() of PFN_UP(size) pages;
//    dma_free_coherent() -> dma_set_encrypted() -> set_memory_encrypted(), then the pages are freed.
//  - dma_alloc_coherent() that may not sleep: force_dma_unencrypted() sends it to the atomic
//    pools (dma_direct_alloc_from_pool(), kernel/dma/pool.c), decrypted once at boot by
//    atomic_pool_expand(): no conversion.
//  - dma_pool (mm/dmapool.c): dma_pool_alloc() carves blocks from pages the pool got with
//    dma_alloc_coherent() (pool_alloc_page()) and keeps: dma_pool_free() returns the block to its
//    page, the pages go back only at dma_pool_destroy(). So a pool converts each page once.
import { PAGE_SIZE, alignUp } from '../units.js';
import type { CocoGuest } from './coco-guest.js';
import type { Range } from './coco-placement.js';
import {
  getOrder,
  MAX_PAGE_ORDER,
  type GfpZone,
  type GuestPageAllocator,
} from './guest-page-alloc.js';

/** kernel/dma/swiotlb.c: 2 KiB slots (IO_TLB_SIZE). */
const IO_TLB_SIZE = 2048;

export interface CoherentBuffer {
  readonly offset: number;
  /** Bytes decrypted: PFN_UP(size) pages. */
  readonly bytes: number;
  readonly order: number;
  readonly cpu: number;
}

export interface DmaCounters {
  coherentAllocs: number;
  coherentFrees: number;
  atomicAllocs: number;
  streamingMaps: number;
  /** Streaming mappings refused because SWIOTLB had no free slots ("swiotlb buffer is full"). */
  swiotlbFull: number;
  poolPages: number;
}

/** The atomic pools (atomic_pool_kernel, atomic_pool_dma32, atomic_pool_dma) as byte budgets. */
export interface AtomicPool {
  readonly range: Range;
  readonly zone: GfpZone;
  used: number;
}

export class GuestDma {
  readonly counters: DmaCounters = {
    coherentAllocs: 0,
    coherentFrees: 0,
    atomicAllocs: 0,
    streamingMaps: 0,
    swiotlbFull: 0,
    poolPages: 0,
  };
  private swiotlbSlotsUsed = 0;
  private readonly swiotlbSlots: number;

  constructor(
    readonly g: CocoGuest,
    readonly pages: GuestPageAllocator,
    readonly swiotlb: Range | null,
    readonly atomicPools: AtomicPool[] = [],
  ) {
    this.swiotlbSlots = swiotlb ? Math.floor(swiotlb.size / IO_TLB_SIZE) : 0;
  }

  /** dma_alloc_coherent(dev, size, GFP_KERNEL): pages, then set_memory_decrypted(). */
  allocCoherent(size: number, zone: GfpZone = 'normal', cpu = 0): CoherentBuffer | null {
    const order = Math.min(getOrder(size), MAX_PAGE_ORDER);
    const at = this.pages.alloc(order, zone, cpu);
    if (at === null) return null;
    // The page allocator accepted what it hands out; dma_set_decrypted() of PFN_UP(size) pages.
    const bytes = alignUp(Math.min(size, PAGE_SIZE << order), PAGE_SIZE);
    if (this.g.confidential && !this.g.share(at, bytes).ok) {
      this.pages.freePages(at, order, cpu);
      return null;
    }
    this.counters.coherentAllocs++;
    return { offset: at, bytes, order, cpu };
  }

  /** dma_free_coherent(): set_memory_encrypted(), then __free_pages(). Returns false when the
   * conversion back failed (the kernel then leaks the pages rather than reuse shared memory). */
  freeCoherent(buf: CoherentBuffer): boolean {
    if (this.g.confidential && !this.g.unshare(buf.offset, buf.bytes).ok) return false;
    this.pages.freePages(buf.offset, buf.order, buf.cpu);
    this.counters.coherentFrees++;
    return true;
  }

  /** dma_alloc_coherent(dev, size, GFP_ATOMIC): from the pre-decrypted atomic pool of the zone;
   * null when the pool is exhausted (the pool's background expansion is not modelled). */
  allocAtomic(size: number, zone: GfpZone = 'normal'): boolean {
    const pool =
      this.atomicPools.find((p) => p.zone === zone && p.used + size <= p.range.size) ??
      this.atomicPools.find((p) => p.used + size <= p.range.size);
    if (!pool) return false;
    pool.used += alignUp(size, PAGE_SIZE);
    this.counters.atomicAllocs++;
    return true;
  }

  freeAtomic(size: number, zone: GfpZone = 'normal'): void {
    const pool =
      this.atomicPools.find((p) => p.zone === zone && p.used >= size) ??
      this.atomicPools.find((p) => p.used >= size);
    if (pool) pool.used -= alignUp(size, PAGE_SIZE);
  }

  /** dma_map_single()/dma_map_page() of `size` bytes: SWIOTLB slots, no conversion. */
  mapStreaming(size: number): boolean {
    const slots = Math.ceil(size / IO_TLB_SIZE);
    if (this.swiotlbSlotsUsed + slots > this.swiotlbSlots) {
      this.counters.swiotlbFull++;
      return false;
    }
    this.swiotlbSlotsUsed += slots;
    this.counters.streamingMaps++;
    return true;
  }

  unmapStreaming(size: number): void {
    this.swiotlbSlotsUsed = Math.max(0, this.swiotlbSlotsUsed - Math.ceil(size / IO_TLB_SIZE));
  }

  get swiotlbBytesInUse(): number {
    return this.swiotlbSlotsUsed * IO_TLB_SIZE;
  }
}

/** mm/dmapool.c: blocks of `size` carved from whole pages got with dma_alloc_coherent(). */
export class DmaPool {
  private readonly pages: Array<{ buf: CoherentBuffer; free: number }> = [];
  private readonly blocksPerPage: number;
  private readonly allocation: number;

  constructor(
    readonly dma: GuestDma,
    readonly name: string,
    readonly size: number,
    readonly zone: GfpZone = 'normal',
    readonly cpu = 0,
  ) {
    // dma_pool_create(): allocation = max(size, PAGE_SIZE) (boundary = allocation).
    this.allocation = alignUp(Math.max(size, PAGE_SIZE), PAGE_SIZE);
    this.blocksPerPage = Math.max(1, Math.floor(this.allocation / size));
  }

  get pageCount(): number {
    return this.pages.length;
  }

  /** dma_pool_alloc(): a free block of a page the pool has, else pool_alloc_page(). */
  alloc(): boolean {
    const page = this.pages.find((p) => p.free > 0);
    if (page) {
      page.free--;
      return true;
    }
    const buf = this.dma.allocCoherent(this.allocation, this.zone, this.cpu);
    if (!buf) return false;
    this.dma.counters.poolPages++;
    this.pages.push({ buf, free: this.blocksPerPage - 1 });
    return true;
  }

  /** dma_pool_free(): the block goes back to its page; the page stays with the pool. */
  free(): void {
    const page = this.pages.find((p) => p.free < this.blocksPerPage);
    if (page) page.free++;
  }

  /** dma_pool_destroy(): every page back through dma_free_coherent(). */
  destroy(): void {
    for (const p of this.pages.splice(0)) this.dma.freeCoherent(p.buf);
  }
}
