// guest_memfd folios of 4 KiB straight from the buddy allocator (mm/page_alloc.c): what guest_memfd
// does without huge-page support. Nothing is reserved, every allocation is order 0 on the first
// node of the mempolicy with free memory, there is nothing to split or merge and no HVO.
//
// The base-page helpers are shared with the THP allocator, which also serves order 0.
import type { CostModel } from '../constants.js';
import type { Host } from '../host/host.js';
import { GuestLedger } from '../host/host.js';
import type { PageOrder } from '../units.js';
import { ORDER_4K, bytesOfOrder } from '../units.js';
import type {
  AllocOutcome,
  Allocator,
  AllocatorHandle,
  AllocatorStats,
  BaseRun,
  FolioRef,
  NodeChoice,
  Outcome,
  ReserveRequest,
  VmemmapOutcome,
} from './allocator.js';
import { failure, sizeOf } from './hugetlb.js';

/** One order-0 page on the first of `nodes` with free buddy memory. Cost: buddyAlloc4KCycles. */
export function allocBasePage(
  host: Host,
  costs: CostModel,
  ledger: GuestLedger,
  nodes: readonly number[],
): AllocOutcome {
  for (const node of nodes) {
    if (!host.buddy(node).allocBasePages(1)) continue;
    const folio: FolioRef = { node, order: ORDER_4K, hvo: false };
    ledger.addFolio(folio);
    ledger.allocations++;
    return { ok: true, cycles: costs.buddyAlloc4KCycles, folio, migrationCycles: 0 };
  }
  ledger.allocationFailures++;
  const where = nodes.length === 1 ? `node ${nodes[0]}` : `nodes ${nodes.join(', ')}`;
  return failure('ENOMEM', `no free memory on ${where}`);
}

/** A buddy-backed folio goes back to the free lists. Cost: buddyAlloc4KCycles (assumption: one
 * free-list insertion, about what an allocation costs). */
export function freeBuddyFolio(
  host: Host,
  costs: CostModel,
  ledger: GuestLedger,
  folio: FolioRef,
): Outcome<object> {
  ledger.removeFolio(folio);
  host.buddy(folio.node).freeGuest(bytesOfOrder(folio.order));
  ledger.frees++;
  return { ok: true, cycles: costs.buddyAlloc4KCycles };
}

/** hwpoison on a buddy-backed folio: its memory leaves service for good. */
export function poisonBuddyFolio(host: Host, ledger: GuestLedger, folio: FolioRef): void {
  ledger.removeFolio(folio);
  host.buddy(folio.node).poisonGuest(bytesOfOrder(folio.order));
  ledger.memoryErrors++;
}

export class Buddy4kAllocator implements Allocator {
  readonly kind = 'buddy' as const;
  private readonly handles = new Set<number>();
  private readonly ledger: GuestLedger;
  private nextId = 1;

  constructor(
    private readonly host: Host,
    private readonly costs: CostModel,
  ) {
    this.ledger = new GuestLedger(host.nodeCount, costs);
  }

  /** Nothing is set aside: buddy memory is shared with the rest of the host. */
  reserve(request: ReserveRequest): Outcome<{ readonly handle: AllocatorHandle }> {
    if (request.order !== ORDER_4K) {
      return failure(
        'EINVAL',
        `the 4 KiB buddy allocator cannot back ${sizeOf(request.order)} folios`,
      );
    }
    const nodes = this.host.nodeOrder(request.nodes);
    if (!nodes.ok) return failure('EINVAL', nodes.message);
    const handle: AllocatorHandle = { id: this.nextId++, kind: this.kind, order: ORDER_4K };
    this.handles.add(handle.id);
    return { ok: true, cycles: 0, handle };
  }

  allocate(handle: AllocatorHandle, choice: NodeChoice, order: PageOrder): AllocOutcome {
    this.check(handle);
    const nodes = this.host.nodeOrder(choice);
    if (order !== ORDER_4K || !nodes.ok) {
      this.ledger.allocationFailures++;
      return failure(
        'EINVAL',
        nodes.ok ? `only 4 KiB folios, not ${sizeOf(order)}` : nodes.message,
      );
    }
    return allocBasePage(this.host, this.costs, this.ledger, nodes.nodes);
  }

  allocateBaseRun(handle: AllocatorHandle, choice: NodeChoice, count: number): BaseRun | null {
    this.check(handle);
    const nodes = this.host.nodeOrder(choice);
    if (!nodes.ok || nodes.nodes.length === 0 || count <= 0) return null;
    // allocBasePage() takes each page from the first node with free memory: while the first
    // node has some, that is the first node.
    const node = nodes.nodes[0]!;
    const n = this.host.buddy(node).allocBasePagesUpTo(count);
    if (n === 0) return null;
    this.ledger.addFolios({ node, order: ORDER_4K, hvo: false }, n);
    this.ledger.allocations += n;
    return { node, count: n, cycles: this.costs.buddyAlloc4KCycles };
  }

  split(handle: AllocatorHandle, folio: FolioRef, _targetOrder: PageOrder): VmemmapOutcome {
    this.check(handle);
    return failure('EINVAL', `a ${sizeOf(folio.order)} buddy folio cannot be split`);
  }

  reconstruct(handle: AllocatorHandle, _first: FolioRef, targetOrder: PageOrder): VmemmapOutcome {
    this.check(handle);
    return failure(
      'EINVAL',
      `the 4 KiB buddy allocator does not build ${sizeOf(targetOrder)} folios`,
    );
  }

  free(handle: AllocatorHandle, folio: FolioRef): Outcome<object> {
    this.check(handle);
    if (folio.order !== ORDER_4K) return failure('EINVAL', 'only 4 KiB folios come from here');
    return freeBuddyFolio(this.host, this.costs, this.ledger, folio);
  }

  error(handle: AllocatorHandle, folio: FolioRef): void {
    this.check(handle);
    poisonBuddyFolio(this.host, this.ledger, folio);
  }

  /** Nothing was reserved. */
  unreserve(handle: AllocatorHandle): void {
    this.check(handle);
  }

  stats(): AllocatorStats {
    return this.ledger.stats(new Array<number>(this.host.nodeCount).fill(0));
  }

  private check(handle: AllocatorHandle): void {
    if (handle.kind !== this.kind || !this.handles.has(handle.id)) {
      throw new Error(`buddy allocator: unknown handle ${handle.id} (${handle.kind})`);
    }
  }
}

export function createBuddy4kAllocator(host: Host, costs: CostModel): Buddy4kAllocator {
  return new Buddy4kAllocator(host, costs);
}
