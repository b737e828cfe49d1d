// A CMA area of one NUMA node (mm/cma.c, reserved at boot by hugetlb_cma=), split into 1 GiB-aligned
// ranges. While no guest uses it, the area is lent to movable host allocations; a contiguous
// allocation (cma_alloc -> alloc_contig_range in mm/page_alloc.c) must migrate those pages out
// first, and fails on a range that holds an unmovable or long-term pinned page. A transient
// reference (a page under migration, a short GUP pin) makes one attempt fail with -EBUSY; cma_alloc
// then tries another position, up to a bounded number of attempts.
//
// State is one small record per 1 GiB range (a 1 TiB area has 1024), never per 4 KiB page. The
// movable occupancy is a steady state applied to every free range: host movable allocations are
// assumed to refill freed CMA memory, and pages migrated out are assumed to land in other movable
// memory (they are not charged to the node's buddy memory).
import type { CmaAreaConfig } from '../config.js';
import type { CostModel } from '../constants.js';
import { usToCycles } from '../constants.js';
import type { Errno } from '../errors.js';
import type { Rng } from '../rng.js';
import { GiB, ORDER_1G, ORDER_2M, PAGES_PER_1G, PAGES_PER_2M } from '../units.js';

/** Folio orders a CMA area hands out: 1 GiB ranges, or order-9 blocks (cma_alloc of 512 pages). */
export type CmaOrder = typeof ORDER_2M | typeof ORDER_1G;

const BLOCKS_PER_RANGE = PAGES_PER_1G / PAGES_PER_2M;

interface CmaRange {
  /** Holds an unmovable or long-term pinned page (config unmovableRanges): never a 1 GiB folio. */
  readonly unmovable: boolean;
  allocated1G: boolean;
  /** Order-9 blocks of this range handed out. */
  blocks2M: number;
  /** A memory error hit a folio of this range: the range is never handed out again. */
  hwpoisoned: boolean;
}

export type CmaAllocResult =
  | {
      readonly ok: true;
      readonly cycles: number;
      /** Part of `cycles` spent migrating movable pages, failed attempts included. */
      readonly migrationCycles: number;
      readonly attempts: number;
    }
  | {
      readonly ok: false;
      readonly errno: Errno;
      readonly message: string;
      readonly cycles: number;
      readonly migrationCycles: number;
      readonly attempts: number;
    };

export interface CmaCounters {
  readonly node: number;
  readonly sizeBytes: number;
  readonly ranges: number;
  /** Ranges a 1 GiB allocation could use now. */
  readonly free1GRanges: number;
  readonly allocated1GRanges: number;
  /** Order-9 blocks handed out, over all ranges. */
  readonly blocks2MInUse: number;
  /** Order-9 blocks that could still be handed out. */
  readonly free2MBlocks: number;
  readonly unmovableRanges: number;
  readonly hwpoisonedRanges: number;
  readonly movableOccupiedFraction: number;
}

export class CmaArea {
  readonly sizeBytes: number;
  private readonly ranges: CmaRange[];

  constructor(
    readonly node: number,
    readonly config: CmaAreaConfig,
    /** This node's own stream, used when a caller does not bring one. */
    private readonly rng: Rng,
  ) {
    this.sizeBytes = config.sizeBytes;
    const unmovable = new Set(config.unmovableRanges);
    this.ranges = Array.from({ length: Math.floor(config.sizeBytes / GiB) }, (_, i) => ({
      unmovable: unmovable.has(i),
      allocated1G: false,
      blocks2M: 0,
      hwpoisoned: false,
    }));
  }

  get rangeCount(): number {
    return this.ranges.length;
  }

  /**
   * cma_alloc() of one folio of `order`. Each attempt migrates the movable pages of its target out
   * and costs that work whether it succeeds or not; an attempt fails with probability
   * transientFailureRate. Total latency never exceeds cmaPathologicalMs: once that much has been
   * spent the allocation gives up (or, if the last attempt succeeded, is clamped to it).
   */
  allocate(order: CmaOrder, costs: CostModel, rng: Rng = this.rng): CmaAllocResult {
    const targets = order === ORDER_1G ? this.free1GTargets() : this.free2MTargets();
    if (targets.length === 0) {
      const message = order === ORDER_1G ? this.no1GRangeMessage() : this.no2MBlockMessage();
      return { ok: false, errno: 'ENOMEM', message, cycles: 0, migrationCycles: 0, attempts: 0 };
    }
    const attempt = this.attemptCost(order, costs);
    const cap = usToCycles(costs, costs.cmaPathologicalMs * 1000);
    let cycles = 0;
    let migrationCycles = 0;
    for (let i = 0; i < this.config.maxAttempts; i++) {
      // cma_alloc() moves on to the next candidate position after -EBUSY and wraps around.
      const target = targets[i % targets.length] as number;
      cycles += attempt.cycles;
      migrationCycles += attempt.migrationCycles;
      const busy = this.transientFailure(rng);
      const attempts = i + 1;
      if (!busy) {
        this.take(target, order);
        return { ok: true, ...clampLatency(cycles, migrationCycles, cap), attempts };
      }
      if (cycles >= cap) {
        return this.busyFailure(order, attempts, clampLatency(cycles, migrationCycles, cap));
      }
    }
    return this.busyFailure(order, this.config.maxAttempts, { cycles, migrationCycles });
  }

  /** cma_release() of one folio of `order`. Folios are value objects without an address, so the
   * model picks the range: for 1 GiB the lowest allocated one; for 2 MiB the highest range with
   * blocks in use (first-fit packs blocks low, so that is the most recently opened range). */
  release(order: CmaOrder): void {
    const index = this.rangeHolding(order);
    const range = this.ranges[index] as CmaRange;
    if (order === ORDER_1G) range.allocated1G = false;
    else range.blocks2M -= 1;
  }

  /**
   * hugetlb_cma= with the pool sized at boot: every 1 GiB range a gigantic page can use goes to
   * the HugeTLB pool before movable allocations exist (the 2025 hugetlb/CMA bootmem work), so
   * nothing is migrated and no attempt fails. Returns the pages taken; the ranges stay allocated
   * to the pool for the host's life.
   */
  takeForHugetlbPool(): number {
    let n = 0;
    for (const r of this.ranges) {
      if (r.unmovable || r.hwpoisoned || r.allocated1G || r.blocks2M > 0) continue;
      r.allocated1G = true;
      n++;
    }
    return n;
  }

  /** A memory error on an allocated folio: it leaves service and its range is never used again. */
  poison(order: CmaOrder): void {
    const index = this.rangeHolding(order);
    const range = this.ranges[index] as CmaRange;
    if (order === ORDER_1G) range.allocated1G = false;
    else range.blocks2M -= 1;
    range.hwpoisoned = true;
  }

  counters(): CmaCounters {
    const count = (pred: (r: CmaRange) => boolean) => this.ranges.filter(pred).length;
    return {
      node: this.node,
      sizeBytes: this.sizeBytes,
      ranges: this.ranges.length,
      free1GRanges: this.free1GTargets().length,
      allocated1GRanges: count((r) => r.allocated1G),
      blocks2MInUse: this.ranges.reduce((n, r) => n + r.blocks2M, 0),
      free2MBlocks: this.ranges.reduce((n, r) => n + blocksLeft(r), 0),
      unmovableRanges: count((r) => r.unmovable),
      hwpoisonedRanges: count((r) => r.hwpoisoned),
      movableOccupiedFraction: this.config.movableOccupiedFraction,
    };
  }

  /** Movable 4 KiB pages an attempt on a folio of `order` migrates out. */
  movablePages(order: CmaOrder): number {
    const pages = order === ORDER_1G ? PAGES_PER_1G : PAGES_PER_2M;
    return Math.round(this.config.movableOccupiedFraction * pages);
  }

  /**
   * One attempt: cmaAlloc1GBaseMs for an empty 1 GiB range (isolation, draining, the page walk),
   * plus cmaMigrateUsPerPage for every movable page moved out. A 2 MiB block costs 1/512 of the
   * base and migrates its own share of movable pages.
   */
  attemptCost(order: CmaOrder, costs: CostModel): { cycles: number; migrationCycles: number } {
    const baseUs = costs.cmaAlloc1GBaseMs * 1000 * (order === ORDER_1G ? 1 : 1 / BLOCKS_PER_RANGE);
    const migrationCycles = usToCycles(costs, this.movablePages(order) * costs.cmaMigrateUsPerPage);
    return { cycles: usToCycles(costs, baseUs) + migrationCycles, migrationCycles };
  }

  private transientFailure(rng: Rng): boolean {
    // No draw when transient failures are off, so other parameters do not shift the stream.
    return this.config.transientFailureRate > 0 && rng.chance(this.config.transientFailureRate);
  }

  /** Indexes of ranges a 1 GiB allocation may take, lowest first (cma_alloc's bitmap search). */
  private free1GTargets(): number[] {
    return this.indexesWhere(
      (r) => !r.unmovable && !r.hwpoisoned && !r.allocated1G && r.blocks2M === 0,
    );
  }

  /** First-fit for order 9: the lowest range with a block left (retries stay in that range). */
  private free2MTargets(): number[] {
    const first = this.ranges.findIndex((r) => blocksLeft(r) > 0);
    return first < 0 ? [] : [first];
  }

  private take(index: number, order: CmaOrder): void {
    const range = this.ranges[index] as CmaRange;
    if (order === ORDER_1G) range.allocated1G = true;
    else range.blocks2M += 1;
  }

  private rangeHolding(order: CmaOrder): number {
    const index =
      order === ORDER_1G
        ? this.ranges.findIndex((r) => r.allocated1G)
        : this.ranges.findLastIndex((r) => r.blocks2M > 0);
    if (index < 0) {
      throw new Error(
        `cma node ${this.node}: no allocated ${order === ORDER_1G ? '1 GiB' : '2 MiB'} folio`,
      );
    }
    return index;
  }

  private indexesWhere(pred: (r: CmaRange) => boolean): number[] {
    const out: number[] = [];
    this.ranges.forEach((r, i) => {
      if (pred(r)) out.push(i);
    });
    return out;
  }

  private busyFailure(
    order: CmaOrder,
    attempts: number,
    spent: { cycles: number; migrationCycles: number },
  ): CmaAllocResult {
    const size = order === ORDER_1G ? '1 GiB' : '2 MiB';
    const message =
      `cma_alloc of ${size} on node ${this.node} gave up after ${attempts} attempt(s): ` +
      'transient references (pages under migration or briefly pinned) kept every candidate busy';
    return { ok: false, errno: 'EBUSY', message, attempts, ...spent };
  }

  private no1GRangeMessage(): string {
    const where = `the CMA area on node ${this.node}`;
    const n = this.ranges.length;
    if (n === 0) return `${where} is smaller than 1 GiB`;
    if (this.ranges.every((r) => r.unmovable)) {
      return `every 1 GiB range of ${where} holds an unmovable or pinned page`;
    }
    // Each range is counted once, under the first reason that excludes it.
    const reasons = [
      ['hwpoisoned', (r: CmaRange) => r.hwpoisoned],
      ['allocated', (r: CmaRange) => r.allocated1G],
      ['hold an unmovable or pinned page', (r: CmaRange) => r.unmovable],
      ['partly used by 2 MiB folios', (r: CmaRange) => r.blocks2M > 0],
    ] as const;
    const tally = reasons.map(() => 0);
    for (const r of this.ranges) {
      const i = reasons.findIndex(([, pred]) => pred(r));
      if (i >= 0) tally[i] = (tally[i] ?? 0) + 1;
    }
    const parts = reasons.flatMap(([label], i) => (tally[i] ? [`${tally[i]} ${label}`] : []));
    return `no free 1 GiB range in ${where} (${n} ranges: ${parts.join(', ')})`;
  }

  private no2MBlockMessage(): string {
    return `no free 2 MiB block in the CMA area on node ${this.node} (${this.ranges.length} x 1 GiB ranges all in use, hwpoisoned or holding only unmovable pages)`;
  }
}

/** Order-9 blocks a range can still give: none once a 1 GiB folio or a memory error took it; a
 * range with an unmovable page loses the block that page sits in. */
function blocksLeft(r: CmaRange): number {
  if (r.allocated1G || r.hwpoisoned) return 0;
  return BLOCKS_PER_RANGE - (r.unmovable ? 1 : 0) - r.blocks2M;
}

function clampLatency(
  cycles: number,
  migrationCycles: number,
  cap: number,
): { cycles: number; migrationCycles: number } {
  const clamped = Math.min(cycles, cap);
  return { cycles: clamped, migrationCycles: Math.min(migrationCycles, clamped) };
}
