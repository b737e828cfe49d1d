// Private/shared conversions (domain.md section 4, `convert`): the work list, the in-place flow of
// the HugeTLB series (invalidate rounded out to the huge page, split for shared, check safe
// refcounts, merge after private, roll back on error) and the legacy flow (VM-wide attributes,
// shared memory in the VMM's backend), with the LPC 2024 options that refuse conversions. Model:
// kvm_gmem_convert_execute_work() in Ackerley Tng's "1G page support for guest_memfd" RFC v2
// (virt/kvm/guest_memfd.c of that series).
import { ORDER_4K, PAGE_SIZE } from '../units.js';
import { convertPage, NOT_TAKEN, pageFastPath } from './convert-page.js';
import { invalidateRounded } from './invalidation.js';
import { allocateBackend, discardBackend } from './legacy-backend.js';
import {
  cancelDeferredMerges,
  mergeAfterPrivate,
  rollbackSplits,
  splitForShared,
} from './split-merge.js';
import { punchRange } from './truncation.js';
import {
  M_EAGAIN_FAILURES,
  M_REFUSED_CONVERSIONS,
  M_CONVERSIONS_TO_SHARED,
  M_CONVERSIONS_TO_PRIVATE,
  M_CONVERTED_TO_SHARED_BYTES,
  M_CONVERTED_TO_PRIVATE_BYTES,
  C_CONVERSION,
} from './slots.js';
import type { Failure, GmemState, Shareability } from './state.js';

export function convertOp(
  gmem: GmemState,
  offset: number,
  size: number,
  to: Shareability,
): Failure | null {
  if (size === 0 && Number.isSafeInteger(offset) && offset >= 0 && offset % PAGE_SIZE === 0) {
    // A conversion of nothing succeeds and does nothing (the RFC v2 conversion ioctl returns 0
    // for size 0, as its conversion selftests check): no call is counted.
    if (offset > gmem.config.guestBytes) gmem.checkRange(offset, PAGE_SIZE);
    return null;
  }
  gmem.checkRange(offset, size);
  if (size === PAGE_SIZE && gmem.pageFastPath && pageFastPath.enabled) {
    // One 4 KiB page: the same flow in one routine where its outcome needs no loop.
    const r = convertPage(gmem, offset / PAGE_SIZE, to === 'shared');
    if (r !== NOT_TAKEN) return r;
  }
  const start = offset / PAGE_SIZE;
  const end = (offset + size) / PAGE_SIZE;
  const toShared = to === 'shared';
  const m = gmem.metrics;
  m.addAt(toShared ? M_CONVERSIONS_TO_SHARED : M_CONVERSIONS_TO_PRIVATE, 1);
  gmem.charge(C_CONVERSION, gmem.costs.conversionOpCycles);
  // 1. Work list: only sub-ranges whose shareability differs; converting to the current
  //    state is free.
  const work = workList(gmem, start, end, toShared);
  const n = gmem.workLength;
  if (n === 0) {
    if (gmem.logging) gmem.log({ type: 'convert', offset, size, to, changedBytes: 0 });
    return null;
  }
  const refusal = policyRefusal(gmem, start, end, toShared);
  if (refusal) {
    m.addAt(M_REFUSED_CONVERSIONS, 1);
    if (gmem.logging) gmem.log({ type: 'convert_refused', offset, size, to, reason: refusal });
    return { errno: 'EPERM', message: refusal, offset };
  }
  gmem.inConversion = true;
  let failure: Failure | null;
  try {
    failure = gmem.legacy
      ? convertLegacy(gmem, work, n, toShared)
      : toShared
        ? convertToSharedInPlace(gmem, work, n)
        : convertToPrivateInPlace(gmem, work, n);
  } finally {
    gmem.inConversion = false;
  }
  if (failure) {
    if (failure.errno === 'EAGAIN') m.addAt(M_EAGAIN_FAILURES, 1);
    if (gmem.logging)
      gmem.log({
        type: 'convert_failed',
        offset,
        size,
        to,
        errno: failure.errno,
        failedOffset: failure.offset,
        reason: failure.message,
      });
    return failure;
  }
  let changed = 0;
  for (let k = 0; k < n; k += 2) changed += work[k + 1]! - work[k]!;
  const bytes = changed * PAGE_SIZE;
  m.addAt(toShared ? M_CONVERTED_TO_SHARED_BYTES : M_CONVERTED_TO_PRIVATE_BYTES, bytes);
  // Each work-list entry is one operation of the conversion bookkeeping.
  gmem.charge(C_CONVERSION, gmem.costs.conversionOpCycles * (n / 2 - 1));
  recordSharedUnit(gmem, start, end, toShared);
  if (gmem.logging) gmem.log({ type: 'convert', offset, size, to, changedBytes: bytes });
  return null;
}

/** Sub-ranges of [start, end) not `toShared` yet, as flat [start, end) pairs in the first
 * workLength entries of the returned array, which the next conversion reuses. */
function workList(gmem: GmemState, start: number, end: number, toShared: boolean): number[] {
  const work = gmem.work;
  if (end - start === 1) {
    // One page (a 4 KiB conversion, the commonest): it is the work, or there is none.
    if (gmem.shared.get(start) === toShared) gmem.workLength = 0;
    else {
      if (work.length < 2) work.push(0, 0);
      work[0] = start;
      work[1] = end;
      gmem.workLength = 2;
    }
    return work;
  }
  let n = 0;
  let i = gmem.shared.find(start, end, !toShared);
  while (i < end) {
    const j = gmem.shared.find(i, end, toShared);
    if (n < work.length) {
      work[n] = i;
      work[n + 1] = j;
    } else work.push(i, j);
    n += 2;
    i = j < end ? gmem.shared.find(j, end, !toShared) : end;
  }
  gmem.workLength = n;
  return work;
}

function convertToSharedInPlace(
  gmem: GmemState,
  work: readonly number[],
  n: number,
): Failure | null {
  const splits = gmem.splitLog;
  splits.length = 0;
  for (let k = 0; k < n; k += 2) {
    const s = work[k]!;
    const e = work[k + 1]!;
    // 2. Invalidate over the range rounded out to the huge page size, 3. zap private mappings.
    invalidateRounded(gmem, s, e, 'to_shared');
    cancelDeferredMerges(gmem, s, e);
    // 3. Split every huge folio the range touches: shared folios must be order 0.
    const failure = splitForShared(gmem, s, e, splits);
    if (failure) {
      // 4. Roll back: rebuild what this conversion split.
      rollbackSplits(gmem, splits);
      return failure;
    }
  }
  for (let k = 0; k < n; k += 2) {
    setShared(gmem, work[k]!, work[k + 1]!, true);
    // SNP: the pages go back to the hypervisor in the RMP (sev_gmem_invalidate(): PSMASH of a
    // 2 MiB entry the range covers in part).
    gmem.rmp?.makeShared(work[k]!, work[k + 1]!);
  }
  return null;
}

function convertToPrivateInPlace(
  gmem: GmemState,
  work: readonly number[],
  n: number,
): Failure | null {
  for (let k = 0; k < n; k += 2) {
    const s = work[k]!;
    const e = work[k + 1]!;
    // Unmap host mappings (the host's shared mmap of the range), then check safe refcounts:
    // any reference beyond nr_pages + 1 fails the conversion with -EAGAIN and its offset.
    invalidateRounded(gmem, s, e, 'to_private');
    const pinnedAt = gmem.pinned.find(s, e, true);
    if (pinnedAt < e) {
      return {
        errno: 'EAGAIN',
        message: `page at offset 0x${(pinnedAt * PAGE_SIZE).toString(16)} has an elevated refcount (pinned ${gmem.pinCount(pinnedAt)}x); the VMM may retry after unpinning`,
        offset: pinnedAt * PAGE_SIZE,
      };
    }
  }
  for (let k = 0; k < n; k += 2) setShared(gmem, work[k]!, work[k + 1]!, false);
  // Merge every huge-aligned range that has no shared page left (per merge policy).
  for (let k = 0; k < n; k += 2) mergeAfterPrivate(gmem, work[k]!, work[k + 1]!);
  return null;
}

/**
 * Legacy model: attributes are VM-wide; private memory lives in guest_memfd and shared memory in
 * the VMM's backend. To-shared: the VMM punches the private range out of guest_memfd (a partial
 * huge page is only zeroed) and backs it with shared memory. To-private: the VMM discards the
 * shared backing (hugetlbfs cannot discard sub-ranges).
 */
function convertLegacy(
  gmem: GmemState,
  work: readonly number[],
  n: number,
  toShared: boolean,
): Failure | null {
  for (let k = 0; k < n; k += 2) {
    const s = work[k]!;
    const e = work[k + 1]!;
    invalidateRounded(gmem, s, e, toShared ? 'to_shared' : 'to_private');
    setShared(gmem, s, e, toShared);
    if (toShared) {
      const failure = punchRange(gmem, s, e);
      if (failure) return failure;
      allocateBackend(gmem, s, e);
    } else {
      discardBackend(gmem, s, e);
    }
  }
  return null;
}

/** LPC 2024 options that refuse conversions. */
function policyRefusal(
  gmem: GmemState,
  start: number,
  end: number,
  toShared: boolean,
): string | null {
  if (gmem.policies.sharedPages !== 'disallow-split' || gmem.hugeOrder === ORDER_4K) return null;
  // "Disallow splitting shared huge pages": a conversion must cover exactly ranges converted to
  // shared before; cutting into one of them would split a shared huge page.
  for (const [us, ue] of gmem.sharedUnits) {
    if (us < end && ue > start && (us < start || ue > end)) {
      return `range [0x${(start * PAGE_SIZE).toString(16)}, 0x${(end * PAGE_SIZE).toString(16)}) cuts into the shared range [0x${(us * PAGE_SIZE).toString(16)}, 0x${(ue * PAGE_SIZE).toString(16)}) converted earlier; the disallow-split policy needs the same range`;
    }
  }
  if (!toShared) {
    const stray = sharedOutsideUnits(gmem, start, end);
    if (stray !== null) {
      return `shared page at offset 0x${(stray * PAGE_SIZE).toString(16)} was not converted as part of a recorded range; the disallow-split policy refuses partial reconversion`;
    }
  }
  return null;
}

function sharedOutsideUnits(gmem: GmemState, start: number, end: number): number | null {
  let i = gmem.shared.find(start, end, true);
  while (i < end) {
    let covered = false;
    for (const [us, ue] of gmem.sharedUnits) {
      if (i >= us && i < ue) {
        covered = true;
        i = Math.min(ue, end);
        break;
      }
    }
    if (!covered) return i;
    i = gmem.shared.find(i, end, true);
  }
  return null;
}

function recordSharedUnit(gmem: GmemState, start: number, end: number, toShared: boolean): void {
  if (gmem.policies.sharedPages !== 'disallow-split') return;
  for (const [us, ue] of [...gmem.sharedUnits]) {
    if (us >= start && ue <= end) gmem.sharedUnits.delete(us);
  }
  if (toShared) gmem.sharedUnits.set(start, end);
}

function setShared(gmem: GmemState, start: number, end: number, value: boolean): void {
  gmem.shared.assignRange(start, end, value);
  if (
    value &&
    gmem.policies.sharedPages === 'disallow-split-and-reconstruct' &&
    gmem.hugeOrder !== ORDER_4K
  ) {
    // The last private sub-page went shared: this huge range is never reconstructed.
    const u0 = Math.floor(start / gmem.unitPages);
    const u1 = Math.floor((end - 1) / gmem.unitPages);
    for (let u = u0; u <= u1; u++) {
      if (gmem.sharedInUnit(u) === gmem.unitPages) gmem.noReconstruct.assign(u, true);
    }
  }
}
