// The SWIOTLB bounce buffer of a confidential guest (domain.md section 5, "CoCo boot"): its size,
// where memblock places it, and its conversion to shared. Streaming DMA bounces through it, so it
// is one contiguous range converted once at boot.
import { z } from 'zod';
import { GiB, KiB, MiB, PAGE_SIZE, alignUp } from '../units.js';
import { bytesField } from './coco-fields.js';
import type { CocoGuest } from './coco-guest.js';
import { nextPowerOfTwo, reserve, type GuestPhysMap, type Range } from './coco-placement.js';

// kernel/dma/swiotlb.c: 2 KiB slabs (IO_TLB_SHIFT 11), allocated in segments of 128 slabs.
const IO_TLB_SIZE = 2 * KiB;
const IO_TLB_SEGSIZE = 128;
/** IO_TLB_MIN_SLABS: swiotlb_init_remap() halves the buffer down to 1 MiB when memblock fails. */
const IO_TLB_MIN_BYTES = 1 * MiB;

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
    rounding: z.enum(['kernel', 'segment', 'power-of-two', 'page']).default('kernel').meta({
      description:
        'kernel: as the guest kernel of boot.kernelVersion does (power-of-two from v6.0, segment before); segment: swiotlb_adjust_size() rounds up to whole 2 KiB slabs and 128-slab segments (256 KiB), as kernels before v6.0 end with; power-of-two: then swiotlb_init_remap() -> swiotlb_adjust_nareas(num_possible_cpus()) -> round_up_default_nslabs() rounds the slab count up to a power of two, and to at least 128 slabs per area (one area per possible CPU, rounded up to a power of two), as kernels with SWIOTLB areas (v6.0+) do; page: only PAGE_ALIGN.',
    }),
    placement: z.enum(['high', 'low', 'offset']).default('high').meta({
      description:
        'high: memblock_alloc(size, alignBytes) top-down over all RAM (swiotlb_memblock_alloc(), kernel/dma/swiotlb.c: CoCo guests pass SWIOTLB_ANY), below what memblock handed out before it (memory map, per-CPU chunk, SNP runtime data); low: first free range above the payload; offset: at offsetBytes.',
    }),
    offsetBytes: bytesField(0, 'placement "offset" only: guest physical offset of the buffer.'),
    alignBytes: z.number().int().min(PAGE_SIZE).multipleOf(PAGE_SIZE).default(PAGE_SIZE).meta({
      unit: 'bytes',
      description:
        'Alignment of the start of the buffer for placements high and low: PAGE_SIZE, as swiotlb_memblock_alloc() asks. A top-down memblock allocation puts the END of the buffer at the top of the free range and aligns only its start (round_down(end - size, align) in __memblock_find_range_top_down()), so the buffer is 2 MiB-aligned only when its size and the free range above it are.',
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

/** The guest kernel version: major.minor, as "6.12". */
export const KernelVersionSchema = z
  .string()
  .regex(/^[1-9][0-9]?\.[0-9]{1,3}$/, 'a kernel version is major.minor, as "6.12"')
  .default('6.12')
  .meta({
    description:
      'Version of the guest kernel (major.minor). Rules that changed between versions follow it: SWIOTLB slab rounding (swiotlb.rounding "kernel": power-of-two from v6.0). The default is a recent long-term kernel.',
  });

/** True when `version` (major.minor) is `major.minor` or later. */
export function kernelAtLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = version.split('.').map(Number);
  return a! > major || (a === major && b! >= minor);
}

function roundUpPow2(n: number): number {
  return nextPowerOfTwo(Math.max(1, n));
}

/**
 * SWIOTLB size of a guest, in bytes: `fraction` of RAM (integer bytes, as `total_mem * 6 / 100`),
 * clamped to [minBytes, maxBytes], then rounded per `rounding`:
 *  - 'segment': swiotlb_adjust_size() rounds up to whole 2 KiB slabs and then to whole 128-slab
 *    segments, i.e. up to a multiple of 256 KiB (4 GiB -> 246 MiB, 16 GiB -> 983.25 MiB);
 *  - 'power-of-two': what kernels from v6.0 end with: swiotlb_init_remap() calls
 *    swiotlb_adjust_nareas(num_possible_cpus()), which sets one area per possible CPU (rounded up
 *    to a power of two) and round_up_default_nslabs(): at least IO_TLB_SEGSIZE slabs per area,
 *    and the slab count rounded up to a power of two (4 GiB -> 256 MiB, 16 GiB -> 1 GiB);
 *  - 'kernel' (default): 'power-of-two' for `kernelVersion` 6.0 or later, else 'segment';
 *  - 'page': PAGE_ALIGN only (4 GiB -> 245.76 MiB rounded up to 4 KiB).
 */
export function swiotlbBytes(
  guestBytes: number,
  params: Pick<
    SwiotlbConfig,
    'fraction' | 'minBytes' | 'maxBytes' | 'rounding'
  > = SwiotlbSchema.parse({}),
  vcpus = 1,
  kernelVersion = '6.12',
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
  const rounding =
    params.rounding === 'kernel'
      ? kernelAtLeast(kernelVersion, 6, 0)
        ? 'power-of-two'
        : 'segment'
      : params.rounding;
  if (rounding === 'segment') return slabs * IO_TLB_SIZE;
  // round_up_default_nslabs() with default_nareas = roundup_pow_of_two(num_possible_cpus()).
  const nareas = roundUpPow2(vcpus);
  const minSlabs = IO_TLB_SEGSIZE * nareas;
  return (slabs < minSlabs ? minSlabs : roundUpPow2(slabs)) * IO_TLB_SIZE;
}

/** Start of a SWIOTLB buffer of `size` bytes per its placement, or null when memblock finds no
 * room; `from` is the end of the payload (placement 'low' starts above it). */
function swiotlbStart(
  map: GuestPhysMap,
  sw: SwiotlbConfig,
  size: number,
  guestBytes: number,
  from: number,
): number | null {
  if (sw.placement === 'offset') {
    return sw.offsetBytes + size <= guestBytes &&
      !map.overlaps(sw.offsetBytes, sw.offsetBytes + size)
      ? sw.offsetBytes
      : null;
  }
  const span = size + sw.skewBytes;
  const base =
    sw.placement === 'high'
      ? map.lastFit(span, sw.alignBytes)
      : map.firstFit(span, sw.alignBytes, from);
  return base === null ? null : base + sw.skewBytes;
}

/** Reserve the buffer: swiotlb_init_remap() halves it (in whole segments) until memblock finds
 * room, down to IO_TLB_MIN_SLABS; null when even that does not fit. */
function reserveSwiotlb(
  map: GuestPhysMap,
  sw: SwiotlbConfig,
  guestBytes: number,
  from: number,
  vcpus: number,
  kernelVersion: string,
): Range | null {
  const halve = (size: number) => alignUp(Math.floor(size / 2), IO_TLB_SEGSIZE * IO_TLB_SIZE);
  const first = swiotlbBytes(guestBytes, sw, vcpus, kernelVersion);
  for (let size = first; size >= IO_TLB_MIN_BYTES; size = halve(size)) {
    const at = swiotlbStart(map, sw, size, guestBytes, from);
    if (at !== null) return reserve(map, at, size);
  }
  return null;
}

/** mem_encrypt_init() -> swiotlb_update_mem_attributes() -> set_memory_decrypted(): a confidential
 * guest converts the whole buffer to shared. */
export function shareSwiotlb(
  g: CocoGuest,
  sw: SwiotlbConfig,
  map: GuestPhysMap,
  from: number,
  kernelVersion: string,
): Range | null {
  if (!sw.enabled || !g.confidential) return null;
  const swiotlb = reserveSwiotlb(map, sw, g.bytes, from, g.spec.vcpus, kernelVersion);
  g.acceptAndShare(swiotlb);
  return swiotlb;
}
