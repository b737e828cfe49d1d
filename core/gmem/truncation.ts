// fallocate(PUNCH_HOLE | KEEP_SIZE) and freeing (domain.md section 4, `punchHole`):
// kvm_gmem_punch_hole() invalidates, then truncates; a huge page covered only in part is zeroed,
// not freed (fs/hugetlbfs/inode.c remove_inode_hugepages, mm/truncate.c
// truncate_inode_partial_folio), unless the deferred punch bitmap has seen every sub-page punched.
// HugeTLB and CMA take huge pages back whole: a split one is merged first, and only at the safe
// refcount.
import { blockOfPage, ORDER_2M, ORDER_4K, PAGE_SIZE } from '../units.js';
import { invalidate } from './invalidation.js';
import { rebuildUnit } from './split-merge.js';
import {
  M_ALLOC_FAILURES,
  M_EAGAIN_FAILURES,
  M_FREED_BYTES,
  M_PUNCHED_BYTES,
  C_ALLOCATION,
  C_ZEROING,
} from './slots.js';
import type { Failure, GmemState } from './state.js';

export function punchHoleOp(gmem: GmemState, offset: number, size: number): Failure | null {
  // At or past EOF the range is clamped to i_size (kvm_gmem_punch_hole() does not check the
  // size): a punch there succeeds and frees nothing (selftest test_fallocate()).
  const [start, end] = gmem.clampedPageRange(offset, size);
  gmem.metrics.addAt(M_PUNCHED_BYTES, size);
  if (start >= end) {
    if (gmem.logging) gmem.log({ type: 'punch_hole', offset, size, freedBytes: 0, zeroedBytes: 0 });
    return null;
  }
  return punchRange(gmem, start, end);
}

export function punchRange(gmem: GmemState, start: number, end: number): Failure | null {
  // kvm_gmem_punch_hole: invalidate (per backing folio, clipped, with order hints), then truncate.
  invalidate(gmem, start, end, 'punch_hole');
  // Truncation drops a poisoned folio from the file: the range can be allocated again.
  gmem.poisoned.assignRange(start, end, false);
  const freedBefore = gmem.metrics.getAt(M_FREED_BYTES);
  let zeroed = 0;
  let failure: Failure | null = null;
  const u0 = Math.floor(start / gmem.unitPages);
  const u1 = Math.floor((end - 1) / gmem.unitPages);
  for (let u = u0; u <= u1; u++) {
    const us = u * gmem.unitPages;
    const ue = us + gmem.unitPages;
    const s = Math.max(start, us);
    const e = Math.min(end, ue);
    if (gmem.layout.allocated.countRange(s, e) === 0) continue;
    if (s === us && e === ue) {
      failure = freeUnit(gmem, u) ?? failure;
      continue;
    }
    if (gmem.isHugeAllocation(us)) {
      // A huge page covered only in part is zeroed, not freed.
      zeroed += zeroPages(gmem, s, e);
      if (gmem.policies.deferredPunch && gmem.punched.countRange(us, ue) === gmem.unitPages) {
        // Deferred punch bitmap: every sub-page has now been punched: free the huge page.
        failure = freeUnit(gmem, u) ?? failure;
      }
    } else {
      failure = freeBasePages(gmem, s, e) ?? failure;
    }
  }
  if (gmem.logging)
    gmem.log({
      type: 'punch_hole',
      offset: start * PAGE_SIZE,
      size: (end - start) * PAGE_SIZE,
      freedBytes: gmem.metrics.getAt(M_FREED_BYTES) - freedBefore,
      zeroedBytes: zeroed * PAGE_SIZE,
    });
  return failure;
}

function zeroPages(gmem: GmemState, start: number, end: number): number {
  let n = 0;
  let i = gmem.layout.allocated.find(start, end, true);
  while (i < end) {
    const j = gmem.layout.allocated.find(i, end, false);
    n += gmem.punched.assignRange(i, j, true);
    i = j < end ? gmem.layout.allocated.find(j, end, true) : end;
  }
  gmem.charge(C_ZEROING, n * gmem.costs.zeroPage4KCycles);
  return n;
}

/** Free a whole allocation unit: merged first if it was split, and only at the safe refcount. */
export function freeUnit(gmem: GmemState, u: number): Failure | null {
  const start = u * gmem.unitPages;
  const end = start + gmem.unitPages;
  const pinnedAt = gmem.pinned.find(start, end, true);
  if (pinnedAt < end && gmem.hugeOrder === ORDER_4K) return freeBasePages(gmem, start, end);
  if (pinnedAt < end) {
    gmem.metrics.addAt(M_EAGAIN_FAILURES, 1);
    return {
      errno: 'EAGAIN',
      message: `cannot free the folio at offset 0x${(start * PAGE_SIZE).toString(16)}: page at 0x${(pinnedAt * PAGE_SIZE).toString(16)} is pinned`,
      offset: pinnedAt * PAGE_SIZE,
    };
  }
  gmem.pendingMerges.delete(u);
  if (!gmem.isHugeAllocation(start)) return freeBasePages(gmem, start, end);
  // Merged if needed (HugeTLB and CMA give back whole huge pages only).
  if (!gmem.isUnitHugeFolio(u)) rebuildUnit(gmem, u, false);
  const folio = gmem.folioAt(start, gmem.hugeOrder);
  const r = gmem.deps.allocator.free(gmem.handle, folio);
  gmem.charge(C_ALLOCATION, r.cycles);
  if (!r.ok) {
    // e.g. CMA with HVO: the vmemmap must be restored before release and memory ran out.
    gmem.metrics.addAt(M_ALLOC_FAILURES, 1);
    return {
      errno: r.errno,
      message: `free of the folio at offset 0x${(start * PAGE_SIZE).toString(16)} failed: ${r.message}`,
      offset: start * PAGE_SIZE,
    };
  }
  gmem.layout.removeHugeFolio(start, gmem.hugeOrder);
  gmem.rmp?.makeShared(start, end); // sev_gmem_invalidate() of the freed folio
  gmem.punched.assignRange(start, end, false);
  gmem.noReconstruct.assign(u, false);
  gmem.metrics.addAt(M_FREED_BYTES, gmem.unitPages * PAGE_SIZE);
  if (gmem.logging) gmem.log({ type: 'free', offset: start * PAGE_SIZE, order: gmem.hugeOrder });
  return null;
}

function freeBasePages(gmem: GmemState, start: number, end: number): Failure | null {
  // A whole 2 MiB THP still in one piece goes back as one folio.
  if (
    gmem.config.allocator === 'thp' &&
    (start & 511) === 0 &&
    end - start === 512 &&
    gmem.layout.blockOrderOf(blockOfPage(start)) === ORDER_2M
  ) {
    const r = gmem.deps.allocator.free(gmem.handle, gmem.folioAt(start, ORDER_2M));
    gmem.charge(C_ALLOCATION, r.cycles);
    gmem.layout.removeHugeFolio(start, ORDER_2M);
    gmem.rmp?.makeShared(start, end);
    gmem.punched.assignRange(start, end, false);
    gmem.metrics.addAt(M_FREED_BYTES, 512 * PAGE_SIZE);
    if (gmem.logging) gmem.log({ type: 'free', offset: start * PAGE_SIZE, order: ORDER_2M });
    return null;
  }
  if (
    gmem.config.allocator === 'thp' &&
    gmem.layout.blockOrderOf(blockOfPage(start)) === ORDER_2M
  ) {
    // Partial punch of an unsplit THP: zeroed, not freed.
    zeroPages(gmem, start, end);
    return null;
  }
  for (
    let i = gmem.layout.allocated.find(start, end, true);
    i < end;
    i = gmem.layout.allocated.find(i + 1, end, true)
  ) {
    if (gmem.pinned.get(i)) {
      if (gmem.hugeOrder === ORDER_4K) {
        // A 4 KiB-backed file is truncated by truncate_inode_pages_range() (mainline
        // kvm_gmem_punch_hole()), which drops the page cache's reference whatever other
        // references the page holds: the punch succeeds and the page leaves the file; its pins
        // stay with their holders (truncatedPins). Huge-backed files keep EAGAIN: their
        // truncation needs the safe refcount to give the huge page back whole.
        truncatePinned(gmem, i);
      } else {
        gmem.metrics.addAt(M_EAGAIN_FAILURES, 1);
        return {
          errno: 'EAGAIN',
          message: `page at offset 0x${(i * PAGE_SIZE).toString(16)} is pinned`,
          offset: i * PAGE_SIZE,
        };
      }
    }
    const r = gmem.deps.allocator.free(gmem.handle, gmem.folioAt(i, ORDER_4K));
    gmem.charge(C_ALLOCATION, r.cycles);
    gmem.layout.removeBaseFolio(i);
    gmem.rmp?.makeShared(i, i + 1);
    gmem.punched.assign(i, false);
    gmem.metrics.addAt(M_FREED_BYTES, PAGE_SIZE);
  }
  return null;
}

/**
 * Page `i` of a 4 KiB-backed file is truncated while pinned: it leaves the file and the file's
 * accounting at once, and its pins are kept apart (truncatedPins) so that their holders can still
 * drop them. Model simplification: the kernel frees the page only when the last pin goes
 * (put_page()); the model hands it back to the allocator at the punch, so memory held by an
 * outside reference after a truncation is not counted.
 */
function truncatePinned(gmem: GmemState, i: number): void {
  gmem.truncatedPins.set(i, gmem.pinCount(i));
  gmem.pinned.assign(i, false);
  gmem.extraPins.delete(i);
}

/** One pin dropped from a page truncated while pinned (see truncatePinned). */
export function releaseTruncatedPin(gmem: GmemState, i: number): void {
  const pins = gmem.truncatedPins.get(i);
  if (pins === undefined) return;
  if (pins > 1) gmem.truncatedPins.set(i, pins - 1);
  else gmem.truncatedPins.delete(i);
}
