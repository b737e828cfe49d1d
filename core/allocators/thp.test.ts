import { describe, expect, it } from 'vitest';
import { HostSchema } from '../config.js';
import { DEFAULT_COSTS } from '../constants.js';
import { Host } from '../host/host.js';
import { Rng } from '../rng.js';
import { GiB, MiB, ORDER_1G, ORDER_2M, ORDER_4K } from '../units.js';
import type { NodeChoice } from './allocator.js';
import { NO_FREE_2M_BLOCK, ThpAllocator, createThpAllocator } from './thp.js';

function setup(memory: number[], thpFragmentation: number, seed = 1) {
  const config = HostSchema.parse({
    nodes: memory.map((memoryBytes, i) => ({ memoryBytes, cpus: String(i) })),
    thpFragmentation,
  });
  const host = new Host(config, DEFAULT_COSTS, new Rng(seed));
  return { host, alloc: createThpAllocator(host, DEFAULT_COSTS, new Rng(seed + 1)) };
}

const on = (...nodes: number[]): NodeChoice => ({ nodes, strict: false });
const bind = (...nodes: number[]): NodeChoice => ({ nodes, strict: true });

function handleOf(alloc: ThpAllocator) {
  const r = alloc.reserve({ order: ORDER_2M, count: 0, nodes: on(0) });
  if (!r.ok) throw new Error(r.message);
  return r.handle;
}

describe('ThpAllocator', () => {
  it('allocates a THP from the buddy allocator', () => {
    const { host, alloc } = setup([GiB], 0);
    const r = alloc.allocate(handleOf(alloc), on(0), ORDER_2M);
    expect(r).toEqual({
      ok: true,
      cycles: DEFAULT_COSTS.thpAlloc2MCycles,
      migrationCycles: 0,
      folio: { node: 0, order: ORDER_2M, hvo: false },
    });
    expect(host.buddy(0).freeBytes).toBe(GiB - 2 * MiB);
    expect(alloc.stats()).toMatchObject({ vmemmapPagesByNode: [8], hvoSavedPagesByNode: [0] });
  });

  it('with fragmentation 0.3 about 30% of 10000 THP attempts fall back (fixed seed)', () => {
    const { alloc } = setup([64 * GiB], 0.3, 2024);
    const handle = handleOf(alloc);
    let fallbacks = 0;
    for (let i = 0; i < 10_000; i++) {
      const r = alloc.allocate(handle, bind(0), ORDER_2M);
      if (r.ok) continue;
      fallbacks++;
      expect(r.errno).toBe('ENOMEM');
      expect(r.message).toBe(`${NO_FREE_2M_BLOCK} on node 0`);
      // The caller falls back to a base page, which this allocator also serves.
      expect(alloc.allocate(handle, bind(0), ORDER_4K).ok).toBe(true);
    }
    // 3000 +- 5 standard deviations (about 46 each).
    expect(fallbacks).toBeGreaterThan(2770);
    expect(fallbacks).toBeLessThan(3230);
    expect(alloc.stats()).toMatchObject({ allocations: 10_000, allocationFailures: fallbacks });
  });

  it('bind never takes memory from another node; a non-strict choice does', () => {
    const { alloc } = setup([2 * MiB, GiB], 0);
    const handle = handleOf(alloc);
    expect(alloc.allocate(handle, bind(0), ORDER_2M).ok).toBe(true);
    expect(alloc.allocate(handle, bind(0), ORDER_2M)).toMatchObject({
      ok: false,
      errno: 'ENOMEM',
      message: 'node 0 has no free memory',
    });
    expect(alloc.allocate(handle, on(0), ORDER_2M)).toMatchObject({ ok: true, folio: { node: 1 } });
    expect(alloc.stats().allocatedBytesByNode).toEqual([2 * MiB, 2 * MiB]);
  });

  it('split and reconstruct move no vmemmap', () => {
    const { alloc } = setup([GiB], 0);
    const handle = handleOf(alloc);
    const r = alloc.allocate(handle, on(0), ORDER_2M);
    if (!r.ok) throw new Error(r.message);
    const none = { ok: true, cycles: 0, vmemmapPages: 0, vmemmapCycles: 0 };
    expect(alloc.split(handle, r.folio, ORDER_4K)).toEqual(none);
    const piece = { node: 0, order: ORDER_4K, hvo: false } as const;
    expect(alloc.reconstruct(handle, piece, ORDER_2M)).toEqual(none);
    expect(alloc.split(handle, piece, ORDER_4K)).toMatchObject({ ok: false, errno: 'EINVAL' });
  });

  it('frees THPs and split pieces back to the buddy allocator', () => {
    const { host, alloc } = setup([GiB], 0);
    const handle = handleOf(alloc);
    const r = alloc.allocate(handle, on(0), ORDER_2M);
    if (!r.ok) throw new Error(r.message);
    alloc.split(handle, r.folio, ORDER_4K);
    const piece = { node: 0, order: ORDER_4K, hvo: false } as const;
    for (let i = 0; i < 511; i++) alloc.free(handle, piece);
    alloc.error(handle, piece);
    expect(host.counters(0).buddy).toMatchObject({
      freeBytes: GiB - 4096,
      guestBytes: 0,
      hwpoisonedBytes: 4096,
    });
    expect(alloc.stats()).toMatchObject({ allocatedBytesByNode: [0], frees: 511, memoryErrors: 1 });
  });

  it('refuses 1 GiB folios', () => {
    const { alloc } = setup([GiB], 0);
    expect(alloc.reserve({ order: ORDER_1G, count: 1, nodes: on(0) })).toMatchObject({
      ok: false,
      errno: 'EINVAL',
    });
    expect(alloc.allocate(handleOf(alloc), on(0), ORDER_1G)).toMatchObject({
      ok: false,
      errno: 'EINVAL',
    });
  });

  it('the same seed gives the same fallbacks', () => {
    const run = () => {
      const { alloc } = setup([4 * GiB, 4 * GiB], 0.5, 11);
      const handle = handleOf(alloc);
      return Array.from({ length: 200 }, (_, i) => {
        const r = alloc.allocate(handle, on(i % 2), ORDER_2M);
        return r.ok ? r.folio.node : -1;
      });
    };
    expect(run()).toEqual(run());
  });
});
