// Invalidation (domain.md section 4, invalidation ranges): kvm_gmem_invalidate_begin / _end
// (virt/kvm/guest_memfd.c) take kvm->mmu_lock for write once each; one invalidation is issued per
// backing folio, clipped to the range and carrying the folio's order as a hint, and KVM's mappings
// there are zapped.
import { blockOfPage, gigOfPage, ORDER_4K, PAGE_SIZE } from '../units.js';
import { chargeInvalidations } from './bulk-charge.js';
import { M_INVALIDATIONS, M_MMU_LOCK_WRITE, C_FAULT } from './slots.js';
import type { GmemState } from './state.js';

/**
 * A conversion's invalidation: the range rounded out to the huge page size is what the
 * invalidation accounts for (kvm_mmu_invalidate_range_add(), virt/kvm/kvm_main.c, called from the
 * conversion in Ackerley Tng's 1G guest_memfd RFC v2, 2025-05-14, virt/kvm/guest_memfd.c), but the
 * SPTEs zapped are those of the exact work range: kvm_gmem_unmap_private() on the work range for
 * to-shared, unmap_mapping_pages() on the exact range for to-private (RFC v2 as posted; its text is
 * not in the searchable corpora, thread: lore.kernel.org/kvm, "[RFC PATCH v2 00/51] 1G page support
 * for guest_memfd", 2025-05-14). A huge SPTE overlapping the exact range still goes as a whole.
 */
export function invalidateRounded(
  gmem: GmemState,
  start: number,
  end: number,
  reason: string,
): void {
  const s = Math.floor(start / gmem.unitPages) * gmem.unitPages;
  const e = Math.min(gmem.nrPages, Math.ceil(end / gmem.unitPages) * gmem.unitPages);
  invalidate(gmem, s, e, reason, start, end);
}

/** Invalidate [start, end) and zap KVM's mappings over [zapStart, zapEnd) (the same range unless
 * the caller accounts for a wider one, see invalidateRounded). */
export function invalidate(
  gmem: GmemState,
  start: number,
  end: number,
  reason: string,
  zapStart = start,
  zapEnd = end,
): void {
  // kvm_gmem_invalidate_begin / _end: kvm->mmu_lock taken for write once each.
  gmem.metrics.addAt(M_MMU_LOCK_WRITE, 2);
  gmem.charge(C_FAULT, 2 * gmem.costs.mmuLockWriteCycles);
  issueInvalidations(gmem, start, end, reason, zapStart, zapEnd);
}

/** One invalidation per backing folio, clipped to [start, end), carrying the folio's order as a
 * hint; runs of 4 KiB folios are issued as one range with hint 0. */
export function issueInvalidations(
  gmem: GmemState,
  start: number,
  end: number,
  reason: string,
  zapStart = start,
  zapEnd = end,
): void {
  let i = start;
  while (i < end) {
    const order = gmem.layout.orderAt(i);
    let next: number;
    if (order !== ORDER_4K) {
      const size = 1 << order; // order 9 or 18
      next = Math.min(end, (Math.floor(i / size) + 1) * size);
      if (!gmem.logging && next < end) {
        // Without an event log the folios of this order that follow need no iteration each:
        // one invalidation per folio, counted and charged as the loop would.
        const bEnd = Math.ceil(end / 512);
        const stop = Math.min(end, gmem.layout.blockRunEnd(blockOfPage(next), bEnd, order) * 512);
        if (stop > next) {
          chargeInvalidations(gmem, Math.ceil((stop - next) / size));
          next = stop;
        }
      }
    } else {
      // The run of order-0 blocks: whole 1 GiB ranges without huge blocks at once.
      const layout = gmem.layout;
      const hugeBlocks = layout.hugeBlocks;
      next = i + 1;
      while (next < end) {
        if (hugeBlocks[gigOfPage(next)] === 0) {
          next = Math.min(end, (gigOfPage(next) + 1) * 262144);
        } else if (layout.blockOrderOf(blockOfPage(next)) === ORDER_4K) {
          next = Math.min(end, (blockOfPage(next) + 1) * 512);
        } else break;
      }
    }
    gmem.metrics.addAt(M_INVALIDATIONS, 1);
    gmem.charge(C_FAULT, gmem.costs.invalidateCycles);
    if (gmem.logging)
      gmem.log({
        type: 'invalidate',
        start: i * PAGE_SIZE,
        end: next * PAGE_SIZE,
        orderHint: order,
        reason,
      });
    i = next;
  }
  gmem.mmu.zapRange(zapStart, zapEnd);
}
