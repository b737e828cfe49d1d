// Faults (domain.md section 4, `fault`, `prefault`, lazy acceptance): guest EPT/NPT violations
// mapped at kvm_mmu_max_mapping_level() (arch/x86/kvm/mmu/mmu.c, via kvm_tdp_page_fault), host
// faults through the file's mmap (kvm_gmem_fault_user_mapping in virt/kvm/guest_memfd.c),
// KVM_PRE_FAULT_MEMORY, and the guest's acceptance (SNP PVALIDATE, TDX TDG.MEM.PAGE.ACCEPT).
import { maxMappingLevel, NOT_MAPPED, vendorMaxLevel } from '../kvm/mmu.js';
import {
  blockOfPage,
  gigOfPage,
  GiB,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  PAGE_SIZE,
  type PageOrder,
} from '../units.js';
import { allocateForFault, newBaseFolios } from './allocation.js';
import { chargeFaults } from './bulk-charge.js';
import { mappedPages } from './gauges.js';
import { issueInvalidations } from './invalidation.js';
import { allocateBackend } from './legacy-backend.js';
import { splitBlockToBase } from './split-merge.js';
import { M_TDP_FAULTS, M_VM_EXITS, C_FAULT, L_FAULT } from './slots.js';
import type { Access, Failure, GmemState, Who } from './state.js';

export function faultOp(
  gmem: GmemState,
  index: number,
  who: Who,
  access: Access,
  /** The fault is a VM exit (false: KVM_PRE_FAULT_MEMORY or a bulk path without one). */
  exit: boolean,
): Failure | null {
  if (!Number.isInteger(index) || index < 0 || index >= gmem.nrPages) {
    return {
      errno: 'EINVAL',
      message: `gfn index ${index} outside the memslot (0-${gmem.nrPages - 1})`,
      offset: index * PAGE_SIZE,
    };
  }
  return who === 'guest' ? guestFault(gmem, index, access, exit) : hostFault(gmem, index, access);
}

function guestFault(gmem: GmemState, index: number, access: Access, exit: boolean): Failure | null {
  const costs = gmem.costs;
  if (exit) {
    gmem.metrics.addAt(M_VM_EXITS, 1);
    gmem.charge(C_FAULT, costs.vmExitCycles);
  }
  gmem.metrics.addAt(M_TDP_FAULTS, 1);
  gmem.charge(C_FAULT, costs.tdpFaultCycles);
  if (gmem.mmu.levelAt(index) !== NOT_MAPPED) return null; // spurious: another vCPU mapped it
  const isShared = gmem.shared.get(index);
  let folioOrder: PageOrder;
  if (gmem.legacy && isShared) {
    allocateBackend(gmem, index, index + 1);
    folioOrder = gmem.backendOrder;
  } else {
    const failure = allocateForFault(gmem, index);
    if (failure) return failure;
    gmem.punched.assign(index, false);
    folioOrder = gmem.layout.orderAt(index);
  }
  const rmp = isShared ? null : gmem.rmp;
  // SNP: kvm_gmem_get_pfn() prepares the page (sev_gmem_prepare(): its RMP entry) first.
  rmp?.prepare(index, folioOrder);
  let level = mappingLevel(gmem, index, folioOrder);
  if (rmp && level < ORDER_2M && rmp.levelAt(index) === ORDER_2M) {
    // sev_handle_rmp_fault(): an NPT mapping smaller than the 2 MiB RMP entry behind it faults
    // again (#NPF with PFERR_GUEST_RMP): KVM PSMASHes the entry and zaps [gfn, gfn + 512).
    gmem.metrics.addAt(M_VM_EXITS, 1);
    gmem.metrics.addAt(M_TDP_FAULTS, 1);
    gmem.charge(C_FAULT, costs.vmExitCycles + costs.tdpFaultCycles);
    rmp.psmash(blockOfPage(index));
    gmem.mmu.zapRange(index, Math.min(index + 512, gmem.nrPages));
  }
  if (
    level === ORDER_2M &&
    gmem.config.vendor === 'tdx' &&
    gmem.mmu.mapped4kInBlock(blockOfPage(index)) !== 0
  ) {
    // TDX cannot promote: zapping private 4 KiB SPTEs would remove the pages from the TD
    // (TDH.MEM.PAGE.REMOVE), so a block already mapped at 4 KiB stays at 4 KiB.
    level = ORDER_4K;
  }
  const pages = 2 ** level;
  const start = Math.floor(index / pages) * pages;
  // Installing a huge SPTE replaces any smaller mappings below it.
  if (level !== ORDER_4K) gmem.mmu.zapRange(start, start + pages);
  gmem.mmu.map(start, level);
  if (gmem.logging)
    gmem.log({
      type: 'fault',
      gfn: index,
      who: 'guest',
      access,
      level,
      reason: levelReason(gmem, index, folioOrder, level),
    });
  return null;
}

/**
 * guestFault(i, 'write', exit) for each page of the run from `start` that the per-page path
 * would handle alike, in one step: pages of one 2 MiB block held by 4 KiB folios (or none),
 * unmapped, private in the legacy model, and either all allocated (they are mapped at 4 KiB) or
 * all unallocated (4 KiB backing: allocated from one node, the mempolicy naming the same nodes
 * for every index). Only without an event log, which would get one event per fault. Counters,
 * costs, allocator, layout and mappings end exactly as after those calls. Returns the pages
 * done; 0 leaves `start` to guestFault().
 */
function guestFaultRun(gmem: GmemState, start: number, end: number, exit: boolean): number {
  if (gmem.logging || gmem.layout.blockOrderOf(blockOfPage(start)) !== ORDER_4K) return 0;
  let stop = Math.min(end, (blockOfPage(start) + 1) * 512);
  stop = gmem.mmu.next4kMapped(start, stop);
  if (gmem.legacy) stop = gmem.shared.find(start, stop, true);
  if (stop <= start) return 0;
  const allocated = gmem.layout.allocated;
  if (allocated.get(start)) {
    // Allocated order-0 folios: allocateBase() / allocateUnit() find nothing to do, unless the
    // unit is poisoned or partly unallocated (then the per-page path reports or refills).
    stop = allocated.find(start, stop, false);
    if (gmem.hugeOrder !== ORDER_4K) {
      const us = Math.floor(start / gmem.unitPages) * gmem.unitPages;
      const ue = us + gmem.unitPages;
      if (allocated.countRange(us, ue) !== gmem.unitPages || gmem.poisoned.find(us, ue, true) < ue)
        return 0;
    }
    const n = stop - start;
    recordFaults(gmem, chargeFaults(gmem, n, exit, -1), n);
    gmem.punched.assignRange(start, stop, false);
    prepareBaseRun(gmem, start, stop);
    gmem.mmu.mapBaseRun(start, stop);
    return n;
  }
  if (gmem.hugeOrder !== ORDER_4K) return 0;
  const run = newBaseFolios(gmem, start, stop);
  if (!run) return 0;
  const n = run.count;
  recordFaults(gmem, chargeFaults(gmem, n, exit, run.cycles), n);
  prepareBaseRun(gmem, start, start + n);
  gmem.mmu.mapBaseRun(start, start + n);
  return n;
}

/** SNP: sev_gmem_prepare() of each private page of [start, end) (one block, 4 KiB folios). */
function prepareBaseRun(gmem: GmemState, start: number, end: number): void {
  const rmp = gmem.rmp;
  if (!rmp) return;
  let s = gmem.shared.find(start, end, false);
  while (s < end) {
    const e = gmem.shared.find(s, end, true);
    rmp.prepareBaseRun(s, e);
    s = e < end ? gmem.shared.find(e, end, false) : end;
  }
}

function hostFault(gmem: GmemState, index: number, access: Access): Failure | null {
  if (gmem.legacy) {
    if (!gmem.shared.get(index)) {
      return {
        errno: 'EFAULT',
        message: `host access to private page at offset 0x${(index * PAGE_SIZE).toString(16)} (the VMM's backend has no mapping there)`,
        offset: index * PAGE_SIZE,
      };
    }
    allocateBackend(gmem, index, index + 1);
    if (gmem.logging)
      gmem.log({
        type: 'fault',
        gfn: index,
        who: 'host',
        access,
        level: gmem.backendOrder,
        reason: 'backend',
      });
    return null;
  }
  if (!gmem.config.mmap) {
    return {
      errno: 'ENODEV',
      message: 'the file was created without GUEST_MEMFD_FLAG_MMAP: the host cannot map it',
      offset: index * PAGE_SIZE,
    };
  }
  if (!gmem.shared.get(index)) {
    // kvm_gmem_fault_user_mapping: private pages are never mapped into the host (SIGBUS).
    return {
      errno: 'EFAULT',
      message: `host fault on private page at offset 0x${(index * PAGE_SIZE).toString(16)} (SIGBUS)`,
      offset: index * PAGE_SIZE,
    };
  }
  const failure = allocateForFault(gmem, index);
  if (failure) return failure;
  if (gmem.layout.orderAt(index) !== ORDER_4K) {
    // A host fault on a shared page needs an order-0 folio.
    const f = splitBlockToBase(gmem, blockOfPage(index), null);
    if (f) return f;
  }
  gmem.punched.assign(index, false);
  if (gmem.logging)
    gmem.log({
      type: 'fault',
      gfn: index,
      who: 'host',
      access,
      level: ORDER_4K,
      reason: 'shared page, order-0 folio',
    });
  return null;
}

/** kvm_mmu_max_mapping_level() for a page whose backing folio has `folioOrder`. */
export function mappingLevel(gmem: GmemState, index: number, folioOrder: PageOrder): PageOrder {
  const gpa = gmem.config.memslotGpaBytes;
  const b = blockOfPage(index);
  const blockShared = gmem.shared.blockCount(b);
  const blockPages = Math.min(512, gmem.nrPages - b * 512);
  const gigShared = gmem.shared.perGig[gigOfPage(index)]!;
  const gigPages = Math.min(262144, gmem.nrPages - gigOfPage(index) * 262144);
  return maxMappingLevel({
    folioOrder,
    mixed2m: blockShared !== 0 && blockShared !== blockPages,
    mixed1g: (gigShared !== 0 && gigShared !== gigPages) || gigPages !== 262144,
    aligned2m: gpa % (2 * 1024 * 1024) === 0,
    aligned1g: gpa % GiB === 0,
    vendorMax: privateMaxLevel(gmem, index),
    accepted4kInBlock: gmem.accepted4k.get(b),
  });
}

/** The vendor's limit for the page at `index`: private memory only (kvm_mmu_max_mapping_level()
 * asks the vendor's private_max_mapping_level hook for private faults; shared memory is mapped
 * by the host mapping level alone). SNP: the RMP entry's level (sev_private_max_mapping_level()). */
function privateMaxLevel(gmem: GmemState, index: number): PageOrder {
  if (gmem.shared.get(index)) return ORDER_1G;
  const vmax = vendorMaxLevel(gmem.config.vendor, gmem.phase, gmem.policies.tdxHugePageSeries);
  const rmp = gmem.rmp;
  return rmp && rmp.maxMappingLevel(index) < vmax ? rmp.maxMappingLevel(index) : vmax;
}

function levelReason(
  gmem: GmemState,
  index: number,
  folioOrder: PageOrder,
  level: PageOrder,
): string {
  if (level === folioOrder) return 'folio order';
  const vmax = vendorMaxLevel(gmem.config.vendor, gmem.phase, gmem.policies.tdxHugePageSeries);
  if (!gmem.shared.get(index) && level === vmax)
    return `${gmem.config.vendor} limit (${gmem.phase})`;
  if (gmem.rmp && !gmem.shared.get(index) && level === gmem.rmp.maxMappingLevel(index))
    return 'SNP RMP entry level (4 KiB entries)';
  if (gmem.accepted4k.get(blockOfPage(index))) return 'TDX 4 KiB accept in this 2 MiB range';
  const gpa = gmem.config.memslotGpaBytes;
  if (gpa % (2 * 1024 * 1024) !== 0 || (level === ORDER_2M && gpa % GiB !== 0))
    return 'memslot alignment';
  return 'mixed attributes (lpage_info)';
}

export function prefaultOp(gmem: GmemState, offset: number, size: number): Failure | null {
  const [start, end] = gmem.pageRange(offset, size);
  const before = mappedPages(gmem);
  const failure = faultInRange(gmem, start, end, false);
  if (failure) return failure;
  if (gmem.logging)
    gmem.log({
      type: 'prefault',
      offset,
      size,
      mappedBytes: (mappedPages(gmem) - before) * PAGE_SIZE,
    });
  return null;
}

/**
 * One fault of a range (prefault or acceptance) as its own latency sample: the fault histogram
 * takes one sample per fault, as fault() records one per call, never one for a whole range (a
 * 64 TiB acceptance is millions of faults). Its cycles are counted apart and added to the range's.
 */
function timedGuestFault(gmem: GmemState, index: number, exit: boolean): Failure | null {
  const outer = gmem.beginSample();
  const failure = guestFault(gmem, index, 'write', exit);
  gmem.endSample(L_FAULT, outer);
  return failure;
}

/** `n` faults of a bulk run, each costing `cycles`: n samples, as n timedGuestFault() calls. */
function recordFaults(gmem: GmemState, cycles: number, n: number): void {
  gmem.metrics.recordLatencyAt(L_FAULT, cycles / gmem.costs.cpuGhz, n);
}

/** Pages of a range fault-in between two reports to `gmem.rangeWork` (1 GiB). */
export const RANGE_REPORT_PAGES = 2 ** 18;

/** Fault every unmapped page of [start, end) in, each mapping at the largest level allowed
 * (so one fault covers a whole huge mapping); `exit`: each fault is a VM exit (the guest touched
 * it) rather than KVM_PRE_FAULT_MEMORY. Reports its progress to `gmem.rangeWork` as it goes. */
function faultInRange(gmem: GmemState, start: number, end: number, exit: boolean): Failure | null {
  let i = start;
  let report = start + RANGE_REPORT_PAGES;
  while (i < end) {
    if (i >= report && gmem.rangeWork) {
      gmem.rangeWork(i - start, end - start);
      report = i + RANGE_REPORT_PAGES;
    }
    const mapped = gmem.mmu.levelAt(i);
    if (mapped !== NOT_MAPPED) {
      i = (Math.floor(i / 2 ** mapped) + 1) * 2 ** mapped;
      continue;
    }
    const run = guestFaultRun(gmem, i, end, exit);
    if (run > 0) {
      i += run;
      continue;
    }
    const failure = timedGuestFault(gmem, i, exit);
    if (failure) return failure;
    const level = gmem.mmu.levelAt(i);
    i = (Math.floor(i / 2 ** level) + 1) * 2 ** level;
  }
  return null;
}

export function acceptOp(
  gmem: GmemState,
  offset: number,
  size: number,
  level: PageOrder,
): Failure | null {
  const [start, end] = gmem.pageRange(offset, size);
  const exitsBefore = gmem.metrics.getAt(M_VM_EXITS);
  if (gmem.config.vendor === 'tdx' && gmem.policies.tdxHugePageSeries && level === ORDER_4K) {
    for (let b = blockOfPage(start); b <= blockOfPage(end - 1); b++) {
      if (gmem.accepted4k.assign(b, true)) {
        // A 2 MiB mapping already there is demoted on the 4 KiB accept.
        if (gmem.mmu.levelAt(b * 512) >= ORDER_2M)
          issueInvalidations(gmem, b * 512, (b + 1) * 512, 'tdx_accept_4k');
      }
    }
  }
  const failure = faultInRange(gmem, start, end, true);
  if (failure) return failure;
  if (gmem.logging)
    gmem.log({
      type: 'accept',
      gfn: start,
      size: (end - start) * PAGE_SIZE,
      exits: gmem.metrics.getAt(M_VM_EXITS) - exitsBefore,
    });
  return null;
}
