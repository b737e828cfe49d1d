// One VM with one memslot over the VMM's mapping of guest RAM: the guest's accesses, the
// population before it runs ('prefault'), and what is left at the end. The host (HostMm) and KVM
// (KvmMemslot) sides are wired as in the kernel: KVM registers its MMU notifier on the host mm.
import type { CostModel } from '../constants.js';
import { DEFAULT_COSTS } from '../constants.js';
import type { AccessKind, ChangePteConfig } from './change-pte-config.js';
import { HostMm } from './change-pte-host-fault.js';
import { KvmMemslot } from './change-pte-kvm-fault.js';
import { HostPageTables, SptePageTables } from './change-pte-tables.js';
import { Meter, type AccessEvent, type Tally } from './change-pte-tally.js';

/** A fault that needs more than this many exits is a bug in the model, not a kernel path. */
const MAX_EXITS_PER_ACCESS = 4;

export class ChangePteMachine {
  readonly config: ChangePteConfig;
  private readonly meter = new Meter();
  private readonly hostTables = new HostPageTables();
  private readonly sptes = new SptePageTables();
  private readonly host: HostMm;
  private readonly kvm: KvmMemslot;
  private accessCount = 0;

  constructor(
    config: ChangePteConfig,
    costs: CostModel = DEFAULT_COSTS,
    hugeZeroSplitCycles?: number,
  ) {
    this.config = config;
    const splitCycles = hugeZeroSplitCycles ?? costs.split2MCycles;
    this.host = new HostMm(config, costs, this.meter, this.hostTables, splitCycles);
    this.kvm = new KvmMemslot(config, costs, this.meter, this.host, this.hostTables, this.sptes);
  }

  /** One guest access: exits until an SPTE allows it (a retried fault re-executes the access). */
  guestAccess(gfn: number, access: AccessKind, steps: string[] = []): AccessEvent {
    const write = access === 'write';
    let exits = 0;
    while (!this.sptes.permits(gfn, write)) {
      if (exits === MAX_EXITS_PER_ACCESS)
        throw new Error(`gfn ${gfn}: ${access} not resolved after ${exits} exits`);
      exits++;
      this.kvm.vmExit(steps);
      this.kvm.tdpPageFault(gfn, write, steps);
    }
    return {
      index: this.accessCount++,
      gfn,
      access,
      exits,
      steps,
      mapped: this.sptes.state(gfn),
    };
  }

  /**
   * MADV_POPULATE_WRITE (or MAP_POPULATE) over the range, then KVM_PRE_FAULT_MEMORY. Charged to a
   * separate tally. KVM_PRE_FAULT_MEMORY's fault is a read fault: it maps writable only what the
   * host already maps writable.
   */
  prefaultMemory(firstGfn: number, nrPages: number): void {
    this.meter.chargeToPrefault();
    const end = firstGfn + nrPages;
    const ignored: string[] = [];
    if (this.config.populateHostWritable) {
      for (let gfn = firstGfn; gfn < end; gfn = this.hostTables.nextMapping(gfn))
        this.host.faultInPage(gfn, true, ignored);
    }
    for (let gfn = firstGfn; gfn < end; gfn = this.sptes.next(gfn)) {
      // kvm_tdp_map_page loops on RET_PF_RETRY itself.
      for (let tries = 0; !this.sptes.present(gfn); tries++) {
        if (tries === MAX_EXITS_PER_ACCESS) throw new Error(`gfn ${gfn}: pre-fault not resolved`);
        this.kvm.tdpPageFault(gfn, false, ignored);
      }
      ignored.length = 0;
    }
    this.meter.chargeToRun();
  }

  runTotals(): Tally {
    return this.meter.runTotals();
  }

  prefaultTotals(): Tally | null {
    return this.meter.prefaultTotals();
  }

  mappingCounts(): { pages4k: number; pages2m: number } {
    return this.sptes.counts();
  }

  /** KVM never maps more than the host does, and no invalidation is left open between accesses. */
  checkInvariants(): string[] {
    const errors: string[] = [];
    const inProgress = this.kvm.invalidationsInProgress;
    if (inProgress !== 0) errors.push(`mmu_invalidate_in_progress = ${inProgress}`);
    return [...errors, ...this.sptes.violations(this.hostTables)];
  }
}
