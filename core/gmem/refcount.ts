// Refcounts (domain.md section 4, safe refcounts): extra references taken by GUP, IOMMU/VFIO
// mappings or vhost. A conversion to private, a merge or a free needs every page at the safe
// refcount; unpinning lets merges that were held back go ahead.
import { PAGE_SIZE } from '../units.js';
import { retryMergesAfterUnpin } from './split-merge.js';
import { releaseTruncatedPin } from './truncation.js';
import type { Failure, GmemState } from './state.js';

export function pinOp(gmem: GmemState, offset: number, size: number): Failure | null {
  const [start, end] = gmem.pageRange(offset, size);
  // In place, a page is held when it is allocated: the first page that is not, if any.
  let i = gmem.legacy ? start : gmem.layout.allocated.find(start, end, false);
  for (; i < end; i++) {
    if (!gmem.pageHeld(i)) {
      return {
        errno: 'EFAULT',
        message: `cannot pin offset 0x${(i * PAGE_SIZE).toString(16)}: no page is allocated there`,
        offset: i * PAGE_SIZE,
      };
    }
  }
  if (gmem.pinned.find(start, end, true) >= end) {
    // No page of the range is pinned yet: one pin each.
    gmem.pinned.assignRange(start, end, true);
  } else {
    for (let p = start; p < end; p++) {
      if (gmem.pinned.assign(p, true)) continue;
      gmem.extraPins.set(p, (gmem.extraPins.get(p) ?? 0) + 1);
    }
  }
  if (gmem.logging) gmem.log({ type: 'pin', offset, size });
  return null;
}

export function unpinOp(gmem: GmemState, offset: number, size: number): Failure | null {
  const [start, end] = gmem.pageRange(offset, size);
  if (gmem.truncatedPins.size > 0) return unpinWithTruncated(gmem, offset, size, start, end);
  const unpinned = gmem.pinned.find(start, end, false);
  if (unpinned < end) {
    return {
      errno: 'EINVAL',
      message: `unpin of offset 0x${(unpinned * PAGE_SIZE).toString(16)}, which holds no pin`,
      offset: unpinned * PAGE_SIZE,
    };
  }
  if (gmem.extraPins.size === 0) {
    // Every page of the range holds exactly one pin.
    gmem.pinned.assignRange(start, end, false);
  } else {
    for (let p = start; p < end; p++) dropPin(gmem, p);
  }
  return afterUnpin(gmem, offset, size, start, end);
}

/** One pin fewer on page `p`: the last clears its bit. */
function dropPin(gmem: GmemState, p: number): void {
  const extra = gmem.extraPins.get(p);
  if (extra === undefined) gmem.pinned.assign(p, false);
  else if (extra === 1) gmem.extraPins.delete(p);
  else gmem.extraPins.set(p, extra - 1);
}

/** After an unpin: logged, and the ranges that could not merge because of the pin may merge now
 * (the deferred worker or the next conversion retries; eager merging retries here). */
function afterUnpin(
  gmem: GmemState,
  offset: number,
  size: number,
  start: number,
  end: number,
): null {
  if (gmem.logging) gmem.log({ type: 'unpin', offset, size });
  if (!gmem.legacy) retryMergesAfterUnpin(gmem, start, end);
  return null;
}

/** unpinOp() when some pages were punched out of a 4 KiB-backed file while pinned: their pins
 * still count (the holder's references outlive the truncation), and the last one frees the page. */
function unpinWithTruncated(
  gmem: GmemState,
  offset: number,
  size: number,
  start: number,
  end: number,
): Failure | null {
  for (let p = start; p < end; p++) {
    if (!gmem.pinned.get(p) && !gmem.truncatedPins.has(p)) {
      return {
        errno: 'EINVAL',
        message: `unpin of offset 0x${(p * PAGE_SIZE).toString(16)}, which holds no pin`,
        offset: p * PAGE_SIZE,
      };
    }
  }
  for (let p = start; p < end; p++) {
    if (!gmem.pinned.get(p)) {
      releaseTruncatedPin(gmem, p);
      continue;
    }
    dropPin(gmem, p);
  }
  return afterUnpin(gmem, offset, size, start, end);
}
