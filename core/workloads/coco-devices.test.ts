// Devices and drivers: what each probe allocates and converts, and what their I/O converts at run
// time (streaming DMA: nothing; NVMe PRP lists: each dma_pool page once; a full SWIOTLB: requeue,
// or transient decrypted pools with CONFIG_SWIOTLB_DYNAMIC).
import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { simOf } from '../sim/test-helpers.js';
import { GiB, KiB, MiB } from '../units.js';
import { BootSchema, bootGuest } from './coco-boot.js';
import { DeviceSchema, probeAllocations } from './coco-devices.js';
import { CocoGuest } from './coco-guest.js';
import { GuestPhysMap } from './coco-placement.js';
import { WorkloadContext } from './context.js';
import { RuntimeSchema, runRuntime } from './runtime.js';

function bootAndRun(devices: object[], runtime: object = {}, guestBytes = 4 * GiB) {
  const sim = simOf(
    { memoryBytes: guestBytes + 4 * GiB, hugetlb2m: guestBytes / (2 * MiB) },
    { allocator: 'hugetlb', pageSize: '2m', vendor: 'snp', guestBytes },
  );
  const ctx = new WorkloadContext(sim, new Rng(1), { sampleIntervalNs: 1e6 });
  const guest = new CocoGuest(
    ctx,
    { memoryBytes: guestBytes, vcpus: 4, vendor: 'snp' },
    { acceptPageSize: '2m', largePscEntries: true },
  );
  const map = new GuestPhysMap(guestBytes);
  const layout = bootGuest(guest, BootSchema.parse({ devices }), new Rng(2), map);
  const m = sim.metrics;
  const boot = {
    toShared: m.get('conversions_to_shared'),
    toPrivate: m.get('conversions_to_private'),
    splits: m.get('splits_2m'),
    shared: sim.gmem.shared.total,
  };
  const state = runRuntime(
    guest,
    RuntimeSchema.parse({ durationNs: 100_000_000, ...runtime }),
    map,
    new Rng(3),
    layout.acceptedBytes,
    layout,
  );
  const rt = {
    toShared: m.get('conversions_to_shared') - boot.toShared,
    toPrivate: m.get('conversions_to_private') - boot.toPrivate,
    splits: m.get('splits_2m') - boot.splits,
  };
  expect(sim.checkInvariants()).toEqual([]);
  return { sim, layout, boot, rt, state };
}

describe('device probe', () => {
  it('allocates what each driver allocates', () => {
    const p = (o: object) => probeAllocations(DeviceSchema.parse(o));
    // virtio-net: rx + tx per queue pair, plus the control queue (64 entries).
    expect(p({ kind: 'virtio-net', queues: 2 })).toEqual([6726, 6726, 6726, 6726, 1734]);
    expect(p({ kind: 'virtio-blk', queues: 1 })).toEqual([6726]);
    // virtio-scsi: control, event, then the request queues.
    expect(p({ kind: 'virtio-scsi', queues: 1 })).toHaveLength(3);
    // NVMe: admin CQ and SQ (32 entries), then CQ and SQ of each I/O queue.
    expect(p({ kind: 'nvme-vfio', queues: 2, queueSize: 1024 })).toEqual([
      512,
      2048,
      16 * KiB,
      64 * KiB,
      16 * KiB,
      64 * KiB,
    ]);
  });

  it('refuses a split virtqueue whose size is not a power of two, with its field', () => {
    const r = DeviceSchema.safeParse({ kind: 'virtio-blk', queueSize: 100 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['queueSize']);
    expect(DeviceSchema.safeParse({ kind: 'nvme-vfio', queueSize: 100 }).success).toBe(true);
  });

  it('more devices add their rings and queues, each one conversion', () => {
    const one = bootAndRun([{ kind: 'virtio-blk' }], { durationNs: 0 });
    const more = bootAndRun(
      [{ kind: 'virtio-blk' }, { kind: 'virtio-net', queues: 2 }, { kind: 'nvme-vfio', queues: 2 }],
      { durationNs: 0 },
    );
    // virtio-net: 4 rings of 2 pages + 1 of 1 page; NVMe (256 entries): admin CQ and SQ 1 page
    // each, then 2 x (CQ 1 page + SQ 4 pages).
    expect(more.boot.shared - one.boot.shared).toBe(9 + 12);
    expect(more.boot.toShared - one.boot.toShared).toBe(5 + 6);
    expect(more.layout.deviceShared).toHaveLength(1 + 5 + 6);
  });
});

describe('device I/O at run time', () => {
  it('streaming I/O bounces through SWIOTLB and converts nothing', () => {
    const { rt, state } = bootAndRun([
      { kind: 'virtio-blk', load: { requestsPerSec: 20_000, requestBytes: 64 * KiB } },
      { kind: 'virtio-net', load: { requestsPerSec: 100_000, requestBytes: 1500 } },
    ]);
    expect(state.io!.requests).toBeGreaterThan(10_000);
    expect(rt).toEqual({ toShared: 0, toPrivate: 0, splits: 0 });
  });

  it('NVMe PRP lists convert each dma_pool page once, then reuse it', () => {
    const { rt, layout, state } = bootAndRun([
      {
        kind: 'nvme-vfio',
        queues: 4,
        queueSize: 1024,
        load: { requestsPerSec: 50_000, requestBytes: 128 * KiB, latencyNs: 200_000 },
      },
    ]);
    const dev = layout.devices[0]!;
    // 128 KiB = 32 controller pages: a 31-entry PRP list, from the 256-byte pool.
    expect(dev.prpSmall!.pageCount).toBeGreaterThan(0);
    expect(dev.prpPage!.pageCount).toBe(0);
    expect(state.io!.requests).toBeGreaterThan(4000);
    expect(rt.toShared).toBe(dev.prpSmall!.pageCount);
    expect(rt.toPrivate).toBe(0);
    // Far fewer conversions than requests.
    expect(rt.toShared * 100).toBeLessThan(state.io!.requests);
  });

  it('a full SWIOTLB requeues requests; with CONFIG_SWIOTLB_DYNAMIC it decrypts transient pools', () => {
    // 4 GiB guest: 256 MiB SWIOTLB. 20 000 requests/s of 4 MiB living 10 ms on average keep about
    // 800 MiB in flight: more than SWIOTLB holds.
    const devices = [
      {
        kind: 'virtio-blk',
        load: { requestsPerSec: 20_000, requestBytes: 4 * MiB, latencyNs: 10_000_000 },
      },
    ];
    const fixed = bootAndRun(devices, { durationNs: 20_000_000 });
    expect(fixed.state.io!.requeued).toBeGreaterThan(0);
    expect(fixed.rt.toShared).toBe(0);
    const dynamic = bootAndRun(devices, { durationNs: 20_000_000, swiotlbDynamic: true });
    expect(dynamic.state.io!.transientPools).toBeGreaterThan(0);
    expect(dynamic.rt.toShared).toBe(dynamic.state.io!.transientPools);
    expect(dynamic.rt.toPrivate).toBeLessThanOrEqual(dynamic.rt.toShared);
    expect(dynamic.rt.toPrivate).toBeGreaterThan(0);
  });
});
