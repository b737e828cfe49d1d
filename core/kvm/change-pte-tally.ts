// What a change_pte run counts and charges: event counters, cycles by category, the per-access
// record, and the Meter every part of the model charges through.
//
// Costs: exit = vmExitCycles per exit; fault = tdpFaultCycles per KVM page fault (stale ones too);
// mmuLock = mmuLockWriteCycles per write acquisition (the TDP MMU fault path takes mmu_lock for
// read, counted but not charged: no constant); invalidate = invalidateCycles per
// invalidate_range_start (the zap and flush; _end and change_pte cost their lock only); zeroing =
// zeroPage4KCycles per 4 KiB cleared; split = split2MCycles per huge-zero PMD split (an assumption:
// that split writes 512 PTEs and splits no folio; override with `hugeZeroSplitCycles`); alloc =
// buddyAlloc4KCycles per 4 KiB folio, thpAlloc2MCycles per THP, nothing for HugeTLB (the pool was
// filled at host boot).
import type { AccessKind } from './change-pte-config.js';
import type { SpteState } from './change-pte-tables.js';

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

export type CycleCategory = Exclude<keyof CycleBreakdown, 'total'>;

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

function newTally(): Tally {
  return { counters: emptyCounters(), cycles: emptyCycles() };
}

function snapshot(t: Tally): Tally {
  return { counters: { ...t.counters }, cycles: { ...t.cycles } };
}

/**
 * Where charges go: the guest's run, or the population before it ('prefault'), which is reported
 * apart so the variants' run costs compare like for like.
 */
export class Meter {
  private readonly run = newTally();
  private prefault: Tally | null = null;
  private current = this.run;

  get counters(): ChangePteCounters {
    return this.current.counters;
  }

  charge(category: CycleCategory, cycles: number): void {
    this.current.cycles[category] += cycles;
    this.current.cycles.total += cycles;
  }

  chargeToPrefault(): void {
    this.prefault ??= newTally();
    this.current = this.prefault;
  }

  chargeToRun(): void {
    this.current = this.run;
  }

  runTotals(): Tally {
    return snapshot(this.run);
  }

  prefaultTotals(): Tally | null {
    return this.prefault ? snapshot(this.prefault) : null;
  }
}
