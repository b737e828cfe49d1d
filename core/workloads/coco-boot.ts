// Boot of a confidential guest on guest_memfd (domain.md section 5, "CoCo boot"): what the VMM
// populates before launch, what the guest converts to shared while it boots (SWIOTLB, GHCB pages,
// kvmclock and per-CPU paravirt data, DMA atomic pools, virtio rings), how each vendor tells the
// host about it (SNP page-state changes, TDX MapGPA, CCA RSI_IPA_STATE_SET, pKVM MEM_SHARE), and
// lazy acceptance. The pure helpers at the top are the arithmetic the docs and tests quote.
//
// Placement is in guest_memfd file offsets: the memslot maps the file from offset 0, so a file
// offset is a guest physical address (the PCI hole and other memslots are not modelled).
import { z } from 'zod';
import type { Vendor } from '../config.js';
import type { Errno } from '../errors.js';
import type { OpResult, Shareability } from '../gmem/guest-memfd.js';
import type { Rng } from '../rng.js';
import type { Simulation } from '../sim/simulation.js';
import { PagedBitmap } from '../gmem/paged-bitmap.js';
import {
  GiB,
  KiB,
  MiB,
  ORDER_2M,
  ORDER_4K,
  PAGE_SIZE,
  alignDown,
  alignUp,
  type PageOrder,
} from '../units.js';
import type { WorkloadContext } from './context.js';

const SZ_2M = 2 * MiB;

// kernel/dma/swiotlb.c: 2 KiB slabs (IO_TLB_SHIFT 11), allocated in segments of 128 slabs.
const IO_TLB_SIZE = 2 * KiB;
const IO_TLB_SEGSIZE = 128;
/** IO_TLB_MIN_SLABS: swiotlb_init_remap() halves the buffer down to 1 MiB when memblock fails. */
const IO_TLB_MIN_BYTES = 1 * MiB;
/** arch/x86/kernel/kvmclock.c: HVC_BOOT_ARRAY_SIZE entries of 64 B live in .bss..decrypted. */
const HVC_BOOT_ARRAY_SIZE = PAGE_SIZE / 64;
const PVCLOCK_BYTES = 64;
/** MAX_PAGE_ORDER (10) on x86-64: the largest buddy allocation, 4 MiB. */
const MAX_ORDER_BYTES = 4 * MiB;

// -------------------------------------------------------------------------------------------------
// Schema

const bytesField = (value: number, description: string) =>
  z.number().int().nonnegative().multipleOf(PAGE_SIZE).default(value).meta({
    unit: 'bytes',
    description,
  });

export const PayloadSchema = z
  .object({
    offsetBytes: bytesField(
      0,
      'Guest physical offset where the initial payload starts (firmware, then kernel + initrd).',
    ),
    firmwareBytes: bytesField(
      4 * MiB,
      'Firmware image (OVMF / TDVF) measured into the launch: SNP_LAUNCH_UPDATE, TDH.MEM.PAGE.ADD, RMI_DATA_CREATE. The default is an assumption (a typical OVMF build).',
    ),
    kernelBytes: bytesField(
      32 * MiB,
      'Kernel + initrd populated by the VMM right after the firmware (SNP, CCA, pKVM and plain VMs; measured direct boot). TDX does not PAGE.ADD them: TDVF loads them into memory it accepted itself (fold them into firmwareBytes to model otherwise). The default is an assumption.',
    ),
  })
  .strict()
  .meta({ description: 'What the VMM puts into guest memory before the guest runs.' });
export type PayloadConfig = z.infer<typeof PayloadSchema>;

export const SwiotlbSchema = z
  .object({
    enabled: z.boolean().default(true).meta({
      description:
        'The guest allocates a SWIOTLB bounce buffer and converts it to shared (every SEV/SNP, TDX, CCA and pKVM guest: streaming DMA bounces through it). Plain VMs never do.',
    }),
    fraction: z.number().min(0).max(1).default(0.06).meta({
      unit: 'ratio',
      description:
        'Share of guest RAM for the bounce buffer: 6 % in sev_setup_arch() (arch/x86/mm/mem_encrypt.c, SEV and TDX guests).',
    }),
    minBytes: z
      .number()
      .int()
      .nonnegative()
      .default(64 * MiB)
      .meta({
        unit: 'bytes',
        description: 'Lower clamp: IO_TLB_DEFAULT_SIZE (64 MiB), the size before the adjustment.',
      }),
    maxBytes: z
      .number()
      .int()
      .nonnegative()
      .default(1 * GiB)
      .meta({ unit: 'bytes', description: 'Upper clamp: SZ_1G in sev_setup_arch().' }),
    rounding: z.enum(['segment', 'power-of-two', 'page']).default('segment').meta({
      description:
        'segment: swiotlb_adjust_size() rounds up to whole 2 KiB slabs and 128-slab segments (256 KiB); power-of-two: then round_up_default_nslabs() rounds the slab count up to a power of two, as swiotlb_init_remap() does once it sets one area per possible CPU (kernels with SWIOTLB areas, v6.0+); page: only PAGE_ALIGN.',
    }),
    placement: z.enum(['high', 'low', 'offset']).default('high').meta({
      description:
        'high: top of RAM (memblock allocates top-down and CoCo guests pass SWIOTLB_ANY); low: first free range above the payload; offset: at offsetBytes.',
    }),
    offsetBytes: bytesField(0, 'placement "offset" only: guest physical offset of the buffer.'),
    alignBytes: z
      .number()
      .int()
      .min(PAGE_SIZE)
      .multipleOf(PAGE_SIZE)
      .default(2 * MiB)
      .meta({
        unit: 'bytes',
        description:
          'Alignment of the buffer for placements high and low. memblock only guarantees PAGE_SIZE; 2 MiB is what a top-down allocation of a 256 KiB-multiple size gets when nothing was allocated above it.',
      }),
    skewBytes: bytesField(
      0,
      'Added to the aligned start (high and low): 4096 makes the buffer straddle one more 2 MiB block at each end, so it shows the split cost of an unaligned buffer and its 4 KiB PSC entries.',
    ),
  })
  .strict()
  .meta({
    description: 'SWIOTLB bounce buffer, one contiguous range converted to shared at boot.',
  });
export type SwiotlbConfig = z.infer<typeof SwiotlbSchema>;

export const PerCpuSchema = z
  .object({
    placement: z.enum(['scattered', 'packed']).default('scattered').meta({
      description:
        'scattered: each per-CPU page lands at its own place in RAM (per-node memblock and per-CPU chunk allocations, drawn from the seed); packed: all of them in one contiguous run at the top of free RAM (the best case).',
    }),
    ghcbPagesPerVcpu: z.number().int().min(0).max(16).default(1).meta({
      unit: 'count',
      description:
        'SNP: shared GHCB pages per possible vCPU (struct sev_es_runtime_data.ghcb_page, init_ghcb() -> early_set_memory_decrypted(): one GHCB MSR-protocol page-state change per page).',
    }),
    paravirtPagesPerVcpu: z.number().int().min(0).max(16).default(1).meta({
      unit: 'count',
      description:
        'SNP: pages of DEFINE_PER_CPU_DECRYPTED data per vCPU (apf_reason, steal_time, kvm_apic_eoi share the page-aligned .data..percpu..decrypted section).',
    }),
    paravirtConversionsPerVcpu: z.number().int().min(0).max(16).default(3).meta({
      unit: 'count',
      description:
        'SNP: early_set_memory_decrypted() calls per vCPU in sev_map_percpu_data() (one per variable; each is one MSR-protocol exit, repeats hit a page already shared).',
    }),
  })
  .strict()
  .meta({ description: 'Per-CPU shared pages (SNP): GHCBs and paravirt data.' });
export type PerCpuConfig = z.infer<typeof PerCpuSchema>;

export const KvmclockSchema = z
  .object({
    enabled: z.boolean().default(true).meta({
      description:
        'SNP: the guest uses kvmclock (off with Secure TSC). Its boot array sits in .bss..decrypted; guests with more than 64 possible vCPUs allocate and decrypt more pvclock pages (kvmclock_init_mem()).',
    }),
    bssDecryptedBytes: bytesField(
      2 * MiB,
      'SNP: the kernel image section .bss..decrypted (PMD-aligned, one PMD), made shared page by page over the MSR protocol in early boot (sme_postprocess_startup()). 0 leaves it out.',
    ),
    bssDecryptedUsedBytes: bytesField(
      12 * KiB,
      'SNP: the part of .bss..decrypted that stays shared (boot_ghcb_page, hv_clock_boot, wall_clock); mem_encrypt_free_decrypted_mem() converts the rest back to private.',
    ),
  })
  .strict()
  .meta({ description: 'kvmclock and the kernel decrypted section (SNP).' });
export type KvmclockConfig = z.infer<typeof KvmclockSchema>;

export const DmaPoolsSchema = z
  .object({
    count: z.number().int().min(0).max(8).default(3).meta({
      unit: 'count',
      description:
        'DMA atomic pools (kernel/dma/pool.c: GFP_KERNEL, GFP_DMA32, GFP_DMA), each decrypted once at boot by atomic_pool_expand().',
    }),
    bytesPerGiB: bytesField(128 * KiB, 'Pool size per GiB of guest RAM (dma_atomic_pool_init()).'),
    minBytes: bytesField(128 * KiB, 'Smallest pool.'),
    maxBytes: bytesField(
      MAX_ORDER_BYTES,
      'Largest pool (MAX_ORDER_NR_PAGES). A pool is one buddy allocation of the next power-of-two size, naturally aligned.',
    ),
  })
  .strict()
  .meta({ description: 'Coherent DMA atomic pools (all confidential vendors).' });
export type DmaPoolsConfig = z.infer<typeof DmaPoolsSchema>;

export const VirtioDeviceSchema = z
  .object({
    name: z.string().min(1).max(40).meta({ description: 'Device name, for reports.' }),
    queues: z
      .number()
      .int()
      .min(1)
      .max(1024)
      .meta({ unit: 'count', description: 'Virtqueues of the device.' }),
    queueSize: z
      .number()
      .int()
      .min(2)
      .max(32768)
      .refine((n) => (n & (n - 1)) === 0, 'a split-ring queue size is a power of two')
      .default(256)
      .meta({ unit: 'count', description: 'Descriptors per virtqueue.' }),
  })
  .strict();
export type VirtioDeviceConfig = z.infer<typeof VirtioDeviceSchema>;

export const VirtioSchema = z
  .object({
    devices: z
      .array(VirtioDeviceSchema)
      .max(64)
      .default([
        { name: 'virtio-net', queues: 2, queueSize: 256 },
        { name: 'virtio-blk', queues: 1, queueSize: 256 },
      ])
      .meta({
        description:
          'virtio devices: each queue gets one split ring (descriptor table, avail and used rings) from dma_alloc_coherent(), i.e. decrypted pages at a scattered place.',
      }),
    coherentBytesPerQueue: bytesField(
      4 * KiB,
      'Other coherent DMA memory per queue (a separate dma_alloc_coherent()); an assumption, 0 disables. Streaming DMA goes through SWIOTLB and converts nothing.',
    ),
  })
  .strict()
  .meta({ description: 'virtio devices of the guest.' });
export type VirtioConfig = z.infer<typeof VirtioSchema>;

export const AcceptSchema = z
  .object({
    mode: z.enum(['lazy', 'eager']).default('lazy').meta({
      description:
        'lazy: the guest accepts bootBytes chunk by chunk (page allocator path, one arch_accept_memory() per lazyAcceptChunkBytes) plus the chunks holding what it allocates; eager: accept_memory=eager, all RAM in one call at boot.',
    }),
    bootBytes: bytesField(
      256 * MiB,
      'RAM from offset 0 the guest touches (and so accepts) while it boots, besides the structures it places elsewhere. An assumption; clipped to RAM.',
    ),
    pageSize: z.enum(['2m', '4k']).default('2m').meta({
      description:
        'Page size of the guest accept: TDX TDG.MEM.PAGE.ACCEPT at 2 MiB where aligned (Linux tries the largest size first), or 4 KiB, which blocks 2 MiB mappings of that range one-way. No effect on SNP (PVALIDATE size is not modelled).',
    }),
    prefault: z.enum(['none', 'boot-range', 'all']).default('none').meta({
      description:
        'KVM_PRE_FAULT_MEMORY by the VMM after launch, before the guest runs: nothing, the boot range, or all RAM. Prefaulted pages cost no fault exit when accepted (SNP still issues its page-state-change requests).',
    }),
  })
  .strict()
  .meta({ description: 'Lazy acceptance of guest memory.' });
export type AcceptConfig = z.infer<typeof AcceptSchema>;

export const RebootSchema = z
  .object({
    resetTo: z.enum(['private', 'initial']).default('private').meta({
      description:
        'On reboot the VMM resets the memory attributes of the whole file: to private (QEMU for confidential guests) or to the file initial state (INIT_SHARED files go back to shared).',
    }),
    punch: z.boolean().default(false).meta({
      description:
        'The VMM also discards all guest memory (PUNCH_HOLE over the file) on reboot; by default the guest_memfd and its folios are reused as they are.',
    }),
  })
  .strict()
  .meta({ description: 'What the VMM does to the memory file on a guest reboot.' });
export type RebootConfig = z.infer<typeof RebootSchema>;

export const BootSchema = z
  .object({
    payload: PayloadSchema.default(PayloadSchema.parse({})).meta({
      description: 'What the VMM puts into guest memory before the guest runs.',
    }),
    swiotlb: SwiotlbSchema.default(SwiotlbSchema.parse({})).meta({
      description: 'SWIOTLB bounce buffer, one contiguous range converted to shared at boot.',
    }),
    perCpu: PerCpuSchema.default(PerCpuSchema.parse({})).meta({
      description: 'Per-CPU shared pages (SNP): GHCBs and paravirt data.',
    }),
    kvmclock: KvmclockSchema.default(KvmclockSchema.parse({})).meta({
      description: 'kvmclock and the kernel decrypted section (SNP).',
    }),
    dmaPools: DmaPoolsSchema.default(DmaPoolsSchema.parse({})).meta({
      description: 'Coherent DMA atomic pools (all confidential vendors).',
    }),
    virtio: VirtioSchema.default(VirtioSchema.parse({})).meta({
      description: 'virtio devices of the guest (rings and coherent buffers, converted to shared).',
    }),
    accept: AcceptSchema.default(AcceptSchema.parse({})).meta({
      description: 'Lazy acceptance of guest memory, and KVM_PRE_FAULT_MEMORY.',
    }),
    largePscEntries: z.boolean().default(true).meta({
      description:
        'SNP: the guest uses 2 MiB page-state-change entries for 2 MiB-aligned whole runs of direct-map memory and 4 KiB entries elsewhere (__set_pages_state(), Linux 6.5+); false: 4 KiB entries only.',
    }),
    reboot: RebootSchema.default(RebootSchema.parse({})).meta({
      description: 'What the VMM does to the memory file on a guest reboot.',
    }),
  })
  .strict()
  .meta({ description: 'Guest boot (vendor-specific), run again after each reboot.' });
export type BootConfig = z.infer<typeof BootSchema>;

// -------------------------------------------------------------------------------------------------
// Pure helpers

/**
 * SWIOTLB size of a guest, in bytes: `fraction` of RAM (integer bytes, as `total_mem * 6 / 100`),
 * clamped to [minBytes, maxBytes], then rounded per `rounding`:
 *  - 'segment' (default): swiotlb_adjust_size() rounds up to whole 2 KiB slabs and then to whole
 *    128-slab segments, i.e. up to a multiple of 256 KiB (4 GiB -> 246 MiB, 16 GiB -> 983.25 MiB);
 *  - 'power-of-two': what current kernels end with: swiotlb_init_remap() calls
 *    swiotlb_adjust_nareas(num_possible_cpus()), whose round_up_default_nslabs() rounds the slab
 *    count up to a power of two (4 GiB -> 256 MiB, 16 GiB -> 1 GiB);
 *  - 'page': PAGE_ALIGN only (4 GiB -> 245.76 MiB rounded up to 4 KiB).
 */
export function swiotlbBytes(
  guestBytes: number,
  params: Pick<
    SwiotlbConfig,
    'fraction' | 'minBytes' | 'maxBytes' | 'rounding'
  > = SwiotlbSchema.parse({}),
): number {
  // Integer arithmetic where it is exact (the kernel computes total_mem * 6 / 100).
  const pct = Math.round(params.fraction * 1e6);
  const raw =
    Math.abs(params.fraction * 1e6 - pct) < 1e-9 && guestBytes * pct < Number.MAX_SAFE_INTEGER
      ? Math.floor((guestBytes * pct) / 1e6)
      : Math.floor(guestBytes * params.fraction);
  const size = Math.min(Math.max(raw, params.minBytes), params.maxBytes);
  if (params.rounding === 'page') return alignUp(size, PAGE_SIZE);
  const slabs = alignUp(Math.ceil(size / IO_TLB_SIZE), IO_TLB_SEGSIZE);
  if (params.rounding === 'segment') return slabs * IO_TLB_SIZE;
  return nextPowerOfTwo(slabs) * IO_TLB_SIZE;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** One run of page-state-change entries of the same size, contiguous in guest memory. */
export interface PscRun {
  readonly offset: number;
  readonly size: number;
  /** 4 KiB or 2 MiB (RMP_PG_SIZE_4K / RMP_PG_SIZE_2M). */
  readonly entryBytes: number;
}

function checkRange(offset: number, size: number): void {
  if (offset % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || offset < 0 || size < 0) {
    throw new RangeError(
      `range 0x${offset.toString(16)} + 0x${size.toString(16)} is not 4 KiB aligned`,
    );
  }
}

/**
 * The entries a Linux SNP guest puts in its page-state-change requests for [offset, offset + size)
 * (arch/x86/coco/sev/core.c, __set_pages_state()): walking the range, an entry is 2 MiB when the
 * address is 2 MiB-aligned and at least 2 MiB remain (direct-map memory; vmalloc'd memory always
 * uses 4 KiB), else 4 KiB. So: 4 KiB head entries up to the first 2 MiB boundary, 2 MiB entries for
 * the whole 2 MiB blocks, 4 KiB tail entries; a range with no whole aligned 2 MiB block is all 4 KiB.
 */
export function pscRuns(offset: number, size: number, largeEntries = true): PscRun[] {
  checkRange(offset, size);
  if (size === 0) return [];
  const end = offset + size;
  const aligned = alignUp(offset, SZ_2M);
  if (!largeEntries || aligned + SZ_2M > end) return [{ offset, size, entryBytes: PAGE_SIZE }];
  const midEnd = aligned + alignDown(end - aligned, SZ_2M);
  const runs: PscRun[] = [];
  if (aligned > offset) runs.push({ offset, size: aligned - offset, entryBytes: PAGE_SIZE });
  runs.push({ offset: aligned, size: midEnd - aligned, entryBytes: SZ_2M });
  if (end > midEnd) runs.push({ offset: midEnd, size: end - midEnd, entryBytes: PAGE_SIZE });
  return runs;
}

/** Entries of each size for [offset, offset + size) (see pscRuns). */
export function pscEntries(
  offset: number,
  size: number,
  largeEntries = true,
): { entries2m: number; entries4k: number; total: number } {
  let entries2m = 0;
  let entries4k = 0;
  for (const r of pscRuns(offset, size, largeEntries)) {
    if (r.entryBytes === SZ_2M) entries2m += r.size / SZ_2M;
    else entries4k += r.size / PAGE_SIZE;
  }
  return { entries2m, entries4k, total: entries2m + entries4k };
}

/**
 * SNP page-state-change requests (one VMGEXIT each) for [offset, offset + size): the entries of
 * pscRuns in order, at most `batchEntries` per request (VMGEXIT_PSC_MAX_ENTRY = 64 in the Linux
 * guest; set_pages_state() loops over __set_pages_state(), which fills one request at a time).
 * Examples: 64 MiB 2 MiB-aligned = 32 entries = 1 request; 1 MiB = 256 4 KiB entries = 4 requests.
 */
export function pscRequests(
  offset: number,
  size: number,
  batchEntries = 64,
  largeEntries = true,
): number {
  if (batchEntries < 1) throw new RangeError('batchEntries must be at least 1');
  return Math.ceil(pscEntries(offset, size, largeEntries).total / batchEntries);
}

/**
 * The requests themselves: each request lists its runs. KVM (snp_begin_psc() in
 * arch/x86/kvm/svm/sev.c) coalesces contiguous entries of the same size and operation into one
 * KVM_HC_MAP_GPA_RANGE exit to the VMM, so each run of a request becomes one conversion call.
 */
export function pscRequestPlan(
  offset: number,
  size: number,
  batchEntries = 64,
  largeEntries = true,
): PscRun[][] {
  if (batchEntries < 1) throw new RangeError('batchEntries must be at least 1');
  const requests: PscRun[][] = [];
  let current: PscRun[] = [];
  let room = batchEntries;
  for (const run of pscRuns(offset, size, largeEntries)) {
    let left = run.size / run.entryBytes;
    let at = run.offset;
    while (left > 0) {
      if (room === 0) {
        requests.push(current);
        current = [];
        room = batchEntries;
      }
      const n = Math.min(left, room);
      current.push({ offset: at, size: n * run.entryBytes, entryBytes: run.entryBytes });
      at += n * run.entryBytes;
      left -= n;
      room -= n;
    }
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

/**
 * TDX MapGPA exits for a range of `bytes`: KVM handles a TDG.VP.VMCALL<MapGPA> in chunks of
 * TDX_MAP_GPA_MAX_LEN (2 MiB) counted from the start of the range (__tdx_map_gpa(),
 * arch/x86/kvm/vmx/tdx.c), one KVM_HC_MAP_GPA_RANGE exit per chunk: 64 MiB = 32 exits.
 */
export function mapGpaExits(bytes: number, chunkBytes = SZ_2M): number {
  if (chunkBytes <= 0) throw new RangeError('chunkBytes must be positive');
  return Math.ceil(bytes / chunkBytes);
}

export interface LazyAcceptInput {
  /** Bytes accepted: a whole number of chunks, unmapped, all private, backed uniformly. */
  readonly bytes: number;
  readonly vendor: Vendor;
  /** Backing page size of the guest_memfd file. */
  readonly backingPageBytes: number;
  /** KVM_PRE_FAULT_MEMORY ran over the range first. */
  readonly prefault: boolean;
  readonly chunkBytes?: number;
  readonly batchEntries?: number;
  /** TDX accept size (4 KiB accepts block 2 MiB mappings). Default 2 MiB. */
  readonly acceptPageBytes?: number;
}

/**
 * Exits of lazily accepting `bytes` in chunks of `chunkBytes` (4 MiB, one arch_accept_memory()
 * each). Fault exits: touching each page faults it in, mapped at min(backing page, vendor limit) -
 * one exit per 4 KiB with 4 KiB backing, one per 2 MiB with 2 MiB or 1 GiB backing (SNP and TDX map
 * private memory at most at 2 MiB) - and none after prefault. SNP adds one page-state-change request
 * per chunk (snp_accept_memory() -> set_pages_state(): a 4 MiB chunk is two 2 MiB entries); TDX
 * TDG.MEM.PAGE.ACCEPT is a TDCALL into the TDX module, not an exit to KVM.
 */
export function lazyAcceptExits(input: LazyAcceptInput): {
  faultExits: number;
  pscExits: number;
  total: number;
} {
  const chunk = input.chunkBytes ?? 4 * MiB;
  const batch = input.batchEntries ?? 64;
  let mapBytes = input.backingPageBytes;
  if (input.vendor === 'snp' || input.vendor === 'tdx' || input.vendor === 'pkvm')
    mapBytes = Math.min(mapBytes, SZ_2M);
  if (input.vendor === 'tdx' && (input.acceptPageBytes ?? SZ_2M) < SZ_2M) mapBytes = PAGE_SIZE;
  const faultExits = input.prefault ? 0 : Math.ceil(input.bytes / mapBytes);
  let pscExits = 0;
  if (input.vendor === 'snp') {
    for (let at = 0; at < input.bytes; at += chunk)
      pscExits += pscRequests(at, Math.min(chunk, input.bytes - at), batch);
  }
  return { faultExits, pscExits, total: faultExits + pscExits };
}

/**
 * Bytes of one split virtqueue (vring_size() in include/uapi/linux/virtio_ring.h, modern devices
 * align the used ring to SMP_CACHE_BYTES): 16 B descriptors, avail ring 2 B x (3 + n), used ring
 * 6 B + 8 B x n. 256 entries = 6726 B.
 */
export function vringBytes(queueSize: number, align = 64): number {
  return alignUp(16 * queueSize + 2 * (3 + queueSize), align) + 2 * 3 + 8 * queueSize;
}

/** Bytes of one DMA atomic pool (dma_atomic_pool_init(), then alloc_pages() of the next order). */
export function dmaAtomicPoolBytes(guestBytes: number, params: DmaPoolsConfig): number {
  const wanted = Math.floor((guestBytes / GiB) * params.bytesPerGiB);
  const size = Math.max(params.minBytes, Math.min(params.maxBytes, wanted));
  return PAGE_SIZE * nextPowerOfTwo(Math.ceil(size / PAGE_SIZE));
}

/** Pages kvmclock_init_mem() allocates and decrypts beyond the boot array (more than 64 vCPUs). */
export function kvmclockExtraBytes(vcpus: number): number {
  if (vcpus <= HVC_BOOT_ARRAY_SIZE) return 0;
  const bytes = (vcpus - HVC_BOOT_ARRAY_SIZE) * PVCLOCK_BYTES;
  return PAGE_SIZE * nextPowerOfTwo(Math.ceil(bytes / PAGE_SIZE));
}

/** Buddy allocation of `bytes`: the next power-of-two number of pages, naturally aligned (capped
 * at MAX_PAGE_ORDER, beyond which the span is rounded to 4 MiB). */
export function buddySpan(bytes: number): { span: number; align: number } {
  const pages = Math.ceil(bytes / PAGE_SIZE);
  const span = PAGE_SIZE * nextPowerOfTwo(pages);
  if (span <= MAX_ORDER_BYTES) return { span, align: span };
  return { span: alignUp(bytes, MAX_ORDER_BYTES), align: MAX_ORDER_BYTES };
}

// -------------------------------------------------------------------------------------------------
// Guest physical memory map: which ranges the guest has placed something in.

export interface Range {
  readonly offset: number;
  readonly size: number;
}

/** Sorted, non-overlapping [start, end) ranges with first-fit, last-fit and random placement. */
export class GuestPhysMap {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  constructor(readonly limit: number) {}

  get count(): number {
    return this.starts.length;
  }

  /** Index of the first range whose end is above x. */
  private firstEndAbove(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  overlaps(start: number, end: number): boolean {
    const i = this.firstEndAbove(start);
    return i < this.starts.length && this.starts[i]! < end;
  }

  add(start: number, end: number): void {
    if (start < 0 || end > this.limit || end <= start)
      throw new RangeError(`range [0x${start.toString(16)}, 0x${end.toString(16)}) outside RAM`);
    if (this.overlaps(start, end))
      throw new RangeError(`range [0x${start.toString(16)}, 0x${end.toString(16)}) is in use`);
    const i = this.firstEndAbove(start);
    this.starts.splice(i, 0, start);
    this.ends.splice(i, 0, end);
  }

  remove(start: number, end: number): void {
    const i = this.firstEndAbove(start);
    if (this.starts[i] !== start || this.ends[i] !== end)
      throw new RangeError(`range [0x${start.toString(16)}, 0x${end.toString(16)}) was not placed`);
    this.starts.splice(i, 1);
    this.ends.splice(i, 1);
  }

  /** Lowest free `align`-aligned start at or above `from` with room for `size` below `hi`. */
  firstFit(size: number, align: number, from = 0, hi = this.limit): number | null {
    let c = alignUp(Math.max(0, from), align);
    while (c + size <= hi) {
      const i = this.firstEndAbove(c);
      if (i >= this.starts.length || this.starts[i]! >= c + size) return c;
      c = alignUp(this.ends[i]!, align);
    }
    return null;
  }

  /** Highest free `align`-aligned start with room for `size` below `hi` (memblock top-down). */
  lastFit(size: number, align: number, hi = this.limit, lo = 0): number | null {
    if (hi - size < lo) return null;
    let c = alignDown(hi - size, align);
    while (c >= lo) {
      // The last range starting below c + size overlaps [c, c + size) when it ends above c.
      const i = this.firstEndAbove(c);
      if (i >= this.starts.length || this.starts[i]! >= c + size) return c;
      const next = this.starts[i]! - size;
      if (next < lo) return null;
      c = alignDown(next, align);
    }
    return null;
  }

  /** A free aligned start drawn from `rng` in [lo, hi); first fit from the draw when the random
   * tries all land on used ranges. */
  random(size: number, align: number, rng: Rng, lo = 0, hi = this.limit): number | null {
    const first = alignUp(lo, align);
    if (first + size > hi) return null;
    const slots = Math.floor((hi - size - first) / align) + 1;
    for (let k = 0; k < 16; k++) {
      const c = first + rng.int(slots) * align;
      if (!this.overlaps(c, c + size)) return c;
    }
    const from = first + rng.int(slots) * align;
    return this.firstFit(size, align, from, hi) ?? this.firstFit(size, align, first, hi);
  }
}

// -------------------------------------------------------------------------------------------------
// The guest: conversions, acceptance and exits, per vendor.

export interface GuestSpec {
  readonly memoryBytes: number;
  readonly vcpus: number;
  readonly vendor: Vendor;
}

export interface GuestOptions {
  readonly acceptPageSize: '2m' | '4k';
  readonly largePscEntries: boolean;
}

export type ConversionOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly errno: Errno;
      readonly offset: number;
      readonly message: string;
    };

const OK: ConversionOutcome = { ok: true };

/**
 * How a guest of one vendor changes page state, accepts memory and pays exits. Every simulation
 * operation is followed by `ctx.tick()`.
 *
 * Conversions, per vendor:
 *  - SNP, GHCB protocol: page-state-change requests of up to snpPscBatchEntries entries (one VM
 *    exit each, `psc_requests`); each run of same-size entries in a request is one conversion call
 *    (KVM coalesces it into one KVM_HC_MAP_GPA_RANGE exit to the VMM). SNP, MSR protocol (early
 *    boot, before per-CPU GHCBs: early_set_pages_state()): one exit and one conversion per 4 KiB.
 *    After a change to private the guest PVALIDATEs the range, touching every page (TDP faults).
 *  - TDX: MapGPA in tdxMapGpaChunkBytes chunks from the start of the range, one exit and one
 *    conversion call each (`mapgpa_exits`); after a change to private the guest accepts the range
 *    (tdx_accept_memory(): 2 MiB where aligned, else 4 KiB).
 *  - CCA: RSI_IPA_STATE_SET for the range, one REC exit per call (an assumption: the RMM may stop
 *    early and make the guest call again); one conversion call.
 *  - pKVM: one MEM_SHARE / MEM_UNSHARE hypercall per 4 KiB page (one exit each), one conversion.
 *  - none: an ordinary VM converts nothing.
 */
export class CocoGuest {
  readonly sim: Simulation;
  readonly bytes: number;
  readonly chunkBytes: number;
  /** One bit per acceptance chunk (bitmap_accepted in the EFI unaccepted-memory table), kept
   * sparse: a 64 TiB guest has 16 Mi chunks of 4 MiB. */
  private readonly accepted: PagedBitmap;

  constructor(
    readonly ctx: WorkloadContext,
    readonly spec: GuestSpec,
    readonly options: GuestOptions,
  ) {
    this.sim = ctx.sim;
    const config = this.sim.gmem.config;
    if (spec.memoryBytes !== config.guestBytes) {
      throw new Error(
        `guest memory ${spec.memoryBytes} B differs from the guest_memfd size ${config.guestBytes} B`,
      );
    }
    if (spec.vendor !== config.vendor) {
      throw new Error(
        `guest vendor ${spec.vendor} differs from the variant vendor ${config.vendor}`,
      );
    }
    this.bytes = config.guestBytes;
    this.chunkBytes = Math.max(PAGE_SIZE, alignUp(this.sim.costs.lazyAcceptChunkBytes, PAGE_SIZE));
    this.accepted = new PagedBitmap(Math.ceil(this.bytes / this.chunkBytes));
  }

  get vendor(): Vendor {
    return this.spec.vendor;
  }

  /** A confidential guest (anything but an ordinary VM). */
  get confidential(): boolean {
    return this.spec.vendor !== 'none';
  }

  get pscBatch(): number {
    return Math.max(1, Math.floor(this.sim.costs.snpPscBatchEntries));
  }

  get mapGpaChunk(): number {
    return Math.max(PAGE_SIZE, alignUp(this.sim.costs.tdxMapGpaChunkBytes, PAGE_SIZE));
  }

  private done(r: OpResult): OpResult {
    this.ctx.tick();
    return r;
  }

  /** `n` VM exits the guest takes outside a simulation operation (hypercalls, PSC requests). */
  exits(n: number, metric?: 'psc_requests' | 'mapgpa_exits'): void {
    if (n <= 0) return;
    const m = this.sim.metrics;
    const cycles = n * this.sim.costs.vmExitCycles;
    m.add('vm_exits', n);
    if (metric) m.add(metric, n);
    m.add('cycles_fault', cycles);
    m.add('cycles_total', cycles);
    this.sim.advanceBy(cycles / this.sim.costs.cpuGhz);
  }

  // ----- VMM side

  fallocate(offset: number, size: number): OpResult {
    return this.done(this.sim.fallocate(offset, size));
  }

  prefault(offset: number, size: number): OpResult {
    return this.done(this.sim.prefault(offset, size));
  }

  /** The VMM writes [offset, offset + size) through its shared mmap of the file (host faults). */
  hostWrite(offset: number, size: number): void {
    const first = offset / PAGE_SIZE;
    const last = (offset + size) / PAGE_SIZE;
    for (let gfn = first; gfn < last; gfn++) this.done(this.sim.fault(gfn, 'host', 'write'));
  }

  /** A conversion ioctl by the VMM itself (no guest request, no exit). */
  vmmConvert(offset: number, size: number, to: Shareability): OpResult {
    return this.done(this.sim.convert(offset, size, to));
  }

  punchHole(offset: number, size: number): OpResult {
    return this.done(this.sim.punchHole(offset, size));
  }

  pin(offset: number, size: number): OpResult {
    return this.done(this.sim.pin(offset, size));
  }

  unpin(offset: number, size: number): OpResult {
    return this.done(this.sim.unpin(offset, size));
  }

  // ----- acceptance

  /** Forget what was accepted (a new boot of the guest). */
  resetAcceptance(): void {
    this.accepted.clear();
  }

  isAccepted(offset: number): boolean {
    return this.accepted.get(Math.floor(offset / this.chunkBytes));
  }

  /** Record chunks wholly inside [offset, offset + size) as accepted without touching them (memory
   * the launch populated: SNP LAUNCH_UPDATE pages are validated, TDX PAGE.ADD pages accepted). */
  markAccepted(offset: number, size: number): void {
    const end = offset + size;
    const k0 = Math.ceil(offset / this.chunkBytes);
    // The last chunk may be clipped at the end of RAM.
    const k1 = end >= this.bytes ? this.accepted.nrBits : Math.floor(end / this.chunkBytes);
    if (k1 > k0) this.accepted.assignRange(k0, k1, true);
  }

  /**
   * Accept the chunks of [offset, offset + size) not accepted yet. `perChunk`: one
   * arch_accept_memory() per chunk (the page allocator, try_to_accept_memory_one()); otherwise one
   * per contiguous run of unaccepted chunks (accept_memory() over a memblock allocation, or
   * accept_memory=eager). Exits taken are added to `accept_exits`.
   */
  accept(offset: number, size: number, perChunk = false): void {
    const c = this.chunkBytes;
    const first = Math.floor(offset / c);
    const last = Math.ceil(Math.min(offset + size, this.bytes) / c);
    // Runs of unaccepted chunks, found a word (or a whole 2 MiB of bits) at a time.
    for (let k = this.accepted.find(first, last, false); k < last;) {
      const runEnd = this.accepted.find(k, last, true);
      if (perChunk) {
        for (let j = k; j < runEnd; j++) if (!this.accepted.get(j)) this.acceptRun(j, j + 1);
      } else this.acceptRun(k, runEnd);
      k = this.accepted.find(runEnd, last, false);
    }
  }

  private acceptRun(k0: number, k1: number): void {
    const offset = k0 * this.chunkBytes;
    const end = Math.min(k1 * this.chunkBytes, this.bytes);
    const m = this.sim.metrics;
    const before = m.get('vm_exits');
    if (this.vendor === 'snp') {
      // snp_accept_memory() -> set_pages_state(SNP_PAGE_STATE_PRIVATE): PSC requests (the range
      // is already private in KVM, so the VMM's attribute update changes nothing), then PVALIDATE.
      this.exits(
        pscRequests(offset, end - offset, this.pscBatch, this.options.largePscEntries),
        'psc_requests',
      );
    }
    this.touchPrivate(offset, end - offset);
    this.accepted.assignRange(k0, k1, true);
    m.add('accept_exits', m.get('vm_exits') - before);
  }

  /** The guest touches [offset, offset + size) (PVALIDATE, TDG.MEM.PAGE.ACCEPT, or first use):
   * each unmapped page faults in. TDX accepts 2 MiB-aligned parts at 2 MiB when configured. */
  touchPrivate(offset: number, size: number): void {
    if (size <= 0) return;
    const end = offset + size;
    const touch = (s: number, e: number, level: PageOrder) => {
      if (e > s) this.done(this.sim.accept(s, e - s, level));
    };
    if (this.vendor === 'tdx' && this.options.acceptPageSize === '2m') {
      const a = alignUp(offset, SZ_2M);
      const b = alignDown(end, SZ_2M);
      if (a < b) {
        touch(offset, a, ORDER_4K);
        touch(a, b, ORDER_2M);
        touch(b, end, ORDER_4K);
        return;
      }
    }
    touch(offset, end, ORDER_4K);
  }

  // ----- conversions requested by the guest

  share(offset: number, size: number, path: 'ghcb' | 'msr' = 'ghcb'): ConversionOutcome {
    return this.convert(offset, size, 'shared', path);
  }

  unshare(offset: number, size: number, path: 'ghcb' | 'msr' = 'ghcb'): ConversionOutcome {
    return this.convert(offset, size, 'private', path);
  }

  private convert(
    offset: number,
    size: number,
    to: Shareability,
    path: 'ghcb' | 'msr',
  ): ConversionOutcome {
    if (size <= 0 || !this.confidential) return OK;
    checkRange(offset, size);
    const end = offset + size;
    const call = (s: number, n: number): ConversionOutcome => {
      const r = this.done(this.sim.convert(s, n, to));
      return r.ok ? OK : { ok: false, errno: r.errno, offset: r.offset, message: r.message };
    };
    let outcome: ConversionOutcome = OK;
    switch (this.vendor) {
      case 'snp':
        if (path === 'msr') {
          for (let at = offset; at < end && outcome.ok; at += PAGE_SIZE) {
            this.exits(1, 'psc_requests');
            outcome = call(at, PAGE_SIZE);
          }
        } else {
          const plan = pscRequestPlan(offset, size, this.pscBatch, this.options.largePscEntries);
          for (const request of plan) {
            this.exits(1, 'psc_requests');
            for (const run of request) {
              outcome = call(run.offset, run.size);
              if (!outcome.ok) break;
            }
            if (!outcome.ok) break;
          }
        }
        break;
      case 'tdx': {
        const chunk = this.mapGpaChunk;
        for (let at = offset; at < end && outcome.ok; at += chunk) {
          this.exits(1, 'mapgpa_exits');
          outcome = call(at, Math.min(chunk, end - at));
        }
        break;
      }
      case 'cca':
        this.exits(1);
        outcome = call(offset, size);
        break;
      case 'pkvm':
        this.exits(size / PAGE_SIZE);
        outcome = call(offset, size);
        break;
      case 'none':
        break;
    }
    if (outcome.ok && to === 'private' && (this.vendor === 'snp' || this.vendor === 'tdx')) {
      // PVALIDATE (SNP) / TDG.MEM.PAGE.ACCEPT (TDX) of the pages that came back.
      this.touchPrivate(offset, size);
    }
    return outcome;
  }
}

// -------------------------------------------------------------------------------------------------
// Boot

/** Where the boot put things (for tests, reports and the run-time phase). */
export interface BootLayout {
  readonly payload: Range | null;
  readonly swiotlb: Range | null;
  readonly bssDecrypted: Range | null;
  readonly ghcb: Range[];
  readonly paravirt: Range[];
  readonly kvmclock: Range | null;
  readonly dmaPools: Range[];
  readonly virtio: Range[];
  /** End of the range accepted while booting: [0, acceptedBytes) (all RAM when eager). */
  readonly acceptedBytes: number;
}

function reserve(map: GuestPhysMap, offset: number | null, size: number): Range | null {
  if (offset === null || size <= 0) return null;
  map.add(offset, offset + size);
  return { offset, size };
}

/**
 * One boot of the guest. Steps (vendor-specific parts marked):
 *  1. the VMM populates the payload. INIT_PRIVATE file: in place through kvm_gmem_populate()
 *     (SNP_LAUNCH_UPDATE, pKVM: the folios are allocated; CCA RMI_DATA_CREATE and TDX
 *     TDH.MEM.PAGE.ADD also map them, TDX at 4 KiB while the TD is built). INIT_SHARED file: the
 *     VMM writes the payload through its mmap (host faults: order-0 folios, so huge folios split),
 *     then sets all RAM private (QEMU's KVM_SET_MEMORY_ATTRIBUTES at start), which merges them
 *     back; TDX still adds the firmware with PAGE.ADD;
 *  2. the VMM pre-faults (KVM_PRE_FAULT_MEMORY), if asked;
 *  3. the guest runs from the payload and accepts the memory it boots in (lazy or eager);
 *  4. SNP early boot, MSR protocol: .bss..decrypted, then per vCPU the GHCB page(s) and the
 *     paravirt per-CPU page(s);
 *  5. SWIOTLB (every confidential vendor);
 *  6. SNP kvmclock pages beyond the boot array (> 64 vCPUs);
 *  7. DMA atomic pools, then the virtio rings and coherent buffers;
 *  8. SNP: the unused part of .bss..decrypted goes back to private.
 * Every structure is accepted (its chunks) before it is converted, as memblock and the page
 * allocator accept memory before handing it out. A plain VM ('none') only populates and touches.
 */
export function bootGuest(
  g: CocoGuest,
  params: BootConfig,
  rng: Rng,
  map: GuestPhysMap,
): BootLayout {
  const ctx = g.ctx;
  const sim = g.sim;
  const bytes = g.bytes;
  const vendor = g.vendor;
  const snp = vendor === 'snp';
  const initShared = !sim.gmem.config.initPrivate;
  const steps = 8;
  let step = 0;
  const progress = () => ctx.progress(++step / steps);

  // 1. Payload.
  const p = params.payload;
  const payloadSize = p.firmwareBytes + (vendor === 'tdx' ? 0 : p.kernelBytes);
  if (p.offsetBytes + payloadSize > bytes) {
    throw new RangeError(
      `payload [0x${p.offsetBytes.toString(16)}, 0x${(p.offsetBytes + payloadSize).toString(16)}) does not fit in ${bytes} B of guest RAM`,
    );
  }
  const payload = reserve(map, p.offsetBytes, payloadSize);
  if (vendor === 'tdx') {
    if (initShared) g.vmmConvert(0, bytes, 'private');
    if (payload) {
      // KVM_TDX_INIT_MEM_REGION: TDH.MEM.PAGE.ADD maps each page at 4 KiB while the TD is built.
      sim.gmem.phase = 'build';
      g.prefault(payload.offset, payload.size);
    }
  } else if (payload) {
    if (initShared) g.hostWrite(payload.offset, payload.size);
    else if (vendor === 'cca') g.prefault(payload.offset, payload.size);
    else g.fallocate(payload.offset, payload.size);
  }
  if (initShared && vendor !== 'tdx' && g.confidential) g.vmmConvert(0, bytes, 'private');
  sim.gmem.phase = 'runtime';
  progress();

  // 2. KVM_PRE_FAULT_MEMORY.
  const acc = params.accept;
  const bootBytes = Math.min(alignUp(acc.bootBytes, PAGE_SIZE), bytes);
  if (acc.prefault === 'all') g.prefault(0, bytes);
  else if (acc.prefault === 'boot-range' && bootBytes > 0) g.prefault(0, bootBytes);
  progress();

  // 3. The guest runs from its payload (validated / accepted by the launch) and accepts RAM.
  if (payload) {
    g.markAccepted(payload.offset, payload.size);
    g.touchPrivate(payload.offset, payload.size);
  }
  if (acc.mode === 'eager') g.accept(0, bytes);
  else if (bootBytes > 0) g.accept(0, bootBytes, true);
  progress();

  // Page-allocator placement: in memory already accepted (the boot range) when it fits, else
  // anywhere (the allocator then accepts more).
  const acceptedHi = acc.mode === 'eager' ? bytes : bootBytes;
  const placeScattered = (size: number, align: number): number | null =>
    (acceptedHi > 0 ? map.random(size, align, rng, 0, acceptedHi) : null) ??
    map.random(size, align, rng);
  const acceptAndShare = (range: Range | null, path: 'ghcb' | 'msr' = 'ghcb') => {
    if (!range) return;
    g.accept(range.offset, range.size);
    g.share(range.offset, range.size, path);
  };

  // 4. SNP early boot over the MSR protocol.
  let bssDecrypted: Range | null = null;
  const ghcb: Range[] = [];
  const paravirt: Range[] = [];
  if (snp) {
    const kc = params.kvmclock;
    if (kc.bssDecryptedBytes > 0) {
      const size = alignUp(kc.bssDecryptedBytes, SZ_2M);
      const from = payload ? payload.offset + payload.size : 0;
      bssDecrypted = reserve(
        map,
        map.firstFit(size, SZ_2M, from) ?? map.lastFit(size, SZ_2M),
        size,
      );
      acceptAndShare(bssDecrypted, 'msr');
    }
    const pc = params.perCpu;
    const perVcpu = pc.ghcbPagesPerVcpu + pc.paravirtPagesPerVcpu;
    if (perVcpu > 0) {
      let packedAt: number | null = null;
      if (pc.placement === 'packed') {
        const total = perVcpu * g.spec.vcpus * PAGE_SIZE;
        packedAt = map.lastFit(total, PAGE_SIZE);
        if (packedAt !== null) map.add(packedAt, packedAt + total);
      }
      let cursor = packedAt ?? 0;
      const place = (pages: number): Range | null => {
        if (pages === 0) return null;
        const size = pages * PAGE_SIZE;
        if (packedAt !== null) {
          const r = { offset: cursor, size };
          cursor += size;
          return r;
        }
        return reserve(map, map.random(size, PAGE_SIZE, rng), size);
      };
      for (let cpu = 0; cpu < g.spec.vcpus; cpu++) {
        // init_ghcb(): early_set_memory_decrypted() of the GHCB page.
        const gr = place(pc.ghcbPagesPerVcpu);
        if (gr) {
          ghcb.push(gr);
          acceptAndShare(gr, 'msr');
        }
        // sev_map_percpu_data(): one early_set_memory_decrypted() per variable.
        const pr = place(pc.paravirtPagesPerVcpu);
        if (pr) {
          paravirt.push(pr);
          g.accept(pr.offset, pr.size);
          const pages = pr.size / PAGE_SIZE;
          for (let k = 0; k < pc.paravirtConversionsPerVcpu; k++)
            g.share(pr.offset + (k % pages) * PAGE_SIZE, PAGE_SIZE, 'msr');
        }
      }
    }
  }
  progress();

  // 5. SWIOTLB: mem_encrypt_init() -> swiotlb_update_mem_attributes() -> set_memory_decrypted().
  let swiotlb: Range | null = null;
  const sw = params.swiotlb;
  if (sw.enabled && g.confidential) {
    let size = swiotlbBytes(bytes, sw);
    while (size >= IO_TLB_MIN_BYTES && swiotlb === null) {
      let at: number | null;
      if (sw.placement === 'offset') {
        at =
          sw.offsetBytes + size <= bytes && !map.overlaps(sw.offsetBytes, sw.offsetBytes + size)
            ? sw.offsetBytes
            : null;
      } else {
        const span = size + sw.skewBytes;
        const from = payload ? payload.offset + payload.size : 0;
        const base =
          sw.placement === 'high'
            ? map.lastFit(span, sw.alignBytes)
            : map.firstFit(span, sw.alignBytes, from);
        at = base === null ? null : base + sw.skewBytes;
      }
      if (at !== null) swiotlb = reserve(map, at, size);
      // swiotlb_init_remap(): halve (in whole segments) until memblock finds room.
      else size = alignUp(Math.floor(size / 2), IO_TLB_SEGSIZE * IO_TLB_SIZE);
    }
    acceptAndShare(swiotlb);
  }
  progress();

  // 6. kvmclock beyond the boot array (SNP).
  let kvmclock: Range | null = null;
  if (snp && params.kvmclock.enabled) {
    const extra = kvmclockExtraBytes(g.spec.vcpus);
    if (extra > 0) {
      const { span, align } = buddySpan(extra);
      kvmclock = reserve(map, placeScattered(span, align), span);
      acceptAndShare(kvmclock);
    }
  }
  progress();

  // 7. DMA atomic pools and virtio rings: dma_alloc_coherent() -> decrypted pages.
  const dmaPools: Range[] = [];
  const virtio: Range[] = [];
  if (g.confidential) {
    const dp = params.dmaPools;
    const poolBytes = dmaAtomicPoolBytes(bytes, dp);
    for (let i = 0; i < dp.count; i++) {
      const r = reserve(
        map,
        placeScattered(poolBytes, Math.min(poolBytes, MAX_ORDER_BYTES)),
        poolBytes,
      );
      if (r) {
        dmaPools.push(r);
        acceptAndShare(r);
      }
    }
    const coherent = (want: number) => {
      if (want <= 0) return;
      const { span, align } = buddySpan(want);
      const at = placeScattered(span, align);
      if (at === null) return;
      map.add(at, at + span);
      // dma_set_decrypted(): only PFN_UP(size) pages of the allocation.
      const r = { offset: at, size: alignUp(want, PAGE_SIZE) };
      virtio.push(r);
      acceptAndShare(r);
    };
    for (const dev of params.virtio.devices) {
      for (let q = 0; q < dev.queues; q++) {
        coherent(vringBytes(dev.queueSize));
        coherent(params.virtio.coherentBytesPerQueue);
      }
    }
  }
  progress();

  // 8. mem_encrypt_free_decrypted_mem(): the unused part of .bss..decrypted back to private.
  if (bssDecrypted) {
    const used = Math.min(
      alignUp(params.kvmclock.bssDecryptedUsedBytes, PAGE_SIZE),
      bssDecrypted.size,
    );
    if (used < bssDecrypted.size) g.unshare(bssDecrypted.offset + used, bssDecrypted.size - used);
  }
  progress();

  return {
    payload,
    swiotlb,
    bssDecrypted,
    ghcb,
    paravirt,
    kvmclock,
    dmaPools,
    virtio,
    acceptedBytes: acceptedHi,
  };
}
