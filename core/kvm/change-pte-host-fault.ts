// The host side of an ordinary VM's fault path: GUP and handle_mm_fault on the VMM's mapping of
// guest RAM, anonymous memory with THP and the huge zero page, or HugeTLB (mm/memory.c,
// mm/huge_memory.c, mm/hugetlb.c as of v6.9). Every change to a present host mapping runs the
// MMU notifiers registered on the mm, which is how KVM learns to drop its SPTEs.
import type { CostModel } from '../constants.js';
import { PAGES_PER_2M } from '../units.js';
import type { ChangePteConfig } from './change-pte-config.js';
import {
  indexInRegion,
  PTE_ANON,
  PTE_NONE,
  PTE_ZERO,
  regionOf,
  type HostPageTables,
  type HostRegion,
} from './change-pte-tables.js';
import type { Meter } from './change-pte-tally.js';

/** The callbacks of include/linux/mmu_notifier.h the model's paths reach (KVM's, in practice). */
export interface MmuNotifier {
  invalidateRangeStart(firstGfn: number, nrPages: number, steps: string[]): void;
  invalidateRangeEnd(steps: string[]): void;
  changePte(steps: string[]): void;
}

export class HostMm {
  private readonly notifiers: MmuNotifier[] = [];

  constructor(
    private readonly config: ChangePteConfig,
    private readonly costs: CostModel,
    private readonly meter: Meter,
    private readonly tables: HostPageTables,
    private readonly hugeZeroSplitCycles: number,
  ) {}

  /** mmu_notifier_register: KVM registers when the VM is created (kvm_init_mmu_notifier). */
  registerNotifier(notifier: MmuNotifier): void {
    this.notifiers.push(notifier);
  }

  /** __get_user_pages: follow the page table, fault only when the PTE does not allow the access. */
  faultInPage(gfn: number, write: boolean, steps: string[]): void {
    const m = this.tables.mapping(gfn);
    if (m.present && (m.writable || !write)) return;
    this.handleMmFault(gfn, write, steps);
  }

  private handleMmFault(gfn: number, write: boolean, steps: string[]): void {
    steps.push('handle_mm_fault');
    this.meter.counters.hostFaults++;
    if (this.config.backing === 'hugetlb') this.hugetlbFault(gfn, write, steps);
    else this.anonFault(gfn, write, steps);
  }

  private anonFault(gfn: number, write: boolean, steps: string[]): void {
    const region = this.tables.region(regionOf(gfn));
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
      this.meter.counters.hugeZeroPageMaps++;
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
    const ptes = this.tables.ensurePteTable(region);
    if (!write) {
      steps.push('my_zero_pfn');
      ptes[indexInRegion(gfn)] = PTE_ZERO;
      this.meter.counters.zeroPageMaps++;
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
    this.meter.counters.hugeZeroPageSplits++;
    this.meter.charge('split', this.hugeZeroSplitCycles);
    this.invalidateRangeEnd(steps); // mmu_notifier_invalidate_range_only_end
    steps.push('VM_FAULT_FALLBACK');
  }

  /** do_wp_page on a zero PTE -> wp_page_copy: new zeroed folio, notifier pair around the swap. */
  private doWpPage(region: HostRegion, gfn: number, steps: string[]): void {
    steps.push('do_wp_page', 'wp_page_copy', 'vma_alloc_zeroed_movable_folio');
    this.allocZeroedPage();
    this.meter.counters.cowCopies++;
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
    const region = this.tables.region(regionOf(gfn));
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
    this.meter.counters.writeReuses++;
  }

  private allocZeroedPage(): void {
    const c = this.meter.counters;
    c.pagesAllocated++;
    c.pagesZeroed++;
    this.meter.charge('alloc', this.costs.buddyAlloc4KCycles);
    this.meter.charge('zeroing', this.costs.zeroPage4KCycles);
  }

  private allocHugeFolio(allocCycles: number): void {
    const c = this.meter.counters;
    c.hugePagesAllocated++;
    c.pagesAllocated += PAGES_PER_2M;
    c.pagesZeroed += PAGES_PER_2M;
    this.meter.charge('alloc', allocCycles);
    this.meter.charge('zeroing', PAGES_PER_2M * this.costs.zeroPage4KCycles);
  }

  // --- MMU notifiers (mm/mmu_notifier.c) ------------------------------------------------------

  private invalidateRangeStart(firstGfn: number, nrPages: number, steps: string[]): void {
    for (const n of this.notifiers) n.invalidateRangeStart(firstGfn, nrPages, steps);
  }

  private invalidateRangeEnd(steps: string[]): void {
    for (const n of this.notifiers) n.invalidateRangeEnd(steps);
  }

  /** set_pte_at_notify's callback; only kernels before 6.10 have it. */
  private changePte(steps: string[]): void {
    for (const n of this.notifiers) n.changePte(steps);
  }
}
