// Default constants of the model (domain.md section 7). Each one is overridable per experiment;
// this table is the single source for the schema defaults, the UI (unit, help text, assumption
// flag) and the docs.

type ConstantUnit = 'bytes' | 'pages' | 'cycles' | 'us' | 'ms' | 'GHz' | 'entries' | 'ratio';

export interface ConstantDef {
  readonly key: CostKey;
  readonly value: number;
  readonly unit: ConstantUnit;
  readonly description: string;
  /** Where the number comes from: a kernel file, a mailing-list thread or a measurement. */
  readonly source: string;
  /** No public number exists: the model takes a parameter and the UI says it is an assumption. */
  readonly assumption: boolean;
}

export type CostKey =
  | 'structPageBytes'
  | 'vmemmapPagesPer2M'
  | 'vmemmapPagesPer1G'
  | 'hvoFreedPagesPer2M'
  | 'hvoFreedPagesPer1G'
  | 'conversionOpCycles'
  | 'split1GCycles'
  | 'merge1GCycles'
  | 'split2MCycles'
  | 'merge2MCycles'
  | 'cpuGhz'
  | 'hugetlbAlloc2MNoHvoUs'
  | 'hugetlbAlloc2MHvoUnbatchedUs'
  | 'hugetlbAlloc2MHvoBatchedUs'
  | 'hugetlbFree2MNoHvoUs'
  | 'hugetlbFree2MHvoUnbatchedUs'
  | 'hugetlbFree2MHvoBatchedUs'
  | 'hugetlbSubpoolGetCycles'
  | 'hugetlbDequeueCycles'
  | 'hugetlbSubpoolPutCycles'
  | 'hugetlbEnqueueCycles'
  | 'cmaAlloc1GBaseMs'
  | 'cmaMigrateUsPerPage'
  | 'cmaPathologicalMs'
  | 'buddyAlloc4KCycles'
  | 'thpAlloc2MCycles'
  | 'zeroPage4KCycles'
  | 'vmExitCycles'
  | 'userspaceExitCycles'
  | 'tdpFaultCycles'
  | 'mmuLockWriteCycles'
  | 'invalidateCycles'
  | 'tlbMissCycles'
  | 'snpPscBatchEntries'
  | 'tdxMapGpaChunkBytes'
  | 'lazyAcceptChunkBytes'
  | 'ptPagesMap1GAt4K'
  | 'ptPagesMap1GAt2M'
  | 'ptPagesMap1GAt1G';

const ROTH_2025 =
  'Michael Roth (AMD), "Re: [RFC PATCH v2 02/51] KVM: guest_memfd: Introduce and use shareability to guard faulting", kvm/linux-mm/linux-fsdevel lists, 11 Jul 2025, Message-ID <20250712001055.3in2lnjz6zljydq2@amd.com> (thread of Ackerley Tng\'s "1G page support for guest_memfd" RFC v2); cycles spent in kvm_gmem_convert_execute_work() profiled during a 16 GB SNP guest boot: split/merge "~100x more" than an average conversion (2 MiB hugetlb run) and, for 1 GiB, "46475980 cycles vs 320 in this sample"';
const HVO_SERIES =
  'Mike Kravetz, "[PATCH v8 0/8] Batch hugetlb vmemmap modification operations", linux-mm/linux-kernel, 18 Oct 2023, Message-ID <20231019023113.345257-1-mike.kravetz@oracle.com> (first posted 25 Aug 2023; includes patches by Joao Martins; changes mm/hugetlb_vmemmap.c). Bare metal, 8-socket Intel Xeon E7-8895, next-20230824: "time echo 500000 > .../hugepages-2048kB/nr_hugepages" (alloc) and "echo 0" (free), divided by 500000 pages';

export const CONSTANTS: readonly ConstantDef[] = [
  {
    key: 'structPageBytes',
    value: 64,
    unit: 'bytes',
    description: 'Size of one struct page (x86-64, arm64).',
    source:
      'include/linux/mm_types.h: sizeof(struct page) == 64 on 64-bit without debug options; Documentation/mm/vmemmap_dedup.rst ("In most cases, the size of struct page is 64 bytes (e.g. x86-64 and arm64)")',
    assumption: false,
  },
  {
    key: 'vmemmapPagesPer2M',
    value: 8,
    unit: 'pages',
    description: 'vmemmap pages (4 KiB) holding the struct pages of one 2 MiB folio.',
    source:
      '512 struct pages x 64 B / 4 KiB; Documentation/mm/vmemmap_dedup.rst ("A 2MB HugeTLB page on x86_64 consists in 8 page frames")',
    assumption: false,
  },
  {
    key: 'vmemmapPagesPer1G',
    value: 4096,
    unit: 'pages',
    description: 'vmemmap pages (4 KiB) holding the struct pages of one 1 GiB folio.',
    source:
      '262144 struct pages x 64 B / 4 KiB; Documentation/mm/vmemmap_dedup.rst ("while 1GB HugeTLB page consists in 4096")',
    assumption: false,
  },
  {
    key: 'hvoFreedPagesPer2M',
    value: 7,
    unit: 'pages',
    description: 'vmemmap pages HVO frees per 2 MiB HugeTLB page (one is kept and remapped).',
    source:
      'Documentation/mm/vmemmap_dedup.rst ("free the remaining 7 pages to the buddy allocator"); mm/hugetlb_vmemmap.h: HUGETLB_VMEMMAP_RESERVE_SIZE = PAGE_SIZE (one vmemmap page kept); Documentation/admin-guide/sysctl/vm.rst, hugetlb_optimize_vmemmap ("7 pages per 2MB HugeTLB page")',
    assumption: false,
  },
  {
    key: 'hvoFreedPagesPer1G',
    value: 4095,
    unit: 'pages',
    description: 'vmemmap pages HVO frees per 1 GiB HugeTLB page.',
    source:
      'Documentation/mm/vmemmap_dedup.rst (PUD level: "free (PAGE_SIZE - 1) vmemmap pages"); Documentation/admin-guide/sysctl/vm.rst, hugetlb_optimize_vmemmap ("4095 pages per 1GB HugeTLB page")',
    assumption: false,
  },
  {
    key: 'conversionOpCycles',
    value: 320,
    unit: 'cycles',
    description:
      'Bookkeeping of one plain private/shared conversion operation (no split or merge).',
    source: `${ROTH_2025}; 320 is the normal-conversion figure of the 1 GiB sample`,
    assumption: false,
  },
  {
    key: 'split1GCycles',
    value: 46_475_980,
    unit: 'cycles',
    description:
      'Splitting one 1 GiB HugeTLB folio, vmemmap restore included (measured inside kvm_gmem_convert_execute_work(), which calls hugetlb_vmemmap_restore_folio()); no restore cycles are charged on top.',
    source: `${ROTH_2025}; the mail gives one "split/merge" figure, not separate split and merge costs; the profiled function kvm_gmem_convert_execute_work() runs the split, hugetlb_vmemmap_restore_folio() included (RFC v2, guestmem_hugetlb_split_folio() in mm/guestmem_hugetlb.c)`,
    assumption: false,
  },
  {
    key: 'merge1GCycles',
    value: 46_475_980,
    unit: 'cycles',
    description: 'Merging (reconstructing) one 1 GiB HugeTLB folio (vmemmap re-optimise excluded).',
    source: `${ROTH_2025}; the single "split/merge" figure, reused for merge`,
    assumption: false,
  },
  {
    key: 'split2MCycles',
    value: 32_000,
    unit: 'cycles',
    description:
      'Splitting one 2 MiB folio, vmemmap restore excluded. Estimate: 100 x conversionOpCycles (320 cycles, the plain-conversion figure of the 1 GiB sample), whereas the "~100x" statement is relative to an average conversion of the 2 MiB run, whose figure the mail does not give. Assumption.',
    source: `Estimate, not measured: ~100x (2 MiB hugetlb run, relative to its average conversion operation) x 320 cycles (the plain conversion of the 1 GiB sample, not that average). ${ROTH_2025}`,
    assumption: true,
  },
  {
    key: 'merge2MCycles',
    value: 32_000,
    unit: 'cycles',
    description:
      'Merging one 2 MiB folio, vmemmap re-optimise excluded. The same estimate as split2MCycles: 100 x the 320-cycle plain conversion of the 1 GiB sample, not 100 x the 2 MiB run\'s average conversion the "~100x" statement refers to. Assumption.',
    source: `Estimate, not measured: ~100x (2 MiB hugetlb run, relative to its average conversion operation) x 320 cycles (the plain conversion of the 1 GiB sample, not that average). ${ROTH_2025}`,
    assumption: true,
  },
  {
    key: 'cpuGhz',
    value: 2.5,
    unit: 'GHz',
    description: 'Host CPU clock used to convert between cycles and time.',
    source: 'Parameter of the experiment',
    assumption: true,
  },
  {
    key: 'hugetlbAlloc2MNoHvoUs',
    value: 8.2,
    unit: 'us',
    description: 'Allocating one 2 MiB HugeTLB page without HVO.',
    source: `${HVO_SERIES}. Unmodified kernel, vm.hugetlb_optimize_vmemmap = 0, alloc: real 0m4.119s / 500000 = 8.2 us`,
    assumption: false,
  },
  {
    key: 'hugetlbAlloc2MHvoUnbatchedUs',
    value: 57.9,
    unit: 'us',
    description: 'Allocating one 2 MiB HugeTLB page with HVO, vmemmap optimised page by page.',
    source: `${HVO_SERIES}. Unmodified kernel, vm.hugetlb_optimize_vmemmap = 1, alloc: real 0m28.973s / 500000 = 57.9 us`,
    assumption: false,
  },
  {
    key: 'hugetlbAlloc2MHvoBatchedUs',
    value: 14.5,
    unit: 'us',
    description: 'Allocating one 2 MiB HugeTLB page with HVO, vmemmap optimised in batches.',
    source: `${HVO_SERIES}. With the batching patches, vm.hugetlb_optimize_vmemmap = 1, alloc: real 0m7.267s / 500000 = 14.5 us`,
    assumption: false,
  },
  {
    key: 'hugetlbFree2MNoHvoUs',
    value: 9.0,
    unit: 'us',
    description: 'Freeing one 2 MiB HugeTLB page without HVO.',
    source: `${HVO_SERIES}. Unmodified kernel, vm.hugetlb_optimize_vmemmap = 0, free: real 0m4.477s / 500000 = 9.0 us`,
    assumption: false,
  },
  {
    key: 'hugetlbFree2MHvoUnbatchedUs',
    value: 73.5,
    unit: 'us',
    description: 'Freeing one 2 MiB HugeTLB page with HVO (vmemmap restored page by page).',
    source: `${HVO_SERIES}. Unmodified kernel, vm.hugetlb_optimize_vmemmap = 1, free: real 0m36.748s / 500000 = 73.5 us`,
    assumption: false,
  },
  {
    key: 'hugetlbFree2MHvoBatchedUs',
    value: 26.4,
    unit: 'us',
    description: 'Freeing one 2 MiB HugeTLB page with HVO (vmemmap restored in batches).',
    source: `${HVO_SERIES}. With the batching patches, vm.hugetlb_optimize_vmemmap = 1, free: real 0m13.199s / 500000 = 26.4 us`,
    assumption: false,
  },
  {
    key: 'hugetlbSubpoolGetCycles',
    value: 200,
    unit: 'cycles',
    description:
      "Taking one page from the guest_memfd file's HugeTLB subpool (hugepage_subpool_get_pages(): spool->lock and the used/reserved counters). The same for 2 MiB and 1 GiB pages. Assumption: no public timing.",
    source:
      'mm/hugetlb.c: hugepage_subpool_get_pages(), called first by guestmem_hugetlb_alloc_folio() in mm/guestmem_hugetlb.c of Ackerley Tng\'s "[RFC PATCH v2 00/51] 1G page support for guest_memfd" (kvm/linux-mm lists, 14 May 2025); no public number',
    assumption: true,
  },
  {
    key: 'hugetlbDequeueCycles',
    value: 1_000,
    unit: 'cycles',
    description:
      "Dequeuing one reserved page from the HugeTLB pool's free list (hugetlb_lock, list removal, counters). The page entered the pool, HVO applied, when the pool grew at host boot, so its growth cost is not part of this. Assumption: no public timing.",
    source:
      'mm/hugetlb.c: dequeue_hugetlb_folio_nodemask() / dequeue_hugetlb_folio_node_exact() under hugetlb_lock, reached from hugetlb_alloc_folio() with use_existing_reservation = true in guestmem_hugetlb_alloc_folio() (RFC v2, 14 May 2025); no public number',
    assumption: true,
  },
  {
    key: 'hugetlbSubpoolPutCycles',
    value: 200,
    unit: 'cycles',
    description:
      "Giving one page back to the guest_memfd file's HugeTLB subpool (hugepage_subpool_put_pages(): spool->lock and the used/reserved counters). The same for 2 MiB and 1 GiB pages. Assumption: no public timing.",
    source:
      'mm/hugetlb.c: free_huge_folio() calls hugepage_subpool_put_pages(spool, 1) for a folio of a subpool (the free path of guestmem_hugetlb folios in mm/guestmem_hugetlb.c, Ackerley Tng\'s "[RFC PATCH v2 00/51] 1G page support for guest_memfd", 14 May 2025); no public number',
    assumption: true,
  },
  {
    key: 'hugetlbEnqueueCycles',
    value: 1_000,
    unit: 'cycles',
    description:
      "Putting one freed page back on the HugeTLB pool's free list (hugetlb_lock, list insertion, counters). The page stays in the pool with its HVO, so no vmemmap is restored and nothing goes to the buddy allocator; the nr_hugepages shrink timings (hugetlbFree2M*Us) are not part of this. Assumption: no public timing.",
    source:
      'mm/hugetlb.c: free_huge_folio() -> enqueue_hugetlb_folio() under hugetlb_lock when the page is not surplus (a guest_memfd subpool never uses surplus pages); only a page leaving the pool goes through update_and_free_hugetlb_folio() and hugetlb_vmemmap_restore_folio(). No public number',
    assumption: true,
  },
  {
    key: 'cmaAlloc1GBaseMs',
    value: 5,
    unit: 'ms',
    description:
      'Runtime 1 GiB contiguous allocation from an empty CMA range (just after boot). Assumption: the 5-26 ms figure it comes from has no located primary source.',
    source:
      'Figure (5-26 ms per runtime 1 GiB allocation just after boot) given in the domain spec; primary source not located (the previously cited "hugetlb: add demote/split page functionality" thread was checked in part and did not show it), so it is an assumption. Mechanism: hugetlb_cma= / cma_alloc() -> alloc_contig_range(), commit "mm: hugetlb: optionally allocate gigantic hugepages using cma" (Roman Gushchin, 2020)',
    assumption: true,
  },
  {
    key: 'cmaMigrateUsPerPage',
    value: 0.08,
    unit: 'us',
    description:
      'Migrating one movable 4 KiB page out of a CMA range. Assumption: chosen so that 262144 pages add about 21 ms, the top of the (unsourced) 5-26 ms range; no measurement behind it.',
    source:
      'Derived from the 5-26 ms range above (itself not traced to a primary source): chosen to land in that range, not measured; fragmented-CMA latency has no public number',
    assumption: true,
  },
  {
    key: 'cmaPathologicalMs',
    value: 1300,
    unit: 'ms',
    description:
      'Worst observed 1 GiB contiguous allocation (transient references force repeated migration). Assumption: the 1.3 s figure has no located primary source.',
    source:
      'Figure (up to 1.3 s for a runtime 1 GiB allocation) given in the domain spec; primary source not located, so it is an assumption',
    assumption: true,
  },
  {
    key: 'buddyAlloc4KCycles',
    value: 400,
    unit: 'cycles',
    description:
      'Allocating one 4 KiB page from the buddy allocator (per-CPU list hit, zeroing excluded).',
    source: 'No public number for this path under guest_memfd',
    assumption: true,
  },
  {
    key: 'thpAlloc2MCycles',
    value: 20_000,
    unit: 'cycles',
    description: 'Allocating one 2 MiB THP from the buddy allocator when a free block exists.',
    source: 'No public number for this path under guest_memfd',
    assumption: true,
  },
  {
    key: 'zeroPage4KCycles',
    value: 1_000,
    unit: 'cycles',
    description: 'Clearing one 4 KiB page (clear_page with rep stosb, cache-cold).',
    source: 'No public number for CoCo hosts',
    assumption: true,
  },
  {
    key: 'vmExitCycles',
    value: 4_000,
    unit: 'cycles',
    description:
      'Round trip of one VM exit to KVM and back (confidential guests pay more than plain ones).',
    source: 'No public number for SNP/TDX exits of this kind',
    assumption: true,
  },
  {
    key: 'userspaceExitCycles',
    value: 10_000,
    unit: 'cycles',
    description:
      'Round trip of one exit from KVM_RUN to the VMM and back while the guest stays out (a KVM_EXIT_HYPERCALL of a TDX MapGPA chunk): the ioctl returns, the VMM handles the exit, KVM_RUN is called again. The conversion the VMM then does is charged apart. Assumption: no public number.',
    source:
      'Mechanism: arch/x86/kvm/vmx/tdx.c __tdx_map_gpa() sets KVM_EXIT_HYPERCALL and tdx_complete_vmcall_map_gpa() runs on the next KVM_RUN; no public timing of this round trip',
    assumption: true,
  },
  {
    key: 'tdpFaultCycles',
    value: 3_000,
    unit: 'cycles',
    description: 'Handling one TDP (EPT/NPT) fault in KVM, lookup and SPTE install.',
    source: 'No public number',
    assumption: true,
  },
  {
    key: 'mmuLockWriteCycles',
    value: 500,
    unit: 'cycles',
    description: 'One uncontended write acquisition and release of kvm->mmu_lock.',
    source: 'No public number',
    assumption: true,
  },
  {
    key: 'invalidateCycles',
    value: 1_500,
    unit: 'cycles',
    description: 'One invalidation callback over a range (zap SPTEs, TLB flush request).',
    source: 'No public number',
    assumption: true,
  },
  {
    key: 'tlbMissCycles',
    value: 200,
    unit: 'cycles',
    description: 'Extra cost of a two-dimensional TLB miss in a confidential guest.',
    source: 'No public number for CoCo guests',
    assumption: true,
  },
  {
    key: 'snpPscBatchEntries',
    value: 64,
    unit: 'entries',
    description: 'Entries per SNP page-state-change request (GHCB spec allows up to 253).',
    source:
      'arch/x86/include/asm/sev-common.h: VMGEXIT_PSC_MAX_ENTRY = 64 (Linux guest side; cut from 253 by "x86/sev: Put PSC struct on the stack in prep for unaccepted memory support", Tom Lendacky, 2023), used by set_pages_state() in arch/x86/coco/sev/core.c; VMGEXIT_PSC_MAX_COUNT = 253 in the same header is the GHCB-defined maximum, used by KVM (arch/x86/kvm/svm/sev.c); GHCB spec, SNP Page State Change NAE event',
    assumption: false,
  },
  {
    key: 'tdxMapGpaChunkBytes',
    value: 2 * 1024 * 1024,
    unit: 'bytes',
    description:
      'Bytes of a TDX MapGPA range KVM hands to the VMM per exit to userspace; the guest exits once per MapGPA call.',
    source:
      'arch/x86/kvm/vmx/tdx.c: #define TDX_MAP_GPA_MAX_LEN (2 * 1024 * 1024), chunking in __tdx_map_gpa() / tdx_complete_vmcall_map_gpa()',
    assumption: false,
  },
  {
    key: 'lazyAcceptChunkBytes',
    value: 4 * 1024 * 1024,
    unit: 'bytes',
    description:
      'Memory a guest accepts at a time under lazy acceptance (EFI unaccepted bitmap unit is 2 MiB).',
    source:
      'mm/page_alloc.c: __accept_page() / try_to_accept_memory_one() call accept_memory(page_to_phys(page), PAGE_SIZE << MAX_PAGE_ORDER) (order 10 = 4 MiB on x86-64; MAX_ORDER before v6.8). Bitmap unit: arch/x86/include/asm/efi.h EFI_UNACCEPTED_UNIT_SIZE = PMD_SIZE (2 MiB), read as unaccepted->unit_size in drivers/firmware/efi/unaccepted_memory.c',
    assumption: false,
  },
  {
    key: 'ptPagesMap1GAt4K',
    value: 513,
    unit: 'pages',
    description:
      'EPT/NPT page-table pages needed to map 1 GiB with 4 KiB entries (512 PTE + 1 PMD).',
    source: 'x86 4-level paging: 512 entries per table page',
    assumption: false,
  },
  {
    key: 'ptPagesMap1GAt2M',
    value: 1,
    unit: 'pages',
    description: 'EPT/NPT page-table pages needed to map 1 GiB with 2 MiB entries (one PMD page).',
    source: 'x86 4-level paging',
    assumption: false,
  },
  {
    key: 'ptPagesMap1GAt1G',
    value: 0,
    unit: 'pages',
    description: 'EPT/NPT page-table pages needed to map 1 GiB with one 1 GiB entry (a PUD entry).',
    source: 'x86 4-level paging',
    assumption: false,
  },
];

export type CostModel = Readonly<Record<CostKey, number>>;

export const DEFAULT_COSTS: CostModel = Object.freeze(
  Object.fromEntries(CONSTANTS.map((c) => [c.key, c.value])) as Record<CostKey, number>,
);

/** Microseconds to cycles at the model's clock. */
export function usToCycles(costs: CostModel, us: number): number {
  return Math.round(us * costs.cpuGhz * 1000);
}
