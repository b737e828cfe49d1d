// Host fault path of an ordinary (non-confidential) VM, and the change_pte story (domain.md
// section 4, last bullet).
//
// Guest RAM is anonymous memory (THP enabled) or HugeTLB mapped into the VMM; KVM maps it through
// the MMU notifier path (x86 TDP MMU, EPT names; NPT behaves the same). A guest read of
// never-written anonymous memory maps the huge zero page read-only in the host page tables, and KVM
// maps it read-only too. The first guest write then:
//
//   1. exits (EPT violation on a read-only SPTE); kvm_faultin_pfn() snapshots mmu_invalidate_seq
//      and faults the host page with FOLL_WRITE (hva_to_pfn_slow -> get_user_pages_unlocked);
//   2. the host write fault on the huge zero PMD goes to do_huge_pmd_wp_page(), which falls back:
//      __split_huge_pmd() runs its own invalidate_range_start/end pair over the 2 MiB range (KVM
//      zaps the 2 MiB SPTE) and __split_huge_zero_page_pmd() fills 512 read-only zero PTEs;
//   3. do_wp_page() -> wp_page_copy() allocates a zeroed 4 KiB folio and runs
//      invalidate_range_start / set_pte_at_notify() -> change_pte / invalidate_range_end. Each KVM
//      callback takes kvm->mmu_lock for write (__kvm_handle_hva_range takes it whenever the range
//      hits a memslot; kvm_mmu_notifier_change_pte took it too while an invalidation was running);
//   4. back in KVM, is_page_fault_stale() sees mmu_invalidate_seq changed (invalidate_range_end
//      bumped it): RET_PF_RETRY, back to the guest;
//   5. the guest re-executes the write, exits again, hva_to_pfn_fast() now finds a writable PTE and
//      KVM installs a writable 4 KiB SPTE.
//
// change_pte could never help: since 2012 it is called inside an invalidate_range_start/end pair,
// and KVM zaps the SPTE in invalidate_range_start, so change_pte has no SPTE left to change; it
// only cost a third write acquisition of mmu_lock. The callback was removed for Linux 6.10 (Paolo
// Bonzini, April 2024, "KVM, mm: remove the .change_pte() MMU notifier and set_pte_at_notify()":
// "KVM: delete .change_pte MMU notifier callback", "mmu_notifier: remove the .change_pte()
// callback", "mm: replace set_pte_at_notify() with just set_pte_at()"; queued for the 6.10 merge
// window, so 6.9 is the last kernel with it).
//
// Sources (function names as of v6.9, the last change_pte kernel):
//   mm/memory.c        do_anonymous_page, do_wp_page, wp_page_copy (set_pte_at_notify)
//   mm/huge_memory.c   do_huge_pmd_anonymous_page, do_huge_pmd_wp_page (huge zero -> fallback),
//                      __split_huge_pmd (MMU_NOTIFY_CLEAR over the PMD), __split_huge_zero_page_pmd
//   mm/hugetlb.c       hugetlb_no_page (make_huge_pte writable for VM_SHARED), hugetlb_wp (reuse of
//                      an exclusive anon folio without notifier)
//   virt/kvm/kvm_main.c kvm_mmu_notifier_invalidate_range_start/end, kvm_mmu_notifier_change_pte,
//                      hva_to_pfn_fast/slow ("map read fault as writable if possible")
//   include/linux/kvm_host.h mmu_invalidate_retry_gfn; arch/x86/kvm/mmu/mmu.c is_page_fault_stale,
//                      kvm_arch_vcpu_pre_fault_memory (KVM_PRE_FAULT_MEMORY: error code without
//                      PFERR_WRITE_MASK, i.e. a read fault)
//
// Where the model goes beyond the spec bullet, it does what the kernel does:
//   - the huge-zero split costs its own invalidate pair: 5 write acquisitions of mmu_lock for the
//     first write into a huge-zero-mapped 2 MiB region with change_pte, 4 without; 3 / 2 for every
//     later page whose zero PTE is CoWed without a split;
//   - KVM maps at the host mapping level (host_pfn_mapping_level): one 2 MiB read-only SPTE covers
//     a huge zero PMD, so later reads in that region take no exit until the split zaps it;
//   - with use_zero_page=0, do_huge_pmd_anonymous_page() allocates a THP on a read fault (mapped
//     writable); reads map the 4 KiB zero page only when no 2 MiB block is free
//     (`thpAvailable: false`, the buddy fallback of domain.md section 2);
//   - KVM_PRE_FAULT_MEMORY alone is a read fault and would map the (huge) zero page; the 'prefault'
//     variant therefore populates the host side with write access first (MADV_POPULATE_WRITE, or
//     MAP_POPULATE on a private writable mapping, which populate_vma_page_range() faults with
//     FOLL_WRITE), then pre-faults the TDP MMU.
//
// The always-writable memslot flag is a proposal, not upstream: every KVM fault on the slot uses
// FOLL_WRITE, so the first read allocates a private zeroed page (a THP when one is free) writable.
//
// Costs: exit = vmExitCycles per exit; fault = tdpFaultCycles per KVM page fault (stale ones too);
// mmuLock = mmuLockWriteCycles per write acquisition (the TDP MMU fault path takes mmu_lock for
// read, counted but not charged: no constant); invalidate = invalidateCycles per
// invalidate_range_start (the zap and flush; _end and change_pte cost their lock only); zeroing =
// zeroPage4KCycles per 4 KiB cleared; split = split2MCycles per huge-zero PMD split (an assumption:
// that split writes 512 PTEs and splits no folio; override with `hugeZeroSplitCycles`); alloc =
// buddyAlloc4KCycles per 4 KiB folio, thpAlloc2MCycles per THP, nothing for HugeTLB (the pool was
// filled at host boot).
//
// Host and KVM state is kept per 2 MiB region in Maps, with a 512-entry Uint8Array only for regions
// mapped with 4 KiB entries, so a 1 TiB guest costs memory only for the regions it touches. The
// memslot and its host mapping are assumed 2 MiB aligned, gfn i backed by page i of the mapping.
import { ConfigError } from '../errors.js';
import type { CostModel } from '../constants.js';
import { DEFAULT_COSTS } from '../constants.js';
import { PAGES_PER_2M } from '../units.js';

export type ChangePteVariant =
  | 'change-pte-kept'
  | 'change-pte-removed'
  | 'always-writable-memslot'
  | 'huge-zero-page-disabled'
  | 'hugetlb-backing'
  | 'prefault';

export interface ChangePteVariantDef {
  readonly id: ChangePteVariant;
  readonly label: string;
  readonly description: string;
}

export const CHANGE_PTE_VARIANTS: readonly ChangePteVariantDef[] = [
  {
    id: 'change-pte-kept',
    label: 'change_pte kept (before 6.10)',
    description:
      'Anonymous memory with the huge zero page; the CoW runs invalidate_range_start, change_pte and invalidate_range_end, each taking mmu_lock for write.',
  },
  {
    id: 'change-pte-removed',
    label: 'change_pte removed (6.10+)',
    description:
      'Same path without change_pte: two write acquisitions per CoW, still a stale fault and a second exit.',
  },
  {
    id: 'always-writable-memslot',
    label: 'always-writable memslot (proposal)',
    description:
      'KVM faults every host page with write access: the first read allocates a zeroed page writable.',
  },
  {
    id: 'huge-zero-page-disabled',
    label: 'use_zero_page=0',
    description:
      'No huge zero page: a read fault allocates a THP writable, or maps the 4 KiB zero page when no 2 MiB block is free.',
  },
  {
    id: 'hugetlb-backing',
    label: 'HugeTLB backing',
    description:
      'HugeTLB has no zero page: the first fault allocates and zeroes the 2 MiB page (writable for a shared mapping).',
  },
  {
    id: 'prefault',
    label: 'prefault',
    description:
      'MADV_POPULATE_WRITE / MAP_POPULATE then KVM_PRE_FAULT_MEMORY before the guest runs; population cost reported apart.',
  },
];

export type AccessKind = 'read' | 'write';

export interface GuestAccess {
  readonly gfn: number;
  readonly access: AccessKind;
}

export interface ChangePteOptions {
  /**
   * Kernel has the .change_pte() notifier (before 6.10). Fixed by the two change-pte variants;
   * for the others it defaults to true, so each differs from 'change-pte-kept' in one respect.
   */
  readonly changePteNotifier?: boolean;
  /** A free 2 MiB block exists when the anonymous fault path tries a THP. Default true. */
  readonly thpAvailable?: boolean;
  /** HugeTLB mapped MAP_SHARED (writable on a read fault); MAP_PRIVATE: read-only. Default true. */
  readonly hugetlbShared?: boolean;
  /** 'prefault': populate the host with write access before KVM_PRE_FAULT_MEMORY. Default true. */
  readonly populateHostWritable?: boolean;
  /** 'prefault': range to populate; default every 2 MiB region the access sequence touches. */
  readonly prefaultRange?: { readonly firstGfn: number; readonly nrPages: number };
  /** Cycles charged for splitting a huge zero PMD; default costs.split2MCycles. */
  readonly hugeZeroSplitCycles?: number;
  /** Keep the per-access event list (steps). Default true; turn off for very long sequences. */
  readonly recordEvents?: boolean;
}

export interface ChangePteConfig {
  readonly variant: ChangePteVariant;
  readonly backing: 'anon-thp' | 'hugetlb';
  readonly changePteNotifier: boolean;
  /** transparent_hugepage/use_zero_page. */
  readonly useHugeZeroPage: boolean;
  readonly memslotAlwaysWritable: boolean;
  readonly prefault: boolean;
  readonly thpAvailable: boolean;
  readonly hugetlbShared: boolean;
  readonly populateHostWritable: boolean;
}

export interface ChangePteCounters {
  vmExits: number;
  /** KVM page faults handled, including stale ones and KVM_PRE_FAULT_MEMORY maps. */
  tdpFaults: number;
  staleFaultRetries: number;
  mmuLockWriteAcquisitions: number;
  /** The TDP MMU fault path takes mmu_lock for read. */
  mmuLockReadAcquisitions: number;
  /** Completed invalidate_range_start/end pairs that reached KVM. */
  invalidations: number;
  changePteCalls: number;
  /** handle_mm_fault() calls. */
  hostFaults: number;
  hugeZeroPageMaps: number;
  hugeZeroPageSplits: number;
  /** 4 KiB zero-page PTEs installed by do_anonymous_page() on a read fault. */
  zeroPageMaps: number;
  /** wp_page_copy() calls (CoW of a zero page: allocate and zero). */
  cowCopies: number;
  /** Write faults resolved by reusing an exclusive folio in place (hugetlb_wp), no notifier. */
  writeReuses: number;
  /** 4 KiB units cleared. */
  pagesZeroed: number;
  /** 4 KiB units of host memory allocated. */
  pagesAllocated: number;
  /** 2 MiB folios allocated (THP or HugeTLB); their pages are also in pagesAllocated. */
  hugePagesAllocated: number;
}

export interface CycleBreakdown {
  exit: number;
  fault: number;
  mmuLock: number;
  invalidate: number;
  zeroing: number;
  split: number;
  alloc: number;
  total: number;
}

export interface SpteState {
  readonly level: '4K' | '2M';
  readonly writable: boolean;
}

export interface AccessEvent {
  readonly index: number;
  readonly gfn: number;
  readonly access: AccessKind;
  readonly exits: number;
  /** Kernel functions in call order, with KVM's return codes (RET_PF_RETRY, RET_PF_FIXED). */
  readonly steps: readonly string[];
  /** The SPTE that satisfied the access. */
  readonly mapped: SpteState;
}

export interface Tally {
  readonly counters: ChangePteCounters;
  readonly cycles: CycleBreakdown;
}

export interface ChangePteResult extends Tally {
  readonly config: ChangePteConfig;
  /** Population before the guest runs ('prefault' only), counted apart from the run. */
  readonly prefault: Tally | null;
  readonly events: readonly AccessEvent[];
  /** Present SPTEs at the end, as KVM's pages_4k / pages_2m stats. */
  readonly mappings: { readonly pages4k: number; readonly pages2m: number };
}

// ---------------------------------------------------------------------------------------------
// Variant set-up

const FIXED_CHANGE_PTE: Partial<Record<ChangePteVariant, boolean>> = {
  'change-pte-kept': true,
  'change-pte-removed': false,
};

export function variantConfig(
  variant: ChangePteVariant,
  options: ChangePteOptions = {},
): ChangePteConfig {
  if (!CHANGE_PTE_VARIANTS.some((v) => v.id === variant))
    throw new ConfigError(`unknown variant '${String(variant)}'`, 'variant');
  const fixed = FIXED_CHANGE_PTE[variant];
  if (
    fixed !== undefined &&
    options.changePteNotifier !== undefined &&
    options.changePteNotifier !== fixed
  )
    throw new ConfigError(`variant '${variant}' fixes changePteNotifier`, 'changePteNotifier');
  return {
    variant,
    backing: variant === 'hugetlb-backing' ? 'hugetlb' : 'anon-thp',
    changePteNotifier: fixed ?? options.changePteNotifier ?? true,
    useHugeZeroPage: variant !== 'huge-zero-page-disabled',
    memslotAlwaysWritable: variant === 'always-writable-memslot',
    prefault: variant === 'prefault',
    thpAvailable: options.thpAvailable ?? true,
    hugetlbShared: options.hugetlbShared ?? true,
    populateHostWritable: options.populateHostWritable ?? true,
  };
}

// ---------------------------------------------------------------------------------------------
// State: host page tables and KVM SPTEs per 2 MiB region

/** What the host PMD of a 2 MiB region holds. */
type PmdState = 'none' | 'huge-zero' | 'thp' | 'hugetlb' | 'pte-table';

const PTE_NONE = 0;
const PTE_ZERO = 1; // read-only, my_zero_pfn()
const PTE_ANON = 2; // private anonymous folio, writable

const SPTE_NONE = 0;
const SPTE_RO = 1;
const SPTE_W = 2;

interface HostRegion {
  pmd: PmdState;
  /** For PMD-level mappings (THP, HugeTLB); the huge zero page is always read-only. */
  pmdWritable: boolean;
  /** Present when pmd === 'pte-table'. */
  ptes: Uint8Array | null;
}

interface KvmRegion {
  hugeSpte: number;
  sptes: Uint8Array | null;
}

interface HostMapping {
  readonly present: boolean;
  readonly writable: boolean;
  readonly level: '4K' | '2M';
}

/** A fault that needs more than this many exits is a bug in the model, not a kernel path. */
const MAX_EXITS_PER_ACCESS = 4;

function regionOf(gfn: number): number {
  return Math.floor(gfn / PAGES_PER_2M);
}

function indexInRegion(gfn: number): number {
  return gfn % PAGES_PER_2M;
}

function isGfn(gfn: unknown): gfn is number {
  return typeof gfn === 'number' && Number.isSafeInteger(gfn) && gfn >= 0;
}

function emptyCounters(): ChangePteCounters {
  return {
    vmExits: 0,
    tdpFaults: 0,
    staleFaultRetries: 0,
    mmuLockWriteAcquisitions: 0,
    mmuLockReadAcquisitions: 0,
    invalidations: 0,
    changePteCalls: 0,
    hostFaults: 0,
    hugeZeroPageMaps: 0,
    hugeZeroPageSplits: 0,
    zeroPageMaps: 0,
    cowCopies: 0,
    writeReuses: 0,
    pagesZeroed: 0,
    pagesAllocated: 0,
    hugePagesAllocated: 0,
  };
}

function emptyCycles(): CycleBreakdown {
  return { exit: 0, fault: 0, mmuLock: 0, invalidate: 0, zeroing: 0, split: 0, alloc: 0, total: 0 };
}

function newTally(): { counters: ChangePteCounters; cycles: CycleBreakdown } {
  return { counters: emptyCounters(), cycles: emptyCycles() };
}

function snapshot(t: Tally): Tally {
  return { counters: { ...t.counters }, cycles: { ...t.cycles } };
}

// ---------------------------------------------------------------------------------------------
// The machine: one VM, one memslot

export class ChangePteMachine {
  readonly config: ChangePteConfig;
  private readonly costs: CostModel;
  private readonly hugeZeroSplitCycles: number;
  private readonly host = new Map<number, HostRegion>();
  private readonly kvm = new Map<number, KvmRegion>();
  private readonly runTally = newTally();
  private prefaultTally: { counters: ChangePteCounters; cycles: CycleBreakdown } | null = null;
  /** Where charges go: the run, or the population before it. */
  private tally = this.runTally;
  private mmuInvalidateSeq = 0;
  private mmuInvalidateInProgress = 0;
  private accessCount = 0;

  constructor(
    config: ChangePteConfig,
    costs: CostModel = DEFAULT_COSTS,
    hugeZeroSplitCycles?: number,
  ) {
    this.config = config;
    this.costs = costs;
    this.hugeZeroSplitCycles = hugeZeroSplitCycles ?? costs.split2MCycles;
  }

  // --- the guest ----------------------------------------------------------------------------

  /** One guest access: exits until an SPTE allows it (a retried fault re-executes the access). */
  guestAccess(gfn: number, access: AccessKind, steps: string[] = []): AccessEvent {
    const write = access === 'write';
    let exits = 0;
    while (!this.sptePermits(gfn, write)) {
      if (exits === MAX_EXITS_PER_ACCESS)
        throw new Error(`gfn ${gfn}: ${access} not resolved after ${exits} exits`);
      exits++;
      this.vmExit(steps);
      this.kvmTdpPageFault(gfn, write, steps);
    }
    return {
      index: this.accessCount++,
      gfn,
      access,
      exits,
      steps,
      mapped: this.spteState(gfn),
    };
  }

  private vmExit(steps: string[]): void {
    this.tally.counters.vmExits++;
    this.charge('exit', this.costs.vmExitCycles);
    steps.push('handle_ept_violation', 'kvm_mmu_page_fault');
  }

  // --- KVM fault path -----------------------------------------------------------------------

  /** kvm_tdp_page_fault -> kvm_tdp_mmu_page_fault; returns false for RET_PF_RETRY. */
  private kvmTdpPageFault(gfn: number, write: boolean, steps: string[]): boolean {
    this.tally.counters.tdpFaults++;
    this.charge('fault', this.costs.tdpFaultCycles);
    steps.push('kvm_tdp_page_fault', 'kvm_tdp_mmu_page_fault', 'kvm_faultin_pfn');
    const mmuSeq = this.mmuInvalidateSeq;
    const follWrite = write || this.config.memslotAlwaysWritable;
    const pfn = this.hvaToPfn(gfn, follWrite, steps);

    this.tally.counters.mmuLockReadAcquisitions++;
    steps.push('is_page_fault_stale');
    if (this.mmuInvalidateRetry(mmuSeq)) {
      this.tally.counters.staleFaultRetries++;
      steps.push('RET_PF_RETRY');
      return false;
    }
    this.kvmTdpMmuMap(gfn, pfn, steps);
    steps.push('RET_PF_FIXED');
    return true;
  }

  /** mmu_invalidate_retry_gfn: an invalidation ran (or runs) since kvm_faultin_pfn's snapshot. */
  private mmuInvalidateRetry(mmuSeq: number): boolean {
    return this.mmuInvalidateInProgress > 0 || this.mmuInvalidateSeq !== mmuSeq;
  }

  /**
   * hva_to_pfn: fast GUP for a writable PTE, else slow GUP, then "map read fault as writable if
   * possible" (get_user_page_fast_only with FOLL_WRITE).
   */
  private hvaToPfn(gfn: number, follWrite: boolean, steps: string[]): SpteState {
    steps.push('hva_to_pfn', 'hva_to_pfn_fast');
    const fast = this.hostMapping(gfn);
    if (fast.present && fast.writable) return { level: fast.level, writable: true };

    steps.push('hva_to_pfn_slow', 'get_user_pages_unlocked');
    this.faultInPage(gfn, follWrite, steps);
    const slow = this.hostMapping(gfn);
    if (follWrite) return { level: slow.level, writable: true };
    steps.push('get_user_page_fast_only');
    return { level: slow.level, writable: slow.writable };
  }

  /** kvm_tdp_mmu_map at the host mapping level (host_pfn_mapping_level). */
  private kvmTdpMmuMap(gfn: number, pfn: SpteState, steps: string[]): void {
    steps.push('kvm_tdp_mmu_map');
    const region = this.kvmRegion(regionOf(gfn));
    const spte = pfn.writable ? SPTE_W : SPTE_RO;
    if (pfn.level === '2M') {
      region.hugeSpte = spte;
      region.sptes = null;
      return;
    }
    // A huge SPTE in the way is zapped and replaced by a page table.
    region.hugeSpte = SPTE_NONE;
    region.sptes ??= new Uint8Array(PAGES_PER_2M);
    region.sptes[indexInRegion(gfn)] = spte;
  }

  private sptePermits(gfn: number, write: boolean): boolean {
    const spte = this.spteAt(gfn);
    return write ? spte === SPTE_W : spte !== SPTE_NONE;
  }

  private spteAt(gfn: number): number {
    const region = this.kvm.get(regionOf(gfn));
    if (!region) return SPTE_NONE;
    if (region.hugeSpte !== SPTE_NONE) return region.hugeSpte;
    return region.sptes ? (region.sptes[indexInRegion(gfn)] ?? SPTE_NONE) : SPTE_NONE;
  }

  private spteState(gfn: number): SpteState {
    const region = this.kvm.get(regionOf(gfn));
    const huge = region !== undefined && region.hugeSpte !== SPTE_NONE;
    return { level: huge ? '2M' : '4K', writable: this.spteAt(gfn) === SPTE_W };
  }

  // --- MMU notifier callbacks (virt/kvm/kvm_main.c) -------------------------------------------

  private invalidateRangeStart(firstGfn: number, nrPages: number, steps: string[]): void {
    steps.push('kvm_mmu_notifier_invalidate_range_start');
    this.mmuLockWrite();
    this.charge('invalidate', this.costs.invalidateCycles);
    this.mmuInvalidateInProgress++;
    this.zapSptes(firstGfn, nrPages);
  }

  private invalidateRangeEnd(steps: string[]): void {
    steps.push('kvm_mmu_notifier_invalidate_range_end');
    this.mmuLockWrite();
    this.mmuInvalidateSeq++;
    this.mmuInvalidateInProgress--;
    this.tally.counters.invalidations++;
  }

  /**
   * kvm_mmu_notifier_change_pte: runs inside the CoW's invalidate pair, so it takes mmu_lock for
   * write and finds no SPTE to change (invalidate_range_start zapped it).
   */
  private changePte(steps: string[]): void {
    steps.push('kvm_mmu_notifier_change_pte');
    this.tally.counters.changePteCalls++;
    this.mmuLockWrite();
  }

  private mmuLockWrite(): void {
    this.tally.counters.mmuLockWriteAcquisitions++;
    this.charge('mmuLock', this.costs.mmuLockWriteCycles);
  }

  /** kvm_unmap_gfn_range: a huge SPTE touched by the range goes whole. */
  private zapSptes(firstGfn: number, nrPages: number): void {
    const end = firstGfn + nrPages;
    for (let r = regionOf(firstGfn); r * PAGES_PER_2M < end; r++) {
      const region = this.kvm.get(r);
      if (!region) continue;
      region.hugeSpte = SPTE_NONE;
      if (!region.sptes) continue;
      const from = Math.max(firstGfn, r * PAGES_PER_2M) - r * PAGES_PER_2M;
      const to = Math.min(end, (r + 1) * PAGES_PER_2M) - r * PAGES_PER_2M;
      region.sptes.fill(SPTE_NONE, from, to);
    }
  }

  // --- host: GUP and handle_mm_fault ----------------------------------------------------------

  /** __get_user_pages: follow the page table, fault only when the PTE does not allow the access. */
  private faultInPage(gfn: number, write: boolean, steps: string[]): void {
    const m = this.hostMapping(gfn);
    if (m.present && (m.writable || !write)) return;
    this.handleMmFault(gfn, write, steps);
  }

  private handleMmFault(gfn: number, write: boolean, steps: string[]): void {
    steps.push('handle_mm_fault');
    this.tally.counters.hostFaults++;
    if (this.config.backing === 'hugetlb') this.hugetlbFault(gfn, write, steps);
    else this.anonFault(gfn, write, steps);
  }

  private anonFault(gfn: number, write: boolean, steps: string[]): void {
    const region = this.hostRegion(regionOf(gfn));
    switch (region.pmd) {
      case 'none':
        if (this.doHugePmdAnonymousPage(region, write, steps)) return;
        this.doAnonymousPage(region, gfn, write, steps);
        return;
      case 'huge-zero':
        // Only a write faults on a present huge zero PMD.
        this.doHugePmdWpPage(region, gfn, steps);
        this.doWpPage(region, gfn, steps);
        return;
      case 'thp':
      case 'hugetlb':
        return; // present and writable: GUP does not fault
      case 'pte-table': {
        const pte = region.ptes![indexInRegion(gfn)];
        if (pte === PTE_NONE) this.doAnonymousPage(region, gfn, write, steps);
        else if (pte === PTE_ZERO && write) this.doWpPage(region, gfn, steps);
        return;
      }
    }
  }

  /** Returns false for VM_FAULT_FALLBACK (no THP could be allocated). */
  private doHugePmdAnonymousPage(region: HostRegion, write: boolean, steps: string[]): boolean {
    steps.push('do_huge_pmd_anonymous_page');
    if (!write && this.config.useHugeZeroPage) {
      steps.push('mm_get_huge_zero_page', 'set_huge_zero_page');
      region.pmd = 'huge-zero';
      region.pmdWritable = false;
      this.tally.counters.hugeZeroPageMaps++;
      return true;
    }
    if (!this.config.thpAvailable) {
      steps.push('VM_FAULT_FALLBACK');
      return false;
    }
    // __do_huge_pmd_anonymous_page maps the THP writable (maybe_pmd_mkwrite), read fault or not.
    steps.push('vma_alloc_folio', 'clear_huge_page', '__do_huge_pmd_anonymous_page');
    this.allocHugeFolio(this.costs.thpAlloc2MCycles);
    region.pmd = 'thp';
    region.pmdWritable = true;
    return true;
  }

  private doAnonymousPage(region: HostRegion, gfn: number, write: boolean, steps: string[]): void {
    steps.push('do_anonymous_page');
    const ptes = this.ensurePteTable(region);
    if (!write) {
      steps.push('my_zero_pfn');
      ptes[indexInRegion(gfn)] = PTE_ZERO;
      this.tally.counters.zeroPageMaps++;
      return;
    }
    steps.push('vma_alloc_zeroed_movable_folio');
    this.allocZeroedPage();
    ptes[indexInRegion(gfn)] = PTE_ANON;
  }

  /** Huge zero PMD + write: fall back to PTEs after __split_huge_pmd (its own invalidate pair). */
  private doHugePmdWpPage(region: HostRegion, gfn: number, steps: string[]): void {
    steps.push('do_huge_pmd_wp_page', '__split_huge_pmd');
    const firstGfn = regionOf(gfn) * PAGES_PER_2M;
    this.invalidateRangeStart(firstGfn, PAGES_PER_2M, steps);
    steps.push('__split_huge_zero_page_pmd');
    region.pmd = 'pte-table';
    region.ptes = new Uint8Array(PAGES_PER_2M).fill(PTE_ZERO);
    this.tally.counters.hugeZeroPageSplits++;
    this.charge('split', this.hugeZeroSplitCycles);
    this.invalidateRangeEnd(steps); // mmu_notifier_invalidate_range_only_end
    steps.push('VM_FAULT_FALLBACK');
  }

  /** do_wp_page on a zero PTE -> wp_page_copy: new zeroed folio, notifier pair around the swap. */
  private doWpPage(region: HostRegion, gfn: number, steps: string[]): void {
    steps.push('do_wp_page', 'wp_page_copy', 'vma_alloc_zeroed_movable_folio');
    this.allocZeroedPage();
    this.tally.counters.cowCopies++;
    this.invalidateRangeStart(gfn, 1, steps);
    steps.push('ptep_clear_flush');
    region.ptes![indexInRegion(gfn)] = PTE_ANON;
    if (this.config.changePteNotifier) {
      steps.push('set_pte_at_notify');
      this.changePte(steps);
    } else {
      steps.push('set_pte_at');
    }
    this.invalidateRangeEnd(steps);
  }

  private hugetlbFault(gfn: number, write: boolean, steps: string[]): void {
    steps.push('hugetlb_fault');
    const region = this.hostRegion(regionOf(gfn));
    if (region.pmd === 'none') {
      this.hugetlbNoPage(region, write, steps);
      return;
    }
    if (write && !region.pmdWritable) this.hugetlbWpReuse(region, steps);
  }

  /** No zero page in HugeTLB: take a pool folio, zero 2 MiB, map (writable: VM_SHARED or write). */
  private hugetlbNoPage(region: HostRegion, write: boolean, steps: string[]): void {
    steps.push('hugetlb_no_page', 'alloc_hugetlb_folio', 'clear_huge_page', 'make_huge_pte');
    this.allocHugeFolio(0);
    region.pmd = 'hugetlb';
    region.pmdWritable = this.config.hugetlbShared || write;
  }

  /** hugetlb_wp, exclusive anon folio of a private mapping: made writable in place, no notifier. */
  private hugetlbWpReuse(region: HostRegion, steps: string[]): void {
    steps.push('hugetlb_wp');
    region.pmdWritable = true;
    this.tally.counters.writeReuses++;
  }

  private allocZeroedPage(): void {
    const c = this.tally.counters;
    c.pagesAllocated++;
    c.pagesZeroed++;
    this.charge('alloc', this.costs.buddyAlloc4KCycles);
    this.charge('zeroing', this.costs.zeroPage4KCycles);
  }

  private allocHugeFolio(allocCycles: number): void {
    const c = this.tally.counters;
    c.hugePagesAllocated++;
    c.pagesAllocated += PAGES_PER_2M;
    c.pagesZeroed += PAGES_PER_2M;
    this.charge('alloc', allocCycles);
    this.charge('zeroing', PAGES_PER_2M * this.costs.zeroPage4KCycles);
  }

  private ensurePteTable(region: HostRegion): Uint8Array {
    if (region.pmd !== 'pte-table') {
      region.pmd = 'pte-table';
      region.pmdWritable = false;
      region.ptes = new Uint8Array(PAGES_PER_2M);
    }
    return region.ptes!;
  }

  private hostMapping(gfn: number): HostMapping {
    const region = this.host.get(regionOf(gfn));
    if (!region || region.pmd === 'none') return { present: false, writable: false, level: '4K' };
    if (region.pmd !== 'pte-table')
      return { present: true, writable: region.pmdWritable, level: '2M' };
    const pte = region.ptes![indexInRegion(gfn)];
    return { present: pte !== PTE_NONE, writable: pte === PTE_ANON, level: '4K' };
  }

  private hostRegion(r: number): HostRegion {
    let region = this.host.get(r);
    if (!region) {
      region = { pmd: 'none', pmdWritable: false, ptes: null };
      this.host.set(r, region);
    }
    return region;
  }

  private kvmRegion(r: number): KvmRegion {
    let region = this.kvm.get(r);
    if (!region) {
      region = { hugeSpte: SPTE_NONE, sptes: null };
      this.kvm.set(r, region);
    }
    return region;
  }

  private charge(category: Exclude<keyof CycleBreakdown, 'total'>, cycles: number): void {
    this.tally.cycles[category] += cycles;
    this.tally.cycles.total += cycles;
  }

  // --- population before the guest runs ------------------------------------------------------

  /**
   * MADV_POPULATE_WRITE (or MAP_POPULATE) over the range, then KVM_PRE_FAULT_MEMORY. Charged to a
   * separate tally. KVM_PRE_FAULT_MEMORY's fault is a read fault: it maps writable only what the
   * host already maps writable.
   */
  prefaultMemory(firstGfn: number, nrPages: number): void {
    this.prefaultTally ??= newTally();
    this.tally = this.prefaultTally;
    const end = firstGfn + nrPages;
    const ignored: string[] = [];
    if (this.config.populateHostWritable) {
      for (let gfn = firstGfn; gfn < end; gfn = this.nextHostMapping(gfn))
        this.faultInPage(gfn, true, ignored);
    }
    for (let gfn = firstGfn; gfn < end; gfn = this.nextSpte(gfn)) {
      // kvm_tdp_map_page loops on RET_PF_RETRY itself.
      for (let tries = 0; this.spteAt(gfn) === SPTE_NONE; tries++) {
        if (tries === MAX_EXITS_PER_ACCESS) throw new Error(`gfn ${gfn}: pre-fault not resolved`);
        this.kvmTdpPageFault(gfn, false, ignored);
      }
      ignored.length = 0;
    }
    this.tally = this.runTally;
  }

  private nextHostMapping(gfn: number): number {
    return this.hostMapping(gfn).level === '2M' ? (regionOf(gfn) + 1) * PAGES_PER_2M : gfn + 1;
  }

  private nextSpte(gfn: number): number {
    return this.spteState(gfn).level === '2M' && this.spteAt(gfn) !== SPTE_NONE
      ? (regionOf(gfn) + 1) * PAGES_PER_2M
      : gfn + 1;
  }

  // --- results and invariants ---------------------------------------------------------------

  runTotals(): Tally {
    return snapshot(this.runTally);
  }

  prefaultTotals(): Tally | null {
    return this.prefaultTally ? snapshot(this.prefaultTally) : null;
  }

  mappingCounts(): { pages4k: number; pages2m: number } {
    let pages4k = 0;
    let pages2m = 0;
    for (const region of this.kvm.values()) {
      if (region.hugeSpte !== SPTE_NONE) pages2m++;
      else if (region.sptes) for (const s of region.sptes) if (s !== SPTE_NONE) pages4k++;
    }
    return { pages4k, pages2m };
  }

  /**
   * KVM never maps more than the host does: an SPTE needs a present host mapping of at least its
   * size, a writable SPTE a writable one; no invalidation is left open between accesses.
   */
  checkInvariants(): string[] {
    const errors: string[] = [];
    if (this.mmuInvalidateInProgress !== 0)
      errors.push(`mmu_invalidate_in_progress = ${this.mmuInvalidateInProgress}`);
    for (const [r, region] of this.kvm) {
      const host = this.host.get(r);
      if (region.hugeSpte !== SPTE_NONE) {
        if (!host || host.pmd === 'none' || host.pmd === 'pte-table')
          errors.push(`region ${r}: 2M SPTE without a host PMD mapping`);
        else if (region.hugeSpte === SPTE_W && !host.pmdWritable)
          errors.push(`region ${r}: writable 2M SPTE over a read-only PMD`);
        continue;
      }
      if (!region.sptes) continue;
      region.sptes.forEach((spte, i) => {
        if (spte === SPTE_NONE) return;
        const m = this.hostMapping(r * PAGES_PER_2M + i);
        if (!m.present) errors.push(`gfn ${r * PAGES_PER_2M + i}: SPTE without host page`);
        else if (spte === SPTE_W && !m.writable)
          errors.push(`gfn ${r * PAGES_PER_2M + i}: writable SPTE over a read-only PTE`);
      });
    }
    return errors;
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points

function validateAccesses(accesses: readonly GuestAccess[]): void {
  accesses.forEach((a, i) => {
    if (!isGfn(a.gfn))
      throw new ConfigError('gfn must be a non-negative safe integer', `accesses[${i}].gfn`);
    if (a.access !== 'read' && a.access !== 'write')
      throw new ConfigError("access must be 'read' or 'write'", `accesses[${i}].access`);
  });
}

/** Default prefault range: every 2 MiB region the sequence touches. */
function touchedRegions(accesses: readonly GuestAccess[]): number[] {
  return [...new Set(accesses.map((a) => regionOf(a.gfn)))].sort((a, b) => a - b);
}

function prefaultBeforeRun(
  machine: ChangePteMachine,
  accesses: readonly GuestAccess[],
  options: ChangePteOptions,
): void {
  const range = options.prefaultRange;
  if (range) {
    if (!isGfn(range.firstGfn) || !isGfn(range.nrPages) || range.nrPages === 0)
      throw new ConfigError('needs a non-negative firstGfn and nrPages > 0', 'prefaultRange');
    machine.prefaultMemory(range.firstGfn, range.nrPages);
    return;
  }
  for (const r of touchedRegions(accesses)) machine.prefaultMemory(r * PAGES_PER_2M, PAGES_PER_2M);
}

export function simulateAccessSequence(
  variant: ChangePteVariant,
  accesses: readonly GuestAccess[],
  costs: CostModel = DEFAULT_COSTS,
  options: ChangePteOptions = {},
): ChangePteResult {
  const config = variantConfig(variant, options);
  validateAccesses(accesses);
  const machine = new ChangePteMachine(config, costs, options.hugeZeroSplitCycles);
  if (config.prefault) prefaultBeforeRun(machine, accesses, options);

  const record = options.recordEvents ?? true;
  const events: AccessEvent[] = [];
  const scratch: string[] = [];
  for (const a of accesses) {
    if (record) {
      events.push(machine.guestAccess(a.gfn, a.access, []));
    } else {
      machine.guestAccess(a.gfn, a.access, scratch);
      scratch.length = 0;
    }
  }
  return {
    config,
    ...machine.runTotals(),
    prefault: machine.prefaultTotals(),
    events,
    mappings: machine.mappingCounts(),
  };
}

/** The canonical scenario: one read, then one write, of the same never-written 4 KiB page. */
export function readThenWrite(
  variant: ChangePteVariant,
  costs: CostModel = DEFAULT_COSTS,
  options: ChangePteOptions = {},
  gfn = 0,
): ChangePteResult {
  return simulateAccessSequence(
    variant,
    [
      { gfn, access: 'read' },
      { gfn, access: 'write' },
    ],
    costs,
    options,
  );
}
