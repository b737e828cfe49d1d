// The variants of the change_pte comparison (change-pte.ts tells the story), the options that
// refine them, and the configuration each resolves to: which backing, which kernel, which KVM.
//
// The always-writable memslot flag is a proposal, not upstream: every KVM fault on the slot uses
// FOLL_WRITE, so the first read allocates a private zeroed page (a THP when one is free) writable.
import { ConfigError } from '../errors.js';

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

/** The two change_pte variants are the kernel before and after 6.10: the notifier is what they are. */
const FIXED_CHANGE_PTE: Partial<Record<ChangePteVariant, boolean>> = {
  'change-pte-kept': true,
  'change-pte-removed': false,
};

/** A variant and its options as one configuration; options a variant fixes cannot contradict it. */
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
