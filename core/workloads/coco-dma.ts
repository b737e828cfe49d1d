// Coherent DMA memory of a confidential guest (domain.md section 5, "CoCo boot"): the DMA atomic
// pools (pages from their zone, decrypted once) and the virtio rings and buffers, each from
// dma_alloc_coherent() (coco-dma-api.ts), i.e. decrypted pages where the guest page allocator
// puts them. Streaming DMA goes through SWIOTLB and converts nothing.
import { z } from 'zod';
import { GiB, KiB, PAGE_SIZE, alignUp } from '../units.js';
import { bytesField } from './coco-fields.js';
import type { CocoGuest } from './coco-guest.js';
import type { AtomicPool, GuestDma } from './coco-dma-api.js';
import { MAX_ORDER_BYTES, nextPowerOfTwo, type Range } from './coco-placement.js';
import {
  getOrder,
  MAX_PAGE_ORDER,
  type GfpZone,
  type GuestPageAllocator,
} from './guest-page-alloc.js';

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

const VirtioDeviceSchema = z
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
    devices: z.array(VirtioDeviceSchema).max(64).default([]).meta({
      description:
        'virtio devices in the earlier form (empty by default; boot.devices describes devices and their drivers): each queue gets one split ring (descriptor table, avail and used rings) from dma_alloc_coherent(), i.e. pages from the guest page allocator, decrypted, plus coherentBytesPerQueue.',
    }),
    coherentBytesPerQueue: bytesField(
      4 * KiB,
      'Other coherent DMA memory per queue (a separate dma_alloc_coherent()); an assumption, 0 disables. Streaming DMA goes through SWIOTLB and converts nothing.',
    ),
  })
  .strict()
  .meta({ description: 'virtio devices of the guest.' });
export type VirtioConfig = z.infer<typeof VirtioSchema>;

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

/** The zones of the atomic pools, in the order dma_atomic_pool_init() creates them. */
const POOL_ZONES: GfpZone[] = ['normal', 'dma32', 'dma'];

/** dma_atomic_pool_init() -> atomic_pool_expand(): each pool one alloc_pages() from its zone
 * (GFP_KERNEL, GFP_DMA32, GFP_DMA), decrypted once at boot. */
export function shareAtomicPools(
  g: CocoGuest,
  dp: DmaPoolsConfig,
  pages: GuestPageAllocator,
): AtomicPool[] {
  const pools: AtomicPool[] = [];
  const poolBytes = dmaAtomicPoolBytes(g.bytes, dp);
  const order = Math.min(getOrder(poolBytes), MAX_PAGE_ORDER);
  for (let i = 0; i < dp.count; i++) {
    const zone = POOL_ZONES[Math.min(i, POOL_ZONES.length - 1)]!;
    const at = pages.alloc(order, zone);
    if (at === null) continue;
    const range = { offset: at, size: PAGE_SIZE << order };
    if (!g.share(range.offset, range.size).ok) continue;
    pools.push({ range, zone, used: 0 });
  }
  return pools;
}

/** Per virtqueue, its split ring and its other coherent buffer, each a dma_alloc_coherent()
 * (vring_alloc_queue() in drivers/virtio/virtio_ring.c uses the DMA API when the device has
 * VIRTIO_F_ACCESS_PLATFORM, as CoCo guests require). */
export function shareVirtioRings(virtio: VirtioConfig, dma: GuestDma): Range[] {
  const shared: Range[] = [];
  const coherent = (want: number) => {
    if (want <= 0) return;
    const buf = dma.allocCoherent(want);
    if (buf) shared.push({ offset: buf.offset, size: buf.bytes });
  };
  for (const dev of virtio.devices) {
    for (let q = 0; q < dev.queues; q++) {
      coherent(vringBytes(dev.queueSize));
      coherent(virtio.coherentBytesPerQueue);
    }
  }
  return shared;
}
