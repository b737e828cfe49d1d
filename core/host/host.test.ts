import { describe, expect, it } from 'vitest';
import { HostSchema, type HostConfig } from '../config.js';
import { DEFAULT_COSTS } from '../constants.js';
import { ConfigError } from '../errors.js';
import { Rng } from '../rng.js';
import { GiB, MiB, ORDER_1G, ORDER_2M, ORDER_4K, PAGE_SIZE } from '../units.js';
import {
  GuestLedger,
  Host,
  folioAfterSplit,
  hvoFreedPagesOf,
  resolveNodeOrder,
  vmemmapOptimiseCycles,
  vmemmapPagesOf,
  vmemmapRestoreCycles,
} from './host.js';

const hostConfig = (input: unknown): HostConfig => HostSchema.parse(input);
const makeHost = (input: unknown, seed = 1) =>
  new Host(hostConfig(input), DEFAULT_COSTS, new Rng(seed));

function configError(input: unknown): ConfigError {
  try {
    makeHost(input);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('Host', () => {
  it('buddy memory = memory - reserved - HugeTLB pools - CMA area', () => {
    const host = makeHost({
      nodes: [
        {
          memoryBytes: 64 * GiB,
          cpus: '0-7',
          hostReservedBytes: 4 * GiB,
          hugetlb2m: 1024,
          hugetlb1g: 16,
          cma: { sizeBytes: 8 * GiB },
        },
        { memoryBytes: 32 * GiB, cpus: '8-15' },
      ],
    });
    expect(host.nodeCount).toBe(2);
    // 64 - 4 - 2 (1024 x 2 MiB) - 16 - 8 = 34 GiB
    expect(host.counters(0).buddy.freeBytes).toBe(34 * GiB);
    expect(host.counters(0).hugetlb2m).toMatchObject({ nr: 1024, free: 1024, resv: 0 });
    expect(host.counters(0).hugetlb1g).toMatchObject({ nr: 16, free: 16, resv: 0 });
    expect(host.counters(0).cma).toMatchObject({ ranges: 8, free1GRanges: 8 });
    expect(host.counters(1).buddy.freeBytes).toBe(32 * GiB);
    expect(host.counters(1).cma).toBeUndefined();
    expect(host.totalMemoryBytes).toBe(96 * GiB);
    expect(host.allCounters()).toHaveLength(2);
  });

  it('an overcommitted 1 GiB pool is a ConfigError naming the field and the shortfall', () => {
    const e = configError({
      nodes: [
        { memoryBytes: 64 * GiB, cpus: '0' },
        { memoryBytes: 64 * GiB, cpus: '1', hostReservedBytes: 2 * GiB, hugetlb1g: 64 },
      ],
    });
    expect(e.path).toBe('host.nodes[1].hugetlb1g');
    expect(e.message).toBe(
      'host.nodes[1].hugetlb1g: 64 x 1 GiB HugeTLB pages (64 GiB) do not fit on node 1: its 64 GiB of memory has 62 GiB left after 2 GiB reserved for the host, 2 GiB short',
    );
  });

  it('names the CMA area when it is what does not fit', () => {
    const e = configError({
      nodes: [{ memoryBytes: 16 * GiB, cpus: '0', hugetlb2m: 4096, cma: { sizeBytes: 10 * GiB } }],
    });
    expect(e.path).toBe('host.nodes[0].cma.sizeBytes');
    expect(e.message).toContain('a 10 GiB CMA area does not fit on node 0');
    expect(e.message).toContain('2 GiB short');
  });

  it('rejects reserved memory larger than the node, a CMA area not made of 1 GiB ranges and bad range indexes', () => {
    expect(
      configError({ nodes: [{ memoryBytes: GiB, cpus: '0', hostReservedBytes: 2 * GiB }] }).path,
    ).toBe('host.nodes[0].hostReservedBytes');
    // The schema refuses a CMA area that is not whole 1 GiB ranges...
    const odd = { nodes: [{ memoryBytes: 8 * GiB, cpus: '0', cma: { sizeBytes: GiB + 2 * MiB } }] };
    const parsed = HostSchema.safeParse(odd);
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]!.path).toEqual(['nodes', 0, 'cma', 'sizeBytes']);
    // ...and the host checks it again for configurations built without the schema.
    const raw = HostSchema.parse({
      nodes: [{ memoryBytes: 8 * GiB, cpus: '0', cma: { sizeBytes: GiB } }],
    });
    raw.nodes[0]!.cma!.sizeBytes = GiB + 2 * MiB;
    let caught: unknown;
    try {
      new Host(raw, DEFAULT_COSTS, new Rng(1));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).path).toBe('host.nodes[0].cma.sizeBytes');
    const e = configError({
      nodes: [
        { memoryBytes: 8 * GiB, cpus: '0', cma: { sizeBytes: 2 * GiB, unmovableRanges: [0, 2] } },
      ],
    });
    expect(e.path).toBe('host.nodes[0].cma.unmovableRanges[1]');
    expect(e.message).toContain('has 2 x 1 GiB ranges (0-1)');
  });

  it('pools and buddies can be looked up by node and size', () => {
    const host = makeHost({
      nodes: [{ memoryBytes: 8 * GiB, cpus: '0', hugetlb2m: 8, hugetlb1g: 1 }],
    });
    expect(host.pool(0, ORDER_2M).nrHugePages).toBe(8);
    expect(host.pool(0, ORDER_1G).nrHugePages).toBe(1);
    expect(host.pools(ORDER_1G)).toHaveLength(1);
    expect(() => host.pool(0, ORDER_4K)).toThrow(RangeError);
    expect(() => host.node(1)).toThrow(/node 1 does not exist/);
  });

  it('restores vmemmap from the node buddy memory and fails with ENOMEM when it has none', () => {
    const host = makeHost({
      nodes: [
        { memoryBytes: 2 * GiB, cpus: '0', hugetlb1g: 1, hostReservedBytes: GiB - 8 * PAGE_SIZE },
      ],
    });
    expect(host.restoreVmemmap(0, 7, DEFAULT_COSTS)).toMatchObject({ ok: true });
    const fail = host.restoreVmemmap(0, 7, DEFAULT_COSTS);
    expect(fail).toMatchObject({ ok: false, errno: 'ENOMEM' });
    if (!fail.ok) {
      expect(fail.message).toBe(
        'cannot restore 7 vmemmap pages (28 KiB) on node 0: its buddy memory has 4 KiB free',
      );
    }
    host.optimiseVmemmap(0, 7, DEFAULT_COSTS);
    expect(host.buddy(0).freeBytes).toBe(8 * PAGE_SIZE);
  });
});

describe('node order', () => {
  it('lists the mempolicy nodes first, then the others unless strict', () => {
    expect(resolveNodeOrder({ nodes: [2, 0, 2], strict: false }, 4)).toEqual({
      ok: true,
      order: { listed: [2, 0], fallback: [1, 3], strict: false },
      nodes: [2, 0, 1, 3],
    });
    expect(resolveNodeOrder({ nodes: [1], strict: true }, 4)).toMatchObject({ nodes: [1] });
    expect(resolveNodeOrder({ nodes: [], strict: false }, 2)).toMatchObject({ nodes: [0, 1] });
  });

  it('rejects nodes the host does not have', () => {
    expect(resolveNodeOrder({ nodes: [3], strict: true }, 2)).toEqual({
      ok: false,
      message: 'node 3 does not exist (the host has 2 nodes)',
    });
    expect(resolveNodeOrder({ nodes: [], strict: true }, 2).ok).toBe(false);
  });
});

describe('HVO arithmetic', () => {
  it('saves 7 pages (28 KiB) per 2 MiB page and 4095 per 1 GiB page', () => {
    expect(hvoFreedPagesOf(DEFAULT_COSTS, ORDER_2M)).toBe(7);
    expect(hvoFreedPagesOf(DEFAULT_COSTS, ORDER_2M) * PAGE_SIZE).toBe(28 * 1024);
    expect(hvoFreedPagesOf(DEFAULT_COSTS, ORDER_1G)).toBe(4095);
    expect(vmemmapPagesOf(DEFAULT_COSTS, ORDER_1G, true)).toBe(1);
    expect(vmemmapPagesOf(DEFAULT_COSTS, ORDER_2M, false)).toBe(8);
    // 64 B of struct page per 4 KiB page: 1/64 of a vmemmap page.
    expect(vmemmapPagesOf(DEFAULT_COSTS, ORDER_4K, false)).toBe(1 / 64);
  });

  it('derives restore and re-optimise costs from the HVO timings', () => {
    // Batched restore: (26.4 - 9.0) / 7 us per page; 7 pages = 17.4 us = 43,500 cycles.
    expect(vmemmapRestoreCycles(DEFAULT_COSTS, true, 7)).toBe(43_500);
    // Unbatched: (73.5 - 9.0) us per 7 pages = 64.5 us = 161,250 cycles.
    expect(vmemmapRestoreCycles(DEFAULT_COSTS, false, 7)).toBe(161_250);
    // Batched optimise: (14.5 - 8.2) us per 7 pages = 6.3 us = 15,750 cycles.
    expect(vmemmapOptimiseCycles(DEFAULT_COSTS, true, 7)).toBe(15_750);
    expect(vmemmapOptimiseCycles(DEFAULT_COSTS, true, 0)).toBe(0);
  });

  it('split pieces keep HVO only when they are huge', () => {
    const folio = { node: 1, order: ORDER_1G, hvo: true } as const;
    expect(folioAfterSplit(folio, ORDER_2M)).toEqual({ node: 1, order: ORDER_2M, hvo: true });
    expect(folioAfterSplit(folio, ORDER_4K)).toEqual({ node: 1, order: ORDER_4K, hvo: false });
  });

  it('the ledger refuses to go negative', () => {
    const ledger = new GuestLedger(1, DEFAULT_COSTS);
    ledger.addFolio({ node: 0, order: ORDER_2M, hvo: true });
    expect(ledger.stats([0])).toMatchObject({
      allocatedBytesByNode: [2 * MiB],
      vmemmapPagesByNode: [1],
      hvoSavedPagesByNode: [7],
    });
    ledger.removeFolio({ node: 0, order: ORDER_2M, hvo: true });
    expect(() => ledger.removeFolio({ node: 0, order: ORDER_4K, hvo: false })).toThrow(/ledger/);
  });
});

describe('determinism', () => {
  it('the same seed gives the same host draws', () => {
    const run = () => {
      const host = makeHost(
        {
          nodes: [
            {
              memoryBytes: 8 * GiB,
              cpus: '0',
              cma: { sizeBytes: 4 * GiB, transientFailureRate: 0.5 },
            },
          ],
          thpFragmentation: 0.5,
        },
        77,
      );
      const thp = Array.from({ length: 32 }, () => host.buddy(0).tryAllocThp());
      const cma = Array.from(
        { length: 4 },
        () => host.cma(0)?.allocate(ORDER_1G, DEFAULT_COSTS).ok,
      );
      return { thp, cma };
    };
    expect(run()).toEqual(run());
  });
});
