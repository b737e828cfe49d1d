import { describe, expect, it } from 'vitest';
import { GmemVariantSchema, HostSchema, type GmemVariantInput } from '../config.js';
import { Rng } from '../rng.js';
import { GiB, MiB, ORDER_1G, ORDER_2M } from '../units.js';
import { FleetSimulation, swiotlbRange, type VmBoot } from './fleet-simulation.js';
import { hostOf, type HostSpec } from './test-helpers.js';

function fleetOf(
  host: HostSpec,
  variant: Partial<GmemVariantInput> & Pick<GmemVariantInput, 'pageSize' | 'allocator'>,
  seed = 1,
) {
  return new FleetSimulation({
    host: HostSchema.parse(hostOf(host)),
    variant: GmemVariantSchema.parse({ name: 'fleet-test', guestBytes: 1 * GiB, ...variant }),
    rng: new Rng(seed),
  });
}

const whole = (bytes: number): VmBoot => ({
  populateBytes: bytes,
  sharedRanges: [],
  prefault: false,
});

describe('FleetSimulation: HugeTLB pool exhaustion', () => {
  it('counts start failures when the pool cannot cover a file, and later VMs start once memory returns', () => {
    // One node with 8 x 1 GiB pages; every VM is 4 GiB (4 pages, reserved whole at creation).
    const fleet = fleetOf({ hugetlb1g: 8 }, { pageSize: '1g', allocator: 'hugetlb' });
    const m = fleet.metrics;
    const pool = fleet.host.pool(0, ORDER_1G);
    const start = (id: number) =>
      fleet.startVm({ id, bytes: 4 * GiB, homeNode: 0, boot: whole(4 * GiB) });

    expect(start(0).ok).toBe(true); // 8 -> 4 pages left
    expect(start(1).ok).toBe(true); // 4 -> 0 left
    expect(m.get('pool_free_1g_pages')).toBe(0);
    // A third VM needs 4 pages, the pool has 0 unreserved free: the subpool reservation fails.
    const third = start(2);
    expect(third).toMatchObject({ ok: false, stage: 'create', errno: 'ENOMEM' });
    expect(m.get('vm_start_failures')).toBe(1);
    // No allocation was attempted (creation failed first), so alloc_failures stays 0.
    expect(m.get('alloc_failures')).toBe(0);
    expect(m.get('vms_running')).toBe(2);
    // Two VMs x 4 GiB private; HVO keeps 1 vmemmap page per 1 GiB folio: 8 x 4 KiB; each VM's
    // EPT has its root table page (nothing is mapped yet): 2 x 4 KiB.
    expect(m.get('private_bytes')).toBe(8 * GiB);
    expect(m.get('vmemmap_bytes')).toBe(8 * 4096);
    expect(m.get('page_table_bytes')).toBe(2 * 4096);
    expect(m.get('host_total_bytes')).toBe(8 * GiB + 8 * 4096 + 2 * 4096);
    expect(m.get('folios_1g')).toBe(8);
    expect(m.get('guest_bytes')).toBe(8 * GiB);

    // VM 0 leaves: its 4 pages go back to the pool (subpool freed, then released).
    fleet.stopVm(0);
    expect(pool.freeHugePages).toBe(4);
    expect(pool.resvHugePages).toBe(0);
    expect(m.get('pool_free_1g_pages')).toBe(4);
    expect(m.get('pool_free_bytes')).toBe(4 * GiB);
    // ... so the VM that failed before starts now.
    expect(start(2).ok).toBe(true);
    expect(m.get('vm_starts')).toBe(3);
    expect(fleet.checkInvariants()).toEqual([]);

    for (const vm of fleet.running()) fleet.stopVm(vm.id);
    expect(pool.freeHugePages).toBe(8);
    expect(pool.resvHugePages).toBe(0);
    expect(fleet.allocator.stats().allocatedBytesByNode).toEqual([0]);
    expect(m.get('host_total_bytes')).toBe(0);
    expect(m.get('vm_stops')).toBe(3);
    expect(fleet.checkInvariants()).toEqual([]);
  });

  it('reserved but unpopulated pages still block other VMs', () => {
    // 8 pages. VM 0 is 4 GiB but fallocates only 2 GiB: 2 pages allocated, 2 stay reserved in its
    // subpool (free_huge_pages 6, resv 2 -> 4 unreserved).
    const fleet = fleetOf({ hugetlb1g: 8 }, { pageSize: '1g', allocator: 'hugetlb' });
    const m = fleet.metrics;
    expect(fleet.startVm({ id: 0, bytes: 4 * GiB, homeNode: 0, boot: whole(2 * GiB) }).ok).toBe(
      true,
    );
    expect(m.get('reserved_unused_bytes')).toBe(2 * GiB);
    expect(m.get('private_bytes')).toBe(2 * GiB);
    expect(fleet.host.pool(0, ORDER_1G).freeHugePages).toBe(6);
    expect(m.get('pool_free_1g_pages')).toBe(4);
    // Host total counts the reservation: 2 GiB folios + 2 GiB reserved + 2 vmemmap pages + the
    // EPT root page.
    expect(m.get('host_total_bytes')).toBe(4 * GiB + 2 * 4096 + 4096);
    expect(m.nodeBytes(0)).toBe(4 * GiB + 2 * 4096 + 4096);
    // A 4 GiB VM takes the 4 unreserved pages; then a 2 GiB VM fails although 2 pages are
    // physically free: they are VM 0's reservation.
    expect(fleet.startVm({ id: 1, bytes: 4 * GiB, homeNode: 0, boot: whole(4 * GiB) }).ok).toBe(
      true,
    );
    expect(
      fleet.startVm({ id: 2, bytes: 2 * GiB, homeNode: 0, boot: whole(2 * GiB) }),
    ).toMatchObject({ ok: false, stage: 'create' });
    expect(fleet.host.pool(0, ORDER_1G).freeHugePages).toBe(2);
    expect(fleet.checkInvariants()).toEqual([]);
  });
});

describe('FleetSimulation: CMA', () => {
  it('fails a start when unmovable ranges leave too few 1 GiB ranges; latency includes migration', () => {
    // An 8 GiB CMA area whose ranges 0-4 hold unmovable pages: 3 usable 1 GiB ranges. Half of
    // every range is lent to movable allocations, migrated out before each 1 GiB allocation.
    const fleet = fleetOf(
      {
        cma: { sizeBytes: 8 * GiB, unmovableRanges: [0, 1, 2, 3, 4], movableOccupiedFraction: 0.5 },
      },
      { pageSize: '1g', allocator: 'cma-raw' },
    );
    const m = fleet.metrics;
    expect(m.get('cma_free_1g_ranges')).toBe(3);
    // A 4 GiB VM: creation reserves nothing (CMA), fallocate gets 3 ranges, the 4th fails ENOMEM.
    const r = fleet.startVm({ id: 0, bytes: 4 * GiB, homeNode: 0, boot: whole(4 * GiB) });
    expect(r).toMatchObject({ ok: false, stage: 'populate', errno: 'ENOMEM' });
    expect(m.get('alloc_failures')).toBe(1);
    expect(m.get('vm_start_failures')).toBe(1);
    // The half-built VM was torn down: its 3 ranges are back.
    expect(m.get('cma_free_1g_ranges')).toBe(3);
    expect(fleet.allocator.stats().allocatedBytesByNode).toEqual([0]);
    // Latency of one successful 1 GiB allocation, by hand: base 5 ms = 12,500,000 cycles at
    // 2.5 GHz; migration of 0.5 x 262144 = 131072 pages x 0.08 us = 10485.76 us = 26,214,400
    // cycles; 38,714,400 cycles = 15,485,760 ns. The failed 4th call cost 0 cycles (no usable range
    // at all) and is not recorded. An empty range would cost the 5 ms base only.
    const lat = m.latencySummary('allocate');
    expect(lat.count).toBe(3);
    expect(lat.max).toBeCloseTo(15_485_760, 3);
    expect(lat.mean).toBeCloseTo(15_485_760, 3);
    expect(lat.max).toBeGreaterThan(5_000_000);

    // A 2 GiB VM fits (3 ranges), leaving 1; another 2 GiB VM then fails on its 2nd folio.
    expect(fleet.startVm({ id: 1, bytes: 2 * GiB, homeNode: 0, boot: whole(2 * GiB) }).ok).toBe(
      true,
    );
    expect(m.get('cma_free_1g_ranges')).toBe(1);
    expect(
      fleet.startVm({ id: 2, bytes: 2 * GiB, homeNode: 0, boot: whole(2 * GiB) }),
    ).toMatchObject({ ok: false, stage: 'populate' });
    expect(m.get('vm_start_failures')).toBe(2);
    expect(m.get('alloc_failures')).toBe(2);
    expect(m.get('cma_free_1g_ranges')).toBe(1);
    expect(m.latencySummary('allocate').count).toBe(3 + 2 + 1);
    expect(fleet.checkInvariants()).toEqual([]);
    fleet.stopVm(1);
    expect(m.get('cma_free_1g_ranges')).toBe(3);
    expect(m.get('host_total_bytes')).toBe(0);
  });

  it('transient references make every attempt fail: ENOMEM after maxAttempts (cma_alloc() returns NULL), latency recorded', () => {
    // transientFailureRate 1: each of the 4 attempts (default maxAttempts) fails; an empty range
    // costs the 5 ms base per attempt, so the call gives up after 20 ms = 50,000,000 cycles.
    const fleet = fleetOf(
      { cma: { sizeBytes: 4 * GiB, transientFailureRate: 1 } },
      { pageSize: '1g', allocator: 'cma-raw' },
    );
    const r = fleet.startVm({ id: 0, bytes: 1 * GiB, homeNode: 0, boot: whole(1 * GiB) });
    expect(r).toMatchObject({ ok: false, stage: 'populate', errno: 'ENOMEM' });
    const lat = fleet.metrics.latencySummary('allocate');
    expect(lat.count).toBe(1);
    expect(lat.max).toBeCloseTo(20_000_000, 3);
    expect(fleet.metrics.get('cycles_allocation')).toBe(50_000_000);
  });
});

describe('FleetSimulation: invariants over random start/stop/advance sequences', () => {
  const cases: {
    name: string;
    host: HostSpec;
    variant: Partial<GmemVariantInput> & Pick<GmemVariantInput, 'pageSize' | 'allocator'>;
    sizes: number[];
  }[] = [
    {
      name: 'hugetlb 1g, 2 nodes, interleave',
      host: { nodes: 2, hugetlb1g: 5 },
      variant: {
        pageSize: '1g',
        allocator: 'hugetlb',
        mempolicy: { mode: 'interleave', nodes: [0, 1] },
      },
      sizes: [1 * GiB, 2 * GiB, 3 * GiB],
    },
    {
      name: 'hugetlb 2m, INIT_SHARED, deferred merge',
      host: { hugetlb2m: 1024 },
      variant: {
        pageSize: '2m',
        allocator: 'hugetlb',
        initPrivate: false,
        policies: { merge: 'deferred', mergeDelayNs: 1000 },
      },
      sizes: [128 * MiB, 256 * MiB, 512 * MiB],
    },
    {
      name: 'cma 1g with unmovable range',
      host: { cma: { sizeBytes: 6 * GiB, unmovableRanges: [2], movableOccupiedFraction: 0.2 } },
      variant: { pageSize: '1g', allocator: 'cma-raw' },
      sizes: [1 * GiB, 2 * GiB],
    },
    {
      name: 'thp 2m, fragmented buddy, legacy model',
      host: { memoryBytes: 2 * GiB, thpFragmentation: 0.1 },
      variant: { pageSize: '2m', allocator: 'thp', conversionModel: 'legacy' },
      sizes: [64 * MiB, 128 * MiB, 256 * MiB],
    },
    {
      name: 'hugetlb 1g, struct-page-less, staged split',
      host: { hugetlb1g: 6 },
      variant: {
        pageSize: '1g',
        allocator: 'hugetlb',
        policies: { structPageless: true, split: 'staged' },
      },
      sizes: [1 * GiB, 2 * GiB],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const fleet = fleetOf(c.host, c.variant);
      const rng = new Rng(42);
      const initial = fleet.host.allCounters();
      let id = 0;
      let t = 0;
      for (let step = 0; step < 40; step++) {
        const running = fleet.running();
        const roll = rng.next();
        if (roll < 0.5 || running.length === 0) {
          const bytes = rng.pick(c.sizes);
          const populate = rng.chance(0.3) ? bytes / 2 : bytes;
          const range = swiotlbRange(bytes, 64 * MiB);
          fleet.startVm({
            id: id++,
            bytes,
            homeNode: rng.int(fleet.host.nodeCount),
            boot: {
              populateBytes: populate - (populate % (c.variant.pageSize === '1g' ? GiB : 2 * MiB)),
              sharedRanges: range ? [range] : [],
              prefault: rng.chance(0.3),
            },
          });
        } else if (roll < 0.8) {
          fleet.stopVm(rng.pick(running).id);
        } else {
          t += rng.int(5000);
          fleet.advanceTo(t);
        }
        expect(fleet.checkInvariants(), `step ${step}`).toEqual([]);
      }
      // The sequence exercises starts (and, on the small pools, start failures).
      expect(fleet.metrics.get('vm_starts')).toBeGreaterThan(10);
      for (const vm of fleet.running()) fleet.stopVm(vm.id);
      expect(fleet.checkInvariants()).toEqual([]);
      // Everything came back: pools, CMA areas and buddy memory as at boot.
      expect(fleet.host.allCounters()).toEqual(initial);
      expect(fleet.allocator.stats().allocatedBytesByNode.every((b) => b === 0)).toBe(true);
      expect(fleet.metrics.get('host_total_bytes')).toBe(0);
      expect(fleet.metrics.get('reserved_unused_bytes')).toBe(0);
    });
  }
});

describe('swiotlbRange', () => {
  it('sits at the top of guest RAM, its start aligned down to 2 MiB', () => {
    expect(swiotlbRange(4 * GiB, 256 * MiB)).toEqual([4 * GiB - 256 * MiB, 256 * MiB]);
    expect(swiotlbRange(1 * GiB, 64 * MiB)).toEqual([1 * GiB - 64 * MiB, 64 * MiB]);
    // 6 % of 4 GiB rounded up to 4 KiB: 245.76 MiB -> start 4 GiB - 246 MiB.
    const size = 257_699_840;
    expect(swiotlbRange(4 * GiB, size)).toEqual([4 * GiB - 246 * MiB, size]);
    expect(swiotlbRange(32 * MiB, 64 * MiB)).toEqual([0, 32 * MiB]);
    expect(swiotlbRange(1 * GiB, 0)).toBeNull();
  });

  it('splits the huge folio it lands in (1 GiB backing, HugeTLB)', () => {
    const fleet = fleetOf({ hugetlb1g: 4 }, { pageSize: '1g', allocator: 'hugetlb' });
    const range = swiotlbRange(2 * GiB, 64 * MiB)!;
    expect(
      fleet.startVm({
        id: 0,
        bytes: 2 * GiB,
        homeNode: 0,
        boot: { populateBytes: 2 * GiB, sharedRanges: [range], prefault: false },
      }).ok,
    ).toBe(true);
    // [1984 MiB, 2 GiB) is inside the second 1 GiB folio: one 1 GiB split to 4 KiB.
    expect(fleet.metrics.get('splits_1g')).toBe(1);
    expect(fleet.metrics.get('folios_1g')).toBe(1);
    expect(fleet.metrics.get('folios_4k')).toBe(262144);
    expect(fleet.metrics.get('shared_bytes')).toBe(64 * MiB);
    expect(fleet.host.pool(0, ORDER_2M).freeHugePages).toBe(0);
  });
});
