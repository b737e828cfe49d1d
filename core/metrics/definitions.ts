// Every metric the model reports, defined once: name (mirroring the kernel where one exists), unit,
// kind and a one-line definition. The UI, the CLI, the exports and the tests all read this table.

export type MetricUnit = 'bytes' | 'count' | 'cycles' | 'ns' | 'ratio' | 'pages';

/** gauge: a level sampled over time; counter: a running total that only grows. */
type MetricKind = 'gauge' | 'counter';

type MetricCategory = 'memory' | 'folios' | 'mappings' | 'events' | 'cost' | 'coverage';

export interface MetricDef {
  readonly name: string;
  readonly unit: MetricUnit;
  readonly kind: MetricKind;
  readonly category: MetricCategory;
  readonly description: string;
}

const def = (
  name: string,
  unit: MetricUnit,
  kind: MetricKind,
  category: MetricCategory,
  description: string,
): MetricDef => ({ name, unit, kind, category, description });

/** The parts that add up to host_total_bytes (domain.md section 8: accounting adds up). */
export const MEMORY_PARTS = [
  'private_bytes',
  'shared_bytes',
  'double_allocated_bytes',
  'zeroed_not_freed_bytes',
  'reserved_unused_bytes',
  'vmemmap_bytes',
  'page_table_bytes',
  'metadata_bytes',
] as const;

export const METRICS = [
  // Memory
  def(
    'host_total_bytes',
    'bytes',
    'gauge',
    'memory',
    'Host memory the guest costs: the sum of the parts below.',
  ),
  def(
    'private_bytes',
    'bytes',
    'gauge',
    'memory',
    'Memory backing guest pages that are private now.',
  ),
  def(
    'shared_bytes',
    'bytes',
    'gauge',
    'memory',
    'Memory backing guest pages that are shared now.',
  ),
  def(
    'double_allocated_bytes',
    'bytes',
    'gauge',
    'memory',
    'Memory held for a guest page by the backend that is not serving it (legacy model: private copy kept while shared, or shared copy kept while private).',
  ),
  def(
    'zeroed_not_freed_bytes',
    'bytes',
    'gauge',
    'memory',
    'Punched sub-pages of a huge folio: zeroed but still allocated because the folio was only partly punched.',
  ),
  def(
    'reserved_unused_bytes',
    'bytes',
    'gauge',
    'memory',
    'HugeTLB pages reserved for the file (subpool) and not allocated yet: committed to this guest, usable by no one else.',
  ),
  def(
    'vmemmap_bytes',
    'bytes',
    'gauge',
    'memory',
    'struct page storage (vmemmap) for the guest memory, after HVO.',
  ),
  def(
    'hvo_saved_bytes',
    'bytes',
    'gauge',
    'memory',
    'vmemmap memory HVO frees for the guest folios (not part of the total).',
  ),
  def(
    'page_table_bytes',
    'bytes',
    'gauge',
    'memory',
    'EPT/NPT page-table pages mapping the guest.',
  ),
  def(
    'metadata_bytes',
    'bytes',
    'gauge',
    'memory',
    'Other tracking: shareability ranges, deferred punch bitmaps.',
  ),
  // Folios
  def('folios_4k', 'count', 'gauge', 'folios', 'Backing folios of order 0 (4 KiB).'),
  def('folios_2m', 'count', 'gauge', 'folios', 'Backing folios of order 9 (2 MiB).'),
  def('folios_1g', 'count', 'gauge', 'folios', 'Backing folios of order 18 (1 GiB).'),
  // Mappings, as KVM's per-VM stats
  def(
    'pages_4k',
    'count',
    'gauge',
    'mappings',
    'Guest memory mapped by 4 KiB EPT/NPT entries (KVM stat pages_4k).',
  ),
  def(
    'pages_2m',
    'count',
    'gauge',
    'mappings',
    'Guest memory mapped by 2 MiB EPT/NPT entries (KVM stat pages_2m).',
  ),
  def(
    'pages_1g',
    'count',
    'gauge',
    'mappings',
    'Guest memory mapped by 1 GiB EPT/NPT entries (KVM stat pages_1g).',
  ),
  def('mapped_4k_ratio', 'ratio', 'gauge', 'mappings', 'Share of guest memory mapped at 4 KiB.'),
  def('mapped_2m_ratio', 'ratio', 'gauge', 'mappings', 'Share of guest memory mapped at 2 MiB.'),
  def('mapped_1g_ratio', 'ratio', 'gauge', 'mappings', 'Share of guest memory mapped at 1 GiB.'),
  // Events
  def('conversions_to_shared', 'count', 'counter', 'events', 'Conversion calls private -> shared.'),
  def(
    'conversions_to_private',
    'count',
    'counter',
    'events',
    'Conversion calls shared -> private.',
  ),
  def(
    'converted_to_shared_bytes',
    'bytes',
    'counter',
    'events',
    'Bytes whose state changed private -> shared.',
  ),
  def(
    'converted_to_private_bytes',
    'bytes',
    'counter',
    'events',
    'Bytes whose state changed shared -> private.',
  ),
  def('splits_1g', 'count', 'counter', 'events', 'Splits of 1 GiB folios.'),
  def('splits_2m', 'count', 'counter', 'events', 'Splits of 2 MiB folios.'),
  def('merges_1g', 'count', 'counter', 'events', 'Merges (reconstructions) of 1 GiB folios.'),
  def('merges_2m', 'count', 'counter', 'events', 'Merges (reconstructions) of 2 MiB folios.'),
  def(
    'merges_deferred',
    'count',
    'counter',
    'events',
    'Merges queued for the deferred-merge worker.',
  ),
  def(
    'merges_cancelled',
    'count',
    'counter',
    'events',
    'Deferred merges cancelled by a reconversion before they ran.',
  ),
  def(
    'eagain_failures',
    'count',
    'counter',
    'events',
    'Conversions or merges failed with -EAGAIN on an elevated refcount.',
  ),
  def(
    'refused_conversions',
    'count',
    'counter',
    'events',
    'Conversions refused by policy (would split a shared huge page).',
  ),
  def(
    'alloc_failures',
    'count',
    'counter',
    'events',
    'Allocations that failed (pool empty, CMA busy, no memory for vmemmap).',
  ),
  def(
    'thp_fallbacks',
    'count',
    'counter',
    'events',
    'THP allocations that fell back to 4 KiB pages.',
  ),
  def(
    'invalidations',
    'count',
    'counter',
    'events',
    'Invalidation ranges issued to KVM and other users (per backing folio).',
  ),
  def('vm_exits', 'count', 'counter', 'events', 'VM exits taken.'),
  def('tdp_faults', 'count', 'counter', 'events', 'TDP (EPT/NPT) faults handled by KVM.'),
  def('mmu_lock_write', 'count', 'counter', 'events', 'Write acquisitions of kvm->mmu_lock.'),
  def(
    'failed_operations',
    'count',
    'counter',
    'events',
    'Operations the model refused or failed, whatever the errno (EINVAL, EFAULT, EAGAIN, ENOMEM, ...).',
  ),
  def('punched_bytes', 'bytes', 'counter', 'events', 'Bytes passed to PUNCH_HOLE.'),
  def('freed_bytes', 'bytes', 'counter', 'events', 'Bytes of folios returned to their allocator.'),
  def(
    'psc_requests',
    'count',
    'counter',
    'events',
    'SNP page-state-change requests issued by the guest (GHCB requests of up to snpPscBatchEntries entries, plus one GHCB MSR-protocol request per 4 KiB page in early boot); one VM exit each.',
  ),
  def(
    'rmp_psmashes',
    'count',
    'counter',
    'events',
    'SEV-SNP PSMASHes: 2 MiB RMP entries split into 512 4 KiB entries, by sev_gmem_invalidate() (a page of the range going shared or freed) or sev_handle_rmp_fault() (an NPT mapping smaller than the entry). KVM never collapses them back, so the range maps at 4 KiB from then on.',
  ),
  def(
    'mapgpa_guest_exits',
    'count',
    'counter',
    'events',
    'TDX MapGPA guest exits: one VM exit per TDG.VP.VMCALL<MapGPA> the guest makes, whatever the size of its range.',
  ),
  def(
    'mapgpa_userspace_exits',
    'count',
    'counter',
    'events',
    'TDX MapGPA exits to the VMM (KVM_EXIT_HYPERCALL, KVM_HC_MAP_GPA_RANGE): one per tdxMapGpaChunkBytes chunk of a MapGPA range, KVM going on to the next chunk without re-entering the guest (tdx_complete_vmcall_map_gpa()); not VM exits.',
  ),
  def(
    'accept_exits',
    'count',
    'counter',
    'events',
    'VM exits taken while the guest accepts memory (TDP faults of the pages it touches, plus SNP page-state-change requests); first-touch faults on vendors without acceptance.',
  ),
  // Cost
  def('cycles_total', 'cycles', 'counter', 'cost', 'All modelled work, in CPU cycles.'),
  def(
    'cycles_conversion',
    'cycles',
    'counter',
    'cost',
    'Conversion bookkeeping (shareability, attributes, refcount checks).',
  ),
  def('cycles_split', 'cycles', 'counter', 'cost', 'Splitting folios.'),
  def('cycles_merge', 'cycles', 'counter', 'cost', 'Merging folios.'),
  def(
    'cycles_vmemmap',
    'cycles',
    'counter',
    'cost',
    'vmemmap restore before splits and re-optimise after merges (HVO).',
  ),
  def('cycles_allocation', 'cycles', 'counter', 'cost', 'Allocating and freeing folios.'),
  def(
    'cycles_migration',
    'cycles',
    'counter',
    'cost',
    'Migrating movable pages out of CMA ranges.',
  ),
  def(
    'cycles_zeroing',
    'cycles',
    'counter',
    'cost',
    'Zeroing pages (punched ranges, fresh folios).',
  ),
  def(
    'cycles_fault',
    'cycles',
    'counter',
    'cost',
    'VM exits, TDP faults, invalidations and mmu_lock work.',
  ),
  // Coverage
  def('guest_bytes', 'bytes', 'gauge', 'coverage', 'Size of the guest_memfd file modelled.'),
  def('numa_nodes', 'count', 'gauge', 'coverage', 'NUMA nodes of the host modelled.'),
  // Host fleet (fleet workload: VMs arriving and leaving on one host)
  def('vms_running', 'count', 'gauge', 'coverage', 'VMs running on the host (fleet workload).'),
  def(
    'vm_starts',
    'count',
    'counter',
    'events',
    'VMs started: guest_memfd created, memory populated and boot conversions done (fleet workload).',
  ),
  def(
    'vm_start_failures',
    'count',
    'counter',
    'events',
    'VMs that could not start: the HugeTLB subpool could not reserve the file (pool exhausted), or populating or a boot conversion failed (CMA range unavailable or busy, no memory for vmemmap).',
  ),
  def(
    'vm_stops',
    'count',
    'counter',
    'events',
    'VMs that left the host: guest_memfd destroyed and its memory returned (fleet workload).',
  ),
  def(
    'pool_free_bytes',
    'bytes',
    'gauge',
    'memory',
    'HugeTLB pool memory free and not reserved by any file, all sizes and nodes (HugePages_Free - HugePages_Rsvd): what new guests can still reserve (fleet workload).',
  ),
  def(
    'pool_free_2m_pages',
    'count',
    'gauge',
    'memory',
    '2 MiB HugeTLB pages free and not reserved by any file, over all nodes (fleet workload).',
  ),
  def(
    'pool_free_1g_pages',
    'count',
    'gauge',
    'memory',
    '1 GiB HugeTLB pages free and not reserved by any file, over all nodes (fleet workload).',
  ),
  def(
    'cma_free_1g_ranges',
    'count',
    'gauge',
    'memory',
    '1 GiB ranges of the CMA areas a 1 GiB allocation could use now (not allocated, not partly used by 2 MiB folios, no unmovable page, not hwpoisoned), over all nodes (fleet workload).',
  ),
  def(
    'cma_free_2m_blocks',
    'count',
    'gauge',
    'memory',
    '2 MiB blocks of the CMA areas that could still be handed out, over all nodes (fleet workload).',
  ),
  def(
    'host_free_bytes',
    'bytes',
    'gauge',
    'memory',
    'Free buddy-allocator memory over all nodes (source of 4 KiB pages, THPs and vmemmap restores; HugeTLB pools and CMA areas excluded; fleet workload).',
  ),
  def(
    'fleet_truncated',
    'count',
    'gauge',
    'coverage',
    '1 when the fleet run stopped at its event cap before its simulated duration ended, else 0.',
  ),
] as const satisfies readonly MetricDef[];

export type MetricName = (typeof METRICS)[number]['name'];

export const METRIC_INDEX: Readonly<Record<MetricName, number>> = Object.freeze(
  Object.fromEntries(METRICS.map((m, i) => [m.name, i])) as Record<MetricName, number>,
);

export function metricDef(name: MetricName): MetricDef {
  return METRICS[METRIC_INDEX[name]] as MetricDef;
}

/** The counters the summary tables show per workload phase (`splits_2m@boot`,
 * `merges_2m@runtime`): what kernel engineers report per phase ("N split during boot, M merged
 * at run time"). RunSummary.phases carries every counter; the tables show these. */
export const PHASE_METRICS = [
  'conversions_to_shared',
  'conversions_to_private',
  'splits_1g',
  'splits_2m',
  'merges_1g',
  'merges_2m',
  'invalidations',
  'tdp_faults',
] as const satisfies readonly MetricName[];

/** Operations whose latency the model records as a distribution, one sample per kernel operation:
 * per conversion ioctl, fallocate and PUNCH_HOLE call, per fault (a prefaulted or accepted range
 * is one sample per fault it takes), per allocator call, split and merge. */
export const LATENCY_OPS = [
  'convert',
  'fallocate',
  'punch_hole',
  'fault',
  'allocate',
  'merge',
  'split',
] as const;
export type LatencyOp = (typeof LATENCY_OPS)[number];
export const LATENCY_INDEX: Readonly<Record<LatencyOp, number>> = Object.freeze(
  Object.fromEntries(LATENCY_OPS.map((op, i) => [op, i])) as Record<LatencyOp, number>,
);
export const LATENCY_PERCENTILES = [50, 90, 99, 100] as const;
