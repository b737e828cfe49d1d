// guest_memfd folios as best-effort THPs from the buddy allocator (the guest_memfd THP series): an
// order-9 allocation succeeds when the node has a free 2 MiB block, which fragmentation makes a
// matter of odds (host.thpFragmentation). When none is found the allocation reports
// 'no free 2 MiB block' with ENOMEM and the caller falls back to order 0, which this allocator
// also serves. THPs have no HVO, so splitting and merging move no vmemmap; and guest_memfd memory
// is unmovable, so a split THP is never rebuilt by compaction (khugepaged) behind the caller's
// back: only reconstruct() merges it.
import type { CostModel } from '../constants.js';
import type { Host } from '../host/host.js';
import { GuestLedger } from '../host/host.js';
import type { Rng } from '../rng.js';
import type { PageOrder } from '../units.js';
import { ORDER_2M, ORDER_4K } from '../units.js';
import type {
  AllocOutcome,
  Allocator,
  AllocatorHandle,
  AllocatorStats,
  FolioRef,
  NodeChoice,
  Outcome,
  ReserveRequest,
  VmemmapOutcome,
} from './allocator.js';
import { allocBasePage, freeBuddyFolio, poisonBuddyFolio } from './buddy-4k.js';
import { failure, sizeOf } from './hugetlb.js';

/** The message of a THP allocation that should fall back to order 0. */
export const NO_FREE_2M_BLOCK = 'no free 2 MiB block';

export class ThpAllocator implements Allocator {
  readonly kind = 'thp' as const;
  private readonly handles = new Map<number, AllocatorHandle>();
  private readonly ledger: GuestLedger;
  private nextId = 1;

  constructor(
    private readonly host: Host,
    private readonly costs: CostModel,
    /** Fragmentation draws come from this allocator's stream. */
    private readonly rng: Rng,
  ) {
    this.ledger = new GuestLedger(host.nodeCount, costs);
  }

  /** Nothing is set aside. A THP file (order 9) may also hold order-0 fallback pages. */
  reserve(request: ReserveRequest): Outcome<{ readonly handle: AllocatorHandle }> {
    if (request.order !== ORDER_2M && request.order !== ORDER_4K) {
      return failure('EINVAL', `THP backs 2 MiB (and 4 KiB) folios, not ${sizeOf(request.order)}`);
    }
    const nodes = this.host.nodeOrder(request.nodes);
    if (!nodes.ok) return failure('EINVAL', nodes.message);
    const handle: AllocatorHandle = { id: this.nextId++, kind: this.kind, order: request.order };
    this.handles.set(handle.id, handle);
    return { ok: true, cycles: 0, handle };
  }

  /**
   * Order 9: one attempt per allowed node, in order; each finds no free block with probability
   * thpFragmentation. A failed attempt is charged buddyAlloc4KCycles (assumption: a walk of the
   * free lists that finds nothing; direct compaction is not modelled). Order 0: a base page.
   */
  allocate(handle: AllocatorHandle, choice: NodeChoice, order: PageOrder): AllocOutcome {
    const file = this.file(handle);
    const nodes = this.host.nodeOrder(choice);
    if (!nodes.ok || order > file.order || (order !== ORDER_2M && order !== ORDER_4K)) {
      this.ledger.allocationFailures++;
      return failure(
        'EINVAL',
        nodes.ok ? `this file cannot hold ${sizeOf(order)} THP folios` : nodes.message,
      );
    }
    if (order === ORDER_4K) return allocBasePage(this.host, this.costs, this.ledger, nodes.nodes);
    let cycles = 0;
    const reasons: string[] = [];
    for (const node of nodes.nodes) {
      const attempt = this.host.buddy(node).tryAllocThp(this.rng);
      if (attempt === 'ok') {
        const folio: FolioRef = { node, order: ORDER_2M, hvo: false };
        this.ledger.addFolio(folio);
        this.ledger.allocations++;
        return {
          ok: true,
          cycles: cycles + this.costs.thpAlloc2MCycles,
          folio,
          migrationCycles: 0,
        };
      }
      cycles += this.costs.buddyAlloc4KCycles;
      reasons.push(
        attempt === 'fragmented'
          ? `${NO_FREE_2M_BLOCK} on node ${node}`
          : `node ${node} has no free memory`,
      );
    }
    this.ledger.allocationFailures++;
    return failure('ENOMEM', reasons.join('; '), cycles);
  }

  /** Splitting a THP touches no vmemmap (no HVO): nothing to allocate, no vmemmap cycles. */
  split(handle: AllocatorHandle, folio: FolioRef, targetOrder: PageOrder): VmemmapOutcome {
    this.file(handle);
    if (folio.order !== ORDER_2M || targetOrder !== ORDER_4K) {
      return failure(
        'EINVAL',
        `cannot split a ${sizeOf(folio.order)} THP into ${sizeOf(targetOrder)} folios`,
      );
    }
    return { ok: true, cycles: 0, vmemmapPages: 0, vmemmapCycles: 0 };
  }

  /** Merging the 512 pages of a split THP back: no vmemmap either. */
  reconstruct(handle: AllocatorHandle, first: FolioRef, targetOrder: PageOrder): VmemmapOutcome {
    const file = this.file(handle);
    if (file.order !== ORDER_2M || first.order !== ORDER_4K || targetOrder !== ORDER_2M) {
      return failure(
        'EINVAL',
        `cannot rebuild a ${sizeOf(targetOrder)} THP from ${sizeOf(first.order)} folios`,
      );
    }
    return { ok: true, cycles: 0, vmemmapPages: 0, vmemmapCycles: 0 };
  }

  /** A THP or a base page (a fallback page or a piece of a split THP) goes back to the buddy. */
  free(handle: AllocatorHandle, folio: FolioRef): Outcome<object> {
    const file = this.file(handle);
    if (folio.order > file.order || (folio.order !== ORDER_2M && folio.order !== ORDER_4K)) {
      return failure('EINVAL', `this file holds no ${sizeOf(folio.order)} folio`);
    }
    return freeBuddyFolio(this.host, this.costs, this.ledger, folio);
  }

  /** hwpoison: the folio's memory leaves service (a THP is lost whole). */
  error(handle: AllocatorHandle, folio: FolioRef): void {
    this.file(handle);
    poisonBuddyFolio(this.host, this.ledger, folio);
  }

  /** Nothing was reserved. */
  unreserve(handle: AllocatorHandle): void {
    this.file(handle);
  }

  stats(): AllocatorStats {
    return this.ledger.stats(new Array<number>(this.host.nodeCount).fill(0));
  }

  private file(handle: AllocatorHandle): AllocatorHandle {
    const file = this.handles.get(handle.id);
    if (!file || handle.kind !== this.kind) {
      throw new Error(`thp allocator: unknown handle ${handle.id} (${handle.kind})`);
    }
    return file;
  }
}

export function createThpAllocator(host: Host, costs: CostModel, rng: Rng): ThpAllocator {
  return new ThpAllocator(host, costs, rng);
}
