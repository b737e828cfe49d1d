// The model's memory budget: every growing store charges what it allocates, a run that would pass
// its budget stops with a message naming what asked for how much, and the charge follows the
// model's storage (one 1 GiB chunk of 4 KiB page bitmap per range first touched).
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
      runVariant(eagerGuest(), 0, { storageBudgetBytes: 4 * MiB });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StorageBudgetExceeded);
    const e = error as StorageBudgetExceeded;
    expect(e.budgetBytes).toBe(4 * MiB);
    expect(e.usedBytes + e.requestBytes).toBeGreaterThan(4 * MiB);
    expect(e.message).toMatch(/budget of 4 MiB: it holds .* and the .* asked for .* more/);
    expect(e.message).toMatch(/--memory-budget/);
    // The budget ends with the run: nothing is counted outside one.
    expect(storageInUse()).toBe(0);
  });

  it('the same run within a budget it fits gives the same result as without one', () => {
    const free = runVariant(eagerGuest(), 1);
    const budgeted = runVariant(eagerGuest(), 1, { storageBudgetBytes: 256 * MiB });
    expect(budgeted.summary).toEqual(free.summary);
  });

  it('the charge follows the storage: one bitmap chunk per 1 GiB range first touched', () => {
    withStorageBudget(1024 * MiB, () => {
      const sim = simOf(
        { memoryBytes: 64 * GiB },
        { pageSize: '4k', allocator: 'buddy', guestBytes: 16 * GiB },
      );
      const start = storageInUse();
      expect(sim.convert(0, 4096, 'shared').ok).toBe(true);
      const one = storageInUse() - start;
      expect(one).toBeGreaterThan(0);
      // The same conversion in four more 1 GiB ranges costs four times as much; again in the
      // same ranges, nothing.
      for (let g = 1; g <= 4; g++) sim.convert(g * GiB, 4096, 'shared');
      expect(storageInUse() - start).toBe(5 * one);
      for (let g = 1; g <= 4; g++) sim.convert(g * GiB + 8192, 4096, 'shared');
      expect(storageInUse() - start).toBe(5 * one);
      // A 4 KiB page bitmap chunk (1 GiB of bits and its per-2 MiB counts) is 33 KiB.
      expect(one % (32768 + 1024)).toBe(0);
    });
  });
});
