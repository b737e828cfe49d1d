// The host the guests run on: NUMA nodes, each with the memory the host keeps for itself, HugeTLB
// pools per size (mm/hugetlb.c, per-node nr_hugepages), an optional CMA area (hugetlb_cma=,
// mm/cma.c) and the buddy allocator (mm/page_alloc.c) that manages whatever is left.
//
// Buddy memory of a node = memoryBytes - hostReservedBytes - HugeTLB pools - CMA area: pool pages
// are carved out at boot, and a CMA area only ever serves movable host allocations, so neither can
// back an unmovable allocation such as guest_memfd's 4 KiB pages, THPs or restored vmemmap. The
// vmemmap of the node as booted (HVO already applied to pool pages) is part of hostReservedBytes;
// only HVO work done later (restores on split, re-optimisation on merge, HVO of fresh CMA folios)
// moves buddy memory.
//
// This file also holds what every allocator shares: the node order of a mempolicy, the vmemmap
// arithmetic of HVO (mm/hugetlb_vmemmap.c, Documentation/mm/vmemmap_dedup.rst) and the per-node
// ledger behind Allocator.stats().
import type { AllocatorStats, FolioRef, NodeChoice } from '../allocators/allocator.js';
import type { HostConfig, NumaNodeConfig } from '../config.js';
import type { CostModel } from '../constants.js';
import { usToCycles } from '../constants.js';
import { ConfigError } from '../errors.js';
import { addRepeated } from '../repeat.js';
import type { Rng } from '../rng.js';
import type { PageOrder } from '../units.js';
import {
  GiB,
  MiB,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  PAGE_SIZE,
  bytesOfOrder,
  formatBytes,
  nrPages,
} from '../units.js';
import { BuddyMemory, type BuddyCounters } from './buddy.js';
import { CmaArea, type CmaCounters } from './cma-area.js';
import { HugetlbPool, type PoolCounters } from './hugetlb-pool.js';

// ---------------------------------------------------------------------------------------------
// Node order of a mempolicy

/** The nodes one allocation or reservation may use, in the order it tries them. */
export interface NodeOrder {
  /** Nodes the mempolicy names, in its order, duplicates removed. */
  readonly listed: readonly number[];
  /** The other nodes, tried after `listed` unless the policy is strict. Ascending node id stands
   * in for the kernel's zonelist (distance) order. Empty when strict. */
  readonly fallback: readonly number[];
  /** bind: never outside `listed`. */
  readonly strict: boolean;
}

export type NodeOrderResult =
  | { readonly ok: true; readonly order: NodeOrder; readonly nodes: readonly number[] }
  | { readonly ok: false; readonly message: string };

/** Resolve a NodeChoice against the host: listed nodes first, then (not strict) all others. */
export function resolveNodeOrder(choice: NodeChoice, nodeCount: number): NodeOrderResult {
  const bad = choice.nodes.find((n) => !Number.isInteger(n) || n < 0 || n >= nodeCount);
  if (bad !== undefined) {
    return { ok: false, message: `node ${bad} does not exist (the host has ${nodeCount} nodes)` };
  }
  const listed = [...new Set(choice.nodes)];
  if (choice.strict && listed.length === 0) {
    return { ok: false, message: 'a strict (bind) mempolicy names no node' };
  }
  const fallback = choice.strict
    ? []
    : Array.from({ length: nodeCount }, (_, n) => n).filter((n) => !listed.includes(n));
  return {
    ok: true,
    order: { listed, fallback, strict: choice.strict },
    nodes: [...listed, ...fallback],
  };
}

// ---------------------------------------------------------------------------------------------
// vmemmap arithmetic (HVO)

/** vmemmap pages (4 KiB) holding the struct pages of one folio of `order`; with HVO all but
 * hvoFreedPagesPer* of them are freed. An order-0 folio has 1/512 of a 2 MiB folio's (a fraction
 * of a page: sums over many base pages stay exact, they are multiples of 1/64). */
export function vmemmapPagesOf(costs: CostModel, order: PageOrder, hvo: boolean): number {
  switch (order) {
    case ORDER_1G:
      return costs.vmemmapPagesPer1G - (hvo ? costs.hvoFreedPagesPer1G : 0);
    case ORDER_2M:
      return costs.vmemmapPagesPer2M - (hvo ? costs.hvoFreedPagesPer2M : 0);
    case ORDER_4K:
      return costs.vmemmapPagesPer2M / nrPages(ORDER_2M);
  }
}

/** vmemmap pages HVO frees for one folio of `order` (0 for base pages). */
export function hvoFreedPagesOf(costs: CostModel, order: PageOrder): number {
  return vmemmapPagesOf(costs, order, false) - vmemmapPagesOf(costs, order, true);
}

/** What a split leaves: pieces of a HVO'd folio keep HVO when they are huge (2 MiB); base pages
 * never have it. Callers use this to name the pieces split() produced. */
export function folioAfterSplit(folio: FolioRef, targetOrder: PageOrder): FolioRef {
  return { node: folio.node, order: targetOrder, hvo: folio.hvo && targetOrder !== ORDER_4K };
}

/**
 * Cycles to restore `pages` vmemmap pages (hugetlb_vmemmap_restore_folio). Derivation: freeing a
 * 2 MiB HugeTLB page with HVO costs hugetlbFree2MHvo*Us against hugetlbFree2MNoHvoUs without; the
 * difference is restoring its hvoFreedPagesPer2M (7) vmemmap pages, so one page costs
 * (free HVO - free no-HVO) / 7 us, batched or not as the host is configured.
 */
export function vmemmapRestoreCycles(costs: CostModel, batched: boolean, pages: number): number {
  const withHvo = batched ? costs.hugetlbFree2MHvoBatchedUs : costs.hugetlbFree2MHvoUnbatchedUs;
  return perVmemmapPage(costs, withHvo - costs.hugetlbFree2MNoHvoUs, pages);
}

/** Cycles to re-optimise (free) `pages` vmemmap pages (hugetlb_vmemmap_optimize_folio): the same
 * derivation from the allocation timings, (alloc HVO - alloc no-HVO) / 7 us per page. */
export function vmemmapOptimiseCycles(costs: CostModel, batched: boolean, pages: number): number {
  const withHvo = batched ? costs.hugetlbAlloc2MHvoBatchedUs : costs.hugetlbAlloc2MHvoUnbatchedUs;
  return perVmemmapPage(costs, withHvo - costs.hugetlbAlloc2MNoHvoUs, pages);
}

function perVmemmapPage(costs: CostModel, usPer2M: number, pages: number): number {
  if (pages <= 0 || costs.hvoFreedPagesPer2M <= 0) return 0;
  return usToCycles(costs, (Math.max(0, usPer2M) / costs.hvoFreedPagesPer2M) * pages);
}

// ---------------------------------------------------------------------------------------------
// Per-node ledger behind Allocator.stats()

/**
 * Memory an allocator has handed to guest_memfd, per node, and its event counters. Every
 * allocator keeps one, so their stats() are computed the same way.
 */
export class GuestLedger {
  private readonly allocatedBytes: number[];
  private readonly vmemmapPages: number[];
  private readonly hvoSavedPages: number[];
  allocations = 0;
  allocationFailures = 0;
  frees = 0;
  memoryErrors = 0;

  constructor(
    readonly nodeCount: number,
    private readonly costs: CostModel,
  ) {
    this.allocatedBytes = new Array<number>(nodeCount).fill(0);
    this.vmemmapPages = new Array<number>(nodeCount).fill(0);
    this.hvoSavedPages = new Array<number>(nodeCount).fill(0);
  }

  /** A folio enters the ledger (allocation). */
  addFolio(folio: FolioRef): void {
    this.adjust(folio.node, bytesOfOrder(folio.order), this.vmemmapOf(folio), this.savedOf(folio));
  }

  /** `count` folios like `folio` enter the ledger, one after another (allocations of a run). */
  addFolios(folio: FolioRef, count: number): void {
    const node = folio.node;
    const bytes = addRepeated(this.allocatedBytes[node] ?? NaN, bytesOfOrder(folio.order), count);
    const vmemmap = addRepeated(this.vmemmapPages[node] ?? NaN, this.vmemmapOf(folio), count);
    const saved = addRepeated(this.hvoSavedPages[node] ?? NaN, this.savedOf(folio), count);
    if (!(bytes >= 0 && vmemmap >= 0 && saved >= 0)) {
      // Let the per-folio path report which step goes wrong.
      for (let i = 0; i < count; i++) this.addFolio(folio);
      return;
    }
    this.allocatedBytes[node] = bytes;
    this.vmemmapPages[node] = vmemmap;
    this.hvoSavedPages[node] = saved;
  }

  /** A folio leaves the ledger (free, memory error). */
  removeFolio(folio: FolioRef): void {
    this.adjust(
      folio.node,
      -bytesOfOrder(folio.order),
      -this.vmemmapOf(folio),
      -this.savedOf(folio),
    );
  }

  /** vmemmap pages restored (positive) or re-optimised (negative) for folios still allocated. */
  vmemmapChanged(node: number, pages: number): void {
    // adjust(node, 0, pages, -pages) without the byte count, which does not move: the same two
    // sums (x - p is x + -p exactly), and adjust() itself reports a count that would break.
    const vmemmap = (this.vmemmapPages[node] ?? NaN) + pages;
    const saved = (this.hvoSavedPages[node] ?? NaN) - pages;
    if (!(vmemmap >= 0 && saved >= 0)) {
      this.adjust(node, 0, pages, -pages);
      return;
    }
    this.vmemmapPages[node] = vmemmap;
    this.hvoSavedPages[node] = saved;
  }

  stats(reservedBytesByNode: readonly number[]): AllocatorStats {
    return {
      allocatedBytesByNode: [...this.allocatedBytes],
      reservedBytesByNode: [...reservedBytesByNode],
      vmemmapPagesByNode: [...this.vmemmapPages],
      hvoSavedPagesByNode: [...this.hvoSavedPages],
      allocations: this.allocations,
      allocationFailures: this.allocationFailures,
      frees: this.frees,
      memoryErrors: this.memoryErrors,
    };
  }

  private vmemmapOf(folio: FolioRef): number {
    return vmemmapPagesOf(this.costs, folio.order, folio.hvo);
  }

  private savedOf(folio: FolioRef): number {
    return folio.hvo ? hvoFreedPagesOf(this.costs, folio.order) : 0;
  }

  private adjust(node: number, bytes: number, vmemmap: number, saved: number): void {
    const nextBytes = (this.allocatedBytes[node] ?? NaN) + bytes;
    const nextVmemmap = (this.vmemmapPages[node] ?? NaN) + vmemmap;
    const nextSaved = (this.hvoSavedPages[node] ?? NaN) + saved;
    if (!(nextBytes >= 0 && nextVmemmap >= 0 && nextSaved >= 0))
      ledgerBroken(node, nextBytes, nextVmemmap, nextSaved);
    this.allocatedBytes[node] = nextBytes;
    this.vmemmapPages[node] = nextVmemmap;
    this.hvoSavedPages[node] = nextSaved;
  }
}

function ledgerBroken(node: number, bytes: number, vmemmap: number, saved: number): never {
  throw new Error(
    `allocator ledger node ${node}: counts would become bytes=${bytes} vmemmap=${vmemmap} hvoSaved=${saved}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Host

export interface HostNode {
  readonly id: number;
  readonly memoryBytes: number;
  readonly hostReservedBytes: number;
  readonly cpus: string;
  readonly hugetlb2m: HugetlbPool;
  readonly hugetlb1g: HugetlbPool;
  readonly cma: CmaArea | undefined;
  readonly buddy: BuddyMemory;
}

export interface NodeCounters {
  readonly node: number;
  readonly memoryBytes: number;
  readonly hostReservedBytes: number;
  readonly hugetlb2m: PoolCounters;
  readonly hugetlb1g: PoolCounters;
  readonly cma: CmaCounters | undefined;
  readonly buddy: BuddyCounters;
}

export type VmemmapRestoreResult =
  | { readonly ok: true; readonly cycles: number }
  | { readonly ok: false; readonly errno: 'ENOMEM'; readonly message: string; readonly cycles: 0 };

export class Host {
  readonly nodeCount: number;
  /** hugetlb_optimize_vmemmap for HugeTLB folios. */
  readonly hvo: boolean;
  /** HVO restores and optimises in batches (cheaper per page). */
  readonly hvoBatched: boolean;
  /** "HVO ported to CMA": CMA folios get their vmemmap optimised too. */
  readonly cmaHvo: boolean;
  private readonly nodes: readonly HostNode[];
  private readonly nodeOrders = new Map<string, NodeOrderResult>();
  /** nodeOrders by NodeChoice object, for frozen choices (which cannot change after). */
  private readonly choiceOrders = new WeakMap<NodeChoice, NodeOrderResult>();
  private cmaPools: HugetlbPool[] | undefined;
  /** The last restore's and re-optimisation's cycles, by cost model and page count: the splits
   * and merges of one folio size ask for the same count every time. */
  private restoreCosts: CostModel | null = null;
  private restorePages = -1;
  private restoreCycles = 0;
  private optimiseCosts: CostModel | null = null;
  private optimisePages = -1;
  private optimiseCycles = 0;

  /** Throws ConfigError naming the field when a node's pools, CMA area and reserved memory do
   * not fit in its memory. */
  constructor(
    readonly config: HostConfig,
    /** The host's default cost model; allocators bring their own (a variant may override it). */
    readonly costs: CostModel,
    rng: Rng,
  ) {
    config.nodes.forEach((node, i) => validateNode(node, i));
    this.nodeCount = config.nodes.length;
    this.hvo = config.hvo;
    this.hvoBatched = config.hvoBatched;
    this.cmaHvo = config.cmaHvo;
    // One forked stream per node and mechanism: draws on one node never shift another's.
    this.nodes = config.nodes.map((node, id) => buildNode(node, id, config, rng.fork(id)));
  }

  node(id: number): HostNode {
    const node = this.nodes[id];
    if (!node) throw new RangeError(`node ${id} does not exist (the host has ${this.nodeCount})`);
    return node;
  }

  /** The HugeTLB pool of one node for 2 MiB or 1 GiB pages. */
  pool(node: number, order: PageOrder): HugetlbPool {
    if (order === ORDER_2M) return this.node(node).hugetlb2m;
    if (order === ORDER_1G) return this.node(node).hugetlb1g;
    throw new RangeError('HugeTLB has no pool of 4 KiB pages');
  }

  /** The pools of one size, indexed by node. */
  pools(order: PageOrder): readonly HugetlbPool[] {
    return this.nodes.map((n) => this.pool(n.id, order));
  }

  cma(node: number): CmaArea | undefined {
    return this.node(node).cma;
  }

  /** The 1 GiB HugeTLB pools of hugetlb_cma= pages, indexed by node: each node's CMA area given
   * whole to the pool at host boot (CmaArea.takeForHugetlbPool()); built on first use, and a node
   * without a CMA area has an empty pool. Used by the hugetlb-cma allocator only. */
  hugetlbCmaPools(): readonly HugetlbPool[] {
    this.cmaPools ??= this.nodes.map(
      (n) => new HugetlbPool(n.id, ORDER_1G, n.cma ? n.cma.takeForHugetlbPool() : 0),
    );
    return this.cmaPools;
  }

  buddy(node: number): BuddyMemory {
    return this.node(node).buddy;
  }

  /** resolveNodeOrder(), memoised by node list: allocation is the hot path of a run (one call
   * per folio) and a mempolicy only ever produces a handful of distinct lists. */
  nodeOrder(choice: NodeChoice): NodeOrderResult {
    // Mempolicy hands out the same NodeChoice objects again: those answer without a key.
    let result = this.choiceOrders.get(choice);
    if (result) return result;
    const key = `${choice.strict}:${choice.nodes.join(',')}`;
    result = this.nodeOrders.get(key);
    if (!result) {
      result = resolveNodeOrder(choice, this.nodeCount);
      this.nodeOrders.set(key, result);
    }
    if (Object.isFrozen(choice) && Object.isFrozen(choice.nodes))
      this.choiceOrders.set(choice, result);
    return result;
  }

  /** Allocate `pages` vmemmap pages on `node` for an HVO restore; ENOMEM when the node's buddy
   * memory cannot cover them (mm/hugetlb_vmemmap.c allocates with __GFP_THISNODE). */
  restoreVmemmap(node: number, pages: number, costs: CostModel): VmemmapRestoreResult {
    if (pages <= 0) return { ok: true, cycles: 0 };
    const buddy = this.buddy(node);
    if (!buddy.allocVmemmap(pages)) return vmemmapRestoreFailed(node, pages, buddy.freeBytes);
    if (costs !== this.restoreCosts || pages !== this.restorePages) {
      this.restoreCosts = costs;
      this.restorePages = pages;
      this.restoreCycles = vmemmapRestoreCycles(costs, this.hvoBatched, pages);
    }
    return { ok: true, cycles: this.restoreCycles };
  }

  /** restoreVmemmap() for a split's hot path: the same pages taken and cycles, as a number
   * without a result object, or -1 (nothing taken) where restoreVmemmap() reports ENOMEM. */
  restoreVmemmapCycles(node: number, pages: number, costs: CostModel): number {
    if (pages <= 0) return 0;
    if (!this.buddy(node).allocVmemmap(pages)) return -1;
    if (costs !== this.restoreCosts || pages !== this.restorePages) {
      this.restoreCosts = costs;
      this.restorePages = pages;
      this.restoreCycles = vmemmapRestoreCycles(costs, this.hvoBatched, pages);
    }
    return this.restoreCycles;
  }

  /** Re-optimise: `pages` vmemmap pages go back to the node's buddy memory. Returns cycles. */
  optimiseVmemmap(node: number, pages: number, costs: CostModel): number {
    if (pages <= 0) return 0;
    this.buddy(node).freeVmemmap(pages);
    if (costs !== this.optimiseCosts || pages !== this.optimisePages) {
      this.optimiseCosts = costs;
      this.optimisePages = pages;
      this.optimiseCycles = vmemmapOptimiseCycles(costs, this.hvoBatched, pages);
    }
    return this.optimiseCycles;
  }

  counters(node: number): NodeCounters {
    const n = this.node(node);
    return {
      node,
      memoryBytes: n.memoryBytes,
      hostReservedBytes: n.hostReservedBytes,
      hugetlb2m: n.hugetlb2m.counters(),
      hugetlb1g: n.hugetlb1g.counters(),
      cma: n.cma?.counters(),
      buddy: n.buddy.counters(),
    };
  }

  allCounters(): NodeCounters[] {
    return this.nodes.map((n) => this.counters(n.id));
  }

  get totalMemoryBytes(): number {
    return this.nodes.reduce((sum, n) => sum + n.memoryBytes, 0);
  }
}

/** restoreVmemmap()'s failure: the node's buddy memory cannot hold the restored pages. */
function vmemmapRestoreFailed(node: number, pages: number, free: number): VmemmapRestoreResult {
  return {
    ok: false,
    errno: 'ENOMEM',
    cycles: 0,
    message: `cannot restore ${pages} vmemmap pages (${formatBytes(pages * PAGE_SIZE)}) on node ${node}: its buddy memory has ${formatBytes(free)} free`,
  };
}

function buildNode(config: NumaNodeConfig, id: number, host: HostConfig, rng: Rng): HostNode {
  const buddyRng = rng.fork(0);
  const cmaRng = rng.fork(1);
  return {
    id,
    memoryBytes: config.memoryBytes,
    hostReservedBytes: config.hostReservedBytes,
    cpus: config.cpus,
    hugetlb2m: new HugetlbPool(id, ORDER_2M, config.hugetlb2m),
    hugetlb1g: new HugetlbPool(id, ORDER_1G, config.hugetlb1g),
    cma: config.cma ? new CmaArea(id, config.cma, cmaRng) : undefined,
    buddy: new BuddyMemory(id, buddyBytesOf(config), host.thpFragmentation, buddyRng),
  };
}

/** memoryBytes - hostReservedBytes - HugeTLB pools - CMA area (validated not to go negative). */
function buddyBytesOf(node: NumaNodeConfig): number {
  return node.memoryBytes - carvedOut(node).reduce((sum, part) => sum + part.bytes, 0);
}

interface CarvedPart {
  readonly field: string;
  readonly label: string;
  /** "do" or "does", to agree with the label. */
  readonly verb: string;
  readonly bytes: number;
}

/** What boot takes out of a node's memory before the buddy allocator gets the rest, in order. */
function carvedOut(node: NumaNodeConfig): CarvedPart[] {
  const parts: CarvedPart[] = [
    {
      field: 'hostReservedBytes',
      label: `${formatBytes(node.hostReservedBytes)} reserved for the host`,
      verb: 'does',
      bytes: node.hostReservedBytes,
    },
    {
      field: 'hugetlb2m',
      label: `${node.hugetlb2m} x 2 MiB HugeTLB pages (${formatBytes(node.hugetlb2m * 2 * MiB)})`,
      verb: 'do',
      bytes: node.hugetlb2m * 2 * MiB,
    },
    {
      field: 'hugetlb1g',
      label: `${node.hugetlb1g} x 1 GiB HugeTLB pages (${formatBytes(node.hugetlb1g * GiB)})`,
      verb: 'do',
      bytes: node.hugetlb1g * GiB,
    },
  ];
  if (node.cma) {
    parts.push({
      field: 'cma.sizeBytes',
      label: `a ${formatBytes(node.cma.sizeBytes)} CMA area`,
      verb: 'does',
      bytes: node.cma.sizeBytes,
    });
  }
  return parts;
}

function validateNode(node: NumaNodeConfig, i: number): void {
  const path = (field: string) => `host.nodes[${i}].${field}`;
  if (node.cma && node.cma.sizeBytes % GiB !== 0) {
    throw new ConfigError(
      `the CMA area of node ${i} is ${formatBytes(node.cma.sizeBytes)}, not a whole number of 1 GiB ranges`,
      path('cma.sizeBytes'),
    );
  }
  if (node.cma) {
    const ranges = node.cma.sizeBytes / GiB;
    node.cma.unmovableRanges.forEach((index, j) => {
      if (index >= ranges) {
        throw new ConfigError(
          `range ${index} does not exist: the CMA area of node ${i} has ${ranges} x 1 GiB ranges (0-${ranges - 1})`,
          path(`cma.unmovableRanges[${j}]`),
        );
      }
    });
  }
  let used = 0;
  const earlier: string[] = [];
  for (const part of carvedOut(node)) {
    const left = node.memoryBytes - used;
    if (part.bytes > left) {
      const taken = used > 0 ? ` after ${earlier.join(' and ')}` : '';
      throw new ConfigError(
        `${part.label} ${part.verb} not fit on node ${i}: its ${formatBytes(node.memoryBytes)} of memory has ${formatBytes(left)} left${taken}, ${formatBytes(part.bytes - left)} short`,
        path(part.field),
      );
    }
    used += part.bytes;
    if (part.bytes > 0) earlier.push(part.label);
  }
}
