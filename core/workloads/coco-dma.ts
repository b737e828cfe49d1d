// Coherent DMA memory of a confidential guest (domain.md section 5, "CoCo boot"): the DMA atomic
// pools and the virtio rings and buffers, each from dma_alloc_coherent(), i.e. decrypted (shared)
// pages at a scattered place. Streaming DMA goes through SWIOTLB and converts nothing.
import { z } from 'zod';
import { GiB, KiB, PAGE_SIZE, alignUp } from '../units.js';
import { bytesField } from './coco-fields.js';
import type { CocoGuest } from './coco-guest.js';
import {
  MAX_ORDER_BYTES,
  buddySpan,
  nextPowerOfTwo,
  placeScattered,
  reserve,
  type Placer,
  type Range,
} from './coco-placement.js';

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

/** dma_atomic_pool_init() -> atomic_pool_expand(): each pool decrypted once at boot. */
export function shareAtomicPools(g: CocoGuest, dp: DmaPoolsConfig, placer: Placer): Range[] {
  const pools: Range[] = [];
  const poolBytes = dmaAtomicPoolBytes(g.bytes, dp);
  for (let i = 0; i < dp.count; i++) {
    const r = reserve(
      placer.map,
      placeScattered(placer, poolBytes, Math.min(poolBytes, MAX_ORDER_BYTES)),
      poolBytes,
    );
    if (r) {
      pools.push(r);
      g.acceptAndShare(r);
    }
  }
  return pools;
}

/** Per virtqueue, its split ring and its other coherent buffer, each a dma_alloc_coherent(). */
export function shareVirtioRings(g: CocoGuest, virtio: VirtioConfig, placer: Placer): Range[] {
  const shared: Range[] = [];
  const coherent = (want: number) => {
    if (want <= 0) return;
    const { span, align } = buddySpan(want);
    const at = placeScattered(placer, span, align);
    if (at === null) return;
    placer.map.add(at, at + span);
    // dma_set_decrypted(): only PFN_UP(size) pages of the allocation.
    const r = { offset: at, size: alignUp(want, PAGE_SIZE) };
    shared.push(r);
    g.acceptAndShare(r);
  };
  for (const dev of virtio.devices) {
    for (let q = 0; q < dev.queues; q++) {
      coherent(vringBytes(dev.queueSize));
      coherent(virtio.coherentBytesPerQueue);
    }
  }
  return shared;
}
