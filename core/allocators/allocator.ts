// The allocator interface proposed for guest_memfd at LPC 2024 ("guest_memfd custom allocator"):
//   reserve(node, pageSize, count) -> handle, allocate(handle, mempolicy, pageSize) -> folio,
//   split(handle, folio, targetSize), reconstruct(handle, firstFolio, nrPages),
//   free(handle, folio), error(handle, folio), unreserve(handle).
// HugeTLB, CMA, THP and 4 KiB buddy each implement it in a file of their own.
//
// Folios are value objects: guest_memfd keeps its layout in per-range arrays (a 1 TiB guest has
// 268 M base pages), so a folio here is "the folio of this order at this node", never an object
// per 4 KiB page.
import type { AllocatorKind } from '../config.js';
import type { Errno } from '../errors.js';
import type { PageOrder } from '../units.js';

export interface FolioRef {
  /** NUMA node the folio's memory sits on. */
  readonly node: number;
  readonly order: PageOrder;
  /** The folio's vmemmap is optimised (HVO): its tail struct pages share one vmemmap page. */
  readonly hvo: boolean;
}

/** Nodes to try, in order, for one allocation: the resolved NUMA mempolicy for this index. */
export interface NodeChoice {
  readonly nodes: readonly number[];
  /** bind: never fall back outside `nodes`. */
  readonly strict: boolean;
}

export interface ReserveRequest {
  readonly order: PageOrder;
  /** Folios of `order` to reserve (HugeTLB subpools reserve the whole file at creation). */
  readonly count: number;
  /** Nodes the mempolicy allows, in preference order. */
  readonly nodes: NodeChoice;
}

export interface AllocatorHandle {
  readonly id: number;
  readonly kind: AllocatorKind;
  readonly order: PageOrder;
}

export type Outcome<T> =
  | ({ readonly ok: true; readonly cycles: number } & T)
  | {
      readonly ok: false;
      readonly errno: Errno;
      readonly message: string;
      readonly cycles: number;
    };

export type AllocOutcome = Outcome<{
  readonly folio: FolioRef;
  /** Cycles spent migrating movable pages out of the way (CMA), part of `cycles`. */
  readonly migrationCycles: number;
}>;

export type VmemmapOutcome = Outcome<{
  /** vmemmap pages allocated (restore, on split) or freed (re-optimise, on reconstruct). */
  readonly vmemmapPages: number;
  /** Cycles of vmemmap work alone, part of `cycles`. */
  readonly vmemmapCycles: number;
}>;

/** Memory and event counters every allocator keeps, so comparisons are like for like. */
export interface AllocatorStats {
  /** Bytes handed out to guest_memfd and not yet freed, per node. */
  readonly allocatedBytesByNode: readonly number[];
  /** Bytes reserved for this file but not allocated yet (HugeTLB subpool), per node. */
  readonly reservedBytesByNode: readonly number[];
  /** vmemmap pages backing the struct pages of allocated folios (after HVO), per node. */
  readonly vmemmapPagesByNode: readonly number[];
  /** vmemmap pages HVO currently saves for allocated folios, per node. */
  readonly hvoSavedPagesByNode: readonly number[];
  readonly allocations: number;
  readonly allocationFailures: number;
  readonly frees: number;
  readonly memoryErrors: number;
}

/** What allocateHugeRun() handed out: `count` folios of the order asked for on `node`, with HVO
 * state `hvo`, `cycles` each (no migration). */
export interface HugeRun {
  readonly node: number;
  readonly count: number;
  readonly cycles: number;
  readonly hvo: boolean;
}

/** What allocateBaseRun() handed out: `count` order-0 folios on `node`, `cycles` each. */
export interface BaseRun {
  readonly node: number;
  readonly count: number;
  readonly cycles: number;
}

export interface Allocator {
  readonly kind: AllocatorKind;
  /** Reserve memory for a file. HugeTLB: take `count` pages from the pools into a subpool, or fail
   * with ENOMEM naming what is missing. Others: record the handle (nothing is set aside). */
  reserve(request: ReserveRequest): Outcome<{ readonly handle: AllocatorHandle }>;
  /** One folio of `order` on the first node of `choice` that can provide it. */
  allocate(handle: AllocatorHandle, choice: NodeChoice, order: PageOrder): AllocOutcome;
  /** Optional bulk form of allocate(handle, choice, ORDER_4K) repeated up to `count` times: the
   * folios those calls would have placed on the first node of `choice`, up to the first call that
   * would not. Ledger and host end as after those calls. null when it hands out nothing. */
  allocateBaseRun?(handle: AllocatorHandle, choice: NodeChoice, count: number): BaseRun | null;
  /** Optional bulk form of allocate(handle, choice, order) repeated up to `count` times, for the
   * file's own huge order: the folios those calls would have placed on the first node of
   * `choice`, each with the same cycles and HVO state, up to the first call that would not.
   * Ledger and host end as after those calls. null when it hands out nothing. */
  allocateHugeRun?(
    handle: AllocatorHandle,
    choice: NodeChoice,
    order: PageOrder,
    count: number,
  ): HugeRun | null;
  /** Split `folio` into folios of `targetOrder`: restores HVO'd vmemmap first (allocates memory,
   * can fail with ENOMEM). */
  split(handle: AllocatorHandle, folio: FolioRef, targetOrder: PageOrder): VmemmapOutcome;
  /** Rebuild a folio of `targetOrder` from `nrPages` base pages starting at `first`: re-optimises
   * vmemmap where HVO applies. */
  reconstruct(handle: AllocatorHandle, first: FolioRef, targetOrder: PageOrder): VmemmapOutcome;
  /** Return a whole folio: to the subpool (HugeTLB), the CMA area, or the buddy allocator. */
  free(handle: AllocatorHandle, folio: FolioRef): Outcome<object>;
  /** A memory error (hwpoison) on the folio: it leaves service and is never handed out again. */
  error(handle: AllocatorHandle, folio: FolioRef): void;
  /** Give back what the handle still has reserved. */
  unreserve(handle: AllocatorHandle): void;
  stats(): AllocatorStats;
}
