import { describe, expect, it } from 'vitest';
import { DEFAULT_COSTS } from '../constants.js';
import { ConfigError } from '../errors.js';
import { Rng } from '../rng.js';
import {
  CHANGE_PTE_VARIANTS,
  ChangePteMachine,
  readThenWrite,
  simulateAccessSequence,
  variantConfig,
  type ChangePteCounters,
  type ChangePteVariant,
  type GuestAccess,
} from './change-pte.js';

// Hand derivations for one read then one write of never-written gfn 0 (default options: THP
// available, HugeTLB mapped shared, change_pte kept unless the variant removes it).
//
// change-pte-kept
//   read:  exit 1 -> GUP read -> do_huge_pmd_anonymous_page maps the huge zero PMD; KVM maps a 2M
//          read-only SPTE. No notifier: 0 write acquisitions.
//   write: exit 2 (write to a read-only SPTE) -> GUP write -> do_huge_pmd_wp_page ->
//          __split_huge_pmd: invalidate_range_start (lock 1, zaps the 2M SPTE) +
//          invalidate_range_end (lock 2, seq++);
//          do_wp_page -> wp_page_copy: invalidate_range_start (lock 3), change_pte (lock 4),
//          invalidate_range_end (lock 5, seq++). is_page_fault_stale: seq moved -> RET_PF_RETRY.
//          The guest re-executes: exit 3, hva_to_pfn_fast finds the writable PTE, 4K SPTE writable.
//   => 3 exits, 3 TDP faults, 1 stale retry, 5 write acquisitions, 2 invalidate pairs,
//      1 change_pte, 1 huge-zero split, one 4 KiB page allocated and zeroed.
// change-pte-removed: the same without change_pte => 3 exits, 4 write acquisitions.
// always-writable-memslot: the read faults with FOLL_WRITE -> do_huge_pmd_anonymous_page
//   allocates a THP (512 pages zeroed) mapped writable; KVM maps 2M writable; the write does not
//   exit => 1 exit, 0 write acquisitions.
// huge-zero-page-disabled: use_zero_page=0 -> the read fault allocates a THP, mapped writable
//   (maybe_pmd_mkwrite); KVM's "map read fault as writable if possible" succeeds
//   => 1 exit, 0 locks.
// hugetlb-backing: hugetlb_no_page allocates and zeroes 2 MiB, writable (VM_SHARED)
//   => 1 exit, 0 locks.
// prefault: population maps everything writable before the guest runs => 0 exits, 0 locks in the
//   run; the population itself: 1 host fault (THP), 1 KVM_PRE_FAULT_MEMORY map.
interface Expected {
  readonly exits: readonly [number, number];
  readonly counters: Partial<ChangePteCounters>;
}

const READ_THEN_WRITE: Record<ChangePteVariant, Expected> = {
  'change-pte-kept': {
    exits: [1, 2],
    counters: {
      vmExits: 3,
      tdpFaults: 3,
      staleFaultRetries: 1,
      mmuLockWriteAcquisitions: 5,
      invalidations: 2,
      changePteCalls: 1,
      hugeZeroPageMaps: 1,
      hugeZeroPageSplits: 1,
      cowCopies: 1,
      pagesZeroed: 1,
      pagesAllocated: 1,
    },
  },
  'change-pte-removed': {
    exits: [1, 2],
    counters: {
      vmExits: 3,
      tdpFaults: 3,
      staleFaultRetries: 1,
      mmuLockWriteAcquisitions: 4,
      invalidations: 2,
      changePteCalls: 0,
      hugeZeroPageSplits: 1,
      cowCopies: 1,
      pagesZeroed: 1,
      pagesAllocated: 1,
    },
  },
  'always-writable-memslot': {
    exits: [1, 0],
    counters: {
      vmExits: 1,
      tdpFaults: 1,
      staleFaultRetries: 0,
      mmuLockWriteAcquisitions: 0,
      invalidations: 0,
      hugeZeroPageMaps: 0,
      pagesZeroed: 512,
      hugePagesAllocated: 1,
    },
  },
  'huge-zero-page-disabled': {
    exits: [1, 0],
    counters: {
      vmExits: 1,
      mmuLockWriteAcquisitions: 0,
      invalidations: 0,
      hugeZeroPageMaps: 0,
      hugeZeroPageSplits: 0,
      pagesZeroed: 512,
      hugePagesAllocated: 1,
    },
  },
  'hugetlb-backing': {
    exits: [1, 0],
    counters: {
      vmExits: 1,
      mmuLockWriteAcquisitions: 0,
      invalidations: 0,
      writeReuses: 0,
      pagesZeroed: 512,
      hugePagesAllocated: 1,
    },
  },
  prefault: {
    exits: [0, 0],
    counters: { vmExits: 0, tdpFaults: 0, mmuLockWriteAcquisitions: 0, pagesZeroed: 0 },
  },
};

function readsThenWrites(firstGfn: number, nrPages: number): GuestAccess[] {
  const accesses: GuestAccess[] = [];
  for (let i = 0; i < nrPages; i++) accesses.push({ gfn: firstGfn + i, access: 'read' });
  for (let i = 0; i < nrPages; i++) accesses.push({ gfn: firstGfn + i, access: 'write' });
  return accesses;
}

describe('change_pte: one read then one write of a never-written page', () => {
  it('covers every variant', () => {
    expect(CHANGE_PTE_VARIANTS.map((v) => v.id).sort()).toEqual(
      Object.keys(READ_THEN_WRITE).sort(),
    );
  });

  for (const [variant, expected] of Object.entries(READ_THEN_WRITE) as [
    ChangePteVariant,
    Expected,
  ][]) {
    it(`${variant}: exits and mmu_lock write acquisitions`, () => {
      const r = readThenWrite(variant);
      expect(r.events.map((e) => e.exits)).toEqual(expected.exits);
      expect(r.counters).toMatchObject(expected.counters);
      expect(r.events[1]!.mapped.writable).toBe(true);
    });

    it(`${variant}: a second write to the same page takes no exit`, () => {
      const once = readThenWrite(variant);
      const twice = simulateAccessSequence(variant, [
        { gfn: 0, access: 'read' },
        { gfn: 0, access: 'write' },
        { gfn: 0, access: 'write' },
      ]);
      expect(twice.events[2]!.exits).toBe(0);
      expect(twice.events[2]!.steps).toEqual([]);
      expect(twice.counters).toEqual(once.counters);
    });
  }

  it('change-pte-kept: write = split pair, then start / change_pte / end, then retry', () => {
    const steps = readThenWrite('change-pte-kept').events[1]!.steps;
    const order = [
      'handle_ept_violation',
      'do_huge_pmd_wp_page',
      '__split_huge_pmd',
      'kvm_mmu_notifier_invalidate_range_start',
      '__split_huge_zero_page_pmd',
      'kvm_mmu_notifier_invalidate_range_end',
      'do_wp_page',
      'wp_page_copy',
      'kvm_mmu_notifier_invalidate_range_start',
      'set_pte_at_notify',
      'kvm_mmu_notifier_change_pte',
      'kvm_mmu_notifier_invalidate_range_end',
      'is_page_fault_stale',
      'RET_PF_RETRY',
      'handle_ept_violation',
      'hva_to_pfn_fast',
      'kvm_tdp_mmu_map',
      'RET_PF_FIXED',
    ];
    let at = -1;
    for (const step of order) {
      const next = steps.indexOf(step, at + 1);
      expect(next, step).toBeGreaterThan(at);
      at = next;
    }
    expect(steps.filter((s) => s === 'handle_ept_violation')).toHaveLength(2);
  });

  it('change-pte-removed: set_pte_at, no change_pte callback', () => {
    const steps = readThenWrite('change-pte-removed').events[1]!.steps;
    expect(steps).toContain('set_pte_at');
    expect(steps).not.toContain('set_pte_at_notify');
    expect(steps).not.toContain('kvm_mmu_notifier_change_pte');
  });

  it('the read maps the huge zero page read-only with a 2M SPTE', () => {
    const read = readThenWrite('change-pte-kept').events[0]!;
    expect(read.steps).toContain('set_huge_zero_page');
    expect(read.mapped).toEqual({ level: '2M', writable: false });
  });

  it('charges cycles by category (default constants)', () => {
    // kept: 3 exits x 4000, 3 faults x 3000, 5 locks x 500, 2 starts x 1500, 1 page zeroed x 1000,
    // 1 split x 32000, one 4 KiB allocation x 400.
    expect(readThenWrite('change-pte-kept').cycles).toEqual({
      exit: 12_000,
      fault: 9_000,
      mmuLock: 2_500,
      invalidate: 3_000,
      zeroing: 1_000,
      split: 32_000,
      alloc: 400,
      total: 59_900,
    });
    expect(readThenWrite('change-pte-removed').cycles.total).toBe(59_400);
    expect(
      readThenWrite('change-pte-kept', DEFAULT_COSTS, { hugeZeroSplitCycles: 0 }).cycles.split,
    ).toBe(0);
  });
});

describe('change_pte: variant options', () => {
  it('use_zero_page=0, no free 2 MiB block: 4 KiB zero page, CoW without split', () => {
    // read: THP allocation fails -> do_anonymous_page maps the zero PTE, KVM 4K read-only (1 exit);
    // write: wp_page_copy start / change_pte / end (3 locks), stale, retry (2 exits).
    const kept = readThenWrite('huge-zero-page-disabled', DEFAULT_COSTS, { thpAvailable: false });
    expect(kept.events.map((e) => e.exits)).toEqual([1, 2]);
    expect(kept.counters).toMatchObject({
      vmExits: 3,
      mmuLockWriteAcquisitions: 3,
      invalidations: 1,
      changePteCalls: 1,
      zeroPageMaps: 1,
      hugeZeroPageSplits: 0,
      staleFaultRetries: 1,
    });
    const removed = readThenWrite('huge-zero-page-disabled', DEFAULT_COSTS, {
      thpAvailable: false,
      changePteNotifier: false,
    });
    expect(removed.counters.mmuLockWriteAcquisitions).toBe(2);
  });

  it('HugeTLB MAP_PRIVATE: read-only on read, the write reuses the folio without notifier', () => {
    const r = readThenWrite('hugetlb-backing', DEFAULT_COSTS, { hugetlbShared: false });
    expect(r.events.map((e) => e.exits)).toEqual([1, 1]);
    expect(r.counters).toMatchObject({
      vmExits: 2,
      mmuLockWriteAcquisitions: 0,
      staleFaultRetries: 0,
      writeReuses: 1,
    });
    expect(r.events[1]!.steps).toContain('hugetlb_wp');
  });

  it('prefault population is counted apart', () => {
    const r = readThenWrite('prefault');
    expect(r.prefault?.counters).toMatchObject({
      vmExits: 0,
      tdpFaults: 1,
      hostFaults: 1,
      hugePagesAllocated: 1,
      pagesZeroed: 512,
    });
    expect(r.prefault?.cycles.total).toBe(3_000 + 512 * 1_000 + 20_000);
    const small = readThenWrite('prefault', DEFAULT_COSTS, { thpAvailable: false });
    expect(small.prefault?.counters).toMatchObject({
      tdpFaults: 512,
      hostFaults: 512,
      pagesAllocated: 512,
      hugePagesAllocated: 0,
    });
    expect(small.counters.vmExits).toBe(0);
  });

  it('KVM_PRE_FAULT_MEMORY alone is a read fault: the write still does the CoW dance', () => {
    const r = readThenWrite('prefault', DEFAULT_COSTS, { populateHostWritable: false });
    expect(r.prefault?.counters.hugeZeroPageMaps).toBe(1);
    expect(r.events.map((e) => e.exits)).toEqual([0, 2]);
    expect(r.counters.mmuLockWriteAcquisitions).toBe(5);
  });

  it('rejects bad input', () => {
    expect(() => variantConfig('change-pte-kept', { changePteNotifier: false })).toThrow(
      ConfigError,
    );
    expect(() => variantConfig('nope' as ChangePteVariant)).toThrow(ConfigError);
    expect(() => simulateAccessSequence('change-pte-kept', [{ gfn: -1, access: 'read' }])).toThrow(
      /accesses\[0\]\.gfn/,
    );
    expect(() =>
      simulateAccessSequence('prefault', [], DEFAULT_COSTS, {
        prefaultRange: { firstGfn: 0, nrPages: 0 },
      }),
    ).toThrow(ConfigError);
  });
});

describe('change_pte: 512 reads then 512 writes in one 2 MiB region', () => {
  const accesses = readsThenWrites(0, 512);

  it('change-pte-kept: huge zero page mapped once, split once', () => {
    // reads: 1 exit maps a 2M read-only SPTE, the other 511 hit it.
    // first write: 2 exits, split pair (2 locks) + CoW triple (3 locks);
    // the split zapped the 2M SPTE, so each of the 511 other writes: 2 exits, 3 locks, no split.
    const r = simulateAccessSequence('change-pte-kept', accesses);
    expect(r.events.slice(0, 512).filter((e) => e.exits > 0)).toHaveLength(1);
    expect(r.counters).toMatchObject({
      hugeZeroPageMaps: 1,
      hugeZeroPageSplits: 1,
      vmExits: 1 + 2 * 512,
      staleFaultRetries: 512,
      mmuLockWriteAcquisitions: 5 + 3 * 511,
      invalidations: 2 + 511,
      changePteCalls: 512,
      cowCopies: 512,
      pagesAllocated: 512,
    });
    expect(r.mappings).toEqual({ pages4k: 512, pages2m: 0 });
  });

  it('change-pte-removed: one write acquisition fewer per CoW', () => {
    const r = simulateAccessSequence('change-pte-removed', accesses);
    expect(r.counters.vmExits).toBe(1025);
    expect(r.counters.mmuLockWriteAcquisitions).toBe(4 + 2 * 511);
    expect(r.counters.hugeZeroPageSplits).toBe(1);
  });

  it('the other variants map the region once, writable, at 2M', () => {
    for (const variant of [
      'always-writable-memslot',
      'huge-zero-page-disabled',
      'hugetlb-backing',
    ] as const) {
      const r = simulateAccessSequence(variant, accesses);
      expect(r.counters.vmExits, variant).toBe(1);
      expect(r.counters.mmuLockWriteAcquisitions, variant).toBe(0);
      expect(r.mappings, variant).toEqual({ pages4k: 0, pages2m: 1 });
    }
    expect(simulateAccessSequence('prefault', accesses).counters.vmExits).toBe(0);
  });
});

describe('change_pte: determinism, invariants, scale', () => {
  function randomAccesses(seed: number, n: number): GuestAccess[] {
    const rng = new Rng(seed);
    const out: GuestAccess[] = [];
    for (let i = 0; i < n; i++) {
      // Four 2 MiB regions, one of them far away.
      const region = rng.pick([0, 1, 7, 1_000_000]);
      out.push({
        gfn: region * 512 + rng.int(512),
        access: rng.chance(0.4) ? 'write' : 'read',
      });
    }
    return out;
  }

  it('same input, same result', () => {
    const accesses = randomAccesses(42, 2_000);
    for (const v of CHANGE_PTE_VARIANTS) {
      const a = simulateAccessSequence(v.id, accesses);
      const b = simulateAccessSequence(v.id, accesses);
      expect(a).toEqual(b);
    }
  });

  it('KVM never maps more than the host, after every access', () => {
    const accesses = randomAccesses(7, 1_500);
    for (const v of CHANGE_PTE_VARIANTS) {
      for (const thpAvailable of [true, false]) {
        const machine = new ChangePteMachine(variantConfig(v.id, { thpAvailable }));
        if (machine.config.prefault) machine.prefaultMemory(0, 8 * 512);
        for (const a of accesses) {
          machine.guestAccess(a.gfn, a.access);
          expect(machine.checkInvariants()).toEqual([]);
        }
      }
    }
  });

  it('recordEvents: false keeps the counters and drops the event list', () => {
    const accesses = randomAccesses(3, 500);
    const full = simulateAccessSequence('change-pte-kept', accesses);
    const lean = simulateAccessSequence('change-pte-kept', accesses, DEFAULT_COSTS, {
      recordEvents: false,
    });
    expect(lean.events).toEqual([]);
    expect(lean.counters).toEqual(full.counters);
    expect(lean.cycles).toEqual(full.cycles);
  });

  it('is sparse: pages at the end of a 1 TiB guest and beyond', () => {
    const lastGfnOf1TiB = 2 ** 28 - 1;
    const r = simulateAccessSequence('change-pte-kept', [
      { gfn: lastGfnOf1TiB, access: 'read' },
      { gfn: lastGfnOf1TiB, access: 'write' },
      { gfn: 2 ** 40, access: 'write' },
    ]);
    // The far write hits pmd_none: do_huge_pmd_anonymous_page allocates a THP for a write fault.
    expect(r.events.map((e) => e.exits)).toEqual([1, 2, 1]);
    expect(r.counters.hugePagesAllocated).toBe(1);
    expect(r.mappings).toEqual({ pages4k: 1, pages2m: 1 });
  });
});
