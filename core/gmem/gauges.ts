// Gauges (domain.md section 6): memory classes (private, shared, double allocated, zeroed but not
// freed), reservations, vmemmap and HVO savings, page tables, tracking metadata, folio and mapping
// counts, per NUMA node; and the simulator's own storage footprint.
import { PAGE_SIZE } from '../units.js';
import type { GmemState } from './state.js';

/** Set every gauge from the current state (memory classes, folios, mappings). */
export function refreshGauges(gmem: GmemState): void {
  const m = gmem.deps.metrics;
  const stats = gmem.deps.allocator.stats();
  const classes = gmem.classifier.classify({
    allocated: gmem.layout.allocated,
    shared: gmem.shared,
    punched: gmem.punched,
    backend: gmem.backend,
  });
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  let vmemmapPages = sum(stats.vmemmapPagesByNode);
  let hvoSavedPages = sum(stats.hvoSavedPagesByNode);
  if (gmem.structPageless) {
    // Only shared pages have struct pages: the vmemmap of each 2 MiB block holding one.
    vmemmapPages = blocksWithShared(gmem) * gmem.costs.vmemmapPagesPer2M;
    hvoSavedPages = 0;
  }
  const vmemmapBytes = vmemmapPages * PAGE_SIZE;
  const ptBytes = gmem.mmu.pageTablePages * PAGE_SIZE;
  const metadata = metadataBytes(gmem);
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
  m.set('folios_4k', gmem.layout.folios4k);
  m.set('folios_2m', gmem.layout.folios2m);
  m.set('folios_1g', gmem.layout.folios1g);
  m.set('pages_4k', gmem.mmu.pages4k);
  m.set('pages_2m', gmem.mmu.pages2m);
  m.set('pages_1g', gmem.mmu.pages1g);
  m.set('mapped_4k_ratio', gmem.mmu.pages4k / gmem.nrPages);
  m.set('mapped_2m_ratio', (gmem.mmu.pages2m * 512) / gmem.nrPages);
  m.set('mapped_1g_ratio', (gmem.mmu.pages1g * 262144) / gmem.nrPages);
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

function blocksWithShared(gmem: GmemState): number {
  let n = 0;
  const used = gmem.shared.usedBlocks;
  for (let g = 0; g < used.length; g++) n += used[g]!;
  return n;
}

/** Tracking beyond struct pages: one 64 B maple-tree slot per 2 MiB block of mixed shareability
 * (a coarse model of the shareability tree) and the deferred punch bitmaps. */
function metadataBytes(gmem: GmemState): number {
  let mixed = 0;
  let punchedBlocks = 0;
  const partial = gmem.shared.partialBlocks;
  const punched = gmem.punched.usedBlocks;
  for (let g = 0; g < partial.length; g++) {
    mixed += partial[g]!;
    punchedBlocks += punched[g]!;
  }
  const bitmap = gmem.policies.deferredPunch ? punchedBlocks * 64 : 0;
  return mixed * 64 + bitmap;
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
