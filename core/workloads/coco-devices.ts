// Devices and their drivers as the unit of a CoCo guest's DMA behaviour (domain.md section 5):
// what each driver allocates when it probes, and what its I/O path does at run time, through the
// DMA API of coco-dma-api.ts. Each driver's rule cites its source.
//
//  - virtio-net (drivers/net/virtio_net.c virtnet_find_vqs()): a receive and a transmit virtqueue
//    per queue pair, plus the control virtqueue; each split ring from vring_alloc_queue() ->
//    dma_alloc_coherent() (the DMA API is used because CoCo guests need VIRTIO_F_ACCESS_PLATFORM,
//    vring_use_dma_api()). Packets are mapped with dma_map_page() (virtqueue_add_*()): streaming.
//  - virtio-blk (drivers/block/virtio_blk.c init_vq()): one virtqueue per queue; requests map
//    their scatterlists (streaming).
//  - virtio-scsi (drivers/scsi/virtio_scsi.c virtscsi_init()): control, event and one request
//    virtqueue per queue; requests streaming.
//  - NVMe through VFIO (drivers/nvme/host/pci.c): the admin queue (NVME_AQ_DEPTH 32) and one I/O
//    queue pair per queue, each submission queue (64 B entries) and completion queue (16 B
//    entries) one dma_alloc_coherent() (nvme_alloc_queue()); two dma_pools for PRP lists
//    (nvme_setup_prp_pools(): "prp list page" of NVME_CTRL_PAGE_SIZE and "prp list 256"); a
//    request of more than two controller pages takes a PRP list from a pool for its lifetime
//    (nvme_pci_setup_prps(): the small pool up to 256 / 8 entries). Data is streaming.
//
// Run time: each device serves requests of `requestBytes` arriving at `requestsPerSec` (Poisson),
// each in flight for an exponential time of mean `latencyNs`. Streaming DMA takes SWIOTLB slots
// (segments of at most IO_TLB_SEGSIZE x 2 KiB = 256 KiB, the largest SWIOTLB mapping); when
// SWIOTLB is full the request is retried after `latencyNs` (the block and network layers requeue on
// a mapping error), or, with swiotlbDynamic (CONFIG_SWIOTLB_DYNAMIC, v6.6+), a transient pool is
// allocated and decrypted for it (swiotlb_find_slots() -> swiotlb_alloc_pool() ->
// alloc_dma_pages(): set_memory_decrypted(); set_memory_encrypted() when it is freed).
import { z } from 'zod';
import type { Rng } from '../rng.js';
import { KiB, PAGE_SIZE } from '../units.js';
import type { CoherentBuffer, GuestDma } from './coco-dma-api.js';
import { DmaPool } from './coco-dma-api.js';
import { vringBytes } from './coco-dma.js';
import type { Range } from './coco-placement.js';
import type { EventQueue } from './event-queue.js';
import type { GfpZone } from './guest-page-alloc.js';

/** The largest streaming mapping SWIOTLB takes: IO_TLB_SEGSIZE (128) slots of 2 KiB. */
const SWIOTLB_MAX_MAPPING = 256 * KiB;
/** drivers/nvme/host/nvme.h: NVME_AQ_DEPTH; 64-byte SQ entries, 16-byte CQ entries. */
const NVME_AQ_DEPTH = 32;
const NVME_SQE = 64;
const NVME_CQE = 16;
const NVME_CTRL_PAGE_SIZE = 4096;

const LoadSchema = z
  .object({
    requestsPerSec: z.number().nonnegative().max(10_000_000).default(0).meta({
      unit: 'count',
      description:
        "I/O requests (packets for virtio-net) per second of simulated time, Poisson arrivals. The load is the experiment's to choose: no default is drawn from a measurement (0: the device only probes).",
      assumption: true,
    }),
    requestBytes: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .default(64 * KiB)
      .meta({
        unit: 'bytes',
        description:
          'Bytes each request moves by streaming DMA (bounced through SWIOTLB). An assumption, to set to the workload studied.',
        assumption: true,
      }),
    latencyNs: z.number().int().positive().default(100_000).meta({
      unit: 'ns',
      description:
        'Mean time a request stays in flight (its SWIOTLB slots and PRP list held), exponential. An assumption, to set to the device studied.',
      assumption: true,
    }),
  })
  .strict();

export const DeviceSchema = z
  .object({
    kind: z.enum(['virtio-net', 'virtio-blk', 'virtio-scsi', 'nvme-vfio']).meta({
      description:
        'Device and driver: virtio-net, virtio-blk, virtio-scsi (drivers/virtio and their drivers) or an NVMe controller passed through with VFIO (drivers/nvme/host/pci.c).',
    }),
    name: z.string().min(1).max(40).optional().meta({ description: 'Name for reports.' }),
    queues: z.number().int().min(1).max(1024).default(1).meta({
      unit: 'count',
      description:
        'Queues: virtio-net queue pairs, virtio-blk and virtio-scsi request queues, NVMe I/O queue pairs (the driver asks for one per CPU at most).',
    }),
    queueSize: z.number().int().min(2).max(65536).default(256).meta({
      unit: 'count',
      description:
        "Entries per queue: a virtqueue's descriptors (QEMU defaults to 256; a power of two for a split ring) or an NVMe queue depth (io_queue_depth, 1024 by default, limited by CAP.MQES).",
    }),
    dma32: z.boolean().default(false).meta({
      description:
        'The device has a 32-bit DMA mask: its coherent allocations come from ZONE_DMA32 (dma_direct_optimal_gfp_mask()).',
    }),
    load: LoadSchema.default(LoadSchema.parse({})).meta({
      description: 'The I/O load the device serves at run time.',
    }),
  })
  .strict()
  .refine((d) => d.kind === 'nvme-vfio' || (d.queueSize & (d.queueSize - 1)) === 0, {
    message: 'a virtqueue size is a power of two (split ring)',
    path: ['queueSize'],
  });
export type DeviceConfig = z.infer<typeof DeviceSchema>;

export const DEFAULT_DEVICES: DeviceConfig[] = [
  DeviceSchema.parse({ kind: 'virtio-net' }),
  DeviceSchema.parse({ kind: 'virtio-blk' }),
];

/** What a device holds after its probe. */
export interface ProbedDevice {
  readonly config: DeviceConfig;
  readonly name: string;
  /** Coherent buffers (rings, queues), each decrypted. */
  readonly coherent: CoherentBuffer[];
  readonly prpSmall: DmaPool | null;
  readonly prpPage: DmaPool | null;
}

/** The coherent allocations a driver makes at probe, in bytes, in order. */
export function probeAllocations(d: DeviceConfig): number[] {
  switch (d.kind) {
    case 'virtio-net': {
      const rings: number[] = [];
      for (let q = 0; q < d.queues; q++)
        rings.push(vringBytes(d.queueSize), vringBytes(d.queueSize));
      // The control virtqueue (VIRTIO_NET_F_CTRL_VQ); QEMU gives it 64 entries.
      rings.push(vringBytes(64));
      return rings;
    }
    case 'virtio-blk':
      return Array.from({ length: d.queues }, () => vringBytes(d.queueSize));
    case 'virtio-scsi':
      // Control and event virtqueues, then the request queues.
      return Array.from({ length: d.queues + 2 }, () => vringBytes(d.queueSize));
    case 'nvme-vfio': {
      const out = [NVME_AQ_DEPTH * NVME_CQE, NVME_AQ_DEPTH * NVME_SQE];
      for (let q = 0; q < d.queues; q++) out.push(d.queueSize * NVME_CQE, d.queueSize * NVME_SQE);
      return out;
    }
  }
}

/** Probe `devices` in order: their coherent rings and queues, and NVMe's PRP pools. */
export function probeDevices(dma: GuestDma, devices: readonly DeviceConfig[]): ProbedDevice[] {
  return devices.map((config, i) => {
    const zone: GfpZone = config.dma32 ? 'dma32' : 'normal';
    const coherent: CoherentBuffer[] = [];
    for (const bytes of probeAllocations(config)) {
      const buf = dma.allocCoherent(bytes, zone);
      if (buf) coherent.push(buf);
    }
    const nvme = config.kind === 'nvme-vfio';
    return {
      config,
      name: config.name ?? `${config.kind}${i}`,
      coherent,
      prpSmall: nvme ? new DmaPool(dma, 'prp list 256', 256, zone) : null,
      prpPage: nvme ? new DmaPool(dma, 'prp list page', NVME_CTRL_PAGE_SIZE, zone) : null,
    };
  });
}

/** The shared ranges of probed devices (for the boot layout). */
export function deviceRanges(devices: readonly ProbedDevice[]): Range[] {
  return devices.flatMap((d) => d.coherent.map((b) => ({ offset: b.offset, size: b.bytes })));
}

export interface DeviceRunOptions {
  readonly swiotlbDynamic: boolean;
  readonly vcpus: number;
}

export interface DeviceRunCounters {
  requests: number;
  /** Requests retried because SWIOTLB was full. */
  requeued: number;
  /** Transient SWIOTLB pools allocated (swiotlbDynamic). */
  transientPools: number;
}

/**
 * Schedule the I/O of each device on `queue` from `start` until `end`. A request maps its bytes
 * (SWIOTLB, no conversion), takes a PRP list from a pool when an NVMe request needs one, and
 * releases both when it completes.
 */
export function runDevices(
  dma: GuestDma,
  devices: readonly ProbedDevice[],
  queue: EventQueue,
  rng: Rng,
  start: number,
  end: number,
  options: DeviceRunOptions,
): DeviceRunCounters {
  const counters: DeviceRunCounters = { requests: 0, requeued: 0, transientPools: 0 };
  devices.forEach((dev, i) => {
    const load = dev.config.load;
    if (load.requestsPerSec <= 0) return;
    const r = rng.fork(i + 1);
    const gap = 1e9 / load.requestsPerSec;
    const segments = Math.ceil(load.requestBytes / SWIOTLB_MAX_MAPPING);
    const segBytes = Math.ceil(load.requestBytes / segments);
    // nvme_pci_setup_prps(): PRP1 and PRP2 cover two controller pages; more need a PRP list.
    const prps = Math.ceil(load.requestBytes / NVME_CTRL_PAGE_SIZE);
    const pool =
      dev.prpPage && prps > 2 ? (prps - 1 <= 256 / 8 ? dev.prpSmall : dev.prpPage) : null;
    const cpuOf = (n: number) => n % Math.max(1, Math.min(dev.config.queues, options.vcpus));
    let n = 0;
    const submit = (t: number): void => {
      if (t > end) return;
      const cpu = cpuOf(n++);
      const transient: CoherentBuffer[] = [];
      let mapped = 0;
      for (let s = 0; s < segments; s++) {
        if (dma.mapStreaming(segBytes)) {
          mapped++;
          continue;
        }
        if (!options.swiotlbDynamic) break;
        // swiotlb_alloc_pool() for this mapping: pages decrypted now, encrypted when freed.
        const buf = dma.allocCoherent(Math.max(segBytes, PAGE_SIZE), 'normal', cpu);
        if (!buf) break;
        transient.push(buf);
        counters.transientPools++;
      }
      if (mapped + transient.length < segments) {
        // A mapping error: undo, requeue after a service time.
        for (let s = 0; s < mapped; s++) dma.unmapStreaming(segBytes);
        for (const b of transient) dma.freeCoherent(b);
        counters.requeued++;
        queue.push(t + load.latencyNs, submit);
        return;
      }
      const hasPrp = pool ? pool.alloc() : false;
      counters.requests++;
      queue.push(t + r.exponential(load.latencyNs), () => {
        for (let s = 0; s < mapped; s++) dma.unmapStreaming(segBytes);
        for (const b of transient) dma.freeCoherent(b);
        if (hasPrp) pool!.free();
      });
    };
    const arrive = (t: number): void => {
      submit(t);
      queue.push(t + r.exponential(gap), arrive);
    };
    queue.push(start + r.exponential(gap), arrive);
  });
  return counters;
}
