// HugeTLB pools and the per-file subpool guest_memfd reserves from.
//
// HugetlbPool models the per-node counters of one hstate (mm/hugetlb.c: nr_huge_pages_node,
// free_huge_pages_node, and resv_huge_pages, which the kernel keeps per hstate but the model keeps
// per node so that a reservation says where its pages are). Pages are set aside at host boot
// (nr_hugepages); there are no surplus pages (nr_overcommit_hugepages = 0).
//
// HugetlbSubpool models fs/hugetlbfs' subpool with min_size = max_size = the file: the whole file is
// reserved when it is created (hugepage_new_subpool + hugetlb_acct_memory), allocations consume the
// reservation, and a freed folio goes back to the subpool, which keeps it reserved
// (free_huge_folio -> hugepage_subpool_put_pages -> restore_reserve).
//
// Invariant checked after every change: 0 <= resv <= free <= nr.
import type { PageOrder } from '../units.js';
import { bytesOfOrder, formatBytes } from '../units.js';
import type { NodeOrder } from './host.js';

export interface PoolCounters {
  readonly node: number;
  readonly order: PageOrder;
  /** nr_hugepages of this node and size. */
  readonly nr: number;
  /** free_huge_pages: in the pool, not handed out (reserved ones included). */
  readonly free: number;
  /** resv_huge_pages: free pages promised to a subpool. */
  readonly resv: number;
  /** Pages handed out to files (nr - free). */
  readonly inUse: number;
  /** Pages that left the pool after a memory error. */
  readonly hwpoisoned: number;
}

export class HugetlbPool {
  private nr: number;
  private free: number;
  private resv = 0;
  private hwpoisoned = 0;

  constructor(
    readonly node: number,
    readonly order: PageOrder,
    nrHugePages: number,
  ) {
    this.nr = nrHugePages;
    this.free = nrHugePages;
    this.apply(nrHugePages, nrHugePages, 0, 'boot');
  }

  get nrHugePages(): number {
    return this.nr;
  }
  get freeHugePages(): number {
    return this.free;
  }
  get resvHugePages(): number {
    return this.resv;
  }
  /** Free pages no subpool has claimed: what a new reservation can take. */
  get available(): number {
    return this.free - this.resv;
  }

  /** hugetlb_acct_memory(+n): promise `n` free pages to a subpool. */
  reservePages(n: number): void {
    this.apply(this.nr, this.free, this.resv + n, `reserve ${n}`);
  }

  /** hugetlb_acct_memory(-n): a subpool gives back promised pages it never used. */
  unreservePages(n: number): void {
    this.apply(this.nr, this.free, this.resv - n, `unreserve ${n}`);
  }

  /** dequeue_hugetlb_folio_node_exact() for `n` reserved pages, one after another: each
   * consumes its reservation. */
  dequeueReserved(n = 1): void {
    this.apply(this.nr, this.free - n, this.resv - n, 'dequeue reserved');
  }

  /** dequeue_hugetlb_folio_node_exact() for a page nobody reserved. */
  dequeueUnreserved(): void {
    if (this.available < 1) this.fail('dequeue unreserved', 'no unreserved free page');
    this.apply(this.nr, this.free - 1, this.resv, 'dequeue unreserved');
  }

  /** free_huge_folio(): the page is back on the free list; `restoreReserve` keeps it promised to
   * the subpool it came from. */
  enqueue(restoreReserve: boolean): void {
    this.apply(this.nr, this.free + 1, this.resv + (restoreReserve ? 1 : 0), 'enqueue');
  }

  /** An in-use page had a memory error: it is dissolved, not returned (mm/memory-failure.c,
   * free_huge_folio with folio_test_hwpoison), so the pool shrinks by one page for good. */
  dissolveHwpoisoned(): void {
    if (this.nr - this.free < 1) this.fail('dissolve hwpoisoned', 'no page is in use');
    this.apply(this.nr - 1, this.free, this.resv, 'dissolve hwpoisoned');
    this.hwpoisoned += 1;
  }

  counters(): PoolCounters {
    return {
      node: this.node,
      order: this.order,
      nr: this.nr,
      free: this.free,
      resv: this.resv,
      inUse: this.nr - this.free,
      hwpoisoned: this.hwpoisoned,
    };
  }

  /** Commit new counts only if they keep 0 <= resv <= free <= nr (a failure is a simulator bug). */
  private apply(nr: number, free: number, resv: number, op: string): void {
    if (!(Number.isInteger(nr) && Number.isInteger(free) && Number.isInteger(resv))) {
      this.fail(op, `non-integer counts nr=${nr} free=${free} resv=${resv}`);
    }
    if (resv < 0 || free < resv || nr < free) {
      this.fail(op, `counts would become nr=${nr} free=${free} resv=${resv}`);
    }
    this.nr = nr;
    this.free = free;
    this.resv = resv;
  }

  private fail(op: string, why: string): never {
    throw new Error(
      `hugetlb pool (node ${this.node}, ${formatBytes(bytesOfOrder(this.order))}): ${op}: ${why}`,
    );
  }
}

export type SubpoolReserveResult =
  | { readonly ok: true; readonly subpool: HugetlbSubpool }
  | { readonly ok: false; readonly message: string };

export type SubpoolAllocResult =
  { readonly ok: true; readonly node: number } | { readonly ok: false; readonly message: string };

export class HugetlbSubpool {
  private readonly reserved: number[];
  private readonly allocated: number[];
  private released = false;

  private constructor(
    private readonly pools: readonly HugetlbPool[],
    readonly order: PageOrder,
    /** The file's size in pages: it never holds more (subpool max_size). */
    readonly maxPages: number,
    plan: readonly number[],
  ) {
    this.reserved = [...plan];
    this.allocated = pools.map(() => 0);
  }

  /**
   * Reserve the whole file (`count` pages of `order`) from `pools` (one per node), or nothing.
   * Placement: spread evenly over the nodes the mempolicy lists, as MPOL_INTERLEAVE would place
   * the file's pages (one listed node takes everything); what a listed node cannot hold goes to
   * the other listed nodes, then, unless the policy is strict, to the fallback nodes in order.
   */
  static reserve(
    pools: readonly HugetlbPool[],
    order: PageOrder,
    count: number,
    nodes: NodeOrder,
  ): SubpoolReserveResult {
    if (!Number.isInteger(count) || count < 0) {
      throw new Error(`hugetlb subpool: bad page count ${count}`);
    }
    const plan = planReservation(pools, count, nodes);
    if (!plan.ok) return { ok: false, message: reserveFailure(pools, order, count, nodes) };
    plan.take.forEach((n, node) => {
      if (n > 0) poolOf(pools, node).reservePages(n);
    });
    return { ok: true, subpool: new HugetlbSubpool(pools, order, count, plan.take) };
  }

  reservedOn(node: number): number {
    return this.reserved[node] ?? 0;
  }
  allocatedOn(node: number): number {
    return this.allocated[node] ?? 0;
  }
  get reservedPages(): number {
    return sum(this.reserved);
  }
  get allocatedPages(): number {
    return sum(this.allocated);
  }
  /** Whether unreserve() has run: freed folios then go back to the pool, not the subpool. */
  get isReleased(): boolean {
    return this.released;
  }

  /**
   * allocate([node, ...]) repeated up to `count` times while the file's reservation on `node`
   * covers it (each call then takes a reserved page of `node`, whatever nodes follow it): the
   * pages taken, 0 when the reservation there is used up.
   */
  allocateReservedRun(node: number, count: number): number {
    const n = Math.min(count, this.reservedOn(node));
    if (n <= 0) return 0;
    poolOf(this.pools, node).dequeueReserved(n);
    this.reserved[node] = this.reservedOn(node) - n;
    this.allocated[node] = this.allocatedOn(node) + n;
    return n;
  }

  /**
   * One page on the first of `nodes` that can give one: the file's reservation there, else (only
   * when the file has room its reservation no longer covers, after a memory error or unreserve)
   * an unreserved free page. Never a surplus page.
   */
  allocate(nodes: readonly number[]): SubpoolAllocResult {
    const headroom = this.maxPages - this.allocatedPages - this.reservedPages;
    for (const node of nodes) {
      const pool = poolOf(this.pools, node);
      if (this.reservedOn(node) > 0) {
        pool.dequeueReserved();
        this.reserved[node] = this.reservedOn(node) - 1;
      } else if (headroom > 0 && pool.available > 0) {
        pool.dequeueUnreserved();
      } else {
        continue;
      }
      this.allocated[node] = this.allocatedOn(node) + 1;
      return { ok: true, node };
    }
    return { ok: false, message: this.allocFailure(nodes, headroom) };
  }

  /** A folio comes back: to the subpool's reservation, or to the pool once unreserve() ran. */
  free(node: number): void {
    this.dropAllocated(node, 'free');
    poolOf(this.pools, node).enqueue(!this.released);
    if (!this.released) this.reserved[node] = this.reservedOn(node) + 1;
  }

  /** An allocated folio had a memory error: it leaves the file and the pool. */
  poison(node: number): void {
    this.dropAllocated(node, 'poison');
    poolOf(this.pools, node).dissolveHwpoisoned();
  }

  /** hugepage_put_subpool(): unused reservations go back to the pool. */
  release(): void {
    this.reserved.forEach((n, node) => {
      if (n > 0) poolOf(this.pools, node).unreservePages(n);
      this.reserved[node] = 0;
    });
    this.released = true;
  }

  private dropAllocated(node: number, op: string): void {
    if (this.allocatedOn(node) < 1) {
      throw new Error(`hugetlb subpool: ${op} on node ${node}, where the file has no page`);
    }
    this.allocated[node] = this.allocatedOn(node) - 1;
  }

  private allocFailure(nodes: readonly number[], headroom: number): string {
    const size = formatBytes(bytesOfOrder(this.order));
    if (this.allocatedPages >= this.maxPages) {
      return `the file already uses all ${this.maxPages} of its ${size} pages`;
    }
    const where = nodes.length === 1 ? `node ${nodes[0]}` : `nodes ${nodes.join(', ')}`;
    const elsewhere = this.reserved.flatMap((n, node) => (n > 0 ? [`node ${node}: ${n}`] : []));
    if (elsewhere.length > 0 && headroom <= 0) {
      return `no ${size} page reserved for this file on ${where}; its reserved pages are on ${elsewhere.join(', ')}`;
    }
    const free = nodes.map((node) => `node ${node}: ${poolOf(this.pools, node).available}`);
    return `no ${size} page for this file on ${where}: its reservation there is used up and the pool has no unreserved free page (${free.join(', ')})`;
  }
}

type Plan = { readonly ok: true; readonly take: number[] } | { readonly ok: false };

function planReservation(pools: readonly HugetlbPool[], count: number, nodes: NodeOrder): Plan {
  const take = pools.map(() => 0);
  const room = (node: number) => poolOf(pools, node).available - (take[node] ?? 0);
  const listed = nodes.listed;
  // Interleave share first: node i of k gets floor(count / k), the first count % k one more.
  listed.forEach((node, i) => {
    const share = Math.floor(count / listed.length) + (i < count % listed.length ? 1 : 0);
    take[node] = Math.min(share, room(node));
  });
  // Then fill the shortfall over the listed nodes and the fallback nodes, in order.
  let missing = count - sum(take);
  for (const node of [...listed, ...nodes.fallback]) {
    if (missing === 0) break;
    const extra = Math.min(missing, room(node));
    take[node] = (take[node] ?? 0) + extra;
    missing -= extra;
  }
  return missing === 0 ? { ok: true, take } : { ok: false };
}

/** "need 16 x 1 GiB pages on node 0, pool has 12 free", naming every node that was considered. */
function reserveFailure(
  pools: readonly HugetlbPool[],
  order: PageOrder,
  count: number,
  nodes: NodeOrder,
): string {
  const considered = [...nodes.listed, ...nodes.fallback];
  const size = formatBytes(bytesOfOrder(order));
  const available = considered.map((node) => poolOf(pools, node).available);
  const reservedByOthers = sum(considered.map((node) => poolOf(pools, node).resvHugePages));
  const others =
    reservedByOthers > 0 ? ` (another ${reservedByOthers} free but reserved by other files)` : '';
  if (considered.length === 1) {
    return `need ${count} x ${size} pages on node ${considered[0]}, pool has ${available[0]} free${others}`;
  }
  const strict = nodes.strict ? ' (bind: no fallback)' : '';
  const perNode = considered.map((node, i) => `node ${node}: ${available[i]}`).join(', ');
  return `need ${count} x ${size} pages on nodes ${considered.join(', ')}${strict}, pools have ${sum(available)} free (${perNode})${others}`;
}

function poolOf(pools: readonly HugetlbPool[], node: number): HugetlbPool {
  const pool = pools[node];
  if (!pool) throw new RangeError(`hugetlb: no pool for node ${node}`);
  return pool;
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
