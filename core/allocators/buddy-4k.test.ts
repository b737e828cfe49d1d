import { describe, expect, it } from 'vitest';
import { HostSchema } from '../config.js';
import { DEFAULT_COSTS } from '../constants.js';
import { Host } from '../host/host.js';
import { Rng } from '../rng.js';
import { GiB, ORDER_2M, ORDER_4K, PAGE_SIZE } from '../units.js';
import type { NodeChoice } from './allocator.js';
import { Buddy4kAllocator, createBuddy4kAllocator } from './buddy-4k.js';

function setup(memory: number[]) {
  const config = HostSchema.parse({
    nodes: memory.map((memoryBytes, i) => ({ memoryBytes, cpus: String(i) })),
  });
  const host = new Host(config, DEFAULT_COSTS, new Rng(1));
  return { host, alloc: createBuddy4kAllocator(host, DEFAULT_COSTS) };
}

const on = (...nodes: number[]): NodeChoice => ({ nodes, strict: false });
const bind = (...nodes: number[]): NodeChoice => ({ nodes, strict: true });

function handleOf(alloc: Buddy4kAllocator) {
  const r = alloc.reserve({ order: ORDER_4K, count: 0, nodes: on(0) });
  if (!r.ok) throw new Error(r.message);
  return r.handle;
}

describe('Buddy4kAllocator', () => {
  it('serves order 0 only, at buddyAlloc4KCycles', () => {
    const { alloc } = setup([GiB]);
    const handle = handleOf(alloc);
    expect(alloc.allocate(handle, on(0), ORDER_4K)).toEqual({
      ok: true,
      cycles: DEFAULT_COSTS.buddyAlloc4KCycles,
      migrationCycles: 0,
      folio: { node: 0, order: ORDER_4K, hvo: false },
    });
    expect(alloc.allocate(handle, on(0), ORDER_2M)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(alloc.reserve({ order: ORDER_2M, count: 1, nodes: on(0) })).toMatchObject({
      ok: false,
      errno: 'EINVAL',
    });
    // 1/64 of a vmemmap page per 4 KiB page.
    expect(alloc.stats().vmemmapPagesByNode).toEqual([1 / 64]);
  });

  it('runs out with ENOMEM, falls back across nodes unless bound', () => {
    const { host, alloc } = setup([2 * PAGE_SIZE, GiB]);
    const handle = handleOf(alloc);
    expect(alloc.allocate(handle, bind(0), ORDER_4K).ok).toBe(true);
    expect(alloc.allocate(handle, bind(0), ORDER_4K).ok).toBe(true);
    expect(alloc.allocate(handle, bind(0), ORDER_4K)).toEqual({
      ok: false,
      errno: 'ENOMEM',
      message: 'no free memory on node 0',
      cycles: 0,
    });
    expect(alloc.allocate(handle, on(0), ORDER_4K)).toMatchObject({ ok: true, folio: { node: 1 } });
    expect(host.buddy(0).freeBytes).toBe(0);
  });

  it('has nothing to split or merge, frees and poisons pages', () => {
    const { host, alloc } = setup([GiB]);
    const handle = handleOf(alloc);
    const r = alloc.allocate(handle, on(0), ORDER_4K);
    if (!r.ok) throw new Error(r.message);
    expect(alloc.split(handle, r.folio, ORDER_4K)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(alloc.reconstruct(handle, r.folio, ORDER_2M)).toMatchObject({
      ok: false,
      errno: 'EINVAL',
    });
    expect(alloc.free(handle, r.folio)).toEqual({
      ok: true,
      cycles: DEFAULT_COSTS.buddyAlloc4KCycles,
    });
    const again = alloc.allocate(handle, on(0), ORDER_4K);
    if (!again.ok) throw new Error(again.message);
    alloc.error(handle, again.folio);
    expect(host.counters(0).buddy).toMatchObject({
      freeBytes: GiB - PAGE_SIZE,
      hwpoisonedBytes: PAGE_SIZE,
    });
    expect(alloc.stats()).toMatchObject({
      allocations: 2,
      frees: 1,
      memoryErrors: 1,
      allocatedBytesByNode: [0],
    });
  });

  it('rejects handles it did not issue', () => {
    const { alloc } = setup([GiB]);
    expect(() =>
      alloc.allocate({ id: 5, kind: 'buddy', order: ORDER_4K }, on(0), ORDER_4K),
    ).toThrow(/unknown handle 5/);
  });
});
