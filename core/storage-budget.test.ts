// The model's memory budget: every growing store charges what it allocates, a run that would pass
// its budget stops with a message naming what asked for how much, and the charge follows the
// model's storage (a 4 KiB page bitmap's block table per 1 GiB range it holds mixed, a line of
// words per partial 2 MiB block).
import { describe, expect, it } from 'vitest';
import { parseExperimentValue } from './experiment/load.js';
import { runVariant } from './experiment/run.js';
import type { Experiment } from './experiment/schema.js';
import { simOf } from './sim/test-helpers.js';
import { StorageBudgetExceeded, storageInUse, withStorageBudget } from './storage-budget.js';
import { GiB, MiB } from './units.js';

/** A 64 GiB SNP guest accepted eagerly: 4 KiB backing touches every page of it. */
function eagerGuest(): Experiment {
  const r = parseExperimentValue({
    format: 'gmem-lab-experiment',
    version: 1,
    name: 'budget',
    host: { nodes: [{ memoryBytes: 128 * GiB, cpus: '0-7', hugetlb1g: 64 }] },
    guest: { memoryBytes: 64 * GiB, vendor: 'snp', vcpus: 2 },
    workload: {
      kind: 'lifecycle',
      boot: { accept: { mode: 'eager' } },
      runtime: { durationNs: 0 },
      teardown: false,
    },
    variants: [
      { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
      { name: 'HugeTLB 1 GiB', pageSize: '1g', allocator: 'hugetlb' },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.experiment;
}

describe('the model memory budget', () => {
  it('a run that would pass its budget stops, naming what needed the memory and how much', () => {
    let error: unknown;
    try {
      // About 1 MiB of the model's state is the 4 KiB variant's: its page tables and bitmaps.
      runVariant(eagerGuest(), 0, { storageBudgetBytes: 256 * 1024 });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StorageBudgetExceeded);
    const e = error as StorageBudgetExceeded;
    expect(e.budgetBytes).toBe(256 * 1024);
    expect(e.usedBytes + e.requestBytes).toBeGreaterThan(256 * 1024);
    expect(e.message).toMatch(/budget of 256 KiB: it holds .* and the .* asked for .* more/);
    expect(e.message).toMatch(/--memory-budget/);
    // The budget ends with the run: nothing is counted outside one.
    expect(storageInUse()).toBe(0);
  });

  it('the same run within a budget it fits gives the same result as without one', () => {
    const free = runVariant(eagerGuest(), 1);
    const budgeted = runVariant(eagerGuest(), 1, { storageBudgetBytes: 256 * MiB });
    expect(budgeted.summary).toEqual(free.summary);
  });

  it('the charge follows the storage: a block table per 1 GiB range first touched, a line per block past three bits', () => {
    withStorageBudget(1024 * MiB, () => {
      const sim = simOf(
        { memoryBytes: 64 * GiB },
        { pageSize: '4k', allocator: 'buddy', guestBytes: 16 * GiB },
      );
      const start = storageInUse();
      // Four pages of one 2 MiB block: more than its block-table entry holds, so it takes a line.
      expect(sim.convert(0, 4 * 4096, 'shared').ok).toBe(true);
      const first = storageInUse() - start;
      expect(sim.convert(GiB, 4 * 4096, 'shared').ok).toBe(true);
      const each = storageInUse() - start - first;
      expect(each).toBeGreaterThan(0);
      // The same conversion in three more 1 GiB ranges costs three times as much; again in the
      // same 2 MiB blocks, nothing.
      for (let g = 2; g <= 4; g++) sim.convert(g * GiB, 4 * 4096, 'shared');
      expect(storageInUse() - start).toBe(first + 4 * each);
      for (let g = 1; g <= 4; g++) sim.convert(g * GiB + 8 * 4096, 4096, 'shared');
      expect(storageInUse() - start).toBe(first + 4 * each);
      // A block table (a count and an entry per 2 MiB block) is 4 KiB; the first block with a
      // line also took the line pool's first page (512 lines of 64 bytes), which the others share.
      expect(each % 4096).toBe(0);
      expect(first - each).toBe(32768);
      // One shared page in a block of a range not touched yet: its table only, no line.
      const before = storageInUse();
      sim.convert(8 * GiB, 4096, 'shared');
      expect(storageInUse() - before).toBe(each);
    });
  });
});
