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
// This file runs a variant over an access sequence; the model is split by mechanism:
//   change-pte-config.ts      variants, options, and the configuration they resolve to
//   change-pte-machine.ts     one VM, one memslot: guest accesses, prefault, invariants
//   change-pte-host-fault.ts  host GUP and handle_mm_fault (anon THP, huge zero page, HugeTLB)
//   change-pte-kvm-fault.ts   KVM's exit, TDP fault, hva_to_pfn and MMU notifier callbacks
//   change-pte-tables.ts      host page tables and SPTEs per 2 MiB region
//   change-pte-tally.ts       counters, cycles and what each cost is charged for
import type { CostModel } from '../constants.js';
import { DEFAULT_COSTS } from '../constants.js';
import { ConfigError } from '../errors.js';
import { PAGES_PER_2M } from '../units.js';
import {
  variantConfig,
  type ChangePteConfig,
  type ChangePteOptions,
  type ChangePteVariant,
  type GuestAccess,
} from './change-pte-config.js';
import { ChangePteMachine } from './change-pte-machine.js';
import { regionOf } from './change-pte-tables.js';
import type { AccessEvent, Tally } from './change-pte-tally.js';

export {
  CHANGE_PTE_VARIANTS,
  variantConfig,
  type AccessKind,
  type ChangePteConfig,
  type ChangePteOptions,
  type ChangePteVariant,
  type ChangePteVariantDef,
  type GuestAccess,
} from './change-pte-config.js';
export { ChangePteMachine } from './change-pte-machine.js';
export type { SpteState } from './change-pte-tables.js';
export type { AccessEvent, ChangePteCounters, CycleBreakdown, Tally } from './change-pte-tally.js';

export interface ChangePteResult extends Tally {
  readonly config: ChangePteConfig;
  /** Population before the guest runs ('prefault' only), counted apart from the run. */
  readonly prefault: Tally | null;
  readonly events: readonly AccessEvent[];
  /** Present SPTEs at the end, as KVM's pages_4k / pages_2m stats. */
  readonly mappings: { readonly pages4k: number; readonly pages2m: number };
}

function isGfn(gfn: unknown): gfn is number {
  return typeof gfn === 'number' && Number.isSafeInteger(gfn) && gfn >= 0;
}

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

/** Run one variant over a guest access sequence, from a VM whose memory was never touched. */
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
  const events = runAccesses(machine, accesses, options.recordEvents ?? true);
  return {
    config,
    ...machine.runTotals(),
    prefault: machine.prefaultTotals(),
    events,
    mappings: machine.mappingCounts(),
  };
}

/** Without a record, one scratch step list serves every access, so long sequences stay cheap. */
function runAccesses(
  machine: ChangePteMachine,
  accesses: readonly GuestAccess[],
  record: boolean,
): AccessEvent[] {
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
  return events;
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
