import { describe, expect, it } from 'vitest';
import { CmaAreaSchema, type CmaAreaConfig } from '../config.js';
import { DEFAULT_COSTS, usToCycles } from '../constants.js';
import { Rng } from '../rng.js';
import { GiB, ORDER_1G, ORDER_2M } from '../units.js';
import { CmaArea } from './cma-area.js';

const area = (cfg: Partial<CmaAreaConfig> & { sizeBytes: number }, seed = 1) =>
  new CmaArea(0, CmaAreaSchema.parse(cfg), new Rng(seed));

describe('CmaArea', () => {
  it('an empty range costs cmaAlloc1GBaseMs: 5 ms = 12,500,000 cycles at 2.5 GHz', () => {
    const result = area({ sizeBytes: 4 * GiB }).allocate(ORDER_1G, DEFAULT_COSTS);
    expect(result).toEqual({ ok: true, cycles: 12_500_000, migrationCycles: 0, attempts: 1 });
  });

  it('migration cost grows with movableOccupiedFraction', () => {
    // Half of 262144 pages = 131072 pages x 0.08 us = 10485.76 us = 26,214,400 cycles.
    const half = area({ sizeBytes: 4 * GiB, movableOccupiedFraction: 0.5 });
    expect(half.movablePages(ORDER_1G)).toBe(131_072);
    const result = half.allocate(ORDER_1G, DEFAULT_COSTS);
    expect(result).toMatchObject({ ok: true, migrationCycles: 26_214_400 });
    expect(result.cycles).toBe(12_500_000 + 26_214_400);
    const costs = [0, 0.25, 0.5, 0.75, 1].map(
      (f) =>
        area({ sizeBytes: GiB, movableOccupiedFraction: f }).allocate(ORDER_1G, DEFAULT_COSTS)
          .cycles,
    );
    for (let i = 1; i < costs.length; i++) expect(costs[i]).toBeGreaterThan(costs[i - 1] ?? 0);
  });

  it('fails with a clear message when every 1 GiB range holds an unmovable page', () => {
    const result = area({ sizeBytes: 3 * GiB, unmovableRanges: [0, 1, 2] }).allocate(
      ORDER_1G,
      DEFAULT_COSTS,
    );
    expect(result).toMatchObject({
      ok: false,
      errno: 'ENOMEM',
      message: 'every 1 GiB range of the CMA area on node 0 holds an unmovable or pinned page',
      cycles: 0,
    });
  });

  it('skips unmovable ranges and hands out each free range once', () => {
    const cma = area({ sizeBytes: 3 * GiB, unmovableRanges: [1] });
    expect(cma.allocate(ORDER_1G, DEFAULT_COSTS).ok).toBe(true);
    expect(cma.allocate(ORDER_1G, DEFAULT_COSTS).ok).toBe(true);
    const third = cma.allocate(ORDER_1G, DEFAULT_COSTS);
    expect(third).toMatchObject({
      ok: false,
      errno: 'ENOMEM',
      message:
        'no free 1 GiB range in the CMA area on node 0 (3 ranges: 2 allocated, 1 hold an unmovable or pinned page)',
    });
    cma.release(ORDER_1G);
    expect(cma.counters()).toMatchObject({ free1GRanges: 1, allocated1GRanges: 1 });
  });

  it('retries transient failures up to maxAttempts, each attempt paying its migration', () => {
    const cma = area({
      sizeBytes: 2 * GiB,
      movableOccupiedFraction: 0.5,
      transientFailureRate: 1,
      maxAttempts: 3,
    });
    const result = cma.allocate(ORDER_1G, DEFAULT_COSTS);
    expect(result).toMatchObject({ ok: false, errno: 'EBUSY', attempts: 3 });
    expect(result.cycles).toBe(3 * (12_500_000 + 26_214_400));
    expect(result.migrationCycles).toBe(3 * 26_214_400);
    if (!result.ok) expect(result.message).toContain('node 0 gave up after 3 attempt(s)');
    expect(cma.counters().free1GRanges).toBe(2);
  });

  it('never takes longer than cmaPathologicalMs', () => {
    const cma = area({
      sizeBytes: GiB,
      movableOccupiedFraction: 1,
      transientFailureRate: 1,
      maxAttempts: 64,
    });
    const result = cma.allocate(ORDER_1G, DEFAULT_COSTS);
    const cap = usToCycles(DEFAULT_COSTS, DEFAULT_COSTS.cmaPathologicalMs * 1000);
    expect(result.ok).toBe(false);
    expect(result.cycles).toBe(cap);
    expect(result.attempts).toBeLessThan(64);
  });

  it('transient failures occur at about the configured rate and the run is reproducible', () => {
    const run = (seed: number) => {
      const cma = area({ sizeBytes: GiB, transientFailureRate: 0.25, maxAttempts: 1 }, seed);
      let busy = 0;
      for (let i = 0; i < 4000; i++) {
        const r = cma.allocate(ORDER_1G, DEFAULT_COSTS);
        if (r.ok) cma.release(ORDER_1G);
        else busy++;
      }
      return busy;
    };
    const busy = run(5);
    expect(busy).toBeGreaterThan(1000 - 150);
    expect(busy).toBeLessThan(1000 + 150);
    expect(run(5)).toBe(busy);
  });

  it('serves 2 MiB blocks first-fit, with 1/512 of the costs, keeping whole ranges for 1 GiB', () => {
    const cma = area({ sizeBytes: 2 * GiB, movableOccupiedFraction: 0.5, unmovableRanges: [0] });
    const small = cma.allocate(ORDER_2M, DEFAULT_COSTS);
    // 5 ms / 512 = 9.765625 us -> 24,414 cycles; 256 pages x 0.08 us = 20.48 us -> 51,200 cycles.
    expect(small).toEqual({
      ok: true,
      cycles: 24_414 + 51_200,
      migrationCycles: 51_200,
      attempts: 1,
    });
    // The unmovable range 0 took the block (511 usable, 1 used): range 1 is still whole.
    expect(cma.counters()).toMatchObject({
      blocks2MInUse: 1,
      free1GRanges: 1,
      free2MBlocks: 510 + 512,
    });
    cma.release(ORDER_2M);
    expect(cma.counters().blocks2MInUse).toBe(0);
  });

  it('a poisoned range is never used again', () => {
    const cma = area({ sizeBytes: GiB });
    expect(cma.allocate(ORDER_1G, DEFAULT_COSTS).ok).toBe(true);
    cma.poison(ORDER_1G);
    const again = cma.allocate(ORDER_1G, DEFAULT_COSTS);
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.message).toContain('1 hwpoisoned');
    expect(cma.allocate(ORDER_2M, DEFAULT_COSTS).ok).toBe(false);
  });
});
