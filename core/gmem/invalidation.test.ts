// Conversions zap the SPTEs of the exact range; the range rounded out to the huge page size only
// feeds the invalidation's accounting (kvm_mmu_invalidate_range_add(), virt/kvm/kvm_main.c).
// Source: Ackerley Tng's 1G guest_memfd RFC v2 (2025-05-14), virt/kvm/guest_memfd.c as posted:
// the to-shared path zaps with kvm_gmem_unmap_private() over the work range, the to-private path
// calls unmap_mapping_pages() over the exact range (thread "[RFC PATCH v2 00/51] 1G page support
// for guest_memfd", lore.kernel.org/kvm; not in the searchable corpora).
import { describe, expect, it } from 'vitest';
import { simOf } from '../sim/test-helpers.js';
import { GiB, KiB } from '../units.js';

describe('kvm_mmu_invalidate_range_add: rounded accounting, exact zap', () => {
  it('converting one more 4 KiB page of a split 1 GiB range zaps one SPTE, not 262,144', () => {
    const sim = simOf({ hugetlb1g: 2 }, { pageSize: '1g', allocator: 'hugetlb' });
    expect(sim.fallocate(0, GiB).ok).toBe(true);
    expect(sim.prefault(0, GiB).ok).toBe(true);
    // The first conversion splits the 1 GiB folio to 4 KiB and zaps the 1 GiB SPTE.
    expect(sim.convert(8 * KiB, 4 * KiB, 'shared').ok).toBe(true);
    expect(sim.summary().metrics.pages_1g).toBe(0);
    // The private pages fault back in at 4 KiB (the folio is split).
    expect(sim.prefault(0, GiB).ok).toBe(true);
    const mapped = sim.summary().metrics.pages_4k;
    expect(mapped).toBeGreaterThan(262_000);
    const before = sim.summary().metrics;

    expect(sim.convert(16 * KiB, 4 * KiB, 'shared').ok).toBe(true);
    const after = sim.summary().metrics;
    // Exactly the converted page lost its SPTE ...
    expect(after.pages_4k).toBe(mapped - 1);
    // ... while the invalidation still accounts for the range rounded out to 1 GiB: the 4 KiB
    // folios there are one run, so one invalidation, with mmu_lock taken twice.
    expect(after.invalidations - before.invalidations).toBe(1);
    expect(after.mmu_lock_write - before.mmu_lock_write).toBe(2);
    expect(sim.checkInvariants()).toEqual([]);
  });

  it('a to-private conversion zaps only its exact range', () => {
    const sim = simOf({ hugetlb1g: 2 }, { pageSize: '1g', allocator: 'hugetlb' });
    expect(sim.fallocate(0, GiB).ok).toBe(true);
    expect(sim.convert(0, 64 * KiB, 'shared').ok).toBe(true);
    expect(sim.prefault(0, GiB).ok).toBe(true);
    const mapped = sim.summary().metrics.pages_4k;
    expect(sim.convert(0, 4 * KiB, 'private').ok).toBe(true);
    expect(sim.summary().metrics.pages_4k).toBe(mapped - 1);
    expect(sim.checkInvariants()).toEqual([]);
  });

  it('a split leaves the huge SPTEs outside the converted range in place (kvm_gmem_convert_should_proceed)', () => {
    // CCA maps at 2 MiB at most (realm_map_protected()): a 1 GiB folio under 512 2 MiB SPTEs.
    const sim = simOf(
      { hugetlb1g: 2 },
      { pageSize: '1g', allocator: 'hugetlb', vendor: 'cca', guestBytes: GiB },
    );
    expect(sim.fallocate(0, GiB).ok).toBe(true);
    expect(sim.prefault(0, GiB).ok).toBe(true);
    expect(sim.summary().metrics.pages_2m).toBe(512);
    // One page goes shared: the folio splits to 4 KiB, and only the 2 MiB SPTE that overlaps the
    // page is zapped (tdp_mmu_zap_leafs() takes a whole overlapping leaf).
    expect(sim.convert(8 * KiB, 4 * KiB, 'shared').ok).toBe(true);
    const m = sim.summary().metrics;
    expect(m.folios_1g).toBe(0);
    expect(m.pages_2m).toBe(511);
    // Huge mappings over split (order-0) folios are what RFC v2 leaves, and the model allows.
    expect(sim.checkInvariants()).toEqual([]);
  });
});
