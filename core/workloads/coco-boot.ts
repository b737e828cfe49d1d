// Boot of a confidential guest on guest_memfd (domain.md section 5, "CoCo boot"): what the VMM
// populates before launch, what the guest converts to shared while it boots (SWIOTLB, GHCB pages,
// kvmclock and per-CPU paravirt data, DMA atomic pools, virtio rings), how each vendor tells the
// host about it (SNP page-state changes, TDX MapGPA, CCA RSI_IPA_STATE_SET, pKVM MEM_SHARE), and
// lazy acceptance. This file holds the boot configuration and the driver that runs the phases in
// order; each phase lives with its mechanism: coco-accept.ts, coco-decrypted.ts, coco-swiotlb.ts,
// coco-dma.ts, placement in coco-placement.ts, the guest's conversions in coco-guest.ts.
//
// Placement is in guest_memfd file offsets: the memslot maps the file from offset 0, so a file
// offset is a guest physical address (the PCI hole and other memslots are not modelled).
import { z } from 'zod';
import type { Rng } from '../rng.js';
import { GiB, MiB } from '../units.js';
import { AcceptSchema, acceptAtBoot, bootAcceptBytes, prefaultAtLaunch } from './coco-accept.js';
import {
  KvmclockSchema,
  PerCpuSchema,
  freeUnusedDecrypted,
  placePerCpuChunk,
  shareBssDecrypted,
  shareKvmclockPages,
  sharePerCpuPages,
} from './coco-decrypted.js';
import { DmaPoolsSchema, VirtioSchema, shareAtomicPools, shareVirtioRings } from './coco-dma.js';
import { GuestDma } from './coco-dma-api.js';
import {
  DEFAULT_DEVICES,
  DeviceSchema,
  deviceRanges,
  probeDevices,
  type ProbedDevice,
} from './coco-devices.js';
import { GuestPageAllocator } from './guest-page-alloc.js';
import { bytesField } from './coco-fields.js';
import type { CocoGuest } from './coco-guest.js';
import { reserve, type GuestPhysMap, type Range } from './coco-placement.js';
import { GuestNodes, MemmapSchema, Memblock, NumaSchema, placeMemmap } from './coco-memblock.js';
import { KernelVersionSchema, SwiotlbSchema, shareSwiotlb } from './coco-swiotlb.js';

const PayloadSchema = z
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

const RebootSchema = z
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
    kernelVersion: KernelVersionSchema,
    numa: NumaSchema.default(NumaSchema.parse({})).meta({
      description: 'NUMA topology of the guest.',
    }),
    memmap: MemmapSchema.default(MemmapSchema.parse({})).meta({
      description: 'The guest memory map (struct page arrays), placed by memblock.',
    }),
    swiotlb: SwiotlbSchema.default(SwiotlbSchema.parse({})).meta({
      description: 'SWIOTLB bounce buffer, one contiguous range converted to shared at boot.',
    }),
    perCpu: PerCpuSchema.default(PerCpuSchema.parse({})).meta({
      description:
        'Per-CPU memory: the first chunk, and SNP shared pages (GHCBs and paravirt data).',
    }),
    kvmclock: KvmclockSchema.default(KvmclockSchema.parse({})).meta({
      description: 'kvmclock and the kernel decrypted section (SNP).',
    }),
    dmaPools: DmaPoolsSchema.default(DmaPoolsSchema.parse({})).meta({
      description: 'Coherent DMA atomic pools (all confidential vendors).',
    }),
    devices: z.array(DeviceSchema).max(64).default(DEFAULT_DEVICES).meta({
      description:
        'Devices of the guest and their drivers (coco-devices.ts): what each allocates at probe (rings, queues, DMA pools) and the I/O load it serves at run time. Default: a virtio-net queue pair and a virtio-blk queue, with no load.',
    }),
    virtio: VirtioSchema.default(VirtioSchema.parse({})).meta({
      description:
        'Earlier form of the virtio device list (one ring and one extra coherent buffer per queue), kept so older experiments mean what they meant; describe new devices in devices.',
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

/** Where the boot put things (for tests, reports and the run-time phase). */
export interface BootLayout {
  readonly payload: Range | null;
  /** The memory map, one block per NUMA node (private). */
  readonly memmap: Range[];
  /** The per-CPU first chunk, one block per node with CPUs, and each CPU's unit (private; SNP
   * decrypts a page in each unit). Empty with the scattered and packed per-CPU placements. */
  readonly perCpuChunks: Range[];
  readonly perCpuUnits: Range[];
  /** SNP: each CPU's struct sev_es_runtime_data (its first page is the shared GHCB). */
  readonly runtimeData: Range[];
  readonly swiotlb: Range | null;
  readonly bssDecrypted: Range | null;
  readonly ghcb: Range[];
  readonly paravirt: Range[];
  readonly kvmclock: Range | null;
  readonly dmaPools: Range[];
  readonly virtio: Range[];
  /** The probed devices, and the shared ranges of their rings and queues. */
  readonly devices: ProbedDevice[];
  readonly deviceShared: Range[];
  /** The guest page allocator after the boot (memblock_free_all() and the boot's allocations). */
  readonly pages: GuestPageAllocator;
  /** The DMA API of the guest: SWIOTLB, atomic pools, coherent allocations. */
  readonly dma: GuestDma;
  /** End of the range accepted while booting: [0, acceptedBytes) (all RAM when eager). */
  readonly acceptedBytes: number;
}

/** The payload's range in RAM: firmware, then kernel + initrd (TDX: the firmware only). */
function reservePayload(g: CocoGuest, p: PayloadConfig, map: GuestPhysMap): Range | null {
  const bytes = g.bytes;
  const payloadSize = p.firmwareBytes + (g.vendor === 'tdx' ? 0 : p.kernelBytes);
  if (p.offsetBytes + payloadSize > bytes) {
    throw new RangeError(
      `payload [0x${p.offsetBytes.toString(16)}, 0x${(p.offsetBytes + payloadSize).toString(16)}) does not fit in ${bytes} B of guest RAM`,
    );
  }
  return reserve(map, p.offsetBytes, payloadSize);
}

/** The VMM populates the payload before launch (step 1 of bootGuest) and leaves the file in its
 * run-time phase with all RAM private. */
function populatePayload(g: CocoGuest, p: PayloadConfig, map: GuestPhysMap): Range | null {
  const sim = g.sim;
  const bytes = g.bytes;
  const vendor = g.vendor;
  const initShared = !sim.gmem.config.initPrivate;
  const payload = reservePayload(g, p, map);
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
  return payload;
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
 *  4. SNP early boot, MSR protocol: .bss..decrypted (in the kernel image, PMD-aligned);
 *  5. memblock, top-down (coco-memblock.ts): the memory map per NUMA node (sparse_init()), the
 *     per-CPU first chunk per node (setup_per_cpu_areas(), every vendor); SNP then decrypts the
 *     per-CPU decrypted page of each unit (sev_map_percpu_data()) and allocates each CPU's runtime
 *     data on its node, decrypting its GHCB (sev_es_init_vc_handling());
 *  6. SWIOTLB (every confidential vendor), memblock top-down below all of that;
 *  7. SNP kvmclock pages beyond the boot array (> 64 vCPUs);
 *  8. DMA atomic pools, then the virtio rings and coherent buffers;
 *  9. SNP: the unused part of .bss..decrypted goes back to private.
 * Every structure is accepted (its chunks) before it is converted, as memblock and the page
 * allocator accept memory before handing it out. A plain VM ('none') only populates and touches.
 */
export function bootGuest(
  g: CocoGuest,
  params: BootConfig,
  rng: Rng,
  map: GuestPhysMap,
): BootLayout {
  const snp = g.vendor === 'snp';
  // Progress through the boot in proportion to its work: the steps that touch RAM range by range
  // (payload, prefault, acceptance) weigh their GiB, every other step one GiB's worth.
  const gib = (bytes: number) => 1 + bytes / GiB;
  const acceptBytes =
    params.accept.mode === 'eager' ? g.bytes : bootAcceptBytes(params.accept, g.bytes);
  const prefaultBytes =
    params.accept.prefault === 'all'
      ? g.bytes
      : params.accept.prefault === 'boot-range'
        ? bootAcceptBytes(params.accept, g.bytes)
        : 0;
  const weights = [
    gib(params.payload.firmwareBytes + params.payload.kernelBytes),
    gib(prefaultBytes),
    gib(acceptBytes),
    1,
    1,
    1,
    1,
    1,
    1,
    1,
  ];
  const total = weights.reduce((a, b) => a + b, 0);
  let done = 0;
  const step = <T>(fn: () => T): T => {
    const from = done / total;
    done += weights.shift()!;
    return g.ctx.within(from, done / total, fn);
  };

  const payload = step(() => populatePayload(g, params.payload, map));
  const from = payload ? payload.offset + payload.size : 0;
  step(() => prefaultAtLaunch(g, params.accept));
  const acceptedHi = step(() => acceptAtBoot(g, params.accept, payload));
  const mb = new Memblock(map, new GuestNodes(g.bytes, g.spec.vcpus, params.numa.nodes));

  // SNP early boot, over the MSR protocol (before the per-CPU GHCBs exist): the kernel image's
  // .bss..decrypted (sme_postprocess_startup(), before memblock exists).
  const bssDecrypted = step(() => (snp ? shareBssDecrypted(g, params.kvmclock, map, from) : null));
  // setup_arch() -> sparse_init(): the memory map, per node, top-down; then setup_per_cpu_areas():
  // the per-CPU first chunk, per node, top-down below it (every vendor).
  const { memmap, chunks, units } = step(() => {
    const memmap = placeMemmap(mb, params.memmap, (r) => g.accept(r.offset, r.size));
    const pc =
      params.perCpu.placement === 'memblock'
        ? placePerCpuChunk(g, params.perCpu, mb)
        : { chunks: [], units: [] };
    return { memmap, ...pc };
  });
  // SNP: sev_map_percpu_data(), then trap_init() -> sev_es_init_vc_handling(): runtime data and
  // GHCB per CPU.
  const perCpu = step(() =>
    snp
      ? sharePerCpuPages(g, params.perCpu, mb, rng, units)
      : { ghcb: [], paravirt: [], runtimeData: [] },
  );
  // mm_core_init() -> mem_init() -> pci_iommu_alloc() -> swiotlb_init(): below all of the above.
  const swiotlb = step(() => shareSwiotlb(g, params.swiotlb, map, from, params.kernelVersion));
  // mem_init() -> memblock_free_all(): the page allocator takes every free range.
  const pages = new GuestPageAllocator(g, map, { vcpus: g.spec.vcpus });
  const kvmclock = step(() =>
    snp && params.kvmclock.enabled ? shareKvmclockPages(g, pages) : null,
  );
  // postcore_initcall dma_atomic_pool_init(), then the drivers probe.
  const { atomicPools, dma, virtio, devices } = step(() => {
    const atomicPools = g.confidential ? shareAtomicPools(g, params.dmaPools, pages) : [];
    const dma = new GuestDma(g, pages, swiotlb, atomicPools);
    const virtio = g.confidential ? shareVirtioRings(params.virtio, dma) : [];
    const devices = g.confidential ? probeDevices(dma, params.devices) : [];
    return { atomicPools, dma, virtio, devices };
  });
  step(() => freeUnusedDecrypted(g, params.kvmclock, bssDecrypted));

  return {
    payload,
    memmap,
    perCpuChunks: chunks,
    perCpuUnits: units,
    runtimeData: perCpu.runtimeData,
    swiotlb,
    bssDecrypted,
    ghcb: perCpu.ghcb,
    paravirt: perCpu.paravirt,
    kvmclock,
    dmaPools: atomicPools.map((p) => p.range),
    virtio,
    devices,
    deviceShared: deviceRanges(devices),
    pages,
    dma,
    acceptedBytes: acceptedHi,
  };
}
