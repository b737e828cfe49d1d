// The charts of the compare view: which metrics each one shows, in what unit. Every name comes
// from the core's metric catalog, so units and definitions are the catalog's.
import {
  MEMORY_PARTS,
  metricDef,
  type MetricName,
  type MetricUnit,
} from '../../../../core/metrics/definitions';

export interface ChartDef {
  readonly id: string;
  readonly title: string;
  readonly unit: MetricUnit;
  readonly metrics: readonly MetricName[];
  /** Stack the series (parts of a whole). */
  readonly stacked?: boolean;
  /** Show only when one of these metrics is non-zero in some variant. */
  readonly optional?: boolean;
}

export const CHARTS: readonly ChartDef[] = [
  {
    id: 'memory',
    title: 'Host memory by category',
    unit: 'bytes',
    stacked: true,
    // The parts that add up to host_total_bytes, as core accounts them.
    metrics: MEMORY_PARTS,
  },
  {
    id: 'splits',
    title: 'Splits and merges',
    unit: 'count',
    metrics: ['splits_1g', 'splits_2m', 'merges_1g', 'merges_2m'],
  },
  {
    id: 'mapped',
    title: 'Guest memory mapped at each level',
    unit: 'ratio',
    metrics: ['mapped_4k_ratio', 'mapped_2m_ratio', 'mapped_1g_ratio'],
  },
  {
    id: 'folios',
    title: 'Backing folios by order',
    unit: 'count',
    metrics: ['folios_4k', 'folios_2m', 'folios_1g'],
  },
  {
    id: 'cycles',
    title: 'Cycles by category',
    unit: 'cycles',
    stacked: true,
    metrics: [
      'cycles_conversion',
      'cycles_split',
      'cycles_merge',
      'cycles_vmemmap',
      'cycles_allocation',
      'cycles_migration',
      'cycles_zeroing',
      'cycles_fault',
    ],
  },
  {
    id: 'exits',
    title: 'VM exits, TDP faults and mmu_lock',
    unit: 'count',
    metrics: ['vm_exits', 'tdp_faults', 'mmu_lock_write', 'invalidations'],
  },
  {
    id: 'fleet',
    title: 'Fleet: VMs and free pool memory',
    unit: 'count',
    optional: true,
    metrics: [
      'vms_running',
      'vm_starts',
      'vm_start_failures',
      'cma_free_1g_ranges',
      'pool_free_1g_pages',
    ],
  },
];

export function metricLabel(name: MetricName): string {
  return name.replace(/_bytes$|_ratio$/, '').replace(/_/g, ' ');
}

export function metricHelp(name: MetricName): string {
  const def = metricDef(name);
  return `${name} (${def.unit}): ${def.description}`;
}

/** Colours that stay apart in light and dark themes and for common colour-vision deficiencies
 * (Okabe-Ito). */
export const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#F0E442',
  '#000000',
];
export const DASHES: ReadonlyArray<number[]> = [
  [],
  [6, 3],
  [2, 2],
  [10, 3, 2, 3],
  [1, 3],
  [8, 2, 2, 2, 2, 2],
  [12, 4],
  [3, 6],
];
