// Allocation (domain.md section 4, `fallocate`): fallocate(mode 0) and faults fill an allocation
// unit with one folio of the backing size (HugeTLB, CMA, THP) or with 4 KiB folios, from the node
// the mempolicy names; best-effort THP falls back to 4 KiB pages; a fresh folio is zeroed. Model:
// kvm_gmem_get_folio() in virt/kvm/guest_memfd.c and the allocator behind it (mm/hugetlb.c
// alloc_hugetlb_folio, mm/cma.c cma_alloc, mm/mempolicy.c vma_alloc_folio).
import { isHugePageAllocator } from '../config.js';
import type { BaseRun, NodeChoice } from '../allocators/allocator.js';
import type { Errno } from '../errors.js';
import {
  blockOfPage,
  gigOfPage,
  ORDER_2M,
  ORDER_4K,
  PAGE_SIZE,
  PAGES_PER_1G,
  type PageOrder,
} from '../units.js';
import { chargeFaults, chargeHugeAllocations } from './bulk-charge.js';
import { splitForAllocation, splitForShared } from './split-merge.js';
import {
  M_ALLOC_FAILURES,
  M_THP_FALLBACKS,
  C_ALLOCATION,
  C_MIGRATION,
  C_ZEROING,
  L_ALLOCATE,
} from './slots.js';
import type { Failure, GmemState } from './state.js';

export function fallocateOp(gmem: GmemState, offset: number, size: number): Failure | null {
  const [start, end] = gmem.pageRange(offset, size);
  const s = Math.floor(start / gmem.unitPages) * gmem.unitPages;
  // kvm_gmem_allocate() in Ackerley Tng's 1G guest_memfd RFC v2 (virt/kvm/guest_memfd.c): with a
  // custom allocator (HugeTLB; CMA here too) start and end are both rounded *down* to the folio size
  // (round_down(end, nr_pages)), so [1 MiB, 3 MiB) on 2 MiB pages allocates the one folio at 0
  // and a range inside one folio allocates nothing. Elsewhere (4 KiB pages, THP) the loop takes
  // the folio holding each index from start to end (kvm_gmem_get_folio()), i.e. rounds out.
  const custom = isHugePageAllocator(gmem.config.allocator);
  const e = custom
    ? Math.floor(end / gmem.unitPages) * gmem.unitPages
    : Math.ceil(end / gmem.unitPages) * gmem.unitPages;
  const before = gmem.layout.allocated.total;
  const gigRuns = custom && gmem.hugeOrder === ORDER_2M && gigFastPath.enabled;
  for (let u = s; u < e;) {
    if (gigRuns && u % PAGES_PER_1G === 0 && u + PAGES_PER_1G <= e) {
      const done = allocateGig2M(gmem, u);
      if (done !== NOT_WHOLE) {
        if (done) return done;
        u += PAGES_PER_1G;
        continue;
      }
    }
    const run = gmem.hugeOrder === ORDER_4K ? allocateBaseRun(gmem, u, e) : 0;
    if (run > 0) {
      u += run;
      continue;
    }
    const failure = allocateUnit(gmem, u);
    if (failure) return failure;
    u += gmem.unitPages;
  }
  if (gmem.logging)
    gmem.log({
      type: 'fallocate',
      offset,
      size,
      allocatedBytes: (gmem.layout.allocated.total - before) * PAGE_SIZE,
    });
  return null;
}

/** Whether fallocate fills whole 1 GiB ranges of 2 MiB folios with allocateGig2M() (tests turn it
 * off to compare), and how many ranges it filled. */
export const gigFastPath = { enabled: true, taken: 0 };

/** allocateGig2M()'s answer when the range is not wholly free: nothing was changed. */
const NOT_WHOLE = 1;

/** Per-unit nodes and HVO states of the range allocateGig2M() is filling. */
const gigNodes = new Uint8Array(512);
const gigHvo = new Uint8Array(512);

/**
 * allocateUnit() of each of the 512 2 MiB units of the 1 GiB range at `start`, in order, when the
 * range holds no allocated, poisoned or shared page (every unit is then a whole new folio, never
 * split for shared, as the custom allocators' fallocate loop makes them: kvm_gmem_allocate()). The
 * allocator, mempolicy, charges, latency samples and events go unit by unit as there, except
 * where the allocator hands out a run of identical folios (allocateHugeRun(): HugeTLB reserved
 * pages under a mempolicy that names the same nodes for every index), taken and charged in one
 * step; the folio layout and the bitmaps are written once for the range, which a fallocate of a
 * large guest otherwise spends most of its time on. Returns NOT_WHOLE (having changed nothing) when the range
 * does not qualify, else what allocateUnit() would have returned at the first failure, or null.
 */
function allocateGig2M(gmem: GmemState, start: number): Failure | null | typeof NOT_WHOLE {
  const g = gigOfPage(start);
  if (
    gmem.policies.split === 'always-split' ||
    gmem.layout.allocated.perGig[g] !== 0 ||
    gmem.poisoned.perGig[g] !== 0 ||
    gmem.shared.perGig[g] !== 0
  )
    return NOT_WHOLE;
  gigFastPath.taken++;
  const unit = gmem.unitPages;
  const allocator = gmem.deps.allocator;
  const runs = allocator.allocateHugeRun !== undefined && gmem.mempolicy.uniform;
  for (let k = 0; k < 512; k++) {
    if (runs) {
      // The units that take their folio from the first node the policy names, in one step.
      const run = allocator.allocateHugeRun!(
        gmem.handle,
        gmem.mempolicy.choose(start + k * unit, ORDER_2M),
        ORDER_2M,
        512 - k,
      );
      if (run !== null) {
        const n = run.count;
        if (run.cycles > 0)
          gmem.metrics.recordLatencyAt(L_ALLOCATE, run.cycles / gmem.costs.cpuGhz, n);
        chargeHugeAllocations(gmem, n, run.cycles, unit);
        gigNodes.fill(run.node, k, k + n);
        gigHvo.fill(run.hvo ? 1 : 0, k, k + n);
        if (gmem.logging)
          for (let j = k; j < k + n; j++)
            gmem.log({
              type: 'allocate',
              offset: (start + j * unit) * PAGE_SIZE,
              order: ORDER_2M,
              node: run.node,
            });
        k += n - 1;
        continue;
      }
    }
    const at = start + k * unit;
    const choice = gmem.mempolicy.choose(at, ORDER_2M);
    const r = gmem.deps.allocator.allocate(gmem.handle, choice, ORDER_2M);
    recordAllocLatency(gmem, r.cycles);
    if (!r.ok) {
      recordGig2M(gmem, start, k);
      gmem.charge(C_ALLOCATION, r.cycles);
      return allocFailure(gmem, at, ORDER_2M, r.errno, r.message);
    }
    gmem.charge(C_MIGRATION, r.migrationCycles);
    gmem.charge(C_ALLOCATION, r.cycles - r.migrationCycles);
    gmem.charge(C_ZEROING, gmem.costs.zeroPage4KCycles * unit);
    gigNodes[k] = r.folio.node;
    gigHvo[k] = r.folio.hvo ? 1 : 0;
    if (gmem.logging)
      gmem.log({ type: 'allocate', offset: at * PAGE_SIZE, order: ORDER_2M, node: r.folio.node });
  }
  recordGig2M(gmem, start, 512);
  return null;
}

/** The first `n` units allocateGig2M() allocated, in the layout and the punched bitmap: one
 * summary for the range when all 512 agree on node and HVO, else one folio at a time. */
function recordGig2M(gmem: GmemState, start: number, n: number): void {
  if (n === 0) return;
  const layout = gmem.layout;
  let same = n === 512;
  for (let k = 1; same && k < 512; k++)
    same = gigNodes[k] === gigNodes[0] && gigHvo[k] === gigHvo[0];
  if (same) layout.addHugeFolios2M(gigOfPage(start), gigNodes[0]!, gigHvo[0] === 1);
  else
    for (let k = 0; k < n; k++)
      layout.addHugeFolio(start + k * gmem.unitPages, ORDER_2M, gigNodes[k]!, gigHvo[k] === 1);
  gmem.punched.assignRange(start, start + n * gmem.unitPages, false);
}

/** Fill the allocation unit at `start` with folios. */
function allocateUnit(gmem: GmemState, start: number): Failure | null {
  const poisonedAt = gmem.poisoned.find(start, start + gmem.unitPages, true);
  if (poisonedAt < start + gmem.unitPages) {
    return {
      errno: 'EHWPOISON',
      message: `offset 0x${(poisonedAt * PAGE_SIZE).toString(16)} is poisoned (memory error); punch it out first`,
      offset: poisonedAt * PAGE_SIZE,
    };
  }
  if (gmem.hugeOrder === ORDER_4K) return allocateBase(gmem, start);
  const missing = gmem.unitPages - gmem.layout.allocated.countRange(start, start + gmem.unitPages);
  if (missing === 0) return null;
  if (missing !== gmem.unitPages) {
    // Only 4 KiB folios of a split THP can be missing: refill them one by one.
    for (let i = start; i < start + gmem.unitPages; i++) {
      if (!gmem.layout.isAllocated(i)) {
        const failure = allocateBase(gmem, i);
        if (failure) return failure;
      }
    }
    return null;
  }
  const choice = gmem.mempolicy.choose(start, gmem.hugeOrder);
  const r = gmem.deps.allocator.allocate(gmem.handle, choice, gmem.hugeOrder);
  recordAllocLatency(gmem, r.cycles);
  if (!r.ok) {
    gmem.charge(C_ALLOCATION, r.cycles);
    if (gmem.config.allocator === 'thp') {
      // Best-effort THP: fall back to 4 KiB pages.
      gmem.metrics.addAt(M_THP_FALLBACKS, 1);
      for (let i = start; i < start + gmem.unitPages; i++) {
        const failure = allocateBase(gmem, i);
        if (failure) return failure;
      }
      return null;
    }
    return allocFailure(gmem, start, gmem.hugeOrder, r.errno, r.message);
  }
  gmem.charge(C_MIGRATION, r.migrationCycles);
  gmem.charge(C_ALLOCATION, r.cycles - r.migrationCycles);
  // A fresh folio is zeroed before it is handed to the guest (clear_huge_page).
  gmem.charge(C_ZEROING, gmem.costs.zeroPage4KCycles * gmem.unitPages);
  gmem.layout.addHugeFolio(start, gmem.hugeOrder, r.folio.node, r.folio.hvo);
  gmem.punched.assignRange(start, start + gmem.unitPages, false);
  if (gmem.logging)
    gmem.log({
      type: 'allocate',
      offset: start * PAGE_SIZE,
      order: gmem.hugeOrder,
      node: r.folio.node,
    });
  if (gmem.policies.split === 'always-split') {
    // RFC v1: split before use, so every page can be refcounted and converted on its own.
    return splitForAllocation(gmem, start);
  }
  // A new huge folio whose range already holds a shared page is split at once (in-place).
  if (!gmem.legacy && gmem.sharedInRange(start, start + gmem.unitPages) > 0) {
    return splitForShared(gmem, start, start + gmem.unitPages, null);
  }
  return null;
}

/** The folio holding `index` on a fault (kvm_gmem_get_folio): the whole allocation unit is filled
 * (a huge folio, or a 4 KiB one with 4 KiB backing), and a page a best-effort THP fallback left
 * unallocated gets its own 4 KiB folio. */
export function allocateForFault(gmem: GmemState, index: number): Failure | null {
  const unitStart = Math.floor(index / gmem.unitPages) * gmem.unitPages;
  const failure =
    gmem.hugeOrder === ORDER_4K ? allocateBase(gmem, index) : allocateUnit(gmem, unitStart);
  if (failure) return failure;
  return gmem.layout.isAllocated(index) ? null : allocateBase(gmem, index);
}

function allocateBase(gmem: GmemState, index: number): Failure | null {
  if (gmem.layout.isAllocated(index)) return null;
  if (gmem.poisoned.get(index)) {
    return {
      errno: 'EHWPOISON',
      message: `offset 0x${(index * PAGE_SIZE).toString(16)} is poisoned (memory error); punch it out first`,
      offset: index * PAGE_SIZE,
    };
  }
  const choice: NodeChoice = gmem.mempolicy.choose(index, ORDER_4K);
  const r = gmem.deps.allocator.allocate(gmem.handle, choice, ORDER_4K);
  recordAllocLatency(gmem, r.cycles);
  if (!r.ok) {
    gmem.charge(C_ALLOCATION, r.cycles);
    return allocFailure(gmem, index, ORDER_4K, r.errno, r.message);
  }
  gmem.charge(C_ALLOCATION, r.cycles);
  gmem.charge(C_ZEROING, gmem.costs.zeroPage4KCycles);
  gmem.layout.addBaseFolio(index, r.folio.node);
  gmem.punched.assign(index, false);
  return null;
}

/**
 * allocateUnit(i) of 4 KiB backing for each i of [start, end) that it would handle alike, in
 * one step: a run of unallocated, unpoisoned pages in one block gets folios from one node
 * (allocations, costs, latencies as those calls), and a run of allocated, unpoisoned pages needs
 * nothing. Returns the pages done; 0 leaves `start` to allocateUnit().
 */
function allocateBaseRun(gmem: GmemState, start: number, end: number): number {
  const stop = gmem.poisoned.find(start, Math.min(end, (blockOfPage(start) + 1) * 512), true);
  if (stop <= start) return 0;
  const allocated = gmem.layout.allocated;
  if (allocated.get(start)) return allocated.find(start, stop, false) - start;
  const run = newBaseFolios(gmem, start, stop);
  if (!run) return 0;
  chargeFaults(gmem, run.count, false, run.cycles, false);
  return run.count;
}

/**
 * allocateBase(i) for i = start, start + 1, ... up to `end` (one block, every page unallocated
 * and unpoisoned) while they all get their folio from the first node of the mempolicy, without
 * charging the cycles (the caller charges them in order with its own). Null when the allocator
 * or the mempolicy cannot do it in one step.
 */
export function newBaseFolios(gmem: GmemState, start: number, end: number): BaseRun | null {
  const allocator = gmem.deps.allocator;
  if (!allocator.allocateBaseRun || !gmem.mempolicy.uniform) return null;
  end = gmem.layout.allocated.find(start, end, true);
  end = gmem.poisoned.find(start, end, true);
  if (end <= start) return null;
  const run = allocator.allocateBaseRun(
    gmem.handle,
    gmem.mempolicy.choose(start, ORDER_4K),
    end - start,
  );
  if (!run) return null;
  const n = run.count;
  if (run.cycles > 0) gmem.metrics.recordLatencyAt(L_ALLOCATE, run.cycles / gmem.costs.cpuGhz, n);
  gmem.layout.addBaseFolios(start, start + n, run.node);
  gmem.punched.assignRange(start, start + n, false);
  return run;
}

/** Latency of one allocator call (CMA migration, pool dequeue, buddy), failed ones included. */
function recordAllocLatency(gmem: GmemState, cycles: number): void {
  if (cycles > 0) gmem.metrics.recordLatencyAt(L_ALLOCATE, cycles / gmem.costs.cpuGhz);
}

function allocFailure(
  gmem: GmemState,
  index: number,
  order: PageOrder,
  errno: Errno,
  message: string,
): Failure {
  gmem.metrics.addAt(M_ALLOC_FAILURES, 1);
  if (gmem.logging)
    gmem.log({ type: 'alloc_failed', offset: index * PAGE_SIZE, order, errno, reason: message });
  return { errno, message, offset: index * PAGE_SIZE };
}
