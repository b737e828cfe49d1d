// The simulation's configuration schema: host, guest_memfd variant, policies and cost overrides.
// It is the one source for validation, defaults, the CLI, the setup form and the docs. Every field
// carries a description (and a unit where it has one) through zod's `.meta()`.
import { z } from 'zod';
import { CONSTANTS, DEFAULT_COSTS, type CostKey, type CostModel } from './constants.js';
import { GiB, PAGE_SIZE, type PageSizeName } from './units.js';

const bytes = (description: string) =>
  z.number().int().nonnegative().meta({ unit: 'bytes', description });

const PageSizeSchema = z
  .enum(['4k', '2m', '1g'])
  .meta({ description: 'Backing page size of the guest_memfd file.' });

export const AllocatorKindSchema = z
  .enum(['hugetlb', 'hugetlb-cma', 'cma-raw', 'thp', 'buddy'])
  .meta({
    description:
      'Where guest_memfd folios come from. hugetlb: HugeTLB pool pages (nr_hugepages, reserved at host boot). hugetlb-cma: HugeTLB pool pages of 1 GiB taken from the node\'s hugetlb_cma= CMA area at host boot; they are HugeTLB folios (subpool, dequeue, HVO applies: the 2025 hugetlb/CMA bootmem work). cma-raw: the raw-CMA allocator of the LPC 2024 guest_memfd allocator discussion, each folio a runtime cma_alloc() that migrates movable pages out first and fails with ENOMEM; no HVO unless host.cmaHvo. thp: best-effort THP from the buddy allocator. buddy: plain 4 KiB pages. Files that say "cma" (its old name) load as cma-raw.',
  });
export type AllocatorKind = z.infer<typeof AllocatorKindSchema>;

/** The allocator's old name, read from older experiment files as cma-raw (core/experiment/load.ts). */
export const LEGACY_ALLOCATOR_NAMES: Readonly<Record<string, AllocatorKind>> = { cma: 'cma-raw' };

/** Allocators that hand out whole huge pages only (HugeTLB, either CMA): guest_memfd's custom
 * allocators, whose huge pages go back whole and whose fallocate rounds down. */
export function isHugePageAllocator(kind: AllocatorKind): boolean {
  return kind === 'hugetlb' || kind === 'hugetlb-cma' || kind === 'cma-raw';
}

/** Whether the allocator's huge folios get HVO: HugeTLB pool pages (hugetlb_cma= ones too) when
 * the host has it on; raw CMA folios only with "HVO ported to CMA". */
export function allocatorHvo(
  kind: AllocatorKind,
  host: { readonly hvo: boolean; readonly cmaHvo: boolean },
): boolean {
  if (kind === 'hugetlb' || kind === 'hugetlb-cma') return host.hvo;
  if (kind === 'cma-raw') return host.hvo && host.cmaHvo;
  return false;
}

/** The page sizes each allocator can back, smallest first: HugeTLB pools and CMA areas hand out
 * PMD- and PUD-sized folios, THP only PMD-sized ones, the buddy allocator base pages here. The
 * experiment schema checks variants against it; the setup form offers only these. */
export const ALLOCATOR_PAGE_SIZES: Readonly<Record<AllocatorKind, readonly PageSizeName[]>> = {
  hugetlb: ['2m', '1g'],
  // hugetlb_cma= backs gigantic pages only (mm/hugetlb_cma.c: hugetlb_cma_alloc_folio()).
  'hugetlb-cma': ['1g'],
  'cma-raw': ['2m', '1g'],
  thp: ['2m'],
  buddy: ['4k'],
};

export const CmaAreaSchema = z
  .object({
    sizeBytes: bytes(
      'Size of the CMA area on this node (hugetlb_cma=); a multiple of 1 GiB. hugetlb-cma variants take its usable 1 GiB ranges into the HugeTLB pool at host boot; cma-raw variants allocate from it at run time.',
    )
      .min(GiB, 'a CMA area holds at least one 1 GiB range')
      .multipleOf(GiB, 'a CMA area is made of whole 1 GiB ranges: use a multiple of 1 GiB'),
    movableOccupiedFraction: z.number().min(0).max(1).default(0).meta({
      unit: 'ratio',
      description:
        'Share of the area lent to movable host allocations, which must be migrated out before a 1 GiB allocation.',
    }),
    unmovableRanges: z.array(z.number().int().nonnegative()).default([]).meta({
      description:
        'Indexes of 1 GiB ranges of the area that hold an unmovable or long-term pinned page and so can never be allocated.',
    }),
    transientFailureRate: z.number().min(0).max(1).default(0).meta({
      unit: 'ratio',
      description:
        'Odds that one allocation attempt on a range fails on a transient reference (a page under migration or briefly pinned).',
    }),
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(4)
      .meta({ description: 'Attempts over the candidate ranges before cma_alloc() gives up.' }),
  })
  .strict();
export type CmaAreaConfig = z.infer<typeof CmaAreaSchema>;

const NumaNodeSchema = z
  .object({
    memoryBytes: bytes('Memory of this NUMA node.'),
    cpus: z
      .string()
      .regex(/^\d+(-\d+)?(,\d+(-\d+)?)*$/, 'a CPU list like "0-15,32-47"')
      .meta({ description: 'CPU list of the node, as in /sys/devices/system/node/nodeN/cpulist.' }),
    hostReservedBytes: bytes(
      'Memory the host kernel and other tenants already use on this node (unavailable to guests).',
    ).default(0),
    hugetlb2m: z.number().int().nonnegative().default(0).meta({
      unit: 'pages',
      description: 'nr_hugepages for 2 MiB pages on this node, reserved at host boot.',
    }),
    hugetlb1g: z.number().int().nonnegative().default(0).meta({
      unit: 'pages',
      description: 'nr_hugepages for 1 GiB pages on this node, reserved at host boot.',
    }),
    cma: CmaAreaSchema.optional().meta({
      description: 'A CMA area on this node for 1 GiB (and 2 MiB) guest pages; leave out for none.',
    }),
  })
  .strict();
export type NumaNodeConfig = z.infer<typeof NumaNodeSchema>;

export const HostSchema = z
  .object({
    nodes: z
      .array(NumaNodeSchema)
      .min(1)
      .max(64)
      .meta({ description: 'NUMA nodes of the host (1 to 64).' }),
    hvo: z
      .boolean()
      .default(true)
      .meta({ description: 'HugeTLB Vmemmap Optimization (hugetlb_optimize_vmemmap) enabled.' }),
    hvoBatched: z.boolean().default(true).meta({
      description: 'HVO restores and optimises vmemmap in batches (the 2023 batching series).',
    }),
    cmaHvo: z.boolean().default(false).meta({
      description:
        'Model "HVO ported to CMA": raw-CMA (cma-raw) folios get their vmemmap optimised too. hugetlb-cma folios are HugeTLB pool pages and follow hvo.',
    }),
    thpFragmentation: z.number().min(0).max(1).default(0).meta({
      unit: 'ratio',
      description:
        'Odds that the buddy allocator has no free 2 MiB block for a THP, which then falls back to 4 KiB.',
    }),
  })
  .strict();
export type HostConfig = z.infer<typeof HostSchema>;

const MempolicySchema = z
  .object({
    mode: z
      .enum(['default', 'bind', 'preferred', 'interleave', 'weighted-interleave'])
      .default('default')
      .meta({
        description:
          'default: the vCPU home node first; bind: only the listed nodes; preferred: the first listed node first; interleave: round robin by file index; weighted-interleave: round robin by weights.',
      }),
    nodes: z
      .array(z.number().int().nonnegative())
      .default([])
      .meta({ description: 'Nodes the policy names.' }),
    weights: z
      .array(z.number().int().min(1).max(255))
      .default([])
      .meta({ description: 'weighted-interleave only: one weight per listed node.' }),
  })
  .strict()
  .meta({
    description:
      'NUMA mempolicy of the guest_memfd file (mbind on the file); applies to future allocations only.',
  });
export type MempolicyConfig = z.infer<typeof MempolicySchema>;

const PoliciesSchema = z
  .object({
    split: z.enum(['to-4k', 'staged', 'always-split']).default('to-4k').meta({
      description:
        'How a huge folio is split for a to-shared conversion: straight to 4 KiB (RFC v2), staged 1 GiB -> 2 MiB -> 4 KiB, or split at allocation, before use (RFC v1).',
    }),
    merge: z.enum(['eager', 'deferred', 'never']).default('eager').meta({
      description:
        'When a huge-aligned range that became all private is merged back: at conversion, by a worker after a delay, or never.',
    }),
    mergeDelayNs: z
      .number()
      .int()
      .nonnegative()
      .default(100_000_000)
      .meta({ unit: 'ns', description: 'Delay of the deferred-merge worker.' }),
    sharedPages: z
      .enum(['split-to-4k', 'disallow-split', 'disallow-split-and-reconstruct'])
      .default('split-to-4k')
      .meta({
        description:
          'LPC 2024 options for shared huge pages: always split shared to 4 KiB; refuse conversions that would split a shared huge page; or never reconstruct after the last private sub-page went shared.',
      }),
    structPageless: z
      .boolean()
      .default(false)
      .meta({ description: 'Private memory is tracked as PFN ranges without struct pages.' }),
    deferredPunch: z.boolean().default(false).meta({
      description:
        'Remember punched sub-pages and free a huge page once all of it has been punched.',
    }),
    snpPromoteAfterMerge: z.boolean().default(false).meta({
      description:
        'SEV-SNP only: when a huge-aligned range is merged back, its 4 KiB RMP entries are promoted to one 2 MiB entry so KVM can map it at 2 MiB again. Off: as KVM does today (arch/x86/kvm/svm/sev.c never collapses PSMASHed entries, and sev_private_max_mapping_level() returns the entry level); the discussion of Ackerley Tng\'s "1G page support for guest_memfd" RFC v2 (kvm/linux-mm lists, 2025) names merged ranges as candidates KVM could promote back up, not something it does.',
    }),
    tdxHugePageSeries: z.boolean().default(false).meta({
      description:
        'TDX only: KVM with Yan Zhao\'s "KVM: TDX huge page support for private memory" RFC (April 2025): private memory maps at up to 2 MiB once the TD runs (4 KiB while it is built), and a 4 KiB guest ACCEPT keeps its 2 MiB range at 4 KiB. Off: mainline, where tdx_gmem_private_max_mapping_level() (arch/x86/kvm/vmx/tdx.c) maps private memory at 4 KiB only.',
    }),
  })
  .strict();

export const VendorSchema = z.enum(['none', 'snp', 'tdx', 'cca', 'pkvm']).meta({
  description:
    'Confidential-computing technology of the guest; sets mapping limits and exit costs.',
});
export type Vendor = z.infer<typeof VendorSchema>;

const costShape = Object.fromEntries(
  CONSTANTS.map((c) => [
    c.key,
    z.number().nonnegative().finite().optional().meta({
      unit: c.unit,
      description: c.description,
      assumption: c.assumption,
      default: c.value,
    }),
  ]),
) as Record<CostKey, z.ZodOptional<z.ZodNumber>>;

const CostOverridesSchema = z
  .object(costShape)
  .strict()
  .meta({ description: 'Overrides of the model constants; anything left out keeps its default.' });
export type CostOverrides = z.infer<typeof CostOverridesSchema>;

export const GmemVariantSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(80)
      .meta({ description: 'Name of the variant, unique within the experiment.' }),
    guestBytes: z
      .number()
      .int()
      .min(PAGE_SIZE, 'a guest_memfd file holds at least one 4 KiB page')
      .max(64 * 1024 * GiB)
      .multipleOf(
        PAGE_SIZE,
        'guest_memfd sizes are whole 4 KiB pages (kvm_gmem_create() refuses others with EINVAL)',
      )
      .meta({
        unit: 'bytes',
        description:
          'Size of the guest_memfd file (guest RAM): a multiple of the backing page size (4 KiB backing needs only PAGE_SIZE alignment, as kvm_gmem_create() in virt/kvm/guest_memfd.c checks).',
      }),
    pageSize: PageSizeSchema,
    allocator: AllocatorKindSchema,
    conversionModel: z.enum(['in-place', 'legacy']).default('in-place').meta({
      description:
        'legacy: shared memory lives in a separate VMM backend; in-place: guest_memfd tracks shareability and the host maps shared pages through mmap.',
    }),
    sharedBackend: z
      .enum(['anon-4k', 'thp', 'hugetlbfs-2m', 'hugetlbfs-1g'])
      .default('anon-4k')
      .meta({
        description:
          'legacy model only: the VMM memory that backs shared pages. hugetlbfs cannot discard sub-ranges.',
      }),
    mmap: z
      .boolean()
      .default(true)
      .meta({ description: 'GUEST_MEMFD_FLAG_MMAP: the host may mmap shared pages.' }),
    initPrivate: z.boolean().default(true).meta({
      description: 'GUEST_MEMFD_FLAG_INIT_PRIVATE: the file starts private (else INIT_SHARED).',
    }),
    mempolicy: MempolicySchema.default({ mode: 'default', nodes: [], weights: [] }),
    homeNode: z.number().int().nonnegative().default(0).meta({
      description: 'Node of the vCPU threads: where the default mempolicy allocates first.',
    }),
    policies: PoliciesSchema.default(PoliciesSchema.parse({})).meta({
      description: 'Split, merge and shared-page policies of the file.',
    }),
    vendor: VendorSchema.default('none'),
    memslotGpaBytes: z.number().int().nonnegative().default(0).meta({
      unit: 'bytes',
      description:
        'Guest physical address of the memslot; if it and the file offset are not equally aligned, KVM cannot map huge pages.',
    }),
    costs: CostOverridesSchema.default({}),
  })
  .strict();
export type GmemVariantConfig = z.infer<typeof GmemVariantSchema>;
export type GmemVariantInput = z.input<typeof GmemVariantSchema>;

export function resolveCosts(overrides: CostOverrides | undefined): CostModel {
  const merged: Record<string, number> = { ...DEFAULT_COSTS };
  if (overrides) {
    for (const [key, value] of Object.entries(overrides)) {
      if (value !== undefined) merged[key] = value;
    }
  }
  return Object.freeze(merged) as CostModel;
}
