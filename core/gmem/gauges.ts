// Gauges (domain.md section 6): memory classes (private, shared, double allocated, zeroed but not
// freed), reservations, vmemmap and HVO savings, page tables, tracking metadata, folio and mapping
// counts, per NUMA node; and the simulator's own storage footprint. Every figure here is a counter
// the operations keep (memory classes: accounting.ts; blocks per bitmap: paged-bitmap.ts; folios:
// folio-layout.ts; mappings: kvm/mmu.ts; allocator figures per node), so a sample costs the number
// of gauges and nodes, not the guest's size.
import { ORDER_1G, ORDER_2M, ORDER_4K, PAGE_SIZE } from '../units.js';
import { classifyMemory, type MemoryClasses } from './accounting.js';
import type { PagedBitmap } from './paged-bitmap.js';
import type { GmemState } from './state.js';

/** The counters the gauges are made of. */
interface GaugeCounters {
  readonly classes: MemoryClasses;
  /** 2 MiB blocks holding a shared page, and those holding shared and private pages. */
  readonly sharedBlocks: number;
  readonly mixedBlocks: number;
  /** 2 MiB blocks holding a punched page. */
  readonly punchedBlocks: number;
  readonly folios4k: number;
  readonly folios2m: number;
  readonly folios1g: number;
  readonly pages4k: number;
  readonly pages2m: number;
  readonly pages1g: number;
}

/** The counters as the operations keep them: O(1). */
function keptCounters(gmem: GmemState): GaugeCounters {
  const { layout, mmu } = gmem;
  return {
    classes: gmem.classes.classes,
    sharedBlocks: gmem.shared.usedBlocksTotal,
    mixedBlocks: gmem.shared.partialBlocksTotal,
    punchedBlocks: gmem.punched.usedBlocksTotal,
    folios4k: layout.folios4k,
    folios2m: layout.folios2m,
    folios1g: layout.folios1g,
    pages4k: mmu.pages4k,
    pages2m: mmu.pages2m,
    pages1g: mmu.pages1g,
  };
}

/** The same counters counted from the state itself, block by block (the check of keptCounters). */
function recountedCounters(gmem: GmemState): GaugeCounters {
  const { layout, mmu } = gmem;
  const blocks = (bm: PagedBitmap, pred: (n: number) => boolean) => {
    let n = 0;
    for (let b = 0; b < bm.nrBlocks; b++) if (pred(bm.blockCount(b))) n++;
    return n;
  };
  let folios4k = 0;
  let blocks2m = 0;
  let blocks1g = 0;
  let pages4k = 0;
  let pages2m = 0;
  let pages1g = 0;
  for (let b = 0; b < layout.nrBlocks; b++) {
    const order = layout.blockOrderOf(b);
    if (order === ORDER_4K) folios4k += layout.allocated.blockCount(b);
    else if (order === ORDER_2M) blocks2m++;
    else blocks1g++;
    const level = mmu.levelAt(b * 512);
    if (level === ORDER_1G && b % 512 === 0) pages1g++;
    else if (level === ORDER_2M) pages2m++;
    pages4k += mmu.mapped4kInBlock(b);
  }
  return {
    classes: classifyMemory({
      allocated: layout.allocated,
      shared: gmem.shared,
      punched: gmem.punched,
      backend: gmem.backend,
    }),
    sharedBlocks: blocks(gmem.shared, (n) => n !== 0),
    mixedBlocks: blocks(gmem.shared, (n) => n !== 0 && n !== 512),
    punchedBlocks: blocks(gmem.punched, (n) => n !== 0),
    folios4k,
    folios2m: blocks2m,
    folios1g: blocks1g / 512,
    pages4k,
    pages2m,
    pages1g,
  };
}

/** Where the kept counters differ from a full recount of the state (none: the gauges are right). */
export function gaugeCounterProblems(gmem: GmemState): string[] {
  const kept = keptCounters(gmem);
  const full = recountedCounters(gmem);
  const problems: string[] = [];
  for (const key of Object.keys(kept) as (keyof GaugeCounters)[]) {
    const a = kept[key];
    const b = full[key];
    if (typeof a === 'number') {
      if (a !== b) problems.push(`${key}: kept ${a}, recounted ${b as number}`);
    } else {
      for (const c of Object.keys(a) as (keyof MemoryClasses)[]) {
        const bc = (b as MemoryClasses)[c];
        if (a[c] !== bc) problems.push(`${c} pages: kept ${a[c]}, recounted ${bc}`);
      }
    }
  }
  return problems;
}

/** Set every gauge from the current state (memory classes, folios, mappings). */
export function refreshGauges(gmem: GmemState): void {
  const m = gmem.deps.metrics;
  const stats = gmem.deps.allocator.stats();
  const counters = keptCounters(gmem);
  const classes = counters.classes;
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  let vmemmapPages = sum(stats.vmemmapPagesByNode);
  let hvoSavedPages = sum(stats.hvoSavedPagesByNode);
  if (gmem.structPageless) {
    // Only shared pages have struct pages: the vmemmap of each 2 MiB block holding one.
    vmemmapPages = counters.sharedBlocks * gmem.costs.vmemmapPagesPer2M;
    hvoSavedPages = 0;
  }
  const vmemmapBytes = vmemmapPages * PAGE_SIZE;
  const ptBytes = gmem.mmu.pageTablePages * PAGE_SIZE;
  const metadata = metadataBytes(gmem, counters);
  const reserved = sum(stats.reservedBytesByNode);
  m.set('private_bytes', classes.private * PAGE_SIZE);
  m.set('shared_bytes', classes.shared * PAGE_SIZE);
  m.set('double_allocated_bytes', classes.doubleAllocated * PAGE_SIZE);
  m.set('zeroed_not_freed_bytes', classes.zeroedNotFreed * PAGE_SIZE);
  m.set('reserved_unused_bytes', reserved);
  m.set('vmemmap_bytes', vmemmapBytes);
  m.set('hvo_saved_bytes', hvoSavedPages * PAGE_SIZE);
  m.set('page_table_bytes', ptBytes);
  m.set('metadata_bytes', metadata);
  m.set(
    'host_total_bytes',
    (classes.private + classes.shared + classes.doubleAllocated + classes.zeroedNotFreed) *
      PAGE_SIZE +
      reserved +
      vmemmapBytes +
      ptBytes +
      metadata,
  );
  m.set('folios_4k', counters.folios4k);
  m.set('folios_2m', counters.folios2m);
  m.set('folios_1g', counters.folios1g);
  m.set('pages_4k', counters.pages4k);
  m.set('pages_2m', counters.pages2m);
  m.set('pages_1g', counters.pages1g);
  m.set('mapped_4k_ratio', counters.pages4k / gmem.nrPages);
  m.set('mapped_2m_ratio', (counters.pages2m * 512) / gmem.nrPages);
  m.set('mapped_1g_ratio', (counters.pages1g * 262144) / gmem.nrPages);
  m.set('guest_bytes', gmem.config.guestBytes);
  // Per node: guest_memfd folios, reservations and vmemmap where the allocator put them; the
  // legacy backend, page tables and metadata on the home node.
  const home = gmem.config.homeNode;
  for (let n = 0; n < gmem.deps.nodeCount; n++) {
    let bytes =
      (stats.allocatedBytesByNode[n] ?? 0) +
      (stats.reservedBytesByNode[n] ?? 0) +
      (gmem.structPageless ? 0 : (stats.vmemmapPagesByNode[n] ?? 0) * PAGE_SIZE);
    if (n === home) {
      bytes +=
        (gmem.backend?.total ?? 0) * PAGE_SIZE +
        ptBytes +
        metadata +
        (gmem.structPageless ? vmemmapBytes : 0);
    }
    m.setNodeBytes(n, bytes);
  }
}

/** Tracking beyond struct pages: one 64 B maple-tree slot per 2 MiB block of mixed shareability
 * (a coarse model of the shareability tree) and the deferred punch bitmaps. */
function metadataBytes(gmem: GmemState, c: GaugeCounters): number {
  const bitmap = gmem.policies.deferredPunch ? c.punchedBlocks * 64 : 0;
  return c.mixedBlocks * 64 + bitmap;
}

/** Bytes of typed arrays holding this file's model state (the simulator's own footprint). */
export function modelStorageBytes(gmem: GmemState): number {
  const bitmaps = [
    gmem.layout.allocated,
    gmem.shared,
    gmem.punched,
    gmem.pinned,
    gmem.poisoned,
    gmem.backend,
  ];
  let n =
    gmem.layout.storageBytes +
    gmem.accepted4k.storageBytes +
    gmem.noReconstruct.storageBytes +
    gmem.mmu.storageBytes +
    (gmem.rmp?.storageBytes ?? 0);
  for (const b of bitmaps) if (b && b !== gmem.layout.allocated) n += b.storageBytes;
  // One 16 B map entry per pinned page.
  return n + gmem.pinned.total * 16;
}

export function mappedPages(gmem: GmemState): number {
  return gmem.mmu.pages4k + gmem.mmu.pages2m * 512 + gmem.mmu.pages1g * 262144;
}
