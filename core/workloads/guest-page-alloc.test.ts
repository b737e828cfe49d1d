// The guest page allocator (mm/page_alloc.c) and the DMA API of a CoCo guest (kernel/dma/*.c,
// mm/dmapool.c), each rule checked on a booted guest.
import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { simOf } from '../sim/test-helpers.js';
import { GiB, KiB, MiB, PAGE_SIZE } from '../units.js';
import { BootSchema, bootGuest } from './coco-boot.js';
import { DmaPool } from './coco-dma-api.js';
import { CocoGuest } from './coco-guest.js';
import { GuestPhysMap } from './coco-placement.js';
import { WorkloadContext } from './context.js';
import { getOrder, GuestPageAllocator, zoneBatchsize } from './guest-page-alloc.js';

function booted(guestBytes = 8 * GiB, vcpus = 4) {
  const sim = simOf(
    { memoryBytes: guestBytes + 4 * GiB, hugetlb2m: guestBytes / (2 * MiB) },
    { allocator: 'hugetlb', pageSize: '2m', vendor: 'snp', guestBytes },
  );
  const ctx = new WorkloadContext(sim, new Rng(1), { sampleIntervalNs: 1e6 });
  const guest = new CocoGuest(
    ctx,
    { memoryBytes: guestBytes, vcpus, vendor: 'snp' },
    { acceptPageSize: '2m', largePscEntries: true },
  );
  const map = new GuestPhysMap(guestBytes);
  const layout = bootGuest(guest, BootSchema.parse({}), new Rng(3), map);
  const conversions = () => ({
    toShared: sim.metrics.get('conversions_to_shared'),
    toPrivate: sim.metrics.get('conversions_to_private'),
  });
  return { sim, guest, map, layout, conversions };
}

/** A bare allocator over `bytes` of RAM, all accepted, nothing reserved. */
function bare(bytes: number, vcpus = 2) {
  const accepted = new Set<number>();
  const guest = {
    bytes,
    isAccepted: () => true,
    accept: (offset: number) => void accepted.add(offset),
  };
  const map = new GuestPhysMap(bytes);
  return { pa: new GuestPageAllocator(guest, map, { vcpus }), map };
}

describe('buddy allocator (mm/page_alloc.c)', () => {
  it('hands out blocks in ascending order after boot (FPI_TO_TAIL), naturally aligned', () => {
    const { pa } = bare(64 * MiB);
    // Order 4 (64 KiB) does not use the pcp lists: the first 4 MiB block of ZONE_DMA32 (above
    // 16 MiB) is split by expand(), the low part first.
    const a = pa.alloc(4, 'dma32')!;
    const b = pa.alloc(4, 'dma32')!;
    expect(a).toBe(16 * MiB);
    expect(b).toBe(16 * MiB + 64 * KiB);
    const c = pa.alloc(5, 'dma32')!;
    expect(c % (128 * KiB)).toBe(0);
    expect(getOrder(6726)).toBe(1);
    expect(getOrder(4 * MiB)).toBe(10);
  });

  it('merges a freed block with its free buddy and hands the merged block out again', () => {
    const { pa } = bare(64 * MiB);
    const a = pa.alloc(10, 'dma32')!;
    pa.freePages(a, 10);
    // Back at the head of the MAX_ORDER list: the next MAX_ORDER allocation gets it.
    expect(pa.alloc(10, 'dma32')).toBe(a);
  });

  it('keeps 32-bit DMA allocations below 4 GiB and GFP_KERNEL above, in ZONE_NORMAL', () => {
    const { pa } = bare(8 * GiB);
    const low = pa.alloc(0, 'dma32')!;
    const high = pa.alloc(0, 'normal')!;
    expect(low).toBeLessThan(4 * GiB);
    expect(pa.zoneOfOffset(low)).toBe('dma32');
    expect(high).toBeGreaterThanOrEqual(4 * GiB);
    expect(pa.zoneOfOffset(high)).toBe('normal');
  });

  it('the per-CPU list hands a just-freed page out first', () => {
    const { pa } = bare(1 * GiB);
    const a = pa.alloc(0, 'dma32', 1)!;
    const b = pa.alloc(0, 'dma32', 1)!;
    // rmqueue_bulk() filled CPU 1's list in ascending order: the next page follows.
    expect(b).toBe(a + PAGE_SIZE);
    pa.freePages(a, 0, 1);
    expect(pa.alloc(0, 'dma32', 1)).toBe(a);
    // Another CPU has its own list: it does not see CPU 1's free page.
    pa.freePages(b, 0, 1);
    expect(pa.alloc(0, 'dma32', 0)).not.toBe(b);
    expect(pa.alloc(0, 'dma32', 1)).toBe(b);
  });

  it('zone_batchsize() gives 63 for zones of 1 GiB or more', () => {
    expect(zoneBatchsize((1 * GiB) / PAGE_SIZE)).toBe(63);
    expect(zoneBatchsize((64 * GiB) / PAGE_SIZE)).toBe(63);
    // 16 MiB: 4096 pages >> 10 = 4, / 4 = 1, rounddown_pow_of_two(1) - 1 = 0, and the pcp batch
    // is at least 1 (zone_set_pageset_high_and_batch()).
    expect(zoneBatchsize((16 * MiB) / PAGE_SIZE)).toBe(1);
    expect(zoneBatchsize((256 * MiB) / PAGE_SIZE)).toBe(15);
  });

  it('accepts unaccepted memory lowest first, only as the zone needs it', () => {
    const { layout, guest } = booted(8 * GiB);
    // ZONE_NORMAL starts at 4 GiB and was not accepted at boot (lazy acceptance of 256 MiB); its
    // only free pages were what memblock gave back at the top (the per-CPU unit tails), so the
    // boot's GFP_KERNEL allocations (atomic pool, virtio rings) made it accept blocks from 4 GiB
    // up, and a MAX_ORDER allocation takes one of those.
    const at = layout.pages.alloc(10, 'normal')!;
    expect(at).toBeGreaterThanOrEqual(4 * GiB);
    expect(at).toBeLessThan(4 * GiB + 64 * MiB);
    expect(guest.isAccepted(4 * GiB)).toBe(true);
    // cond_accept_memory() stops at the promo watermark: far from all of the zone.
    expect(guest.isAccepted(6 * GiB)).toBe(false);
  });
});

describe('DMA API of a CoCo guest', () => {
  it('streaming mappings bounce through SWIOTLB and convert nothing', () => {
    const { layout, conversions } = booted();
    const before = conversions();
    for (let i = 0; i < 1000; i++) expect(layout.dma.mapStreaming(64 * KiB)).toBe(true);
    for (let i = 0; i < 1000; i++) layout.dma.unmapStreaming(64 * KiB);
    expect(conversions()).toEqual(before);
    expect(layout.dma.counters.streamingMaps).toBe(1000);
  });

  it('a streaming mapping fails when SWIOTLB is full, still converting nothing', () => {
    const { layout, conversions } = booted(1 * GiB);
    const before = conversions();
    // 64 MiB of SWIOTLB: 64 mappings of 1 MiB fill it.
    for (let i = 0; i < 64; i++) expect(layout.dma.mapStreaming(1 * MiB)).toBe(true);
    expect(layout.dma.mapStreaming(1 * MiB)).toBe(false);
    expect(layout.dma.counters.swiotlbFull).toBe(1);
    expect(conversions()).toEqual(before);
  });

  it('dma_alloc_coherent converts once to shared, dma_free_coherent once back', () => {
    const { layout, conversions, sim } = booted();
    const before = conversions();
    const buf = layout.dma.allocCoherent(6726)!;
    expect(buf.bytes).toBe(2 * PAGE_SIZE);
    expect(conversions().toShared - before.toShared).toBe(1);
    expect(sim.gmem.shared.get(buf.offset / PAGE_SIZE)).toBe(true);
    expect(layout.dma.freeCoherent(buf)).toBe(true);
    expect(conversions().toPrivate - before.toPrivate).toBe(1);
    expect(sim.gmem.shared.get(buf.offset / PAGE_SIZE)).toBe(false);
    // The next allocation of the same order on the same CPU reuses the same pages.
    const again = layout.dma.allocCoherent(6726)!;
    expect(again.offset).toBe(buf.offset);
  });

  it('atomic allocations come from the pre-decrypted pools and convert nothing', () => {
    const { layout, conversions } = booted();
    const before = conversions();
    expect(layout.dma.allocAtomic(4 * KiB)).toBe(true);
    expect(layout.dma.allocAtomic(4 * KiB, 'dma32')).toBe(true);
    expect(conversions()).toEqual(before);
  });

  it('a dma_pool converts each page once and keeps it until it is destroyed', () => {
    const { layout, conversions } = booted();
    const pool = new DmaPool(layout.dma, 'nvme prp list small', 256);
    const before = conversions();
    // 16 blocks of 256 B per page: 100 allocations need 7 pages.
    for (let i = 0; i < 100; i++) expect(pool.alloc()).toBe(true);
    expect(pool.pageCount).toBe(7);
    expect(conversions().toShared - before.toShared).toBe(7);
    for (let i = 0; i < 100; i++) pool.free();
    for (let i = 0; i < 100; i++) pool.alloc();
    expect(conversions().toShared - before.toShared).toBe(7);
    expect(conversions().toPrivate).toBe(before.toPrivate);
    pool.destroy();
    expect(conversions().toPrivate - before.toPrivate).toBe(7);
  });
});
