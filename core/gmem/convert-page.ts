// The conversion of one 4 KiB page inside one huge-page unit (domain.md section 4, `convert`), the
// commonest a guest makes (a bounce buffer, a GHCB page, one page of a device ring), done in one
// routine: the same steps, checks, counters, charges, latency samples and events, in the same
// order, as the general flow of conversion.ts for a work list of that one page
// (kvm_gmem_convert_execute_work() of Ackerley Tng's "1G page support for guest_memfd" RFC v2:
// invalidate rounded out to the huge page, kvm_gmem_unmap_private() of the page, split of the huge
// folio for shared, safe-refcount check and merge after private). It is taken only where that flow
// has a single outcome without loops: an in-place file on huge pages whose unit is one huge folio,
// or split to 4 KiB folios only; anything else (a staged 2 MiB block inside a 1 GiB unit, a pinned
// page going private, the "disallow split" policy's recorded ranges) returns NOT_TAKEN before
// changing anything, and the general flow runs. `pageFastPath.enabled = false` turns it off, so
// tests can run the same operations through both flows and compare every result.
import {
  blockOfPage,
  gigOfPage,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  PAGE_SIZE,
  type PageOrder,
} from '../units.js';
import { mergeable, mergeFolio, scheduleOrMerge, splitFolio } from './split-merge.js';
import {
  C_CONVERSION,
  C_FAULT,
  M_CONVERSIONS_TO_PRIVATE,
  M_CONVERSIONS_TO_SHARED,
  M_CONVERTED_TO_PRIVATE_BYTES,
  M_CONVERTED_TO_SHARED_BYTES,
  M_EAGAIN_FAILURES,
  M_INVALIDATIONS,
  M_MERGES_CANCELLED,
  M_MMU_LOCK_WRITE,
} from './slots.js';
import type { Failure, GmemState } from './state.js';

/** Whether single-page conversions take this routine (tests turn it off to compare), and how
 * many took it (tests check that their runs reached it). */
export const pageFastPath = { enabled: true, taken: 0 };

/** convertPage()'s answer when its preconditions do not hold: nothing was changed. */
export const NOT_TAKEN = 1;

/** Whether the file's configuration lets single-page conversions take convertPage(): in-place,
 * huge pages, not the staged split (a 1 GiB unit may then hold 2 MiB blocks) and not the
 * "disallow split" policy (its recorded ranges refuse conversions). */
export function pageFastPathApplies(gmem: GmemState): boolean {
  return (
    !gmem.legacy &&
    gmem.hugeOrder !== ORDER_4K &&
    gmem.policies.split !== 'staged' &&
    gmem.policies.sharedPages !== 'disallow-split'
  );
}

/**
 * Convert page `p` to shared or private, as convertOp() would for [p, p + 1), or return NOT_TAKEN
 * (before changing anything) when the unit holding `p` is not one huge folio or all 4 KiB folios,
 * or when `p` going private is pinned (the general flow reports the -EAGAIN).
 */
export function convertPage(gmem: GmemState, p: number, toShared: boolean): Failure | null | 1 {
  const unit = gmem.unitPages;
  const layout = gmem.layout;
  // The unit of `p`: what the invalidation rounded out to it covers (issueInvalidations()).
  const s = gmem.hugeOrder === ORDER_1G ? gigOfPage(p) * unit : blockOfPage(p) * unit;
  const order = layout.orderAt(s);
  if (gmem.hugeOrder === ORDER_1G) {
    // One invalidation covers the unit when it is one 1 GiB folio or holds no huge block.
    if (order === ORDER_2M || (order === ORDER_4K && layout.hugeBlocks[gigOfPage(p)] !== 0))
      return NOT_TAKEN;
  }
  const was = gmem.shared.get(p);
  if (!toShared && was && gmem.pinned.get(p)) return NOT_TAKEN;
  pageFastPath.taken++;
  const m = gmem.metrics;
  m.addAt(toShared ? M_CONVERSIONS_TO_SHARED : M_CONVERSIONS_TO_PRIVATE, 1);
  gmem.charge(C_CONVERSION, gmem.costs.conversionOpCycles);
  if (was === toShared) {
    // Converting to the current state is free (the work list is empty).
    if (gmem.logging) logConvert(gmem, p, toShared, 0);
    return null;
  }
  gmem.inConversion = true;
  try {
    return convertPageSteps(gmem, p, s, order, toShared);
  } finally {
    gmem.inConversion = false;
  }
}

/** convertPage() from the invalidation on, `s` the unit's first page and `order` its folios'. */
function convertPageSteps(
  gmem: GmemState,
  p: number,
  s: number,
  order: number,
  toShared: boolean,
): Failure | null {
  const m = gmem.metrics;
  const unit = gmem.unitPages;
  // 2. Invalidate the unit (kvm_mmu_invalidate_range_add() over the range rounded out to the
  //    huge page: invalidateRounded()), kvm->mmu_lock taken for write by _begin and _end, one
  //    invalidation for the unit's one folio order; 3. zap KVM's mappings of the page alone.
  m.addAt(M_MMU_LOCK_WRITE, 2);
  gmem.charge(C_FAULT, 2 * gmem.costs.mmuLockWriteCycles);
  m.addAt(M_INVALIDATIONS, 1);
  gmem.charge(C_FAULT, gmem.costs.invalidateCycles);
  if (gmem.logging) logInvalidate(gmem, s, order, toShared);
  gmem.mmu.zapPage(p);
  let failure: Failure | null = null;
  if (toShared) {
    gmem.splitLog.length = 0;
    // A reconversion to shared cancels the unit's deferred merge (cancelDeferredMerges()).
    if (gmem.pendingMerges.size !== 0 && gmem.pendingMerges.delete(s / unit)) {
      m.addAt(M_MERGES_CANCELLED, 1);
      if (gmem.logging) gmem.log({ type: 'merge_cancelled', offset: s * PAGE_SIZE });
    }
    // Shared folios must be order 0: the unit's huge folio is split (split-to-4k, always-split).
    // A failed split has split nothing, so there is nothing to roll back.
    if (order !== ORDER_4K)
      failure = splitFolio(gmem, s, order as PageOrder, ORDER_4K, gmem.splitLog);
    if (!failure) {
      gmem.shared.assign(p, true);
      if (
        gmem.policies.sharedPages === 'disallow-split-and-reconstruct' &&
        gmem.sharedInUnit(s / unit) === unit
      ) {
        // The last private sub-page went shared: this huge range is never reconstructed.
        gmem.noReconstruct.assign(s / unit, true);
      }
      // SNP: the page goes back to the hypervisor in the RMP (sev_gmem_invalidate()).
      gmem.rmp?.makeShared(p, p + 1);
    }
  } else {
    gmem.shared.assign(p, false);
    // Merge the unit once no shared page is left in it (mergeAfterPrivate(), per merge policy).
    const u = s / unit;
    if (
      gmem.policies.split !== 'always-split' &&
      gmem.layout.orderAt(s) !== gmem.hugeOrder &&
      gmem.sharedInUnit(u) === 0
    ) {
      if (gmem.policies.merge !== 'eager') scheduleOrMerge(gmem, u, false);
      else if (!gmem.noReconstruct.get(u) && unitMergeable(gmem, s, u))
        mergeFolio(gmem, s, ORDER_4K, gmem.hugeOrder);
    }
  }
  if (failure) {
    if (failure.errno === 'EAGAIN') m.addAt(M_EAGAIN_FAILURES, 1);
    if (gmem.logging) logFailed(gmem, p, toShared, failure);
    return failure;
  }
  m.addAt(toShared ? M_CONVERTED_TO_SHARED_BYTES : M_CONVERTED_TO_PRIVATE_BYTES, PAGE_SIZE);
  if (gmem.logging) logConvert(gmem, p, toShared, PAGE_SIZE);
  return null;
}

/** mergeable(gmem, s, unitPages, true) for unit `u` starting at `s`, which has no shared page
 * left: fully allocated, not all punched (but THP), no page above the safe refcount. The counts
 * of a whole unit are the bitmaps' per-GiB or per-block counts; a pinned page is reported by
 * mergeable() itself. */
function unitMergeable(gmem: GmemState, s: number, u: number): boolean {
  const unit = gmem.unitPages;
  const gig = gmem.hugeOrder === ORDER_1G;
  const { allocated } = gmem.layout;
  if ((gig ? allocated.perGig[u]! : allocated.blockCount(u)) !== unit) return false;
  const punched = gig ? gmem.punched.perGig[u]! : gmem.punched.blockCount(u);
  if (punched === unit && gmem.config.allocator !== 'thp') return false;
  if ((gig ? gmem.pinned.perGig[u]! : gmem.pinned.blockCount(u)) !== 0)
    return mergeable(gmem, s, unit, true);
  return true;
}

// The events, out of the routine's hot path: the same objects the general flow logs.
function logConvert(gmem: GmemState, p: number, toShared: boolean, changedBytes: number): void {
  const to = toShared ? 'shared' : 'private';
  gmem.log({ type: 'convert', offset: p * PAGE_SIZE, size: PAGE_SIZE, to, changedBytes });
}

function logInvalidate(gmem: GmemState, s: number, order: number, toShared: boolean): void {
  gmem.log({
    type: 'invalidate',
    start: s * PAGE_SIZE,
    end: (s + gmem.unitPages) * PAGE_SIZE,
    orderHint: order,
    reason: toShared ? 'to_shared' : 'to_private',
  });
}

function logFailed(gmem: GmemState, p: number, toShared: boolean, failure: Failure): void {
  gmem.log({
    type: 'convert_failed',
    offset: p * PAGE_SIZE,
    size: PAGE_SIZE,
    to: toShared ? 'shared' : 'private',
    errno: failure.errno,
    failedOffset: failure.offset,
    reason: failure.message,
  });
}
