import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ORDER_1G, ORDER_2M } from '../units.js';
import type { NodeOrder } from './host.js';
import { HugetlbPool, HugetlbSubpool } from './hugetlb-pool.js';

const pools1G = (...nr: number[]) => nr.map((n, node) => new HugetlbPool(node, ORDER_1G, n));
const only = (node: number, strict = true): NodeOrder => ({ listed: [node], fallback: [], strict });

function expectSane(pools: readonly HugetlbPool[]): void {
  for (const pool of pools) {
    const c = pool.counters();
    expect(c.resv).toBeGreaterThanOrEqual(0);
    expect(c.free).toBeGreaterThanOrEqual(c.resv);
    expect(c.nr).toBeGreaterThanOrEqual(c.free);
  }
}

describe('HugetlbPool', () => {
  it('starts with every boot page free and unreserved', () => {
    const pool = new HugetlbPool(0, ORDER_2M, 10);
    expect(pool.counters()).toEqual({
      node: 0,
      order: ORDER_2M,
      nr: 10,
      free: 10,
      resv: 0,
      inUse: 0,
      hwpoisoned: 0,
    });
  });

  it('refuses any change that would make a count negative or break resv <= free <= nr', () => {
    const pool = new HugetlbPool(0, ORDER_1G, 2);
    expect(() => pool.reservePages(3)).toThrow(/resv=3/);
    expect(() => pool.unreservePages(1)).toThrow(/resv=-1/);
    expect(() => pool.dequeueReserved()).toThrow();
    expect(() => pool.dissolveHwpoisoned()).toThrow(/no page is in use/);
    expect(() => pool.enqueue(false)).toThrow(/free=3/);
    pool.reservePages(2);
    expect(() => pool.dequeueUnreserved()).toThrow(/no unreserved free page/);
    expect(pool.counters()).toMatchObject({ nr: 2, free: 2, resv: 2 });
  });
});

describe('HugetlbSubpool', () => {
  it('takes a run of reserved pages as allocate() on that node first would, one by one', () => {
    const spread: NodeOrder = { listed: [0, 1], fallback: [], strict: true };
    const runPools = pools1G(6, 6);
    const loopPools = pools1G(6, 6);
    const run = HugetlbSubpool.reserve(runPools, ORDER_1G, 8, spread);
    const loop = HugetlbSubpool.reserve(loopPools, ORDER_1G, 8, spread);
    if (!run.ok || !loop.ok) throw new Error('reserve failed');
    // The reservation is spread 4 + 4: a run on node 0 stops at its 4, whatever is asked.
    expect(run.subpool.allocateReservedRun(0, 6)).toBe(4);
    for (let k = 0; k < 4; k++)
      expect(loop.subpool.allocate([0, 1])).toEqual({ ok: true, node: 0 });
    expect(run.subpool.allocateReservedRun(0, 1)).toBe(0);
    expect(run.subpool.allocateReservedRun(1, 3)).toBe(3);
    for (let k = 0; k < 3; k++) expect(loop.subpool.allocate([1])).toEqual({ ok: true, node: 1 });
    for (const s of [run.subpool, loop.subpool])
      expect([s.allocatedOn(0), s.allocatedOn(1), s.reservedOn(0), s.reservedOn(1)]).toEqual([
        4, 3, 0, 1,
      ]);
    expect(runPools.map((p) => p.counters())).toEqual(loopPools.map((p) => p.counters()));
    expectSane(runPools);
  });

  it('reserves the whole file at creation', () => {
    const pools = pools1G(16);
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 16, only(0));
    expect(result.ok).toBe(true);
    expect(pools[0]?.counters()).toMatchObject({ nr: 16, free: 16, resv: 16 });
  });

  it('fails with the node, the need and what the pool has free', () => {
    const pools = pools1G(12);
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 16, only(0));
    expect(result).toEqual({
      ok: false,
      message: 'need 16 x 1 GiB pages on node 0, pool has 12 free',
    });
    // All or nothing: the failed reservation left the pool untouched.
    expect(pools[0]?.counters().resv).toBe(0);
  });

  it('mentions pages other files already reserved', () => {
    const pools = pools1G(12);
    expect(HugetlbSubpool.reserve(pools, ORDER_1G, 4, only(0)).ok).toBe(true);
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 10, only(0));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.message).toBe(
        'need 10 x 1 GiB pages on node 0, pool has 8 free (another 4 free but reserved by other files)',
      );
    }
  });

  it('bind never falls back to other nodes', () => {
    const pools = pools1G(4, 100);
    const bind: NodeOrder = { listed: [0], fallback: [], strict: true };
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 8, bind);
    expect(result.ok).toBe(false);
    expect(pools[1]?.counters().resv).toBe(0);
  });

  it('preferred fills the listed node, then spills to the others', () => {
    const pools = pools1G(4, 100);
    const preferred: NodeOrder = { listed: [0], fallback: [1], strict: false };
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 8, preferred);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect([result.subpool.reservedOn(0), result.subpool.reservedOn(1)]).toEqual([4, 4]);
    }
  });

  it('interleave spreads the reservation over the listed nodes', () => {
    const pools = pools1G(100, 100, 100, 100);
    const interleave: NodeOrder = { listed: [0, 1, 2, 3], fallback: [], strict: false };
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 10, interleave);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect([0, 1, 2, 3].map((n) => result.subpool.reservedOn(n))).toEqual([3, 3, 2, 2]);
    }
  });

  it('names every node considered when several cannot cover the file', () => {
    const pools = pools1G(2, 3);
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 8, {
      listed: [0, 1],
      fallback: [],
      strict: true,
    });
    expect(result).toEqual({
      ok: false,
      message:
        'need 8 x 1 GiB pages on nodes 0, 1 (bind: no fallback), pools have 5 free (node 0: 2, node 1: 3)',
    });
  });

  it('allocation consumes the reservation and a freed folio goes back to the subpool', () => {
    const pools = pools1G(4);
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 2, only(0));
    if (!result.ok) throw new Error(result.message);
    const sp = result.subpool;
    expect(sp.allocate([0])).toEqual({ ok: true, node: 0 });
    expect(pools[0]?.counters()).toMatchObject({ free: 3, resv: 1, inUse: 1 });
    sp.free(0);
    expect(pools[0]?.counters()).toMatchObject({ free: 4, resv: 2, inUse: 0 });
    expect(sp.reservedOn(0)).toBe(2);
  });

  it('never takes more than the file (no surplus) and says so', () => {
    const pools = pools1G(4);
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 1, only(0));
    if (!result.ok) throw new Error(result.message);
    expect(result.subpool.allocate([0]).ok).toBe(true);
    expect(result.subpool.allocate([0])).toEqual({
      ok: false,
      message: 'the file already uses all 1 of its 1 GiB pages',
    });
    expect(pools[0]?.counters()).toMatchObject({ free: 3, resv: 0 });
  });

  it('a poisoned page leaves the pool; unreserve returns what is left', () => {
    const pools = pools1G(4);
    const result = HugetlbSubpool.reserve(pools, ORDER_1G, 3, only(0));
    if (!result.ok) throw new Error(result.message);
    const sp = result.subpool;
    sp.allocate([0]);
    sp.poison(0);
    expect(pools[0]?.counters()).toMatchObject({ nr: 3, free: 3, resv: 2, hwpoisoned: 1 });
    sp.release();
    expect(pools[0]?.counters()).toMatchObject({ nr: 3, free: 3, resv: 0 });
    expect(sp.isReleased).toBe(true);
  });

  it('pool counts never go negative under random operation sequences', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('reserve' as const), count: fc.nat(12), node: fc.nat(2) }),
      fc.record({ kind: fc.constant('alloc' as const), file: fc.nat(5), node: fc.nat(2) }),
      fc.record({ kind: fc.constant('free' as const), file: fc.nat(5), node: fc.nat(2) }),
      fc.record({ kind: fc.constant('poison' as const), file: fc.nat(5), node: fc.nat(2) }),
      fc.record({ kind: fc.constant('release' as const), file: fc.nat(5) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 10, maxLength: 120, size: 'max' }),
        fc.boolean(),
        (ops, strict) => {
          const pools = pools1G(8, 5, 3);
          const files: HugetlbSubpool[] = [];
          for (const o of ops) {
            const file = 'file' in o ? files[o.file % Math.max(1, files.length)] : undefined;
            if (o.kind === 'reserve') {
              const others = [0, 1, 2].filter((n) => n !== o.node);
              const order: NodeOrder = { listed: [o.node], fallback: strict ? [] : others, strict };
              const r = HugetlbSubpool.reserve(pools, ORDER_1G, o.count, order);
              if (r.ok) files.push(r.subpool);
            } else if (file && o.kind === 'alloc') {
              file.allocate([o.node, 0, 1, 2]);
            } else if (file && (o.kind === 'free' || o.kind === 'poison')) {
              if (file.allocatedOn(o.node) > 0) {
                if (o.kind === 'free') file.free(o.node);
                else file.poison(o.node);
              }
            } else if (file && o.kind === 'release' && !file.isReleased) {
              file.release();
            }
            expectSane(pools);
            for (const f of files) {
              expect(f.allocatedPages + f.reservedPages).toBeLessThanOrEqual(f.maxPages);
            }
          }
          // Reservations add up: the pools' resv is exactly what the live subpools hold.
          for (const node of [0, 1, 2]) {
            const held = files.reduce((n, f) => n + f.reservedOn(node), 0);
            expect(pools[node]?.resvHugePages).toBe(held);
          }
        },
      ),
      { seed: 20241, numRuns: 200 },
    );
  });
});
