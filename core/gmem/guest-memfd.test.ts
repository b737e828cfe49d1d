// Scenario tests: each expectation is derived by hand from the rules of domain.md section 4 and the
// constants of section 7 (the derivation is in the comments).
import { describe, expect, it } from 'vitest';
import { DEFAULT_COSTS } from '../constants.js';
import type { MetricName } from '../metrics/definitions.js';
import { simOf } from '../sim/test-helpers.js';
import type { Simulation } from '../sim/simulation.js';
import { GiB, KiB, MiB } from '../units.js';

const m = (sim: Simulation, name: MetricName) => sim.summary().metrics[name];
const C = DEFAULT_COSTS;
const PAGES_PER_GIB = 262144;

function expectInvariants(sim: Simulation) {
  expect(sim.checkInvariants()).toEqual([]);
}

/** A 1 GiB guest on one 1 GiB HugeTLB folio, all of it mapped by one 1 GiB SPTE. */
function oneGigHugetlb(
  policies: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) {
  const sim = simOf({ hugetlb1g: 2 }, { pageSize: '1g', allocator: 'hugetlb', policies, ...extra });
  expect(sim.fallocate(0, GiB).ok).toBe(true);
  expect(sim.prefault(0, GiB).ok).toBe(true);
  return sim;
}

describe('one 4 KiB to-shared conversion inside a 1 GiB HugeTLB folio', () => {
  it('splits the folio straight to 4 KiB (RFC v2) and loses every huge mapping of the GiB', () => {
    const sim = oneGigHugetlb();
    expect(m(sim, 'pages_1g')).toBe(1);
    expect(m(sim, 'folios_1g')).toBe(1);
    // HVO on: a 1 GiB folio keeps 1 of its 4096 vmemmap pages.
    expect(m(sim, 'vmemmap_bytes')).toBe(1 * 4 * KiB);
    expect(m(sim, 'hvo_saved_bytes')).toBe(4095 * 4 * KiB);
    const before = sim.summary().metrics;

    const r = sim.convert(8 * KiB, 4 * KiB, 'shared');
    expect(r.ok).toBe(true);
    const s = sim.summary().metrics;
    expect(s.splits_1g).toBe(1);
    expect(s.splits_2m).toBe(0);
    expect(s.folios_1g).toBe(0);
    expect(s.folios_4k).toBe(PAGES_PER_GIB);
    // The range is rounded out to 1 GiB and invalidated: one folio, one invalidation, and the
    // 1 GiB SPTE is zapped.
    expect(s.invalidations - before.invalidations).toBe(1);
    expect(s.pages_1g).toBe(0);
    // vmemmap restored: all 4096 pages are needed again, HVO saves nothing.
    expect(s.vmemmap_bytes).toBe(4096 * 4 * KiB);
    expect(s.hvo_saved_bytes).toBe(0);
    expect(s.shared_bytes).toBe(4 * KiB);
    expect(s.private_bytes).toBe(GiB - 4 * KiB);
    // Cycles: one conversion operation and one 1 GiB split. split1GCycles was measured inside
    // kvm_gmem_convert_execute_work(), hugetlb_vmemmap_restore_folio() included (Michael Roth,
    // RFC v2 thread, 11 Jul 2025): the restore is not charged again under cycles_vmemmap.
    expect(s.cycles_conversion - before.cycles_conversion).toBe(C.conversionOpCycles);
    expect(s.cycles_split - before.cycles_split).toBe(C.split1GCycles);
    expect(s.cycles_vmemmap - before.cycles_vmemmap).toBe(0);
    expect(s.mmu_lock_write - before.mmu_lock_write).toBe(2);

    // The guest faults the GiB back in: every folio is 4 KiB now, so every page maps at 4 KiB.
    expect(sim.prefault(0, GiB).ok).toBe(true);
    const after = sim.summary().metrics;
    expect(after.pages_4k).toBe(PAGES_PER_GIB);
    expect(after.pages_2m).toBe(0);
    expect(after.mapped_4k_ratio).toBe(1);
    // Page tables: 512 PTE pages + 1 PMD page (the constant ptPagesMap1GAt4K = 513) + PUD + root.
    expect(after.page_table_bytes).toBe((C.ptPagesMap1GAt4K + 2) * 4 * KiB);
    expectInvariants(sim);
  });

  it('staged split (1 GiB -> 2 MiB -> 4 KiB) keeps 511 blocks mappable at 2 MiB', () => {
    const sim = oneGigHugetlb({ split: 'staged' });
    expect(sim.convert(8 * KiB, 4 * KiB, 'shared').ok).toBe(true);
    expect(m(sim, 'splits_1g')).toBe(1);
    expect(m(sim, 'splits_2m')).toBe(1);
    expect(m(sim, 'folios_2m')).toBe(511);
    expect(m(sim, 'folios_4k')).toBe(512);
    expect(m(sim, 'cycles_split')).toBe(C.split1GCycles + C.split2MCycles);
    sim.prefault(0, GiB);
    expect(m(sim, 'pages_2m')).toBe(511);
    // Block 0 holds one shared page: lpage_info says mixed, so it maps at 4 KiB.
    expect(m(sim, 'pages_4k')).toBe(512);
    // 2 MiB pieces keep HVO: 511 x 1 vmemmap page + 512 struct pages of block 0 (8 vmemmap pages).
    expect(m(sim, 'vmemmap_bytes')).toBe((511 + 8) * 4 * KiB);
    expectInvariants(sim);
  });

  it('struct-page-less private memory splits with page-table work only', () => {
    const sim = oneGigHugetlb({ structPageless: true });
    expect(sim.convert(8 * KiB, 4 * KiB, 'shared').ok).toBe(true);
    expect(m(sim, 'splits_1g')).toBe(1);
    expect(m(sim, 'cycles_split')).toBe(C.conversionOpCycles);
    expect(m(sim, 'cycles_vmemmap')).toBe(0);
    // Only the 2 MiB block holding the shared page needs struct pages.
    expect(m(sim, 'vmemmap_bytes')).toBe(C.vmemmapPagesPer2M * 4 * KiB);
    expectInvariants(sim);
  });
});

describe('converting the page back to private under each merge policy', () => {
  it('eager: merges at conversion, re-optimises vmemmap, maps 1 GiB again', () => {
    const sim = oneGigHugetlb({ merge: 'eager' });
    sim.convert(8 * KiB, 4 * KiB, 'shared');
    const r = sim.convert(8 * KiB, 4 * KiB, 'private');
    expect(r.ok).toBe(true);
    expect(m(sim, 'merges_1g')).toBe(1);
    expect(m(sim, 'folios_1g')).toBe(1);
    expect(m(sim, 'folios_4k')).toBe(0);
    expect(m(sim, 'hvo_saved_bytes')).toBe(4095 * 4 * KiB);
    expect(m(sim, 'cycles_merge')).toBe(C.merge1GCycles);
    sim.prefault(0, GiB);
    expect(m(sim, 'pages_1g')).toBe(1);
    expect(m(sim, 'mapped_1g_ratio')).toBe(1);
    expectInvariants(sim);
  });

  it('deferred: the worker merges after the delay; a reconversion in between cancels it', () => {
    const delay = 50_000_000;
    const sim = oneGigHugetlb({ merge: 'deferred', mergeDelayNs: delay });
    sim.convert(8 * KiB, 4 * KiB, 'shared');
    sim.convert(8 * KiB, 4 * KiB, 'private');
    expect(m(sim, 'merges_deferred')).toBe(1);
    expect(m(sim, 'merges_1g')).toBe(0);
    expect(m(sim, 'folios_4k')).toBe(PAGES_PER_GIB);
    // The guest flips the page again before the worker runs: the merge is cancelled.
    sim.convert(8 * KiB, 4 * KiB, 'shared');
    expect(m(sim, 'merges_cancelled')).toBe(1);
    sim.convert(8 * KiB, 4 * KiB, 'private');
    expect(m(sim, 'merges_deferred')).toBe(2);
    sim.advanceBy(delay);
    expect(m(sim, 'merges_1g')).toBe(1);
    expect(m(sim, 'folios_1g')).toBe(1);
    expect(sim.log.ofType('merge')[0]!.t).toBeGreaterThanOrEqual(delay);
    expectInvariants(sim);
  });

  it('deferred: a range cancelled and queued again does not hold back merges due before it', () => {
    const delay = 10_000_000;
    const sim = simOf(
      { hugetlb2m: 4 },
      {
        pageSize: '2m',
        allocator: 'hugetlb',
        guestBytes: 4 * MiB,
        policies: { merge: 'deferred', mergeDelayNs: delay },
      },
    );
    sim.fallocate(0, 4 * MiB);
    const flip = (offset: number) => {
      sim.convert(offset, 4 * KiB, 'shared');
      sim.convert(offset, 4 * KiB, 'private');
    };
    flip(0); // unit 0 queued, due at about t0 + delay
    sim.advanceBy(delay / 4);
    flip(2 * MiB); // unit 1 queued behind it, due at about t0 + 1.25 delay
    sim.advanceBy(delay / 4);
    flip(0); // unit 0 cancelled and queued again at the back, due at about t0 + 1.5 delay
    expect(m(sim, 'merges_cancelled')).toBe(1);
    sim.advanceBy(delay * 0.85); // now about t0 + 1.35 delay: only unit 1 is due
    expect(m(sim, 'merges_2m')).toBe(1);
    sim.advanceBy(delay / 4); // past unit 0's new due time
    expect(m(sim, 'merges_2m')).toBe(2);
    expect(sim.log.ofType('merge').map((e) => e.offset)).toEqual([2 * MiB, 0]);
  });

  it('never: the range stays split (the December 2025 work-in-progress behaviour)', () => {
    const sim = oneGigHugetlb({ merge: 'never' });
    sim.convert(8 * KiB, 4 * KiB, 'shared');
    sim.convert(8 * KiB, 4 * KiB, 'private');
    expect(m(sim, 'merges_1g')).toBe(0);
    expect(m(sim, 'folios_4k')).toBe(PAGES_PER_GIB);
    sim.advanceBy(10 * 1e9);
    expect(m(sim, 'folios_1g')).toBe(0);
    sim.prefault(0, GiB);
    expect(m(sim, 'pages_4k')).toBe(PAGES_PER_GIB);
    expectInvariants(sim);
  });

  it('disallow split and reconstruct of shared: a range that went all shared is never rebuilt', () => {
    const sim = simOf(
      { hugetlb2m: 8 },
      {
        pageSize: '2m',
        allocator: 'hugetlb',
        guestBytes: 16 * MiB,
        policies: { sharedPages: 'disallow-split-and-reconstruct' },
      },
    );
    sim.fallocate(0, 16 * MiB);
    sim.convert(0, 2 * MiB, 'shared'); // the whole first 2 MiB page goes shared
    sim.convert(2 * MiB, 4 * KiB, 'shared'); // part of the second
    sim.convert(0, 4 * MiB, 'private');
    expect(m(sim, 'merges_2m')).toBe(1); // only the second page is rebuilt
    expect(m(sim, 'folios_2m')).toBe(7);
    expectInvariants(sim);
  });

  it('disallow splitting shared huge pages: partial reconversion is refused and counted', () => {
    const sim = simOf(
      { hugetlb2m: 8 },
      {
        pageSize: '2m',
        allocator: 'hugetlb',
        guestBytes: 16 * MiB,
        policies: { sharedPages: 'disallow-split' },
      },
    );
    sim.fallocate(0, 16 * MiB);
    expect(sim.convert(0, 64 * KiB, 'shared').ok).toBe(true);
    const refused = sim.convert(0, 4 * KiB, 'private');
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.errno).toBe('EPERM');
    expect(m(sim, 'refused_conversions')).toBe(1);
    expect(sim.convert(0, 64 * KiB, 'private').ok).toBe(true);
    expect(m(sim, 'merges_2m')).toBe(1);
    expectInvariants(sim);
  });
});

describe('legacy conversion model', () => {
  it('a hugetlbfs 1 GiB shared backend double-allocates the whole GiB for one 4 KiB page', () => {
    const sim = oneGigHugetlb({}, { conversionModel: 'legacy', sharedBackend: 'hugetlbfs-1g' });
    expect(sim.convert(8 * KiB, 4 * KiB, 'shared').ok).toBe(true);
    let s = sim.summary().metrics;
    // The VMM punches 4 KiB out of a 1 GiB guest_memfd folio: zeroed, not freed (the folio stays
    // whole: legacy never splits). The shared backend allocates one 1 GiB hugetlbfs page.
    expect(s.folios_1g).toBe(1);
    expect(s.splits_1g).toBe(0);
    expect(s.shared_bytes).toBe(4 * KiB);
    // Double: the 4 KiB private copy kept while shared + the backend's 1 GiB - 4 KiB not serving.
    expect(s.double_allocated_bytes).toBe(GiB);
    expect(s.private_bytes).toBe(GiB - 4 * KiB);
    expect(
      s.host_total_bytes -
        s.vmemmap_bytes -
        s.page_table_bytes -
        s.metadata_bytes -
        s.reserved_unused_bytes,
    ).toBe(2 * GiB);
    // Mixed attributes: the 2 MiB block with the shared page maps at 4 KiB, the rest at 2 MiB.
    sim.prefault(0, GiB);
    s = sim.summary().metrics;
    expect(s.pages_1g).toBe(0);
    expect(s.pages_2m).toBe(511);
    // Back to private: hugetlbfs cannot discard 4 KiB of a 1 GiB page: the GiB stays.
    expect(sim.convert(8 * KiB, 4 * KiB, 'private').ok).toBe(true);
    s = sim.summary().metrics;
    expect(s.double_allocated_bytes).toBe(GiB);
    expect(s.zeroed_not_freed_bytes).toBe(4 * KiB);
    expectInvariants(sim);
  });

  it('a 4 KiB anonymous shared backend double-allocates only the punched 4 KiB', () => {
    const sim = oneGigHugetlb({}, { conversionModel: 'legacy', sharedBackend: 'anon-4k' });
    sim.convert(8 * KiB, 4 * KiB, 'shared');
    expect(m(sim, 'double_allocated_bytes')).toBe(4 * KiB);
    expect(m(sim, 'shared_bytes')).toBe(4 * KiB);
    sim.convert(8 * KiB, 4 * KiB, 'private');
    expect(m(sim, 'double_allocated_bytes')).toBe(0);
    expect(m(sim, 'shared_bytes')).toBe(0);
    // The private copy is zeroed but still allocated until the guest touches it again.
    expect(m(sim, 'zeroed_not_freed_bytes')).toBe(4 * KiB);
    sim.fault(2, 'guest', 'write');
    expect(m(sim, 'zeroed_not_freed_bytes')).toBe(0);
    expectInvariants(sim);
  });
});

describe('PUNCH_HOLE', () => {
  function twoMegHugetlb(policies: Record<string, unknown> = {}) {
    const sim = simOf(
      { hugetlb2m: 8 },
      { pageSize: '2m', allocator: 'hugetlb', guestBytes: 8 * MiB, policies },
    );
    expect(sim.fallocate(0, 8 * MiB).ok).toBe(true);
    return sim;
  }

  it('a partly covered huge page is zeroed, not freed; a fully covered one is freed to the subpool', () => {
    const sim = twoMegHugetlb();
    const pool = sim.host.pool(0, 9);
    const freeBefore = pool.freeHugePages;
    expect(sim.punchHole(0, 8 * KiB).ok).toBe(true);
    expect(m(sim, 'zeroed_not_freed_bytes')).toBe(8 * KiB);
    expect(m(sim, 'freed_bytes')).toBe(0);
    expect(m(sim, 'folios_2m')).toBe(4);
    expect(sim.punchHole(2 * MiB, 2 * MiB).ok).toBe(true);
    expect(m(sim, 'freed_bytes')).toBe(2 * MiB);
    expect(m(sim, 'folios_2m')).toBe(3);
    // Freed folios return to the subpool: the pool's free count grows, still reserved for the file.
    expect(pool.freeHugePages).toBe(freeBefore + 1);
    expect(m(sim, 'reserved_unused_bytes')).toBe(2 * MiB);
    expectInvariants(sim);
  });

  it('without the deferred punch bitmap a huge page punched piece by piece is never freed', () => {
    const sim = twoMegHugetlb();
    sim.punchHole(0, MiB);
    sim.punchHole(MiB, MiB);
    expect(m(sim, 'freed_bytes')).toBe(0);
    expect(m(sim, 'zeroed_not_freed_bytes')).toBe(2 * MiB);
  });

  it('with the deferred punch bitmap it is freed once every sub-page has been punched', () => {
    const sim = twoMegHugetlb({ deferredPunch: true });
    sim.punchHole(0, MiB);
    expect(m(sim, 'freed_bytes')).toBe(0);
    expect(m(sim, 'metadata_bytes')).toBe(64);
    sim.punchHole(MiB, MiB);
    expect(m(sim, 'freed_bytes')).toBe(2 * MiB);
    expect(m(sim, 'zeroed_not_freed_bytes')).toBe(0);
    expectInvariants(sim);
  });

  it('an unaligned punch across three 2 MiB folios issues one clipped invalidation per folio with its order', () => {
    const sim = twoMegHugetlb();
    // fallocate (allocation) itself invalidates nothing.
    expect(m(sim, 'invalidations')).toBe(0);
    expect(sim.punchHole(1 * MiB, 4 * MiB).ok).toBe(true);
    const inv = sim.log
      .ofType('invalidate')
      .map(({ start, end, orderHint }) => ({ start, end, orderHint }));
    expect(inv).toEqual([
      { start: 1 * MiB, end: 2 * MiB, orderHint: 9 },
      { start: 2 * MiB, end: 4 * MiB, orderHint: 9 },
      { start: 4 * MiB, end: 5 * MiB, orderHint: 9 },
    ]);
    // Folio [2, 4) MiB is freed; the two partial ones are zeroed over 1 MiB each.
    expect(m(sim, 'freed_bytes')).toBe(2 * MiB);
    expect(m(sim, 'zeroed_not_freed_bytes')).toBe(2 * MiB);
    expectInvariants(sim);
  });
});

describe('HVO savings', () => {
  it.each([
    ['2m', 9, 7, 8],
    ['1g', 18, 4095, 4096],
  ] as const)('per %s HugeTLB page', (pageSize, _order, freed, total) => {
    const guestBytes = pageSize === '2m' ? 2 * MiB : GiB;
    const on = simOf(
      { hugetlb2m: 1, hugetlb1g: 1 },
      { pageSize, allocator: 'hugetlb', guestBytes },
    );
    on.fallocate(0, guestBytes);
    expect(m(on, 'hvo_saved_bytes')).toBe(freed * 4 * KiB);
    expect(m(on, 'vmemmap_bytes')).toBe((total - freed) * 4 * KiB);
    const off = simOf(
      { hugetlb2m: 1, hugetlb1g: 1, hvo: false },
      { pageSize, allocator: 'hugetlb', guestBytes },
    );
    off.fallocate(0, guestBytes);
    expect(m(off, 'hvo_saved_bytes')).toBe(0);
    expect(m(off, 'vmemmap_bytes')).toBe(total * 4 * KiB);
  });

  it('CMA folios get no HVO unless "HVO ported to CMA" is on', () => {
    const cma = { sizeBytes: 2 * GiB };
    const plain = simOf({ cma }, { pageSize: '1g', allocator: 'cma-raw' });
    plain.fallocate(0, GiB);
    expect(m(plain, 'hvo_saved_bytes')).toBe(0);
    expect(m(plain, 'vmemmap_bytes')).toBe(4096 * 4 * KiB);
    const ported = simOf({ cma, cmaHvo: true }, { pageSize: '1g', allocator: 'cma-raw' });
    ported.fallocate(0, GiB);
    expect(m(ported, 'hvo_saved_bytes')).toBe(4095 * 4 * KiB);
  });
});

describe('safe refcount', () => {
  it('a pinned shared page fails the to-private conversion with -EAGAIN and its offset, and rolls back', () => {
    const sim = oneGigHugetlb();
    sim.convert(64 * KiB, 16 * KiB, 'shared');
    sim.fault(17, 'host', 'write');
    expect(sim.pin(68 * KiB, 4 * KiB).ok).toBe(true);
    const r = sim.convert(64 * KiB, 16 * KiB, 'private');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errno).toBe('EAGAIN');
      expect(r.offset).toBe(68 * KiB);
    }
    expect(m(sim, 'eagain_failures')).toBe(1);
    expect(m(sim, 'shared_bytes')).toBe(16 * KiB); // nothing changed
    expect(m(sim, 'merges_1g')).toBe(0);
    // The VMM unpins and retries.
    expect(sim.unpin(68 * KiB, 4 * KiB).ok).toBe(true);
    expect(sim.convert(64 * KiB, 16 * KiB, 'private').ok).toBe(true);
    expect(m(sim, 'merges_1g')).toBe(1);
    expectInvariants(sim);
  });
});

describe('CMA', () => {
  it('fails the 1 GiB allocation when every 1 GiB range holds an unmovable page', () => {
    const sim = simOf(
      { cma: { sizeBytes: 2 * GiB, unmovableRanges: [0, 1] } },
      { pageSize: '1g', allocator: 'cma-raw' },
    );
    const r = sim.fallocate(0, GiB);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/unmovable|pinned/);
    expect(m(sim, 'alloc_failures')).toBe(1);
    expect(m(sim, 'folios_1g')).toBe(0);
    expectInvariants(sim);
  });

  it('pays for migrating movable pages out of the range', () => {
    const empty = simOf({ cma: { sizeBytes: 2 * GiB } }, { pageSize: '1g', allocator: 'cma-raw' });
    empty.fallocate(0, GiB);
    const busy = simOf(
      { cma: { sizeBytes: 2 * GiB, movableOccupiedFraction: 0.5 } },
      { pageSize: '1g', allocator: 'cma-raw' },
    );
    busy.fallocate(0, GiB);
    expect(m(empty, 'cycles_migration')).toBe(0);
    expect(m(busy, 'cycles_migration')).toBeGreaterThan(0);
  });
});

// With Yan Zhao's TDX huge-page RFC (policies.tdxHugePageSeries); mainline TDX maps 4 KiB only
// (core/kvm/vendor-limits.test.ts).
const TDX_HUGE = { tdxHugePageSeries: true };

describe('TDX mapping limits with the TDX huge-page series', () => {
  it('maps 4 KiB while the TD is built and at most 2 MiB at run time, even on 1 GiB folios', () => {
    const sim = simOf(
      { hugetlb1g: 1 },
      { pageSize: '1g', allocator: 'hugetlb', vendor: 'tdx', policies: TDX_HUGE },
    );
    sim.gmem.phase = 'build';
    sim.fault(0, 'guest', 'write');
    expect(m(sim, 'pages_4k')).toBe(1);
    sim.gmem.phase = 'runtime';
    sim.fault(512, 'guest', 'write');
    expect(m(sim, 'pages_2m')).toBe(1);
    sim.prefault(0, GiB);
    expect(m(sim, 'pages_1g')).toBe(0);
    expect(m(sim, 'pages_2m')).toBe(511);
    // TDX cannot promote the block first mapped at 4 KiB during the build.
    expect(m(sim, 'pages_4k')).toBe(512);
  });

  it('a 4 KiB guest accept inhibits 2 MiB mappings of that range, one way', () => {
    const sim = simOf(
      { hugetlb2m: 4 },
      {
        pageSize: '2m',
        allocator: 'hugetlb',
        vendor: 'tdx',
        guestBytes: 8 * MiB,
        policies: TDX_HUGE,
      },
    );
    sim.accept(2 * MiB, 4 * KiB, 0);
    sim.prefault(0, 8 * MiB);
    expect(m(sim, 'pages_2m')).toBe(3);
    expect(m(sim, 'pages_4k')).toBe(512);
    // Converting the range away and back does not restore 2 MiB for it.
    sim.convert(2 * MiB, 2 * MiB, 'shared');
    sim.convert(2 * MiB, 2 * MiB, 'private');
    sim.prefault(2 * MiB, 2 * MiB);
    expect(m(sim, 'pages_2m')).toBe(3);
  });
});

describe('lazy acceptance', () => {
  it('costs one exit per 4 KiB page with 4 KiB backing and one per 2 MiB with 2 MiB backing; none after prefault', () => {
    const chunk = C.lazyAcceptChunkBytes;
    const small = simOf(
      {},
      { pageSize: '4k', allocator: 'buddy', vendor: 'snp', guestBytes: 64 * MiB },
    );
    small.accept(0, chunk);
    expect(m(small, 'vm_exits')).toBe(chunk / (4 * KiB));
    const huge = simOf(
      { hugetlb2m: 32 },
      { pageSize: '2m', allocator: 'hugetlb', vendor: 'snp', guestBytes: 64 * MiB },
    );
    huge.accept(0, chunk);
    expect(m(huge, 'vm_exits')).toBe(chunk / (2 * MiB));
    const pre = simOf(
      {},
      { pageSize: '4k', allocator: 'buddy', vendor: 'snp', guestBytes: 64 * MiB },
    );
    pre.prefault(0, chunk);
    pre.accept(0, chunk);
    expect(m(pre, 'vm_exits')).toBe(0);
    expect(m(pre, 'tdp_faults')).toBe(chunk / (4 * KiB));
  });
});

describe('host faults', () => {
  it('a host fault on a shared page is served by an order-0 folio; on a private page it fails', () => {
    const sim = simOf(
      { hugetlb2m: 2 },
      { pageSize: '2m', allocator: 'hugetlb', guestBytes: 4 * MiB, initPrivate: false },
    );
    expect(sim.fault(3, 'host', 'read').ok).toBe(true);
    // INIT_SHARED: the new huge folio holds shared pages, so it is split at once.
    expect(m(sim, 'folios_4k')).toBe(512);
    expect(m(sim, 'splits_2m')).toBe(1);
    sim.convert(0, 2 * MiB, 'private');
    const r = sim.fault(3, 'host', 'read');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errno).toBe('EFAULT');
    expectInvariants(sim);
  });

  it('INIT_PRIVATE avoids the split-then-merge of create-then-convert', () => {
    const shared = simOf(
      { hugetlb2m: 2 },
      { pageSize: '2m', allocator: 'hugetlb', guestBytes: 4 * MiB, initPrivate: false },
    );
    shared.fallocate(0, 4 * MiB);
    shared.convert(0, 4 * MiB, 'private');
    expect(m(shared, 'splits_2m')).toBe(2);
    expect(m(shared, 'merges_2m')).toBe(2);
    const priv = simOf(
      { hugetlb2m: 2 },
      { pageSize: '2m', allocator: 'hugetlb', guestBytes: 4 * MiB, initPrivate: true },
    );
    priv.fallocate(0, 4 * MiB);
    expect(m(priv, 'splits_2m')).toBe(0);
    expect(m(priv, 'merges_2m')).toBe(0);
  });
});

describe('creation', () => {
  it('fails with a clear error when the HugeTLB pool cannot cover the whole file', () => {
    expect(() =>
      simOf({ hugetlb1g: 1 }, { pageSize: '1g', allocator: 'hugetlb', guestBytes: 4 * GiB }),
    ).toThrow(/ENOMEM.*guest_memfd creation failed/);
  });

  it('refuses unaligned conversions with EINVAL', () => {
    const sim = oneGigHugetlb();
    const r = sim.convert(100, 4 * KiB, 'shared');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errno).toBe('EINVAL');
  });
});

describe('memory errors', () => {
  it('a poisoned HugeTLB page leaves service and teardown still balances', () => {
    const sim = simOf(
      { hugetlb2m: 4 },
      { pageSize: '2m', allocator: 'hugetlb', guestBytes: 4 * MiB },
    );
    sim.fallocate(0, 4 * MiB);
    sim.prefault(0, 4 * MiB);
    expect(sim.memoryError(2 * MiB + 4 * KiB).ok).toBe(true);
    // kvm_gmem_error_folio zaps the folio's mappings.
    expect(m(sim, 'pages_2m')).toBe(1);
    expect(m(sim, 'folios_2m')).toBe(1);
    expect(sim.log.ofType('memory_error')).toHaveLength(1);
    const r = sim.fault(512, 'guest', 'read');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errno).toBe('EHWPOISON');
    expect(sim.checkInvariants()).toEqual([]);
    // Punching the range out makes it usable again (from the remaining pool pages).
    expect(sim.punchHole(2 * MiB, 2 * MiB).ok).toBe(true);
    expect(sim.fault(512, 'guest', 'read').ok).toBe(true);
    sim.teardown();
    expect(sim.checkInvariants()).toEqual([]);
    expect(sim.host.pool(0, 9).counters().hwpoisoned).toBe(1);
  });
});

describe('NUMA mempolicy', () => {
  it('interleave spreads huge folios over the nodes by file index', () => {
    const sim = simOf(
      { nodes: 2, hugetlb2m: 8 },
      {
        pageSize: '2m',
        allocator: 'hugetlb',
        guestBytes: 16 * MiB,
        mempolicy: { mode: 'interleave', nodes: [0, 1] },
      },
    );
    sim.fallocate(0, 16 * MiB);
    for (let b = 0; b < 8; b++) expect(sim.gmem.layout.nodeAt(b * 512)).toBe(b % 2);
    const s = sim.summary();
    // 4 folios of 2 MiB on each node, each with 1 vmemmap page after HVO.
    expect(s.nodeBytes[1]).toBe(4 * (2 * MiB + 4 * KiB));
    expect(sim.checkInvariants()).toEqual([]);
  });

  it('the default policy reserves and allocates on the home node first', () => {
    const sim = simOf(
      { nodes: 2, hugetlb2m: 8 },
      { pageSize: '2m', allocator: 'hugetlb', guestBytes: 16 * MiB, homeNode: 1 },
    );
    expect(sim.host.pool(1, 9).resvHugePages).toBe(8);
    expect(sim.host.pool(0, 9).resvHugePages).toBe(0);
    sim.fallocate(0, 16 * MiB);
    expect(sim.allocator.stats().allocatedBytesByNode).toEqual([0, 16 * MiB]);
  });

  it('bind never falls back: creation fails when the bound node cannot cover the file', () => {
    expect(() =>
      simOf(
        { nodes: 2, hugetlb2m: 4 },
        {
          pageSize: '2m',
          allocator: 'hugetlb',
          guestBytes: 16 * MiB,
          mempolicy: { mode: 'bind', nodes: [1] },
        },
      ),
    ).toThrow(/ENOMEM/);
    const ok = simOf(
      { nodes: 2, hugetlb2m: 8 },
      {
        pageSize: '2m',
        allocator: 'hugetlb',
        guestBytes: 16 * MiB,
        mempolicy: { mode: 'bind', nodes: [1] },
      },
    );
    ok.fallocate(0, 16 * MiB);
    expect(ok.allocator.stats().allocatedBytesByNode).toEqual([0, 16 * MiB]);
  });

  it('preferred falls back to other nodes when the preferred one runs out (THP from buddy memory)', () => {
    const sim = simOf(
      { nodes: 2, memoryBytes: 256 * MiB + 8 * MiB },
      {
        pageSize: '2m',
        allocator: 'thp',
        guestBytes: 16 * MiB,
        mempolicy: { mode: 'preferred', nodes: [0] },
      },
    );
    expect(sim.fallocate(0, 16 * MiB).ok).toBe(true);
    const s = sim.summary();
    expect(s.nodeBytes[0]).toBeGreaterThan(0);
    expect(s.nodeBytes[1]).toBeGreaterThan(0);
  });
});

describe('cost model overrides and the event log', () => {
  it('a variant overrides a constant and the cycles follow', () => {
    const sim = oneGigHugetlb({}, { costs: { split1GCycles: 1000, conversionOpCycles: 10 } });
    sim.convert(8 * KiB, 4 * KiB, 'shared');
    expect(m(sim, 'cycles_split')).toBe(1000);
    expect(m(sim, 'cycles_conversion')).toBe(10);
  });

  it('records every operation and its consequences as JSON lines', () => {
    const sim = oneGigHugetlb();
    sim.convert(8 * KiB, 4 * KiB, 'shared');
    const lines = sim.log
      .toJsonLines()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; t: number });
    const types = lines.map((l) => l.type);
    expect(types).toContain('allocate');
    expect(types).toContain('split');
    expect(types).toContain('invalidate');
    expect(types.at(-1)).toBe('convert');
    // Time never goes back.
    for (let i = 1; i < lines.length; i++)
      expect(lines[i]!.t).toBeGreaterThanOrEqual(lines[i - 1]!.t);
  });
});

describe('scale', () => {
  it('a 1 TiB guest on 1 GiB HugeTLB pages keeps its model state well under 1 GiB', () => {
    const TiB = 1024 * GiB;
    const sim = simOf(
      { memoryBytes: 1100 * GiB, hugetlb1g: 1024 },
      { pageSize: '1g', allocator: 'hugetlb', guestBytes: TiB },
    );
    sim.fallocate(0, TiB);
    for (let i = 0; i < 2000; i++) {
      const offset = ((i * 2654435761) % (TiB / (4 * KiB))) * 4 * KiB;
      sim.convert(offset, 4 * KiB, 'shared');
    }
    expect(m(sim, 'splits_1g')).toBeGreaterThan(800);
    expect(sim.gmem.modelStorageBytes()).toBeLessThan(256 * MiB);
    expect(sim.checkInvariants()).toEqual([]);
  });
});
