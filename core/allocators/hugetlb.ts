// guest_memfd folios from HugeTLB pools (the guest_memfd HugeTLB series, LPC 2024): the file's
// subpool reserves every page at creation, allocation dequeues a reserved page on the first node
// the mempolicy allows, and a freed folio goes back to the subpool. With HVO
// (hugetlb_optimize_vmemmap) pool pages keep one vmemmap page per 2 MiB or 1 GiB page; a split
// must first restore the rest (mm/hugetlb_vmemmap.c, which can fail with ENOMEM), and a merge
// re-optimises them.
//
// The split/merge vmemmap helpers here are shared with the raw-CMA allocator (cma.ts), whose
// folios split the same way when HVO applies to them ("HVO ported to CMA"). HugeTLB pages taken
// from a hugetlb_cma= area are HugeTLB pool pages: this allocator, kind 'hugetlb-cma'.
import type { CostModel } from '../constants.js';
import { usToCycles } from '../constants.js';
import type { Errno } from '../errors.js';
import type { Host } from '../host/host.js';
import { GuestLedger, vmemmapPagesOf } from '../host/host.js';
import { HugetlbSubpool } from '../host/hugetlb-pool.js';
import type { PageOrder } from '../units.js';
import { ORDER_1G, ORDER_2M, ORDER_4K, bytesOfOrder, formatBytes, nrPages } from '../units.js';
import type {
  AllocOutcome,
  Allocator,
  AllocatorHandle,
  AllocatorStats,
  FolioRef,
  HugeRun,
  NodeChoice,
  Outcome,
  ReserveRequest,
  VmemmapOutcome,
} from './allocator.js';

// ---------------------------------------------------------------------------------------------
// Shared with cma.ts

/** A failed Outcome. */
export function failure(
  errno: Errno,
  message: string,
  cycles = 0,
): { readonly ok: false; errno: Errno; message: string; cycles: number } {
  return { ok: false, errno, message, cycles };
}

/** 2 MiB HugeTLB pages per 1 GiB page. The HVO series measured 2 MiB pages only; freeing a 1 GiB
 * page is charged 512 times the 2 MiB cost (assumption: the work is per struct page / per vmemmap
 * page, both of which scale by 512). */
const PER_1G = nrPages(ORDER_1G - ORDER_2M);

function scaleTo(order: PageOrder, cyclesPer2M: number): number {
  return order === ORDER_1G ? cyclesPer2M * PER_1G : cyclesPer2M;
}

/**
 * Cycles to hand one reserved page of the file's subpool to guest_memfd: guestmem_hugetlb_alloc_folio()
 * (mm/guestmem_hugetlb.c, Ackerley Tng's 1G guest_memfd RFC v2, 14 May 2025) is
 * hugepage_subpool_get_pages() plus hugetlb_alloc_folio(..., use_existing_reservation = true),
 * which dequeues a free pool page (dequeue_hugetlb_folio_nodemask(), mm/hugetlb.c). The same for
 * 2 MiB and 1 GiB: a list operation, not per struct page work.
 *
 * Pool growth (alloc_fresh_hugetlb_folio(), HVO applied by hugetlb_vmemmap_optimize_folios() as
 * pages enter the pool; the hugetlbAlloc2M*Us timings of writes to nr_hugepages) happens where the
 * pool grows. The model's pools are sized on the host's kernel command line and grow at host boot,
 * before the experiment's clock starts; the model has no runtime nr_hugepages write, so no VM
 * operation pays for pool growth.
 */
function hugetlbAllocCycles(costs: CostModel): number {
  return costs.hugetlbSubpoolGetCycles + costs.hugetlbDequeueCycles;
}

/** Cycles of free_huge_folio() for a page that stays in the pool: the subpool put plus the
 * enqueue on the free list (mm/hugetlb.c: hugepage_subpool_put_pages(), enqueue_hugetlb_folio()). */
function hugetlbPutCycles(costs: CostModel): number {
  return costs.hugetlbSubpoolPutCycles + costs.hugetlbEnqueueCycles;
}

/** Cycles of a HugeTLB page leaving the pool for the buddy allocator (an nr_hugepages shrink:
 * hugetlbFree2M{NoHvo,HvoUnbatched,HvoBatched}Us); the CMA allocator's release uses the no-HVO
 * figure. */
export function hugetlbFreeCycles(
  costs: CostModel,
  hvo: boolean,
  batched: boolean,
  order: PageOrder,
): number {
  const us = !hvo
    ? costs.hugetlbFree2MNoHvoUs
    : batched
      ? costs.hugetlbFree2MHvoBatchedUs
      : costs.hugetlbFree2MHvoUnbatchedUs;
  return scaleTo(order, usToCycles(costs, us));
}

/** What split/reconstruct of a huge folio needs from its allocator. */
export interface HugeFolioContext {
  readonly host: Host;
  readonly costs: CostModel;
  readonly ledger: GuestLedger;
  /** The allocator optimises vmemmap of its huge folios (HugeTLB: host.hvo; CMA: host.cmaHvo). */
  readonly hvoApplies: boolean;
  /** vmemmap pages a split restores (first 18) and a rebuild frees (last 18), by the folio's
   * order and HVO and the target order (vmemmapDeltaKey()): NaN until first needed, then what
   * vmemmapPagesOf() gives for `costs`, which never changes. newVmemmapDeltas() makes one. */
  readonly vmemmapDeltas: Float64Array;
}

/** An empty HugeFolioContext.vmemmapDeltas. */
export function newVmemmapDeltas(): Float64Array {
  return new Float64Array(36).fill(NaN);
}

/** Slot of (folio order and HVO, target order) in vmemmapDeltas: orders are 0, 9 and 18. */
function vmemmapDeltaKey(folio: FolioRef, targetOrder: PageOrder): number {
  return ((folio.order / 9) * 2 + (folio.hvo ? 1 : 0)) * 3 + targetOrder / 9;
}

/**
 * Split `folio` into folios of `targetOrder`. vmemmap to restore = what the pieces need minus what
 * the folio has now: a HVO'd 1 GiB folio keeps 1 page; 512 HVO'd 2 MiB pieces need 512 (restore
 * 511); 4 KiB pieces need every page (restore 4095). The pages come from the node's buddy memory.
 * The pieces are folioAfterSplit(folio, targetOrder). Split cycles themselves are the caller's.
 */
export function splitHugeFolio(
  ctx: HugeFolioContext,
  handleOrder: PageOrder,
  folio: FolioRef,
  targetOrder: PageOrder,
): VmemmapOutcome {
  if (folio.order > handleOrder || targetOrder >= folio.order)
    return splitRefused(handleOrder, folio, targetOrder);
  const key = vmemmapDeltaKey(folio, targetOrder);
  let restore = ctx.vmemmapDeltas[key]!;
  if (restore !== restore)
    restore = ctx.vmemmapDeltas[key] = splitRestorePages(ctx, folio, targetOrder);
  if (restore <= 0) return vmemmapDone(0, 0);
  const cycles = ctx.host.restoreVmemmapCycles(folio.node, restore, ctx.costs);
  // -1: the node's buddy memory is short; restoreVmemmap() says so (it takes nothing either).
  if (cycles < 0) return restoreShort(ctx, folio, restore);
  ctx.ledger.vmemmapChanged(folio.node, restore);
  return vmemmapDone(restore, cycles);
}

/** vmemmap pages a split of `folio` into folios of `targetOrder` restores. */
function splitRestorePages(ctx: HugeFolioContext, folio: FolioRef, targetOrder: PageOrder): number {
  // The pieces are folioAfterSplit(folio, targetOrder): huge pieces of a HVO'd folio keep HVO.
  const pieceHvo = folio.hvo && targetOrder !== ORDER_4K;
  const pieces = nrPages(folio.order - targetOrder);
  return (
    pieces * vmemmapPagesOf(ctx.costs, targetOrder, pieceHvo) -
    vmemmapPagesOf(ctx.costs, folio.order, folio.hvo)
  );
}

// The failures of splitHugeFolio() and reconstructHugeFolio(), out of their hot paths.
function splitRefused(
  handleOrder: PageOrder,
  folio: FolioRef,
  targetOrder: PageOrder,
): VmemmapOutcome {
  return failure(
    'EINVAL',
    `cannot split a ${sizeOf(folio.order)} folio into ${sizeOf(targetOrder)} folios (file of ${sizeOf(handleOrder)} folios)`,
  );
}

/** restoreVmemmapCycles() found the node's buddy memory short: restoreVmemmap() names the
 * shortfall (taking nothing either). */
function restoreShort(ctx: HugeFolioContext, folio: FolioRef, restore: number): VmemmapOutcome {
  const result = ctx.host.restoreVmemmap(folio.node, restore, ctx.costs);
  if (result.ok) throw new Error('vmemmap restore: the node had room on the second ask');
  return restoreFailed(folio, result);
}

function restoreFailed(
  folio: FolioRef,
  result: { readonly message: string; readonly cycles: number },
): VmemmapOutcome {
  return failure(
    'ENOMEM',
    `splitting a HVO'd ${sizeOf(folio.order)} folio: ${result.message}`,
    result.cycles,
  );
}

function rebuildRefused(
  handleOrder: PageOrder,
  first: FolioRef,
  targetOrder: PageOrder,
): VmemmapOutcome {
  return failure(
    'EINVAL',
    `cannot rebuild a ${sizeOf(targetOrder)} folio from ${sizeOf(first.order)} folios (file of ${sizeOf(handleOrder)} folios)`,
  );
}

/**
 * Rebuild a folio of `targetOrder` from pieces like `first`. Where HVO applies the merged folio is
 * re-optimised: vmemmap freed = what the pieces have minus what a HVO'd folio keeps (4K pieces of
 * 1 GiB: 4096 - 1 = 4095; 2 MiB HVO'd pieces: 512 - 1 = 511), returned to the node's buddy memory.
 * The rebuilt folio has hvo = hvoApplies. Merge cycles themselves are the caller's.
 */
export function reconstructHugeFolio(
  ctx: HugeFolioContext,
  handleOrder: PageOrder,
  first: FolioRef,
  targetOrder: PageOrder,
): VmemmapOutcome {
  if (targetOrder > handleOrder || first.order >= targetOrder)
    return rebuildRefused(handleOrder, first, targetOrder);
  const key = 18 + vmemmapDeltaKey(first, targetOrder);
  let freed = ctx.vmemmapDeltas[key]!;
  if (freed !== freed) freed = ctx.vmemmapDeltas[key] = rebuildFreedPages(ctx, first, targetOrder);
  if (freed <= 0) return vmemmapDone(0, 0);
  const cycles = ctx.host.optimiseVmemmap(first.node, freed, ctx.costs);
  ctx.ledger.vmemmapChanged(first.node, -freed);
  return vmemmapDone(freed, cycles);
}

/** vmemmap pages a rebuild of a `targetOrder` folio from pieces like `first` frees. */
function rebuildFreedPages(ctx: HugeFolioContext, first: FolioRef, targetOrder: PageOrder): number {
  const pieces = nrPages(targetOrder - first.order);
  const before = pieces * vmemmapPagesOf(ctx.costs, first.order, first.hvo);
  const after = vmemmapPagesOf(ctx.costs, targetOrder, ctx.hvoApplies);
  return before - after;
}

/** Whole huge pages a memory error took out of service while the caller still holds some of
 * their split pieces (bytes per node): freeing such a piece only drops it from the ledger, its
 * memory left with the huge page (the kernel dissolves a hwpoisoned huge page instead of
 * returning it to the pool). */
export class PoisonedRemainder {
  private readonly bytes: number[];

  constructor(nodeCount: number) {
    this.bytes = new Array<number>(nodeCount).fill(0);
  }

  /** A piece of a huge page of `hugeOrder` was hit: the rest of the page is owed by the caller. */
  add(piece: FolioRef, hugeOrder: PageOrder): void {
    const rest = bytesOfOrder(hugeOrder) - bytesOfOrder(piece.order);
    this.bytes[piece.node] = (this.bytes[piece.node] ?? 0) + rest;
  }

  /** Account `piece` against a poisoned page's rest; false when there is none to account to. */
  take(piece: FolioRef): boolean {
    const size = bytesOfOrder(piece.order);
    const owed = this.bytes[piece.node] ?? 0;
    if (owed < size) return false;
    this.bytes[piece.node] = owed - size;
    return true;
  }
}

function vmemmapDone(pages: number, cycles: number): VmemmapOutcome {
  return { ok: true, cycles, vmemmapPages: pages, vmemmapCycles: cycles };
}

export function sizeOf(order: PageOrder): string {
  return formatBytes(bytesOfOrder(order));
}

// ---------------------------------------------------------------------------------------------
// The HugeTLB allocator

interface HugetlbFile {
  readonly handle: AllocatorHandle;
  readonly subpool: HugetlbSubpool;
  readonly poisoned: PoisonedRemainder;
}

/**
 * HugeTLB pool pages for guest_memfd. `kind` 'hugetlb': the pools sized by nr_hugepages at host
 * boot. 'hugetlb-cma': the 1 GiB pool whose pages came from the node's hugetlb_cma= CMA area at
 * host boot (mm/hugetlb_cma.c; with the 2025 hugetlb/CMA bootmem work they are allocated early and
 * get HVO like other boot-time pages). Both are HugeTLB folios: the file's subpool reserves them,
 * a fault dequeues one, a free enqueues it back.
 */
export class HugetlbAllocator implements Allocator {
  private readonly files = new Map<number, HugetlbFile>();
  private lastFile: HugetlbFile | null = null;
  private readonly ledger: GuestLedger;
  private readonly ctx: HugeFolioContext;
  private nextId = 1;

  constructor(
    private readonly host: Host,
    private readonly costs: CostModel,
    readonly kind: 'hugetlb' | 'hugetlb-cma' = 'hugetlb',
  ) {
    this.ledger = new GuestLedger(host.nodeCount, costs);
    this.ctx = {
      host,
      costs,
      ledger: this.ledger,
      hvoApplies: host.hvo,
      vmemmapDeltas: newVmemmapDeltas(),
    };
  }

  /** Create the file's subpool: all `count` pages are reserved now, or none (ENOMEM naming the
   * node, the need and what the pool has free). */
  reserve(request: ReserveRequest): Outcome<{ readonly handle: AllocatorHandle }> {
    if (request.order !== ORDER_2M && request.order !== ORDER_1G) {
      return failure('EINVAL', 'HugeTLB has only 2 MiB and 1 GiB pages');
    }
    if (this.kind === 'hugetlb-cma' && request.order !== ORDER_1G) {
      return failure('EINVAL', 'hugetlb_cma= backs gigantic (1 GiB) HugeTLB pages only');
    }
    const nodes = this.host.nodeOrder(request.nodes);
    if (!nodes.ok) return failure('EINVAL', nodes.message);
    const result = HugetlbSubpool.reserve(
      this.kind === 'hugetlb-cma' ? this.host.hugetlbCmaPools() : this.host.pools(request.order),
      request.order,
      request.count,
      nodes.order,
    );
    if (!result.ok) {
      const where = this.kind === 'hugetlb-cma' ? ' (the pool of hugetlb_cma= pages)' : '';
      return failure('ENOMEM', `${result.message}${where}`);
    }
    const handle: AllocatorHandle = { id: this.nextId++, kind: this.kind, order: request.order };
    this.files.set(handle.id, {
      handle,
      subpool: result.subpool,
      poisoned: new PoisonedRemainder(this.host.nodeCount),
    });
    return { ok: true, cycles: 0, handle };
  }

  allocate(handle: AllocatorHandle, choice: NodeChoice, order: PageOrder): AllocOutcome {
    const file = this.file(handle);
    if (order !== handle.order) {
      this.ledger.allocationFailures++;
      return failure(
        'EINVAL',
        `this file holds ${sizeOf(handle.order)} pages, not ${sizeOf(order)}`,
      );
    }
    const nodes = this.host.nodeOrder(choice);
    if (!nodes.ok) {
      this.ledger.allocationFailures++;
      return failure('EINVAL', nodes.message);
    }
    const got = file.subpool.allocate(nodes.nodes);
    if (!got.ok) {
      this.ledger.allocationFailures++;
      return failure('ENOMEM', got.message);
    }
    const folio: FolioRef = { node: got.node, order, hvo: this.host.hvo };
    this.ledger.addFolio(folio);
    this.ledger.allocations++;
    const cycles = hugetlbAllocCycles(this.costs);
    return { ok: true, cycles, folio, migrationCycles: 0 };
  }

  /** allocate() repeated while each call would take a reserved page of the first node the
   * mempolicy names (HugeTLB subpool pages cost the same, hugetlbAllocCycles, and all get the
   * host's HVO state). */
  allocateHugeRun(
    handle: AllocatorHandle,
    choice: NodeChoice,
    order: PageOrder,
    count: number,
  ): HugeRun | null {
    const file = this.file(handle);
    if (order !== handle.order || count <= 0) return null;
    const nodes = this.host.nodeOrder(choice);
    if (!nodes.ok || nodes.nodes.length === 0) return null;
    const node = nodes.nodes[0]!;
    const n = file.subpool.allocateReservedRun(node, count);
    if (n === 0) return null;
    const hvo = this.host.hvo;
    this.ledger.addFolios({ node, order, hvo }, n);
    this.ledger.allocations += n;
    return { node, count: n, cycles: hugetlbAllocCycles(this.costs), hvo };
  }

  split(handle: AllocatorHandle, folio: FolioRef, targetOrder: PageOrder): VmemmapOutcome {
    this.file(handle);
    return splitHugeFolio(this.ctx, handle.order, folio, targetOrder);
  }

  reconstruct(handle: AllocatorHandle, first: FolioRef, targetOrder: PageOrder): VmemmapOutcome {
    this.file(handle);
    return reconstructHugeFolio(this.ctx, handle.order, first, targetOrder);
  }

  /** A whole folio goes back to the subpool, still optimised if HVO is on (pool pages keep HVO).
   * A split folio must be reconstructed first, except for pieces of a page lost to a memory error.
   * Cost: hugetlbSubpoolPutCycles + hugetlbEnqueueCycles, the same for 2 MiB and 1 GiB. In
   * mm/hugetlb.c free_huge_folio() gives the page back to its subpool
   * (hugepage_subpool_put_pages()) and, as a guest_memfd subpool never holds surplus pages,
   * enqueue_hugetlb_folio() puts it back on the pool's free list: the page stays in the pool, HVO
   * kept. The nr_hugepages shrink timings (hugetlbFree2M*Us) are the cost of a page leaving the
   * pool (update_and_free_hugetlb_folio(), vmemmap restored), which a guest_memfd free never does. */
  free(handle: AllocatorHandle, folio: FolioRef): Outcome<object> {
    const file = this.file(handle);
    if (folio.order !== handle.order) {
      if (!file.poisoned.take(folio)) {
        return failure(
          'EINVAL',
          `a split ${sizeOf(handle.order)} HugeTLB folio must be reconstructed before it returns to the pool`,
        );
      }
      this.ledger.removeFolio(folio);
      this.ledger.frees++;
      return { ok: true, cycles: 0 };
    }
    this.ledger.removeFolio(folio);
    file.subpool.free(folio.node);
    this.ledger.frees++;
    return { ok: true, cycles: hugetlbPutCycles(this.costs) };
  }

  /** hwpoison: the huge page holding `folio` leaves the pool for good (nr_hugepages drops). For a
   * piece of a split page, the caller frees the page's other pieces afterwards (see
   * PoisonedRemainder) and reports at most one error per huge page. */
  error(handle: AllocatorHandle, folio: FolioRef): void {
    const file = this.file(handle);
    this.ledger.removeFolio(folio);
    this.ledger.memoryErrors++;
    file.subpool.poison(folio.node);
    if (folio.order !== handle.order) file.poisoned.add(folio, handle.order);
  }

  unreserve(handle: AllocatorHandle): void {
    this.file(handle).subpool.release();
  }

  stats(): AllocatorStats {
    const reserved = new Array<number>(this.host.nodeCount).fill(0);
    for (const file of this.files.values()) {
      const size = bytesOfOrder(file.handle.order);
      reserved.forEach((bytes, node) => {
        reserved[node] = bytes + file.subpool.reservedOn(node) * size;
      });
    }
    return this.ledger.stats(reserved);
  }

  private file(handle: AllocatorHandle): HugetlbFile {
    // A guest has one file: its handle answers without a lookup (files are never removed).
    const last = this.lastFile;
    if (last !== null && last.handle === handle) return last;
    const file = this.files.get(handle.id);
    if (!file || file.handle.kind !== handle.kind) {
      throw new Error(`hugetlb allocator: unknown handle ${handle.id} (${handle.kind})`);
    }
    if (file.handle === handle) this.lastFile = file;
    return file;
  }
}

export function createHugetlbAllocator(
  host: Host,
  costs: CostModel,
  kind: 'hugetlb' | 'hugetlb-cma' = 'hugetlb',
): HugetlbAllocator {
  return new HugetlbAllocator(host, costs, kind);
}
