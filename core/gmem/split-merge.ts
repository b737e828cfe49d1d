// Splitting and merging huge folios (domain.md section 4, merge and split policies): split(handle,
// folio, targetSize) restores the vmemmap first and can fail; reconstruct(handle, firstFolio,
// nrPages) merges and re-optimises it (mm/hugetlb_vmemmap.c hugetlb_vmemmap_restore_folio /
// hugetlb_vmemmap_optimize_folio). Merges follow a range going all private, per merge policy
// (eager, deferred with a delay that a reconversion cancels, never), and need the range fully
// allocated, private and at the safe refcount. Model: the split/merge steps of the "1G page support
// for guest_memfd" RFC v2 and the LPC 2024 guest_memfd discussion of split and reconstruct.
import {
  blockOfPage,
  gigOfBlock,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  PAGE_SIZE,
  type PageOrder,
} from '../units.js';
import { invalidate } from './invalidation.js';
import {
  M_ALLOC_FAILURES,
  M_EAGAIN_FAILURES,
  M_MERGES_CANCELLED,
  M_MERGES_DEFERRED,
  M_SPLITS_1G,
  M_SPLITS_2M,
  M_MERGES_1G,
  M_MERGES_2M,
  C_SPLIT,
  C_MERGE,
  C_VMEMMAP,
  C_ALLOCATION,
  L_MERGE,
  L_SPLIT,
} from './slots.js';
import type { Failure, GmemState, SplitLog } from './state.js';

export function splitForShared(
  gmem: GmemState,
  start: number,
  end: number,
  splits: SplitLog | null,
): Failure | null {
  const b0 = blockOfPage(start);
  const b1 = blockOfPage(end - 1);
  if (b0 === b1) return splitBlockToBase(gmem, b0, splits);
  for (let b = b0; b <= b1; b++) {
    const failure = splitBlockToBase(gmem, b, splits);
    if (failure) return failure;
  }
  return null;
}

/** Make the folios covering 2 MiB block `b` order 0, per split policy. */
export function splitBlockToBase(
  gmem: GmemState,
  b: number,
  splits: SplitLog | null,
): Failure | null {
  let order = gmem.layout.blockOrderOf(b);
  if (order === ORDER_1G) {
    const gigStart = gigOfBlock(b) * 262144;
    const to = gmem.policies.split === 'staged' ? ORDER_2M : ORDER_4K;
    const failure = splitFolio(gmem, gigStart, ORDER_1G, to, splits);
    if (failure) return failure;
    order = to;
  }
  if (order === ORDER_2M) return splitFolio(gmem, b * 512, ORDER_2M, ORDER_4K, splits);
  return null;
}

/** split(handle, folio, targetSize): vmemmap restore first (can fail), then the split. */
export function splitFolio(
  gmem: GmemState,
  index: number,
  from: PageOrder,
  to: PageOrder,
  splits: SplitLog | null,
): Failure | null {
  // One split is one latency sample (vmemmap restore, the split, failed attempts too). The
  // bracket is written out, not a closure: a conversion splits on every call.
  const outer = gmem.beginSample();
  const failure = splitFolioSteps(gmem, index, from, to, splits);
  gmem.endSample(L_SPLIT, outer);
  return failure;
}

function splitFolioSteps(
  gmem: GmemState,
  index: number,
  from: PageOrder,
  to: PageOrder,
  splits: SplitLog | null,
): Failure | null {
  const folio = gmem.folioAt(index, from);
  let hvoAfter: boolean;
  let vmemmapPages = 0;
  if (gmem.structPageless) {
    // Struct-page-less private memory: a split is a PFN-range update (page-table work only);
    // the allocator's view of the folio (and its vmemmap) does not change.
    gmem.charge(C_SPLIT, gmem.costs.conversionOpCycles);
    hvoAfter = folio.hvo;
  } else {
    // split(handle, folio, targetSize): vmemmap restore first; can fail.
    const r = gmem.deps.allocator.split(gmem.handle, folio, to);
    // split1GCycles was measured inside kvm_gmem_convert_execute_work() (Michael Roth, RFC v2
    // thread, 11 Jul 2025), which includes hugetlb_vmemmap_restore_folio() (mm/hugetlb_vmemmap.c,
    // called by guestmem_hugetlb_split_folio() in RFC v2's mm/guestmem_hugetlb.c): a successful
    // 1 GiB split charges no vmemmap restore cycles on top (the pages restored are still counted).
    // A failed restore and 2 MiB splits (split2MCycles excludes it) charge the restore.
    const restoreInConstant = r.ok && from === ORDER_1G;
    gmem.charge(C_VMEMMAP, !r.ok ? r.cycles : restoreInConstant ? 0 : r.vmemmapCycles);
    if (!r.ok) return splitFailure(gmem, index, from, r);
    gmem.charge(C_ALLOCATION, r.cycles - r.vmemmapCycles);
    vmemmapPages = r.vmemmapPages;
    hvoAfter = folio.hvo && to === ORDER_2M;
    gmem.charge(C_SPLIT, from === ORDER_1G ? gmem.costs.split1GCycles : gmem.costs.split2MCycles);
  }
  gmem.layout.split(index, from, to, hvoAfter);
  gmem.metrics.addAt(from === ORDER_1G ? M_SPLITS_1G : M_SPLITS_2M, 1);
  if (gmem.logging) logSplit(gmem, index, from, to, vmemmapPages);
  splits?.record(index, from, to);
  return null;
}

// The cold ends of a split, kept out of splitFolioSteps() so the conversion that inlines it
// stays small enough for V8 to inline the rest.
function splitFailure(
  gmem: GmemState,
  index: number,
  from: PageOrder,
  r: { readonly errno: Failure['errno']; readonly message: string },
): Failure {
  gmem.metrics.addAt(M_ALLOC_FAILURES, 1);
  return {
    errno: r.errno,
    message: `split of the ${from === ORDER_1G ? '1 GiB' : '2 MiB'} folio at offset 0x${(index * PAGE_SIZE).toString(16)} failed: ${r.message}`,
    offset: index * PAGE_SIZE,
  };
}

function logSplit(
  gmem: GmemState,
  index: number,
  from: PageOrder,
  to: PageOrder,
  vmemmapPages: number,
): void {
  gmem.log({
    type: 'split',
    offset: index * PAGE_SIZE,
    fromOrder: from,
    toOrder: to,
    vmemmapPages,
  });
}

/** reconstruct(handle, firstFolio, nrPages): the merge, then vmemmap re-optimise.
 * `accountingOnly`: no cost, counter or event (a memory error takes the page out whole). */
export function mergeFolio(
  gmem: GmemState,
  index: number,
  from: PageOrder,
  to: PageOrder,
  accountingOnly = false,
): Failure | null {
  // One merge is one latency sample (the merge and vmemmap re-optimise); an accounting-only
  // merge costs nothing and records none.
  if (accountingOnly) return mergeFolioSteps(gmem, index, from, to, true);
  const outer = gmem.beginSample();
  const failure = mergeFolioSteps(gmem, index, from, to, false);
  gmem.endSample(L_MERGE, outer);
  return failure;
}

function mergeFolioSteps(
  gmem: GmemState,
  index: number,
  from: PageOrder,
  to: PageOrder,
  accountingOnly: boolean,
): Failure | null {
  let hvoAfter: boolean;
  let vmemmapPages = 0;
  const charged = !accountingOnly;
  if (gmem.structPageless) {
    if (charged) gmem.charge(C_MERGE, gmem.costs.conversionOpCycles);
    hvoAfter = gmem.layout.hvoAt(index);
  } else {
    const first = gmem.folioAt(index, from);
    const r = gmem.deps.allocator.reconstruct(gmem.handle, first, to);
    if (!r.ok) {
      if (charged) gmem.charge(C_VMEMMAP, r.cycles);
      return { errno: r.errno, message: r.message, offset: index * PAGE_SIZE };
    }
    if (charged) {
      gmem.charge(C_VMEMMAP, r.vmemmapCycles);
      gmem.charge(C_ALLOCATION, r.cycles - r.vmemmapCycles);
    }
    vmemmapPages = r.vmemmapPages;
    hvoAfter = gmem.allocatorHvo(to);
    if (charged)
      gmem.charge(C_MERGE, to === ORDER_1G ? gmem.costs.merge1GCycles : gmem.costs.merge2MCycles);
  }
  gmem.layout.merge(index, from, to, hvoAfter);
  if (gmem.rmp && gmem.policies.snpPromoteAfterMerge) promoteMerged(gmem, index, to);
  if (accountingOnly) return null;
  gmem.metrics.addAt(to === ORDER_1G ? M_MERGES_1G : M_MERGES_2M, 1);
  if (gmem.logging) logMerge(gmem, index, to, vmemmapPages);
  return null;
}

/** Policy: the merged range's 4 KiB RMP entries are collapsed into 2 MiB ones (KVM does not). */
function promoteMerged(gmem: GmemState, index: number, to: PageOrder): void {
  for (let b = blockOfPage(index); b < blockOfPage(index + 2 ** to); b++) gmem.rmp!.promote(b);
}

function logMerge(gmem: GmemState, index: number, to: PageOrder, vmemmapPages: number): void {
  gmem.log({ type: 'merge', offset: index * PAGE_SIZE, toOrder: to, vmemmapPages });
}

/** Undo the splits `splits` recorded, last first. */
export function rollbackSplits(gmem: GmemState, splits: SplitLog): void {
  const e = splits.entries;
  for (let i = splits.length - 3; i >= 0; i -= 3) {
    mergeFolio(gmem, e[i]!, e[i + 2] as PageOrder, e[i + 1] as PageOrder);
  }
}

/** Put a split huge allocation unit back together (a staged layout goes 4 KiB -> 2 MiB -> 1 GiB).
 * `accountingOnly`: no cost, counter or event (used when a memory error takes the page out). */
export function rebuildUnit(gmem: GmemState, u: number, accountingOnly: boolean): void {
  const start = u * gmem.unitPages;
  if (gmem.hugeOrder === ORDER_2M) {
    mergeFolio(gmem, start, ORDER_4K, ORDER_2M, accountingOnly);
    return;
  }
  let staged = false;
  for (let b = blockOfPage(start); b < blockOfPage(start + gmem.unitPages); b++) {
    if (gmem.layout.blockOrderOf(b) === ORDER_2M) staged = true;
  }
  if (!staged) {
    mergeFolio(gmem, start, ORDER_4K, ORDER_1G, accountingOnly);
    return;
  }
  for (let b = blockOfPage(start); b < blockOfPage(start + gmem.unitPages); b++) {
    if (gmem.layout.blockOrderOf(b) === ORDER_4K)
      mergeFolio(gmem, b * 512, ORDER_4K, ORDER_2M, accountingOnly);
  }
  mergeFolio(gmem, start, ORDER_2M, ORDER_1G, accountingOnly);
}

export function splitForAllocation(gmem: GmemState, start: number): Failure | null {
  if (gmem.hugeOrder === ORDER_1G) return splitFolio(gmem, start, ORDER_1G, ORDER_4K, null);
  return splitFolio(gmem, start, ORDER_2M, ORDER_4K, null);
}

export function mergeAfterPrivate(gmem: GmemState, start: number, end: number): void {
  if (gmem.hugeOrder === ORDER_4K || gmem.policies.split === 'always-split') return;
  const u0 = Math.floor(start / gmem.unitPages);
  const u1 = Math.floor((end - 1) / gmem.unitPages);
  for (let u = u0; u <= u1; u++) {
    if (gmem.isUnitHugeFolio(u)) continue;
    if (gmem.sharedInUnit(u) !== 0) {
      if (gmem.hugeOrder === ORDER_1G && gmem.policies.split === 'staged')
        scheduleOrMerge(gmem, u, true);
      continue;
    }
    scheduleOrMerge(gmem, u, false);
  }
}

export function retryMergesAfterUnpin(gmem: GmemState, start: number, end: number): void {
  if (gmem.hugeOrder === ORDER_4K || gmem.policies.split === 'always-split') return;
  const u0 = Math.floor(start / gmem.unitPages);
  const u1 = Math.floor((end - 1) / gmem.unitPages);
  for (let u = u0; u <= u1; u++) {
    if (
      gmem.sharedInUnit(u) === 0 &&
      !gmem.isUnitHugeFolio(u) &&
      gmem.layout.allocated.countRange(u * gmem.unitPages, (u + 1) * gmem.unitPages) ===
        gmem.unitPages
    ) {
      scheduleOrMerge(gmem, u, false);
    }
  }
}

export function scheduleOrMerge(gmem: GmemState, unit: number, blocksOnly: boolean): void {
  const merge = gmem.policies.merge;
  if (merge === 'never' || gmem.noReconstruct.get(unit)) return;
  if (merge === 'eager') {
    tryMergeUnit(gmem, unit, blocksOnly);
    return;
  }
  if (!gmem.pendingMerges.has(unit)) {
    const due = gmem.deps.now() + gmem.policies.mergeDelayNs;
    gmem.pendingMerges.set(unit, due);
    gmem.mergeQueue.push(unit);
    gmem.mergeQueueDue.push(due);
    gmem.metrics.addAt(M_MERGES_DEFERRED, 1);
    if (gmem.logging)
      gmem.log({ type: 'merge_deferred', offset: unit * gmem.unitPages * PAGE_SIZE, dueNs: due });
  }
}

/** Merge unit `u` back to the backing size (staged policy: 2 MiB blocks first). */
function tryMergeUnit(gmem: GmemState, u: number, blocksOnly: boolean): void {
  const start = u * gmem.unitPages;
  if (gmem.hugeOrder === ORDER_1G && gmem.policies.split === 'staged') {
    for (let b = blockOfPage(start); b < blockOfPage(start + gmem.unitPages); b++) {
      if (gmem.layout.blockOrderOf(b) === ORDER_4K && mergeable(gmem, b * 512, 512)) {
        zapForMerge(gmem, b * 512, 512);
        if (mergeFolio(gmem, b * 512, ORDER_4K, ORDER_2M)) return;
      }
    }
    if (blocksOnly) return;
    if (!mergeable(gmem, start, gmem.unitPages, true)) return;
    for (let b = blockOfPage(start); b < blockOfPage(start + gmem.unitPages); b++) {
      if (gmem.layout.blockOrderOf(b) !== ORDER_2M) return;
    }
    zapForMerge(gmem, start, gmem.unitPages);
    mergeFolio(gmem, start, ORDER_2M, ORDER_1G);
    return;
  }
  if (blocksOnly || gmem.isUnitHugeFolio(u) || !mergeable(gmem, start, gmem.unitPages, true))
    return;
  zapForMerge(gmem, start, gmem.unitPages);
  mergeFolio(gmem, start, ORDER_4K, gmem.hugeOrder);
}

/** A range can be merged when it is fully allocated, all private and at the safe refcount. */
export function mergeable(gmem: GmemState, start: number, pages: number, report = false): boolean {
  const end = start + pages;
  if (gmem.layout.allocated.countRange(start, end) !== pages) return false;
  if (gmem.shared.countRange(start, end) !== 0) return false;
  if (gmem.punched.countRange(start, end) === pages && gmem.config.allocator !== 'thp')
    return false;
  if (gmem.pinned.countRange(start, end) !== 0) {
    if (report) {
      const at = gmem.pinned.find(start, end, true);
      gmem.metrics.addAt(M_EAGAIN_FAILURES, 1);
      if (gmem.logging)
        gmem.log({
          type: 'merge_failed',
          offset: start * PAGE_SIZE,
          errno: 'EAGAIN',
          reason: `page at offset 0x${(at * PAGE_SIZE).toString(16)} has an elevated refcount`,
        });
    }
    return false;
  }
  return true;
}

function zapForMerge(gmem: GmemState, start: number, pages: number): void {
  // Mappings of the small folios are zapped so KVM can map the merged folio huge. Inside a
  // conversion the range was already invalidated (rounded out to the huge page size).
  if (gmem.inConversion) return;
  invalidate(gmem, start, start + pages, 'merge');
}

/** The deferred-merge worker: merge every queued range whose delay has passed. */
export function runDeferredMerges(gmem: GmemState, now: number): void {
  while (gmem.mergeQueueHead < gmem.mergeQueue.length) {
    const unit = gmem.mergeQueue[gmem.mergeQueueHead]!;
    const due = gmem.mergeQueueDue[gmem.mergeQueueHead]!;
    if (gmem.pendingMerges.get(unit) !== due) {
      // Cancelled, or cancelled and queued again further back: this entry is stale.
      gmem.mergeQueueHead++;
      continue;
    }
    if (due > now) break;
    gmem.mergeQueueHead++;
    gmem.pendingMerges.delete(unit);
    tryMergeUnit(gmem, unit, gmem.sharedInUnit(unit) !== 0);
  }
  if (gmem.mergeQueueHead > 1024 && gmem.mergeQueueHead * 2 > gmem.mergeQueue.length) {
    gmem.mergeQueue.splice(0, gmem.mergeQueueHead);
    gmem.mergeQueueDue.splice(0, gmem.mergeQueueHead);
    gmem.mergeQueueHead = 0;
  }
}

/** Time of the next deferred merge, or Infinity. */
export function nextDeferredMergeNs(gmem: GmemState): number {
  // Every operation asks (Simulation.advanceTo); with nothing pending, the queue holds only
  // entries that were cancelled or done.
  if (gmem.pendingMerges.size === 0) return Infinity;
  for (let i = gmem.mergeQueueHead; i < gmem.mergeQueue.length; i++) {
    const due = gmem.mergeQueueDue[i]!;
    if (gmem.pendingMerges.get(gmem.mergeQueue[i]!) === due) return due;
  }
  return Infinity;
}

export function cancelDeferredMerges(gmem: GmemState, start: number, end: number): void {
  if (gmem.pendingMerges.size === 0) return;
  const u0 = Math.floor(start / gmem.unitPages);
  const u1 = Math.floor((end - 1) / gmem.unitPages);
  for (let u = u0; u <= u1; u++) {
    if (gmem.pendingMerges.delete(u)) {
      gmem.metrics.addAt(M_MERGES_CANCELLED, 1);
      if (gmem.logging)
        gmem.log({ type: 'merge_cancelled', offset: u * gmem.unitPages * PAGE_SIZE });
    }
  }
}
