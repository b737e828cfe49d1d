// The raw-CMA allocator for guest_memfd ('cma-raw', the allocator discussed for guest_memfd at LPC
// 2024): folios straight from a per-node CMA area (mm/cma.c), not through the HugeTLB pool. Nothing
// is set aside when the file is created; each 1 GiB (or 2 MiB) folio is a runtime contiguous
// allocation that migrates movable host pages out of its range first and can fail. cma_alloc()
// returns NULL on failure, whatever the cause (no usable range, or alloc_contig_range() -EBUSY on
// transient references through every attempt), and the caller gets ENOMEM; the message says which.
// Raw CMA folios get HVO only when the host models "HVO ported to CMA" (host.cmaHvo); then the
// vmemmap is optimised right after the allocation and restored before the release, because the
// range goes back to movable use. (hugetlb_cma= pages in the HugeTLB pool are 'hugetlb-cma'.)
import type { CostModel } from '../constants.js';
import type { CmaOrder } from '../host/cma-area.js';
import type { Host } from '../host/host.js';
import { GuestLedger, hvoFreedPagesOf } from '../host/host.js';
import type { Rng } from '../rng.js';
import type { PageOrder } from '../units.js';
import { ORDER_1G, ORDER_2M } from '../units.js';
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
import {
  PoisonedRemainder,
  failure,
  hugetlbFreeCycles,
  reconstructHugeFolio,
  sizeOf,
  splitHugeFolio,
  type HugeFolioContext,
  newVmemmapDeltas,
} from './hugetlb.js';

interface CmaFile {
  readonly handle: AllocatorHandle & { readonly order: CmaOrder };
  readonly poisoned: PoisonedRemainder;
}

export class CmaAllocator implements Allocator {
  readonly kind = 'cma-raw' as const;
  private readonly files = new Map<number, CmaFile>();
  private readonly ledger: GuestLedger;
  private readonly ctx: HugeFolioContext;
  private nextId = 1;

  constructor(
    private readonly host: Host,
    private readonly costs: CostModel,
    /** Draws for transient failures come from this allocator's stream. */
    private readonly rng: Rng,
  ) {
    this.ledger = new GuestLedger(host.nodeCount, costs);
    this.ctx = {
      host,
      costs,
      ledger: this.ledger,
      hvoApplies: host.cmaHvo,
      vmemmapDeltas: newVmemmapDeltas(),
    };
  }

  /** Nothing is reserved: a CMA area promises nothing until cma_alloc() succeeds. */
  reserve(request: ReserveRequest): Outcome<{ readonly handle: AllocatorHandle }> {
    const order = request.order;
    if (order !== ORDER_2M && order !== ORDER_1G) {
      return failure('EINVAL', 'CMA backs 2 MiB and 1 GiB folios only');
    }
    const nodes = this.host.nodeOrder(request.nodes);
    if (!nodes.ok) return failure('EINVAL', nodes.message);
    const handle = { id: this.nextId++, kind: this.kind, order };
    this.files.set(handle.id, { handle, poisoned: new PoisonedRemainder(this.host.nodeCount) });
    return { ok: true, cycles: 0, handle };
  }

  /** cma_alloc() on each node the mempolicy allows, in order; the cycles of failed nodes count. */
  allocate(handle: AllocatorHandle, choice: NodeChoice, order: PageOrder): AllocOutcome {
    const file = this.file(handle);
    if (order !== file.handle.order) {
      this.ledger.allocationFailures++;
      return failure(
        'EINVAL',
        `this file holds ${sizeOf(handle.order)} folios, not ${sizeOf(order)}`,
      );
    }
    const nodes = this.host.nodeOrder(choice);
    if (!nodes.ok) {
      this.ledger.allocationFailures++;
      return failure('EINVAL', nodes.message);
    }
    let cycles = 0;
    let migrationCycles = 0;
    const reasons: string[] = [];
    for (const node of nodes.nodes) {
      const area = this.host.cma(node);
      if (!area) {
        reasons.push(`node ${node} has no CMA area`);
        continue;
      }
      const got = area.allocate(file.handle.order, this.costs, this.rng);
      cycles += got.cycles;
      migrationCycles += got.migrationCycles;
      if (!got.ok) {
        reasons.push(got.message);
        continue;
      }
      const folio: FolioRef = { node, order, hvo: this.host.cmaHvo };
      if (folio.hvo) {
        cycles += this.host.optimiseVmemmap(node, hvoFreedPagesOf(this.costs, order), this.costs);
      }
      this.ledger.addFolio(folio);
      this.ledger.allocations++;
      return { ok: true, cycles, folio, migrationCycles };
    }
    this.ledger.allocationFailures++;
    // cma_alloc() returned NULL on every node: ENOMEM, even when alloc_contig_range() failed on
    // transient references (-EBUSY inside cma_alloc(), which retries and then gives up).
    return failure('ENOMEM', reasons.join('; '), cycles);
  }

  split(handle: AllocatorHandle, folio: FolioRef, targetOrder: PageOrder): VmemmapOutcome {
    this.file(handle);
    return splitHugeFolio(this.ctx, handle.order, folio, targetOrder);
  }

  reconstruct(handle: AllocatorHandle, first: FolioRef, targetOrder: PageOrder): VmemmapOutcome {
    this.file(handle);
    return reconstructHugeFolio(this.ctx, handle.order, first, targetOrder);
  }

  /**
   * cma_release() of a whole folio. A HVO'd folio first gets its vmemmap back (from the node's
   * buddy memory: ENOMEM leaves the folio allocated). Cost: the no-HVO HugeTLB free timing per
   * 2 MiB (assumption: releasing contiguous pages to the buddy allocator costs what freeing a
   * HugeTLB page to it does) plus the restore, which together make the HVO free timing.
   */
  free(handle: AllocatorHandle, folio: FolioRef): Outcome<object> {
    const file = this.file(handle);
    if (folio.order !== file.handle.order) {
      if (!file.poisoned.take(folio)) {
        return failure(
          'EINVAL',
          `a split ${sizeOf(handle.order)} CMA folio must be reconstructed before it is released`,
        );
      }
      this.ledger.removeFolio(folio);
      this.ledger.frees++;
      return { ok: true, cycles: 0 };
    }
    let cycles = 0;
    if (folio.hvo) {
      const restored = this.host.restoreVmemmap(
        folio.node,
        hvoFreedPagesOf(this.costs, folio.order),
        this.costs,
      );
      if (!restored.ok) {
        return failure('ENOMEM', `releasing a HVO'd CMA folio: ${restored.message}`);
      }
      cycles += restored.cycles;
    }
    this.areaOf(folio.node).release(file.handle.order);
    this.ledger.removeFolio(folio);
    this.ledger.frees++;
    cycles += hugetlbFreeCycles(this.costs, false, this.host.hvoBatched, folio.order);
    return { ok: true, cycles };
  }

  /** hwpoison: the range holding the folio is marked unusable and never handed out again. For a
   * piece of a split folio the caller frees the other pieces afterwards (PoisonedRemainder). */
  error(handle: AllocatorHandle, folio: FolioRef): void {
    const file = this.file(handle);
    this.ledger.removeFolio(folio);
    this.ledger.memoryErrors++;
    this.areaOf(folio.node).poison(file.handle.order);
    if (folio.order !== file.handle.order) file.poisoned.add(folio, file.handle.order);
  }

  /** Nothing was reserved. */
  unreserve(handle: AllocatorHandle): void {
    this.file(handle);
  }

  stats(): AllocatorStats {
    return this.ledger.stats(new Array<number>(this.host.nodeCount).fill(0));
  }

  private areaOf(node: number) {
    const area = this.host.cma(node);
    if (!area) throw new Error(`cma allocator: node ${node} has no CMA area`);
    return area;
  }

  private file(handle: AllocatorHandle): CmaFile {
    const file = this.files.get(handle.id);
    if (!file || file.handle.kind !== handle.kind) {
      throw new Error(`cma allocator: unknown handle ${handle.id} (${handle.kind})`);
    }
    return file;
  }
}

export function createCmaAllocator(host: Host, costs: CostModel, rng: Rng): CmaAllocator {
  return new CmaAllocator(host, costs, rng);
}
