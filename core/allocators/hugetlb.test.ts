import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HostSchema, resolveCosts } from '../config.js';
import { DEFAULT_COSTS, usToCycles } from '../constants.js';
import { Host, folioAfterSplit } from '../host/host.js';
import { Rng } from '../rng.js';
import { GiB, MiB, ORDER_1G, ORDER_2M, ORDER_4K, PAGE_SIZE, type PageOrder } from '../units.js';
import type { AllocatorHandle, FolioRef, NodeChoice } from './allocator.js';
import { HugetlbAllocator, createHugetlbAllocator } from './hugetlb.js';

const C = DEFAULT_COSTS;

interface NodeInput {
  memoryBytes?: number;
  hugetlb2m?: number;
  hugetlb1g?: number;
  hostReservedBytes?: number;
}

function setup(nodes: NodeInput[], opts: { hvo?: boolean; hvoBatched?: boolean } = {}) {
  const config = HostSchema.parse({
    nodes: nodes.map((n, i) => ({ memoryBytes: 64 * GiB, cpus: String(i), ...n })),
    ...opts,
  });
  const host = new Host(config, DEFAULT_COSTS, new Rng(1));
  return { host, alloc: createHugetlbAllocator(host, DEFAULT_COSTS) };
}

const on = (...nodes: number[]): NodeChoice => ({ nodes, strict: false });
const bind = (...nodes: number[]): NodeChoice => ({ nodes, strict: true });

function reserve(alloc: HugetlbAllocator, order: PageOrder, count: number, nodes: NodeChoice) {
  const r = alloc.reserve({ order, count, nodes });
  if (!r.ok) throw new Error(r.message);
  return r.handle;
}

function allocate(alloc: HugetlbAllocator, handle: AllocatorHandle, choice: NodeChoice): FolioRef {
  const r = alloc.allocate(handle, choice, handle.order);
  if (!r.ok) throw new Error(r.message);
  return r.folio;
}

describe('HugetlbAllocator: reservation', () => {
  it('reserves the whole file from the pool at creation', () => {
    const { host, alloc } = setup([{ hugetlb1g: 20 }]);
    reserve(alloc, ORDER_1G, 16, on(0));
    expect(host.counters(0).hugetlb1g).toMatchObject({ nr: 20, free: 20, resv: 16 });
    expect(alloc.stats().reservedBytesByNode).toEqual([16 * GiB]);
  });

  it('fails with ENOMEM naming the node and what is missing', () => {
    const { alloc } = setup([{ hugetlb1g: 12 }]);
    expect(alloc.reserve({ order: ORDER_1G, count: 16, nodes: bind(0) })).toEqual({
      ok: false,
      errno: 'ENOMEM',
      message: 'need 16 x 1 GiB pages on node 0, pool has 12 free',
      cycles: 0,
    });
    expect(alloc.reserve({ order: ORDER_4K, count: 1, nodes: on(0) })).toMatchObject({
      ok: false,
      errno: 'EINVAL',
    });
  });

  it('bind never falls back to another node, for reservation or allocation', () => {
    const { host, alloc } = setup([{ hugetlb1g: 4 }, { hugetlb1g: 40 }]);
    const refused = alloc.reserve({ order: ORDER_1G, count: 8, nodes: bind(0) });
    expect(refused).toMatchObject({ ok: false, errno: 'ENOMEM' });
    expect(host.counters(1).hugetlb1g.resv).toBe(0);

    const handle = reserve(alloc, ORDER_1G, 4, bind(0));
    for (let i = 0; i < 4; i++) expect(allocate(alloc, handle, bind(0)).node).toBe(0);
    const fifth = alloc.allocate(handle, bind(0), ORDER_1G);
    expect(fifth).toMatchObject({ ok: false, errno: 'ENOMEM' });
    expect(host.counters(1).hugetlb1g).toMatchObject({ free: 40, resv: 0 });
  });

  it('a strict allocation on a node without reservation says where the reservation is', () => {
    const { alloc } = setup([{ hugetlb1g: 4 }, { hugetlb1g: 4 }]);
    const handle = reserve(alloc, ORDER_1G, 2, bind(0));
    const r = alloc.allocate(handle, bind(1), ORDER_1G);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toBe(
        'no 1 GiB page reserved for this file on node 1; its reserved pages are on node 0: 2',
      );
    }
  });

  it('preferred spills to other nodes, and allocation follows the reservation', () => {
    const { alloc } = setup([{ hugetlb1g: 2 }, { hugetlb1g: 10 }]);
    const handle = reserve(alloc, ORDER_1G, 6, on(0));
    expect(alloc.stats().reservedBytesByNode).toEqual([2 * GiB, 4 * GiB]);
    const nodes = Array.from({ length: 6 }, () => allocate(alloc, handle, on(0)).node);
    expect(nodes).toEqual([0, 0, 1, 1, 1, 1]);
  });

  it('interleave spreads the reservation over the nodes', () => {
    const { host, alloc } = setup([{ hugetlb2m: 100 }, { hugetlb2m: 100 }, { hugetlb2m: 100 }]);
    reserve(alloc, ORDER_2M, 30, on(0, 1, 2));
    expect(alloc.stats().reservedBytesByNode).toEqual([20 * MiB, 20 * MiB, 20 * MiB]);
    expect(host.allCounters().map((c) => c.hugetlb2m.resv)).toEqual([10, 10, 10]);
  });

  it('unreserve returns what the file has not allocated', () => {
    const { host, alloc } = setup([{ hugetlb2m: 16 }]);
    const handle = reserve(alloc, ORDER_2M, 8, on(0));
    const folio = allocate(alloc, handle, on(0));
    alloc.unreserve(handle);
    expect(host.counters(0).hugetlb2m).toMatchObject({ free: 15, resv: 0, inUse: 1 });
    expect(alloc.stats().reservedBytesByNode).toEqual([0]);
    // After unreserve a freed folio goes back to the pool, not to the file.
    expect(alloc.free(handle, folio).ok).toBe(true);
    expect(host.counters(0).hugetlb2m).toMatchObject({ free: 16, resv: 0 });
  });
});

describe('HugetlbAllocator: HVO and vmemmap', () => {
  it('a HVO 2 MiB folio keeps 1 vmemmap page and saves 7 (28 KiB)', () => {
    const { alloc } = setup([{ hugetlb2m: 4 }]);
    const handle = reserve(alloc, ORDER_2M, 1, on(0));
    const r = alloc.allocate(handle, on(0), ORDER_2M);
    // guestmem_hugetlb_alloc_folio(): a subpool get plus a dequeue, no pool growth.
    expect(r).toMatchObject({
      ok: true,
      cycles: C.hugetlbSubpoolGetCycles + C.hugetlbDequeueCycles,
      migrationCycles: 0,
    });
    if (r.ok) expect(r.folio).toEqual({ node: 0, order: ORDER_2M, hvo: true });
    const s = alloc.stats();
    expect(s.vmemmapPagesByNode).toEqual([1]);
    expect(s.hvoSavedPagesByNode).toEqual([7]);
    expect((s.hvoSavedPagesByNode[0] ?? 0) * PAGE_SIZE).toBe(28 * 1024);
  });

  // guestmem_hugetlb_alloc_folio() (mm/guestmem_hugetlb.c, 1G guest_memfd RFC v2, 2025-05-14):
  // hugepage_subpool_get_pages() + a dequeue of a page that entered the pool, HVO applied, at boot.
  it('guestmem_hugetlb_alloc_folio: a HVO 1 GiB folio saves 4095 pages and costs what a 2 MiB one does', () => {
    const { alloc } = setup([{ hugetlb1g: 1 }]);
    const handle = reserve(alloc, ORDER_1G, 1, on(0));
    const r = alloc.allocate(handle, on(0), ORDER_1G);
    expect(r).toMatchObject({
      ok: true,
      cycles: C.hugetlbSubpoolGetCycles + C.hugetlbDequeueCycles,
    });
    // Not the pool-growth timing of an nr_hugepages write, x 512.
    expect(r.cycles).toBeLessThan(usToCycles(C, C.hugetlbAlloc2MHvoBatchedUs) * 512);
    expect(alloc.stats()).toMatchObject({ vmemmapPagesByNode: [1], hvoSavedPagesByNode: [4095] });
  });

  it('without HVO: 8 vmemmap pages per 2 MiB, nothing to restore on split', () => {
    const { host, alloc } = setup([{ hugetlb2m: 2 }], { hvo: false });
    const handle = reserve(alloc, ORDER_2M, 1, on(0));
    const r = alloc.allocate(handle, on(0), ORDER_2M);
    // Allocation from the subpool does not depend on HVO (the pool grew at boot).
    expect(r).toMatchObject({
      ok: true,
      cycles: C.hugetlbSubpoolGetCycles + C.hugetlbDequeueCycles,
    });
    if (!r.ok) return;
    expect(r.folio.hvo).toBe(false);
    expect(alloc.stats().vmemmapPagesByNode).toEqual([8]);
    const free = host.buddy(0).freeBytes;
    expect(alloc.split(handle, r.folio, ORDER_4K)).toEqual({
      ok: true,
      cycles: 0,
      vmemmapPages: 0,
      vmemmapCycles: 0,
    });
    expect(host.buddy(0).freeBytes).toBe(free);
    // Back to the subpool: a put and an enqueue, with or without HVO (the page stays in the pool).
    expect(alloc.free(handle, r.folio)).toEqual({
      ok: true,
      cycles: C.hugetlbSubpoolPutCycles + C.hugetlbEnqueueCycles,
    });
  });

  it('split of a HVO 1 GiB folio to 4 KiB restores 4095 pages; reconstruct frees them', () => {
    const { host, alloc } = setup([{ hugetlb1g: 1 }]);
    const handle = reserve(alloc, ORDER_1G, 1, on(0));
    const folio = allocate(alloc, handle, on(0));
    const free = host.buddy(0).freeBytes;

    // 4095 pages x (26.4 - 9.0) / 7 us = 10,179 us = 25,447,500 cycles.
    expect(alloc.split(handle, folio, ORDER_4K)).toEqual({
      ok: true,
      cycles: 25_447_500,
      vmemmapPages: 4095,
      vmemmapCycles: 25_447_500,
    });
    expect(host.buddy(0).freeBytes).toBe(free - 4095 * PAGE_SIZE);
    expect(alloc.stats()).toMatchObject({ vmemmapPagesByNode: [4096], hvoSavedPagesByNode: [0] });

    // 4095 pages x (14.5 - 8.2) / 7 us = 3,685.5 us = 9,213,750 cycles.
    const first = folioAfterSplit(folio, ORDER_4K);
    expect(alloc.reconstruct(handle, first, ORDER_1G)).toEqual({
      ok: true,
      cycles: 9_213_750,
      vmemmapPages: 4095,
      vmemmapCycles: 9_213_750,
    });
    expect(host.buddy(0).freeBytes).toBe(free);
    expect(alloc.stats()).toMatchObject({ vmemmapPagesByNode: [1], hvoSavedPagesByNode: [4095] });
  });

  it('split of a HVO 1 GiB folio to 2 MiB restores 511 pages, then 7 per 2 MiB piece to 4 KiB', () => {
    const { host, alloc } = setup([{ hugetlb1g: 1 }]);
    const handle = reserve(alloc, ORDER_1G, 1, on(0));
    const folio = allocate(alloc, handle, on(0));
    const free = host.buddy(0).freeBytes;
    // 511 x 17.4 / 7 us = 1,270.2 us = 3,175,500 cycles.
    expect(alloc.split(handle, folio, ORDER_2M)).toMatchObject({
      ok: true,
      vmemmapPages: 511,
      cycles: 3_175_500,
    });
    const piece = folioAfterSplit(folio, ORDER_2M);
    expect(piece.hvo).toBe(true);
    expect(alloc.split(handle, piece, ORDER_4K)).toMatchObject({ ok: true, vmemmapPages: 7 });
    expect(host.buddy(0).freeBytes).toBe(free - 518 * PAGE_SIZE);
    expect(alloc.stats().vmemmapPagesByNode).toEqual([512 + 7]);
    // Staged merge back: the 4 KiB pieces into 2 MiB, then the 2 MiB pieces into 1 GiB.
    expect(alloc.reconstruct(handle, folioAfterSplit(piece, ORDER_4K), ORDER_2M)).toMatchObject({
      vmemmapPages: 7,
    });
    expect(alloc.reconstruct(handle, piece, ORDER_1G)).toMatchObject({ vmemmapPages: 511 });
    expect(host.buddy(0).freeBytes).toBe(free);
  });

  it('a split fails with ENOMEM when the node has no buddy memory for the vmemmap', () => {
    const { host, alloc } = setup([{ memoryBytes: 2 * GiB, hugetlb1g: 1, hostReservedBytes: GiB }]);
    expect(host.buddy(0).freeBytes).toBe(0);
    const handle = reserve(alloc, ORDER_1G, 1, on(0));
    const folio = allocate(alloc, handle, on(0));
    const r = alloc.split(handle, folio, ORDER_4K);
    expect(r).toMatchObject({ ok: false, errno: 'ENOMEM' });
    if (!r.ok) {
      expect(r.message).toBe(
        "splitting a HVO'd 1 GiB folio: cannot restore 4095 vmemmap pages (15.996 MiB) on node 0: its buddy memory has 0 B free",
      );
    }
    expect(alloc.stats().vmemmapPagesByNode).toEqual([1]);
  });

  it('rejects splits and merges that make no sense', () => {
    const { alloc } = setup([{ hugetlb2m: 1 }]);
    const handle = reserve(alloc, ORDER_2M, 1, on(0));
    const folio = allocate(alloc, handle, on(0));
    expect(alloc.split(handle, folio, ORDER_2M)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(alloc.reconstruct(handle, folio, ORDER_1G)).toMatchObject({
      ok: false,
      errno: 'EINVAL',
    });
  });
});

describe('HugetlbAllocator: free and memory errors', () => {
  it('a freed folio goes back to the file; a split one must be reconstructed first', () => {
    const { host, alloc } = setup([{ hugetlb1g: 2 }]);
    const handle = reserve(alloc, ORDER_1G, 2, on(0));
    const folio = allocate(alloc, handle, on(0));
    expect(host.counters(0).hugetlb1g).toMatchObject({ free: 1, resv: 1 });
    alloc.split(handle, folio, ORDER_4K);
    expect(alloc.free(handle, folioAfterSplit(folio, ORDER_4K))).toMatchObject({
      ok: false,
      errno: 'EINVAL',
    });
    alloc.reconstruct(handle, folioAfterSplit(folio, ORDER_4K), ORDER_1G);
    expect(alloc.free(handle, folio)).toMatchObject({ ok: true });
    expect(host.counters(0).hugetlb1g).toMatchObject({ free: 2, resv: 2 });
    expect(alloc.stats()).toMatchObject({ allocatedBytesByNode: [0], allocations: 1, frees: 1 });
  });

  // mm/hugetlb.c free_huge_folio(): hugepage_subpool_put_pages(spool, 1), then, for a page that is
  // not surplus (a guest_memfd subpool never uses surplus pages), enqueue_hugetlb_folio() back on
  // the pool's free list. The page stays in the pool with its HVO: no nr_hugepages shrink, no
  // vmemmap restore (update_and_free_hugetlb_folio() is for pages leaving the pool).
  it('free_huge_folio: a page back to the subpool costs a subpool put plus an enqueue, not a pool shrink', () => {
    const costs = resolveCosts({ hugetlbSubpoolPutCycles: 300, hugetlbEnqueueCycles: 1_700 });
    for (const order of [ORDER_2M, ORDER_1G] as const) {
      const config = HostSchema.parse({
        nodes: [{ memoryBytes: 8 * GiB, cpus: '0', hugetlb2m: 2, hugetlb1g: 2 }],
      });
      const host = new Host(config, costs, new Rng(1));
      const alloc = new HugetlbAllocator(host, costs);
      const handle = reserve(alloc, order, 2, on(0));
      const folio = allocate(alloc, handle, on(0));
      const freed = alloc.free(handle, folio);
      // Neither hugetlbFree2MHvoBatchedUs (26.4 us) nor its x512 for 1 GiB: 300 + 1700 cycles.
      expect(freed).toEqual({ ok: true, cycles: 2_000 });
      // The page is still in the pool, reserved for the file, HVO kept.
      const c = host.counters(0)[order === ORDER_2M ? 'hugetlb2m' : 'hugetlb1g'];
      expect(c).toMatchObject({ nr: 2, free: 2, resv: 2 });
    }
  });

  it('a memory error takes the page out of the pool for good', () => {
    const { host, alloc } = setup([{ hugetlb2m: 4 }]);
    const handle = reserve(alloc, ORDER_2M, 2, on(0));
    const folio = allocate(alloc, handle, on(0));
    alloc.error(handle, folio);
    expect(host.counters(0).hugetlb2m).toMatchObject({ nr: 3, free: 3, resv: 1, hwpoisoned: 1 });
    expect(alloc.stats()).toMatchObject({ allocatedBytesByNode: [0], memoryErrors: 1 });
    // The file may still take its other page, and one unreserved page in place of the lost one.
    allocate(alloc, handle, on(0));
    allocate(alloc, handle, on(0));
    expect(alloc.allocate(handle, on(0), ORDER_2M)).toMatchObject({ ok: false });
  });

  it('an error on a piece of a split page loses the page; the other pieces are then freed', () => {
    const { host, alloc } = setup([{ hugetlb2m: 1 }], { hvo: false });
    const handle = reserve(alloc, ORDER_2M, 1, on(0));
    const folio = allocate(alloc, handle, on(0));
    alloc.split(handle, folio, ORDER_4K);
    const piece = folioAfterSplit(folio, ORDER_4K);
    alloc.error(handle, piece);
    expect(host.counters(0).hugetlb2m).toMatchObject({ nr: 0, free: 0 });
    for (let i = 0; i < 511; i++) expect(alloc.free(handle, piece).ok).toBe(true);
    expect(alloc.free(handle, piece)).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(alloc.stats()).toMatchObject({ allocatedBytesByNode: [0], vmemmapPagesByNode: [0] });
  });

  it('pool counts never go negative and the memory adds up under random operations', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('reserve' as const), count: fc.nat(6), node: fc.nat(1) }),
      fc.record({
        k: fc.constant('alloc' as const),
        f: fc.nat(9),
        node: fc.nat(1),
        strict: fc.boolean(),
      }),
      fc.record({ k: fc.constant('split' as const), i: fc.nat(99), to2m: fc.boolean() }),
      fc.record({ k: fc.constant('merge' as const), i: fc.nat(99) }),
      fc.record({ k: fc.constant('free' as const), i: fc.nat(99) }),
      fc.record({ k: fc.constant('error' as const), i: fc.nat(99) }),
      fc.record({ k: fc.constant('unreserve' as const), f: fc.nat(9) }),
    );
    let splitFailures = 0;
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 80, size: 'max' }), (ops) => {
        const { host, alloc } = setup([
          { hugetlb1g: 6, memoryBytes: 8 * GiB },
          { hugetlb1g: 3, memoryBytes: 3 * GiB + 8 * MiB }, // room for 2 MiB splits only
        ]);
        const files: AllocatorHandle[] = [];
        // Whole folios, and folios split to 4 KiB or 2 MiB (one entry per huge page).
        const live: { handle: AllocatorHandle; folio: FolioRef; split?: PageOrder }[] = [];
        for (const o of ops) {
          if (o.k === 'reserve') {
            const r = alloc.reserve({ order: ORDER_1G, count: o.count, nodes: on(o.node) });
            if (r.ok) files.push(r.handle);
          } else if (o.k === 'alloc' || o.k === 'unreserve') {
            const handle = files[o.f % Math.max(1, files.length)];
            if (!handle) continue;
            if (o.k === 'unreserve') alloc.unreserve(handle);
            else {
              const choice = { nodes: [o.node], strict: o.strict };
              const r = alloc.allocate(handle, choice, ORDER_1G);
              if (r.ok) live.push({ handle, folio: r.folio });
            }
          } else {
            const idx = o.i % Math.max(1, live.length);
            const entry = live[idx];
            if (!entry) continue;
            const { handle, folio } = entry;
            if (o.k === 'split' && entry.split === undefined) {
              const to = o.to2m ? ORDER_2M : ORDER_4K;
              if (alloc.split(handle, folio, to).ok) entry.split = to;
              else splitFailures++;
            } else if (o.k === 'merge' && entry.split !== undefined) {
              const r = alloc.reconstruct(handle, folioAfterSplit(folio, entry.split), ORDER_1G);
              expect(r.ok).toBe(true);
              entry.split = undefined;
            } else if (o.k === 'free' && entry.split === undefined) {
              expect(alloc.free(handle, folio).ok).toBe(true);
              live.splice(idx, 1);
            } else if (o.k === 'error' && entry.split === undefined) {
              alloc.error(handle, folio);
              live.splice(idx, 1);
            }
          }
          for (const c of host.allCounters()) {
            const p = c.hugetlb1g;
            expect(p.resv).toBeGreaterThanOrEqual(0);
            expect(p.free).toBeGreaterThanOrEqual(p.resv);
            expect(p.nr).toBeGreaterThanOrEqual(p.free);
            expect(c.buddy.freeBytes).toBeGreaterThanOrEqual(0);
          }
          const s = alloc.stats();
          [0, 1].forEach((node) => {
            const mine = live.filter((e) => e.folio.node === node);
            expect(s.allocatedBytesByNode[node]).toBe(mine.length * GiB);
            // Restored vmemmap is exactly what the buddy allocator gave out.
            expect(s.vmemmapPagesByNode[node]).toBe(
              mine.length + host.counters(node).buddy.vmemmapNetPages,
            );
            expect(host.counters(node).hugetlb1g.inUse).toBe(mine.length);
          });
        }
      }),
      { seed: 7, numRuns: 150 },
    );
    // The runs did exercise the ENOMEM path of vmemmap restore.
    expect(splitFailures).toBeGreaterThan(0);
  });

  it('same inputs give the same results', () => {
    const run = () => {
      const { alloc } = setup([{ hugetlb2m: 64 }, { hugetlb2m: 64 }]);
      const handle = reserve(alloc, ORDER_2M, 100, on(0, 1));
      const nodes = Array.from({ length: 100 }, (_, i) => allocate(alloc, handle, on(i % 2)).node);
      return { nodes, stats: alloc.stats() };
    };
    expect(run()).toEqual(run());
  });
});
