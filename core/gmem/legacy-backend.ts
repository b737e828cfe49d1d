// The legacy conversion model's shared backend: the VMM backs shared ranges with its own memory
// (anonymous or shmem 4 KiB pages, or hugetlbfs 2 MiB / 1 GiB pages) and discards it on conversion
// to private (MADV_DONTNEED / fallocate(PUNCH_HOLE)); hugetlbfs cannot discard part of a huge page,
// and pinned pages stay until unpinned.
import { usToCycles } from '../constants.js';
import { ORDER_4K } from '../units.js';
import { C_ALLOCATION, C_ZEROING } from './slots.js';
import type { GmemState } from './state.js';

export function allocateBackend(gmem: GmemState, start: number, end: number): void {
  const backend = gmem.backend!;
  const unit = 2 ** gmem.backendOrder;
  const s = Math.floor(start / unit) * unit;
  const e = Math.min(gmem.nrPages, Math.ceil(end / unit) * unit);
  const added = backend.assignRange(s, e, true);
  if (added === 0) return;
  const costs = gmem.costs;
  const perUnit =
    gmem.backendOrder === ORDER_4K
      ? costs.buddyAlloc4KCycles
      : usToCycles(costs, costs.hugetlbAlloc2MNoHvoUs) * (unit / 512);
  gmem.charge(C_ALLOCATION, (added / unit) * perUnit);
  gmem.charge(C_ZEROING, added * costs.zeroPage4KCycles);
}

export function discardBackend(gmem: GmemState, start: number, end: number): void {
  const backend = gmem.backend!;
  const unit = 2 ** gmem.backendOrder;
  if (unit === 1) {
    // MADV_DONTNEED / PUNCH_HOLE on anonymous or shmem memory frees 4 KiB pages; pinned pages
    // stay until they are unpinned.
    for (let i = start; i < end; i = gmem.pinned.find(i, end, true) + 1) {
      const p = gmem.pinned.find(i, end, true);
      backend.assignRange(i, p, false);
      if (p >= end) break;
    }
    return;
  }
  // hugetlbfs cannot discard sub-ranges: only backend pages wholly inside the range go.
  const s = Math.ceil(start / unit) * unit;
  const e = Math.floor(end / unit) * unit;
  for (let u = s; u < e; u += unit) {
    if (gmem.pinned.countRange(u, u + unit) === 0) backend.assignRange(u, u + unit, false);
  }
}
