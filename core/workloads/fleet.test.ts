import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { GmemVariantSchema, HostSchema, type GmemVariantInput } from '../config.js';
import { DEFAULT_COSTS } from '../constants.js';
import { ConfigError } from '../errors.js';
import { hostOf, type HostSpec } from '../sim/test-helpers.js';
import { GiB, MiB } from '../units.js';
import { Cancelled } from './context.js';
import { FleetSchema, runFleet, type FleetConfig, type FleetVmEvent } from './fleet.js';

const HOUR_NS = 3600e9;

type VariantSpec = Partial<GmemVariantInput> & Pick<GmemVariantInput, 'pageSize' | 'allocator'>;

function run(
  params: Partial<z.input<typeof FleetSchema>>,
  host: HostSpec,
  variant: VariantSpec,
  seed = 7,
  extra: { isCancelled?: () => boolean } = {},
) {
  const events: FleetVmEvent[] = [];
  const result = runFleet(
    FleetSchema.parse({ kind: 'fleet', ...params }),
    HostSchema.parse(hostOf(host)),
    GmemVariantSchema.parse({ name: variant.allocator, guestBytes: 1 * GiB, ...variant }),
    seed,
    { sampleIntervalNs: 1_000_000, onVmEvent: (e) => events.push(e), ...extra },
  );
  return { ...result, events, summary: result.metrics.summary(result.endNs) };
}

/**
 * Independent oracle for the start / failure sequence when every VM needs whole 1 GiB pages from
 * one pool of `capacity` pages and populates all of its memory: a VM starts iff its pages fit in
 * what is free, and gives them back when it leaves. Departures go first at equal times, lowest id
 * first, as in the workload.
 */
function expectedOutcomes(arrivals: FleetVmEvent[], capacity: number, endNs: number): boolean[] {
  let free = capacity;
  const out: boolean[] = [];
  const leaving: { t: number; id: number; pages: number }[] = [];
  for (const a of arrivals) {
    if (a.type !== 'arrive') continue;
    leaving.sort((x, y) => x.t - y.t || x.id - y.id);
    while (leaving.length > 0 && leaving[0]!.t <= a.t && leaving[0]!.t <= endNs) {
      free += leaving.shift()!.pages;
    }
    const pages = a.bytes / GiB;
    const ok = pages <= free;
    out.push(ok);
    if (ok) {
      free -= pages;
      leaving.push({ t: a.t + a.lifetimeNs, id: a.id, pages });
    }
  }
  return out;
}

const outcomes = (events: FleetVmEvent[]) =>
  events
    .filter((e) => e.type === 'start' || e.type === 'start_failed')
    .map((e) => e.type === 'start');

describe('FleetSchema', () => {
  it('defaults every field', () => {
    const p = FleetSchema.parse({ kind: 'fleet' });
    expect(p).toEqual({
      kind: 'fleet',
      vmSizes: [
        { bytes: 4 * GiB, weight: 4 },
        { bytes: 8 * GiB, weight: 3 },
        { bytes: 16 * GiB, weight: 2 },
        { bytes: 32 * GiB, weight: 1 },
      ],
      arrivalsPerHour: 1,
      meanLifetimeHours: 24,
      initialVms: 0,
      durationHours: 168,
      maxEvents: 5000,
      populateFraction: 1,
      swiotlbFraction: 0.06,
      swiotlbMinBytes: 64 * MiB,
      swiotlbMaxBytes: 1 * GiB,
      prefault: false,
      homeNodes: 'variant',
      teardownAtEnd: false,
    } satisfies FleetConfig);
  });

  it('describes every field', () => {
    for (const [key, field] of Object.entries(FleetSchema.shape)) {
      const meta = z.globalRegistry.get(field);
      expect(typeof meta?.description, key).toBe('string');
    }
  });

  it('rejects unknown fields and VM sizes that are not 2 MiB multiples', () => {
    expect(FleetSchema.safeParse({ kind: 'fleet', bogus: 1 }).success).toBe(false);
    expect(
      FleetSchema.safeParse({ kind: 'fleet', vmSizes: [{ bytes: 3 * MiB, weight: 1 }] }).success,
    ).toBe(false);
  });
});

describe('runFleet', () => {
  // One node, 20 x 1 GiB HugeTLB pages and a 20 GiB CMA area: the same capacity for both
  // allocators. VMs of 2, 4 or 8 GiB arrive 4 times an hour and stay 6 hours on average for two
  // days: about 24 VMs, 24 x 4.7 GiB (weighted mean size) = well over 20 GiB, so some fail.
  const host: HostSpec = {
    memoryBytes: 64 * GiB,
    hugetlb1g: 20,
    cma: { sizeBytes: 20 * GiB, movableOccupiedFraction: 0.3 },
  };
  const params = {
    vmSizes: [
      { bytes: 2 * GiB, weight: 2 },
      { bytes: 4 * GiB, weight: 2 },
      { bytes: 8 * GiB, weight: 1 },
    ],
    arrivalsPerHour: 4,
    meanLifetimeHours: 6,
    durationHours: 48,
  };

  it('HugeTLB and CMA see the same arrivals; equal capacity gives the same starts and failures', () => {
    const hugetlb = run(params, host, { pageSize: '1g', allocator: 'hugetlb' });
    const cma = run(params, host, { pageSize: '1g', allocator: 'cma-raw' });
    const arrivals = (r: typeof hugetlb) => r.events.filter((e) => e.type === 'arrive');
    // The arrival stream has its own Rng fork: identical whatever the variant does.
    expect(arrivals(cma)).toEqual(arrivals(hugetlb));
    expect(arrivals(hugetlb).length).toBeGreaterThan(100);
    const endNs = 48 * HOUR_NS;
    const expected = expectedOutcomes(hugetlb.events, 20, endNs);
    expect(expected.filter((ok) => !ok).length).toBeGreaterThan(0);
    expect(outcomes(hugetlb.events)).toEqual(expected);
    expect(outcomes(cma.events)).toEqual(expected);
    for (const r of [hugetlb, cma]) {
      const m = r.summary.metrics;
      expect(m.vm_starts + m.vm_start_failures).toBe(expected.length);
      expect(m.vm_start_failures).toBe(expected.filter((ok) => !ok).length);
      expect(m.vms_running).toBe(m.vm_starts - m.vm_stops);
    }
    // HugeTLB fails at creation (the subpool reservation); CMA at fallocate (cma_alloc).
    expect(hugetlb.events.find((e) => e.type === 'start_failed')).toMatchObject({
      stage: 'create',
      errno: 'ENOMEM',
    });
    expect(cma.events.find((e) => e.type === 'start_failed')).toMatchObject({ stage: 'populate' });
    expect(hugetlb.summary.metrics.alloc_failures).toBe(0);
    expect(cma.summary.metrics.alloc_failures).toBe(cma.summary.metrics.vm_start_failures);

    // Allocation latency by hand. HugeTLB 1 GiB page from the file's subpool
    // (guestmem_hugetlb_alloc_folio(), RFC v2): a subpool get + a dequeue = 1,200 cycles =
    // 480 ns; the pool grew at host boot. CMA: 5 ms base = 12,500,000
    // cycles plus round(0.3 x 262144) = 78,643 movable pages x 0.08 us = 6291.44 us =
    // 15,728,600 cycles: 28,228,600 cycles = 11,291,440 ns.
    expect(hugetlb.summary.latencyNs.allocate.max).toBeCloseTo(
      (DEFAULT_COSTS.hugetlbSubpoolGetCycles + DEFAULT_COSTS.hugetlbDequeueCycles) /
        DEFAULT_COSTS.cpuGhz,
      3,
    );
    expect(cma.summary.latencyNs.allocate.max).toBeCloseTo(11_291_440, 3);
    expect(cma.summary.latencyNs.allocate.mean).toBeCloseTo(11_291_440, 3);
  });

  it('CMA with unmovable ranges fails more: the same arrivals against a smaller capacity', () => {
    // Ranges 0-4 of the area hold unmovable pages: 15 usable 1 GiB ranges instead of 20.
    const pinned: HostSpec = {
      ...host,
      cma: { sizeBytes: 20 * GiB, unmovableRanges: [0, 1, 2, 3, 4], movableOccupiedFraction: 0.3 },
    };
    const cma = run(params, pinned, { pageSize: '1g', allocator: 'cma-raw' });
    const hugetlb = run(params, host, { pageSize: '1g', allocator: 'hugetlb' });
    const endNs = 48 * HOUR_NS;
    expect(outcomes(cma.events)).toEqual(expectedOutcomes(cma.events, 15, endNs));
    expect(cma.summary.metrics.vm_start_failures).toBeGreaterThan(
      hugetlb.summary.metrics.vm_start_failures,
    );
    // Fragmentation over time: the free-range gauge never exceeds the 15 usable ranges and drops
    // as VMs start.
    const free = Array.from(cma.metrics.seriesView().values.cma_free_1g_ranges);
    expect(Math.max(...free)).toBe(15);
    expect(Math.min(...free)).toBeLessThan(15);
  });

  it('is deterministic for a seed, and the seed changes the arrivals', () => {
    const variant: VariantSpec = { pageSize: '2m', allocator: 'hugetlb' };
    const small = { ...params, vmSizes: [{ bytes: 256 * MiB, weight: 1 }], durationHours: 12 };
    const smallHost: HostSpec = { hugetlb2m: 1024 };
    const a = run(small, smallHost, variant, 3);
    const b = run(small, smallHost, variant, 3);
    expect(b.summary).toEqual(a.summary);
    expect(b.metrics.seriesView()).toEqual(a.metrics.seriesView());
    expect(b.events).toEqual(a.events);
    const c = run(small, smallHost, variant, 4);
    expect(c.events).not.toEqual(a.events);
  });

  it('after all VMs leave, every pool is back to its initial free count and nothing is allocated', () => {
    const r = run({ ...params, teardownAtEnd: true }, host, {
      pageSize: '1g',
      allocator: 'hugetlb',
    });
    const m = r.summary.metrics;
    expect(m.vm_starts).toBeGreaterThan(0);
    expect(m.vm_stops).toBe(m.vm_starts);
    expect(m.vms_running).toBe(0);
    // 20 x 1 GiB pages, all free and unreserved again; the CMA area untouched by this variant.
    expect(m.pool_free_1g_pages).toBe(20);
    expect(m.pool_free_bytes).toBe(20 * GiB);
    expect(m.cma_free_1g_ranges).toBe(20);
    for (const name of [
      'host_total_bytes',
      'private_bytes',
      'shared_bytes',
      'reserved_unused_bytes',
      'vmemmap_bytes',
      'folios_1g',
      'folios_4k',
      'guest_bytes',
    ] as const) {
      expect(m[name], name).toBe(0);
    }
    expect(r.summary.nodeBytes).toEqual([0]);
    // Buddy memory is back as well: 64 GiB - 256 MiB reserved - 20 GiB pool - 20 GiB CMA.
    expect(m.host_free_bytes).toBe(64 * GiB - 256 * MiB - 40 * GiB);
    expect(r.endNs).toBe(48 * HOUR_NS);
  });

  it('stops at the event cap and says so', () => {
    const r = run({ ...params, maxEvents: 5 }, host, { pageSize: '1g', allocator: 'hugetlb' });
    const m = r.summary.metrics;
    expect(m.fleet_truncated).toBe(1);
    expect(m.vm_starts + m.vm_start_failures + m.vm_stops).toBe(5);
    expect(r.endNs).toBeLessThan(48 * HOUR_NS);
    expect(
      run(params, host, { pageSize: '1g', allocator: 'hugetlb' }).summary.metrics.fleet_truncated,
    ).toBe(0);
  });

  it('INIT_SHARED with deferred merges: split at fallocate, merged by the worker, SWIOTLB cancels', () => {
    // One 1 GiB VM at time 0 on 2 MiB HugeTLB pages, staying past the end of the run.
    // fallocate: the file starts shared, so each of the 512 new 2 MiB folios is split at once.
    // Converting the whole file to private queues 512 deferred merges. The SWIOTLB range: 6 % of
    // 1 GiB = 61.4 MiB, clamped up to 64 MiB, at the top of RAM -> [960 MiB, 1 GiB) = 32 blocks,
    // whose queued merges the to-shared conversion cancels. The worker merges the other 480.
    const r = run(
      { initialVms: 1, arrivalsPerHour: 0, meanLifetimeHours: 1e6, durationHours: 1, vmSizes: [] },
      { hugetlb2m: 512 },
      {
        pageSize: '2m',
        allocator: 'hugetlb',
        initPrivate: false,
        policies: { merge: 'deferred' },
      },
    );
    const m = r.summary.metrics;
    expect(m.vm_starts).toBe(1);
    expect(m.splits_2m).toBe(512);
    expect(m.merges_deferred).toBe(512);
    expect(m.merges_cancelled).toBe(32);
    expect(m.merges_2m).toBe(480);
    expect(m.folios_2m).toBe(480);
    expect(m.folios_4k).toBe(32 * 512);
    expect(m.shared_bytes).toBe(64 * MiB);
    expect(m.private_bytes).toBe(960 * MiB);
    expect(m.guest_bytes).toBe(1 * GiB);
    // Samples: at 0, after the VM started (its merges still queued), and at the end (1 h), after
    // the worker ran at 100 ms.
    const series = r.metrics.seriesView();
    expect(Array.from(series.timeNs)).toEqual([0, HOUR_NS]);
    expect(Array.from(series.values.vms_running)).toEqual([1, 1]);
    expect(Array.from(series.values.merges_2m)).toEqual([0, 480]);
    expect(Array.from(series.values.folios_2m)).toEqual([0, 480]);
  });

  it('round-robin home nodes spread VMs over the nodes', () => {
    // Two nodes with an 8 GiB CMA area each; the default mempolicy allocates on the home node
    // first. (CMA: each folio comes from the first node that has a range; HugeTLB subpools would
    // spread a default-policy reservation over the nodes whatever the home node.)
    const twoNodes: HostSpec = { nodes: 2, cma: { sizeBytes: 8 * GiB } };
    const p = {
      initialVms: 2,
      arrivalsPerHour: 0,
      meanLifetimeHours: 1e6,
      durationHours: 1,
      vmSizes: [{ bytes: 4 * GiB, weight: 1 }],
      swiotlbFraction: 0,
    };
    const variant: VariantSpec = { pageSize: '1g', allocator: 'cma-raw' };
    const spread = run({ ...p, homeNodes: 'round-robin' }, twoNodes, variant);
    // Per VM: 4 x 1 GiB folios, their vmemmap without HVO (4096 pages = 16 MiB each), 1 EPT root
    // page.
    const perVm = 4 * GiB + 4 * 16 * MiB + 4096;
    expect(spread.summary.nodeBytes).toEqual([perVm, perVm]);
    const packed = run(p, twoNodes, variant);
    expect(packed.summary.nodeBytes).toEqual([2 * perVm, 0]);
    expect(packed.summary.metrics.host_total_bytes).toBe(2 * perVm);
  });

  it('rejects VM sizes that are not a multiple of the backing page size', () => {
    expect(() =>
      run({ vmSizes: [{ bytes: 2 * GiB + 2 * MiB, weight: 1 }] }, host, {
        pageSize: '1g',
        allocator: 'hugetlb',
      }),
    ).toThrow(ConfigError);
  });

  it('throws Cancelled when asked to stop', () => {
    expect(() =>
      run(
        { initialVms: 200, vmSizes: [{ bytes: 2 * MiB, weight: 1 }], swiotlbFraction: 0 },
        { hugetlb2m: 1024 },
        { pageSize: '2m', allocator: 'hugetlb' },
        1,
        { isCancelled: () => true },
      ),
    ).toThrow(Cancelled);
  });
});
