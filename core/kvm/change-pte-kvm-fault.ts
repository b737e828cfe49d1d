// KVM's side of an ordinary memslot (virt/kvm/kvm_main.c, arch/x86/kvm/mmu as of v6.9): the VM
// exit, the TDP page fault that fills an SPTE from the host page (hva_to_pfn), and the MMU notifier
// callbacks that zap SPTEs when the host mapping changes. The two race through
// mmu_invalidate_seq: a fault that sees the sequence move since kvm_faultin_pfn returns
// RET_PF_RETRY and the guest exits again, which is the cost change_pte was meant to avoid.
import type { CostModel } from '../constants.js';
import type { ChangePteConfig } from './change-pte-config.js';
import type { HostMm, MmuNotifier } from './change-pte-host-fault.js';
import type { HostPageTables, SptePageTables, SpteState } from './change-pte-tables.js';
import type { Meter } from './change-pte-tally.js';

export class KvmMemslot implements MmuNotifier {
  private mmuInvalidateSeq = 0;
  private mmuInvalidateInProgress = 0;

  constructor(
    private readonly config: ChangePteConfig,
    private readonly costs: CostModel,
    private readonly meter: Meter,
    private readonly host: HostMm,
    private readonly hostTables: HostPageTables,
    private readonly sptes: SptePageTables,
  ) {
    host.registerNotifier(this);
  }

  /** Invalidations begun and not ended; 0 between guest accesses. */
  get invalidationsInProgress(): number {
    return this.mmuInvalidateInProgress;
  }

  /** An EPT violation on a missing or read-only SPTE. */
  vmExit(steps: string[]): void {
    this.meter.counters.vmExits++;
    this.meter.charge('exit', this.costs.vmExitCycles);
    steps.push('handle_ept_violation', 'kvm_mmu_page_fault');
  }

  /** kvm_tdp_page_fault -> kvm_tdp_mmu_page_fault; returns false for RET_PF_RETRY. */
  tdpPageFault(gfn: number, write: boolean, steps: string[]): boolean {
    this.meter.counters.tdpFaults++;
    this.meter.charge('fault', this.costs.tdpFaultCycles);
    steps.push('kvm_tdp_page_fault', 'kvm_tdp_mmu_page_fault', 'kvm_faultin_pfn');
    const mmuSeq = this.mmuInvalidateSeq;
    const follWrite = write || this.config.memslotAlwaysWritable;
    const pfn = this.hvaToPfn(gfn, follWrite, steps);

    this.meter.counters.mmuLockReadAcquisitions++;
    steps.push('is_page_fault_stale');
    if (this.mmuInvalidateRetry(mmuSeq)) {
      this.meter.counters.staleFaultRetries++;
      steps.push('RET_PF_RETRY');
      return false;
    }
    steps.push('kvm_tdp_mmu_map'); // at the host mapping level (host_pfn_mapping_level)
    this.sptes.map(gfn, pfn);
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
    const fast = this.hostTables.mapping(gfn);
    if (fast.present && fast.writable) return { level: fast.level, writable: true };

    steps.push('hva_to_pfn_slow', 'get_user_pages_unlocked');
    this.host.faultInPage(gfn, follWrite, steps);
    const slow = this.hostTables.mapping(gfn);
    if (follWrite) return { level: slow.level, writable: true };
    steps.push('get_user_page_fast_only');
    return { level: slow.level, writable: slow.writable };
  }

  // --- MMU notifier callbacks (virt/kvm/kvm_main.c) -------------------------------------------

  invalidateRangeStart(firstGfn: number, nrPages: number, steps: string[]): void {
    steps.push('kvm_mmu_notifier_invalidate_range_start');
    this.mmuLockWrite();
    this.meter.charge('invalidate', this.costs.invalidateCycles);
    this.mmuInvalidateInProgress++;
    this.sptes.zap(firstGfn, nrPages);
  }

  invalidateRangeEnd(steps: string[]): void {
    steps.push('kvm_mmu_notifier_invalidate_range_end');
    this.mmuLockWrite();
    this.mmuInvalidateSeq++;
    this.mmuInvalidateInProgress--;
    this.meter.counters.invalidations++;
  }

  /**
   * kvm_mmu_notifier_change_pte: runs inside the CoW's invalidate pair, so it takes mmu_lock for
   * write and finds no SPTE to change (invalidate_range_start zapped it).
   */
  changePte(steps: string[]): void {
    steps.push('kvm_mmu_notifier_change_pte');
    this.meter.counters.changePteCalls++;
    this.mmuLockWrite();
  }

  private mmuLockWrite(): void {
    this.meter.counters.mmuLockWriteAcquisitions++;
    this.meter.charge('mmuLock', this.costs.mmuLockWriteCycles);
  }
}
