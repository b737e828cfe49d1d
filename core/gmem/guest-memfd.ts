// One guest_memfd file bound to one memslot: its folios, shareability, refcounts and KVM's
// mappings of it, and the operations of domain.md section 4 (convert, fallocate, PUNCH_HOLE, pin,
// guest and host faults, prefault, acceptance). The rules follow virt/kvm/guest_memfd.c and the
// in-place conversion / HugeTLB series (Ackerley Tng, "1G page support for guest_memfd" RFC v1/v2);
// where those are silent, comments name the mechanism modelled.
import type {
  Allocator,
  AllocatorHandle,
  BaseRun,
  FolioRef,
  NodeChoice,
} from '../allocators/allocator.js';
import type { GmemVariantConfig } from '../config.js';
import type { CostModel } from '../constants.js';
import { usToCycles } from '../constants.js';
import { KernelError, type Errno } from '../errors.js';
import type { EventLog } from '../events/event-log.js';
import { LATENCY_INDEX, METRIC_INDEX } from '../metrics/definitions.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import { maxMappingLevel, NOT_MAPPED, TdpMmu, vendorMaxLevel } from '../kvm/mmu.js';
import {
  blockOfPage,
  gigOfBlock,
  gigOfPage,
  GiB,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  PAGE_SIZE,
  orderOfPageSize,
  type PageOrder,
} from '../units.js';
import { MemoryClassifier } from './accounting.js';
import { FolioLayout } from './folio-layout.js';
import { Mempolicy } from './mempolicy.js';
import { PagedBitmap } from './paged-bitmap.js';

export type Shareability = 'shared' | 'private';
export type Who = 'guest' | 'host';
export type Access = 'read' | 'write';

export type OpResult =
  | { readonly ok: true; readonly cycles: number }
  | {
      readonly ok: false;
      readonly errno: Errno;
      readonly message: string;
      /** Byte offset in the file where the operation failed. */
      readonly offset: number;
      readonly cycles: number;
    };

export interface GmemDeps {
  readonly config: GmemVariantConfig;
  readonly costs: CostModel;
  readonly allocator: Allocator;
  readonly nodeCount: number;
  readonly metrics: MetricsRecorder;
  readonly log: EventLog;
  /** Simulated time, ns. */
  readonly now: () => number;
  /** The allocator applies HVO to the huge folios it hands out. */
  readonly hvo: boolean;
}

// Metric positions (METRIC_INDEX), resolved once: the hot paths add by index, not by name.
const M_ALLOC_FAILURES = METRIC_INDEX.alloc_failures;
const M_CYCLES_TOTAL = METRIC_INDEX.cycles_total;
const M_EAGAIN_FAILURES = METRIC_INDEX.eagain_failures;
const M_FAILED_OPERATIONS = METRIC_INDEX.failed_operations;
const M_FREED_BYTES = METRIC_INDEX.freed_bytes;
const M_INVALIDATIONS = METRIC_INDEX.invalidations;
const M_MERGES_CANCELLED = METRIC_INDEX.merges_cancelled;
const M_MERGES_DEFERRED = METRIC_INDEX.merges_deferred;
const M_MMU_LOCK_WRITE = METRIC_INDEX.mmu_lock_write;
const M_PUNCHED_BYTES = METRIC_INDEX.punched_bytes;
const M_REFUSED_CONVERSIONS = METRIC_INDEX.refused_conversions;
const M_TDP_FAULTS = METRIC_INDEX.tdp_faults;
const M_THP_FALLBACKS = METRIC_INDEX.thp_fallbacks;
const M_VM_EXITS = METRIC_INDEX.vm_exits;
const M_CONVERSIONS_TO_SHARED = METRIC_INDEX.conversions_to_shared;
const M_CONVERSIONS_TO_PRIVATE = METRIC_INDEX.conversions_to_private;
const M_CONVERTED_TO_SHARED_BYTES = METRIC_INDEX.converted_to_shared_bytes;
const M_CONVERTED_TO_PRIVATE_BYTES = METRIC_INDEX.converted_to_private_bytes;
const M_SPLITS_1G = METRIC_INDEX.splits_1g;
const M_SPLITS_2M = METRIC_INDEX.splits_2m;
const M_MERGES_1G = METRIC_INDEX.merges_1g;
const M_MERGES_2M = METRIC_INDEX.merges_2m;

/** Cycle categories: the metric each one is charged to. */
const C_CONVERSION = METRIC_INDEX.cycles_conversion;
const C_SPLIT = METRIC_INDEX.cycles_split;
const C_MERGE = METRIC_INDEX.cycles_merge;
const C_VMEMMAP = METRIC_INDEX.cycles_vmemmap;
const C_ALLOCATION = METRIC_INDEX.cycles_allocation;
const C_MIGRATION = METRIC_INDEX.cycles_migration;
const C_ZEROING = METRIC_INDEX.cycles_zeroing;
const C_FAULT = METRIC_INDEX.cycles_fault;

/** Latency distributions (LATENCY_INDEX); -1: the operation records none. */
const L_NONE = -1;
const L_CONVERT = LATENCY_INDEX.convert;
const L_FALLOCATE = LATENCY_INDEX.fallocate;
const L_PUNCH_HOLE = LATENCY_INDEX.punch_hole;
const L_FAULT = LATENCY_INDEX.fault;
const L_ALLOCATE = LATENCY_INDEX.allocate;

export class GuestMemfd {
  readonly nrPages: number;
  /** Order of the backing page size (0, 9 or 18). */
  readonly hugeOrder: PageOrder;
  readonly unitPages: number;
  readonly layout: FolioLayout;
  /** Shared pages (in-place: guest_memfd shareability; legacy: VM memory attributes). */
  readonly shared: PagedBitmap;
  /** Punched pages still held (zeroed, not freed). */
  readonly punched: PagedBitmap;
  /** Pages of folios hit by a memory error, until punched out. */
  readonly poisoned: PagedBitmap;
  /** Pages with an elevated refcount (pins beyond the safe refcount). */
  readonly pinned: PagedBitmap;
  /** Pins beyond the first, per page (`pinned` marks the pages with one pin or more). */
  private readonly extraPins = new Map<number, number>();
  /** Legacy model: pages allocated in the VMM's shared backend. */
  readonly backend: PagedBitmap | null;
  readonly backendOrder: PageOrder;
  readonly mmu: TdpMmu;
  /** TDX: the guest accepted a 4 KiB page in this 2 MiB block (blocks 2 MiB mapping one-way). */
  private readonly accepted4k: PagedBitmap;
  /** Per backing-size unit: never reconstruct (LPC 2024 "disallow split and reconstruct of shared"). */
  private readonly noReconstruct: PagedBitmap;
  /** Deferred merges: unit -> due time (ns); queue in due order (the delay is constant). */
  private readonly pendingMerges = new Map<number, number>();
  private readonly mergeQueue: number[] = [];
  /** Due time of each queue entry: an entry whose unit was cancelled and queued again is stale. */
  private readonly mergeQueueDue: number[] = [];
  private mergeQueueHead = 0;
  /** LPC 2024 "disallow splitting shared huge pages": ranges converted to shared as one unit. */
  private readonly sharedUnits = new Map<number, number>();
  readonly handle: AllocatorHandle;
  readonly mempolicy: Mempolicy;
  phase: 'build' | 'runtime' = 'runtime';
  private opCycles = 0;
  private inConversion = false;
  private destroyed = false;
  private readonly metrics: MetricsRecorder;
  private readonly costs: CostModel;
  /** The event log keeps events: when it does not, no event object is built. */
  private readonly logging: boolean;
  /** Work list of the conversion in progress: [start, end) pairs, flat, in the first workLength
   * entries (the array is reused). */
  private readonly work: number[] = [];
  private workLength = 0;
  /** Memory classes by 1 GiB range, counted again only where the bitmaps changed. */
  private readonly classifier = new MemoryClassifier();
  private readonly policies: GmemVariantConfig['policies'];
  /** Legacy model: VM-wide attributes, shared memory in the VMM's backend. */
  private readonly legacy: boolean;
  /** Struct-page-less private memory (policy, HugeTLB and CMA only). */
  private readonly structPageless: boolean;

  constructor(private readonly deps: GmemDeps) {
    const { config } = deps;
    this.metrics = deps.metrics;
    this.costs = deps.costs;
    this.logging = deps.log.enabled;
    this.policies = config.policies;
    this.legacy = config.conversionModel === 'legacy';
    this.structPageless =
      config.policies.structPageless &&
      (config.allocator === 'hugetlb' || config.allocator === 'cma');
    this.hugeOrder = orderOfPageSize(config.pageSize);
    this.unitPages = 2 ** this.hugeOrder;
    const unitBytes = this.unitPages * PAGE_SIZE;
    if (config.guestBytes % unitBytes !== 0 || config.guestBytes % (2 * 1024 * 1024) !== 0) {
      throw new KernelError(
        'EINVAL',
        `guest size ${config.guestBytes} B is not a multiple of the ${config.pageSize} backing page size (and of 2 MiB)`,
      );
    }
    if (
      (config.allocator === 'buddy' && this.hugeOrder !== ORDER_4K) ||
      (config.allocator === 'thp' && this.hugeOrder !== ORDER_2M)
    ) {
      throw new KernelError(
        'EINVAL',
        `allocator ${config.allocator} cannot back ${config.pageSize} pages (buddy: 4k only, thp: 2m only)`,
      );
    }
    if (config.allocator === 'hugetlb' && this.hugeOrder === ORDER_4K) {
      throw new KernelError('EINVAL', 'HugeTLB backing needs a 2m or 1g page size');
    }
    if (config.allocator === 'cma' && this.hugeOrder === ORDER_4K) {
      throw new KernelError('EINVAL', 'CMA backing needs a 2m or 1g page size');
    }
    this.nrPages = config.guestBytes / PAGE_SIZE;
    this.layout = new FolioLayout(this.nrPages);
    this.shared = new PagedBitmap(this.nrPages);
    this.punched = new PagedBitmap(this.nrPages);
    this.pinned = new PagedBitmap(this.nrPages);
    this.poisoned = new PagedBitmap(this.nrPages);
    this.backend = this.legacy ? new PagedBitmap(this.nrPages) : null;
    this.backendOrder =
      config.sharedBackend === 'hugetlbfs-1g'
        ? ORDER_1G
        : config.sharedBackend === 'hugetlbfs-2m'
          ? ORDER_2M
          : ORDER_4K;
    this.mmu = new TdpMmu(this.nrPages);
    this.accepted4k = new PagedBitmap(Math.ceil(this.nrPages / 512));
    this.noReconstruct = new PagedBitmap(Math.ceil(this.nrPages / this.unitPages));
    this.mempolicy = new Mempolicy(config.mempolicy, config.homeNode, deps.nodeCount);
    if (!config.initPrivate) this.shared.assignRange(0, this.nrPages, true);

    // hugetlbfs-style subpool: the whole file is reserved at creation (HugeTLB); the other
    // allocators only record the handle.
    const reserved = deps.allocator.reserve({
      order: this.hugeOrder,
      count: this.nrPages / this.unitPages,
      nodes: this.mempolicy.reservationChoice(),
    });
    if (!reserved.ok) {
      throw new KernelError(reserved.errno, `guest_memfd creation failed: ${reserved.message}`);
    }
    this.handle = reserved.handle;
    this.charge(C_ALLOCATION, reserved.cycles);
  }

  get config(): GmemVariantConfig {
    return this.deps.config;
  }

  // ---------------------------------------------------------------------------------------------
  // Conversions

  /** Convert [offset, offset + size) to `to` (KVM_SET_MEMORY_ATTRIBUTES2 / guest_memfd ioctl). */
  convert(offset: number, size: number, to: Shareability): OpResult {
    const outer = this.beginOp();
    let failure: Failure | null;
    try {
      failure = this.convertOp(offset, size, to);
    } catch (err) {
      return this.opThrew(err, outer, offset);
    }
    return this.endOp(L_CONVERT, outer, failure);
  }

  private convertOp(offset: number, size: number, to: Shareability): Failure | null {
    this.checkRange(offset, size);
    const start = offset / PAGE_SIZE;
    const end = (offset + size) / PAGE_SIZE;
    const toShared = to === 'shared';
    const m = this.metrics;
    m.addAt(toShared ? M_CONVERSIONS_TO_SHARED : M_CONVERSIONS_TO_PRIVATE, 1);
    this.charge(C_CONVERSION, this.costs.conversionOpCycles);
    // 1. Work list: only sub-ranges whose shareability differs; converting to the current
    //    state is free.
    const work = this.workList(start, end, toShared);
    const n = this.workLength;
    if (n === 0) {
      if (this.logging) this.log({ type: 'convert', offset, size, to, changedBytes: 0 });
      return null;
    }
    const refusal = this.policyRefusal(start, end, toShared);
    if (refusal) {
      m.addAt(M_REFUSED_CONVERSIONS, 1);
      if (this.logging) this.log({ type: 'convert_refused', offset, size, to, reason: refusal });
      return { errno: 'EPERM', message: refusal, offset };
    }
    this.inConversion = true;
    let failure: Failure | null;
    try {
      failure = this.legacy
        ? this.convertLegacy(work, n, toShared)
        : toShared
          ? this.convertToSharedInPlace(work, n)
          : this.convertToPrivateInPlace(work, n);
    } finally {
      this.inConversion = false;
    }
    if (failure) {
      if (failure.errno === 'EAGAIN') m.addAt(M_EAGAIN_FAILURES, 1);
      if (this.logging)
        this.log({
          type: 'convert_failed',
          offset,
          size,
          to,
          errno: failure.errno,
          failedOffset: failure.offset,
          reason: failure.message,
        });
      return failure;
    }
    let changed = 0;
    for (let k = 0; k < n; k += 2) changed += work[k + 1]! - work[k]!;
    const bytes = changed * PAGE_SIZE;
    m.addAt(toShared ? M_CONVERTED_TO_SHARED_BYTES : M_CONVERTED_TO_PRIVATE_BYTES, bytes);
    // Each work-list entry is one operation of the conversion bookkeeping.
    this.charge(C_CONVERSION, this.costs.conversionOpCycles * (n / 2 - 1));
    this.recordSharedUnit(start, end, toShared);
    if (this.logging) this.log({ type: 'convert', offset, size, to, changedBytes: bytes });
    return null;
  }

  /** Sub-ranges of [start, end) not `toShared` yet, as flat [start, end) pairs in the first
   * workLength entries of the returned array, which the next conversion reuses. */
  private workList(start: number, end: number, toShared: boolean): number[] {
    const work = this.work;
    let n = 0;
    let i = this.shared.find(start, end, !toShared);
    while (i < end) {
      const j = this.shared.find(i, end, toShared);
      if (n < work.length) {
        work[n] = i;
        work[n + 1] = j;
      } else work.push(i, j);
      n += 2;
      i = j < end ? this.shared.find(j, end, !toShared) : end;
    }
    this.workLength = n;
    return work;
  }

  private convertToSharedInPlace(work: readonly number[], n: number): Failure | null {
    const splits: number[] = [];
    for (let k = 0; k < n; k += 2) {
      const s = work[k]!;
      const e = work[k + 1]!;
      // 2. Invalidate over the range rounded out to the huge page size, 3. zap private mappings.
      this.invalidateRounded(s, e, 'to_shared');
      this.cancelDeferredMerges(s, e);
      // 3. Split every huge folio the range touches: shared folios must be order 0.
      const failure = this.splitForShared(s, e, splits);
      if (failure) {
        // 4. Roll back: rebuild what this conversion split.
        this.rollbackSplits(splits);
        return failure;
      }
    }
    for (let k = 0; k < n; k += 2) this.setShared(work[k]!, work[k + 1]!, true);
    return null;
  }

  private convertToPrivateInPlace(work: readonly number[], n: number): Failure | null {
    for (let k = 0; k < n; k += 2) {
      const s = work[k]!;
      const e = work[k + 1]!;
      // Unmap host mappings (the host's shared mmap of the range), then check safe refcounts:
      // any reference beyond nr_pages + 1 fails the conversion with -EAGAIN and its offset.
      this.invalidateRounded(s, e, 'to_private');
      const pinnedAt = this.pinned.find(s, e, true);
      if (pinnedAt < e) {
        return {
          errno: 'EAGAIN',
          message: `page at offset 0x${(pinnedAt * PAGE_SIZE).toString(16)} has an elevated refcount (pinned ${this.pinCount(pinnedAt)}x); the VMM may retry after unpinning`,
          offset: pinnedAt * PAGE_SIZE,
        };
      }
    }
    for (let k = 0; k < n; k += 2) this.setShared(work[k]!, work[k + 1]!, false);
    // Merge every huge-aligned range that has no shared page left (per merge policy).
    for (let k = 0; k < n; k += 2) this.mergeAfterPrivate(work[k]!, work[k + 1]!);
    return null;
  }

  /**
   * Legacy model: attributes are VM-wide; private memory lives in guest_memfd and shared memory in
   * the VMM's backend. To-shared: the VMM punches the private range out of guest_memfd (a partial
   * huge page is only zeroed) and backs it with shared memory. To-private: the VMM discards the
   * shared backing (hugetlbfs cannot discard sub-ranges).
   */
  private convertLegacy(work: readonly number[], n: number, toShared: boolean): Failure | null {
    for (let k = 0; k < n; k += 2) {
      const s = work[k]!;
      const e = work[k + 1]!;
      this.invalidateRounded(s, e, toShared ? 'to_shared' : 'to_private');
      this.setShared(s, e, toShared);
      if (toShared) {
        const failure = this.punchRange(s, e);
        if (failure) return failure;
        this.allocateBackend(s, e);
      } else {
        this.discardBackend(s, e);
      }
    }
    return null;
  }

  /** LPC 2024 options that refuse conversions. */
  private policyRefusal(start: number, end: number, toShared: boolean): string | null {
    if (this.policies.sharedPages !== 'disallow-split' || this.hugeOrder === ORDER_4K) return null;
    // "Disallow splitting shared huge pages": a conversion must cover exactly ranges converted to
    // shared before; cutting into one of them would split a shared huge page.
    for (const [us, ue] of this.sharedUnits) {
      if (us < end && ue > start && (us < start || ue > end)) {
        return `range [0x${(start * PAGE_SIZE).toString(16)}, 0x${(end * PAGE_SIZE).toString(16)}) cuts into the shared range [0x${(us * PAGE_SIZE).toString(16)}, 0x${(ue * PAGE_SIZE).toString(16)}) converted earlier; the disallow-split policy needs the same range`;
      }
    }
    if (!toShared) {
      const stray = this.sharedOutsideUnits(start, end);
      if (stray !== null) {
        return `shared page at offset 0x${(stray * PAGE_SIZE).toString(16)} was not converted as part of a recorded range; the disallow-split policy refuses partial reconversion`;
      }
    }
    return null;
  }

  private sharedOutsideUnits(start: number, end: number): number | null {
    let i = this.shared.find(start, end, true);
    while (i < end) {
      let covered = false;
      for (const [us, ue] of this.sharedUnits) {
        if (i >= us && i < ue) {
          covered = true;
          i = Math.min(ue, end);
          break;
        }
      }
      if (!covered) return i;
      i = this.shared.find(i, end, true);
    }
    return null;
  }

  private recordSharedUnit(start: number, end: number, toShared: boolean): void {
    if (this.policies.sharedPages !== 'disallow-split') return;
    for (const [us, ue] of [...this.sharedUnits]) {
      if (us >= start && ue <= end) this.sharedUnits.delete(us);
    }
    if (toShared) this.sharedUnits.set(start, end);
  }

  private setShared(start: number, end: number, value: boolean): void {
    this.shared.assignRange(start, end, value);
    if (
      value &&
      this.policies.sharedPages === 'disallow-split-and-reconstruct' &&
      this.hugeOrder !== ORDER_4K
    ) {
      // The last private sub-page went shared: this huge range is never reconstructed.
      const u0 = Math.floor(start / this.unitPages);
      const u1 = Math.floor((end - 1) / this.unitPages);
      for (let u = u0; u <= u1; u++) {
        if (this.sharedInUnit(u) === this.unitPages) this.noReconstruct.assign(u, true);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Splits and merges

  private splitForShared(start: number, end: number, splits: number[] | null): Failure | null {
    const b0 = blockOfPage(start);
    const b1 = blockOfPage(end - 1);
    for (let b = b0; b <= b1; b++) {
      const failure = this.splitBlockToBase(b, splits);
      if (failure) return failure;
    }
    return null;
  }

  /** Make the folios covering 2 MiB block `b` order 0, per split policy. */
  private splitBlockToBase(b: number, splits: number[] | null): Failure | null {
    let order = this.layout.blockOrderOf(b);
    if (order === ORDER_1G) {
      const gigStart = gigOfBlock(b) * 262144;
      const to = this.policies.split === 'staged' ? ORDER_2M : ORDER_4K;
      const failure = this.splitFolio(gigStart, ORDER_1G, to, splits);
      if (failure) return failure;
      order = to;
    }
    if (order === ORDER_2M) return this.splitFolio(b * 512, ORDER_2M, ORDER_4K, splits);
    return null;
  }

  /** split(handle, folio, targetSize): vmemmap restore first (can fail), then the split. */
  private splitFolio(
    index: number,
    from: PageOrder,
    to: PageOrder,
    splits: number[] | null,
  ): Failure | null {
    const folio = this.folioAt(index, from);
    let hvoAfter: boolean;
    let vmemmapPages = 0;
    if (this.structPageless) {
      // Struct-page-less private memory: a split is a PFN-range update (page-table work only);
      // the allocator's view of the folio (and its vmemmap) does not change.
      this.charge(C_SPLIT, this.costs.conversionOpCycles);
      hvoAfter = folio.hvo;
    } else {
      const r = this.deps.allocator.split(this.handle, folio, to);
      this.charge(C_VMEMMAP, r.ok ? r.vmemmapCycles : r.cycles);
      if (!r.ok) {
        this.metrics.addAt(M_ALLOC_FAILURES, 1);
        return {
          errno: r.errno,
          message: `split of the ${from === ORDER_1G ? '1 GiB' : '2 MiB'} folio at offset 0x${(index * PAGE_SIZE).toString(16)} failed: ${r.message}`,
          offset: index * PAGE_SIZE,
        };
      }
      this.charge(C_ALLOCATION, r.cycles - r.vmemmapCycles);
      vmemmapPages = r.vmemmapPages;
      hvoAfter = folio.hvo && to === ORDER_2M;
      this.charge(C_SPLIT, from === ORDER_1G ? this.costs.split1GCycles : this.costs.split2MCycles);
    }
    this.layout.split(index, from, to, hvoAfter);
    this.metrics.addAt(from === ORDER_1G ? M_SPLITS_1G : M_SPLITS_2M, 1);
    if (this.logging)
      this.log({
        type: 'split',
        offset: index * PAGE_SIZE,
        fromOrder: from,
        toOrder: to,
        vmemmapPages,
      });
    splits?.push(index, from, to);
    return null;
  }

  /** reconstruct(handle, firstFolio, nrPages): the merge, then vmemmap re-optimise.
   * `accountingOnly`: no cost, counter or event (a memory error takes the page out whole). */
  private mergeFolio(
    index: number,
    from: PageOrder,
    to: PageOrder,
    accountingOnly = false,
  ): Failure | null {
    let hvoAfter: boolean;
    let vmemmapPages = 0;
    const charged = !accountingOnly;
    if (this.structPageless) {
      if (charged) this.charge(C_MERGE, this.costs.conversionOpCycles);
      hvoAfter = this.layout.hvoAt(index);
    } else {
      const first = this.folioAt(index, from);
      const r = this.deps.allocator.reconstruct(this.handle, first, to);
      if (!r.ok) {
        if (charged) this.charge(C_VMEMMAP, r.cycles);
        return { errno: r.errno, message: r.message, offset: index * PAGE_SIZE };
      }
      if (charged) {
        this.charge(C_VMEMMAP, r.vmemmapCycles);
        this.charge(C_ALLOCATION, r.cycles - r.vmemmapCycles);
      }
      vmemmapPages = r.vmemmapPages;
      hvoAfter = this.allocatorHvo(to);
      if (charged)
        this.charge(C_MERGE, to === ORDER_1G ? this.costs.merge1GCycles : this.costs.merge2MCycles);
    }
    this.layout.merge(index, from, to, hvoAfter);
    if (accountingOnly) return null;
    this.metrics.addAt(to === ORDER_1G ? M_MERGES_1G : M_MERGES_2M, 1);
    if (this.logging)
      this.log({ type: 'merge', offset: index * PAGE_SIZE, toOrder: to, vmemmapPages });
    return null;
  }

  /** Undo `splits`, (index, from, to) triples, last first. */
  private rollbackSplits(splits: readonly number[]): void {
    for (let i = splits.length - 3; i >= 0; i -= 3) {
      this.mergeFolio(splits[i]!, splits[i + 2] as PageOrder, splits[i + 1] as PageOrder);
    }
  }

  private mergeAfterPrivate(start: number, end: number): void {
    if (this.hugeOrder === ORDER_4K || this.policies.split === 'always-split') return;
    const u0 = Math.floor(start / this.unitPages);
    const u1 = Math.floor((end - 1) / this.unitPages);
    for (let u = u0; u <= u1; u++) {
      if (this.isUnitHugeFolio(u)) continue;
      if (this.sharedInUnit(u) !== 0) {
        if (this.hugeOrder === ORDER_1G && this.policies.split === 'staged')
          this.scheduleOrMerge(u, true);
        continue;
      }
      this.scheduleOrMerge(u, false);
    }
  }

  private scheduleOrMerge(unit: number, blocksOnly: boolean): void {
    const merge = this.policies.merge;
    if (merge === 'never' || this.noReconstruct.get(unit)) return;
    if (merge === 'eager') {
      this.tryMergeUnit(unit, blocksOnly);
      return;
    }
    if (!this.pendingMerges.has(unit)) {
      const due = this.deps.now() + this.policies.mergeDelayNs;
      this.pendingMerges.set(unit, due);
      this.mergeQueue.push(unit);
      this.mergeQueueDue.push(due);
      this.metrics.addAt(M_MERGES_DEFERRED, 1);
      if (this.logging)
        this.log({ type: 'merge_deferred', offset: unit * this.unitPages * PAGE_SIZE, dueNs: due });
    }
  }

  /** The deferred-merge worker: merge every queued range whose delay has passed. */
  runDeferredMerges(now: number): void {
    while (this.mergeQueueHead < this.mergeQueue.length) {
      const unit = this.mergeQueue[this.mergeQueueHead]!;
      const due = this.mergeQueueDue[this.mergeQueueHead]!;
      if (this.pendingMerges.get(unit) !== due) {
        // Cancelled, or cancelled and queued again further back: this entry is stale.
        this.mergeQueueHead++;
        continue;
      }
      if (due > now) break;
      this.mergeQueueHead++;
      this.pendingMerges.delete(unit);
      this.tryMergeUnit(unit, this.sharedInUnit(unit) !== 0);
    }
    if (this.mergeQueueHead > 1024 && this.mergeQueueHead * 2 > this.mergeQueue.length) {
      this.mergeQueue.splice(0, this.mergeQueueHead);
      this.mergeQueueDue.splice(0, this.mergeQueueHead);
      this.mergeQueueHead = 0;
    }
  }

  /** Time of the next deferred merge, or Infinity. */
  nextDeferredMergeNs(): number {
    // Every operation asks (Simulation.advanceTo); with nothing pending, the queue holds only
    // entries that were cancelled or done.
    if (this.pendingMerges.size === 0) return Infinity;
    for (let i = this.mergeQueueHead; i < this.mergeQueue.length; i++) {
      const due = this.mergeQueueDue[i]!;
      if (this.pendingMerges.get(this.mergeQueue[i]!) === due) return due;
    }
    return Infinity;
  }

  private cancelDeferredMerges(start: number, end: number): void {
    if (this.pendingMerges.size === 0) return;
    const u0 = Math.floor(start / this.unitPages);
    const u1 = Math.floor((end - 1) / this.unitPages);
    for (let u = u0; u <= u1; u++) {
      if (this.pendingMerges.delete(u)) {
        this.metrics.addAt(M_MERGES_CANCELLED, 1);
        if (this.logging)
          this.log({ type: 'merge_cancelled', offset: u * this.unitPages * PAGE_SIZE });
      }
    }
  }

  /** Merge unit `u` back to the backing size (staged policy: 2 MiB blocks first). */
  private tryMergeUnit(u: number, blocksOnly: boolean): void {
    const start = u * this.unitPages;
    if (this.hugeOrder === ORDER_1G && this.policies.split === 'staged') {
      for (let b = blockOfPage(start); b < blockOfPage(start + this.unitPages); b++) {
        if (this.layout.blockOrderOf(b) === ORDER_4K && this.mergeable(b * 512, 512)) {
          this.zapForMerge(b * 512, 512);
          if (this.mergeFolio(b * 512, ORDER_4K, ORDER_2M)) return;
        }
      }
      if (blocksOnly) return;
      if (!this.mergeable(start, this.unitPages, true)) return;
      for (let b = blockOfPage(start); b < blockOfPage(start + this.unitPages); b++) {
        if (this.layout.blockOrderOf(b) !== ORDER_2M) return;
      }
      this.zapForMerge(start, this.unitPages);
      this.mergeFolio(start, ORDER_2M, ORDER_1G);
      return;
    }
    if (blocksOnly || this.isUnitHugeFolio(u) || !this.mergeable(start, this.unitPages, true))
      return;
    this.zapForMerge(start, this.unitPages);
    this.mergeFolio(start, ORDER_4K, this.hugeOrder);
  }

  /** A range can be merged when it is fully allocated, all private and at the safe refcount. */
  private mergeable(start: number, pages: number, report = false): boolean {
    const end = start + pages;
    if (this.layout.allocated.countRange(start, end) !== pages) return false;
    if (this.shared.countRange(start, end) !== 0) return false;
    if (this.punched.countRange(start, end) === pages && this.config.allocator !== 'thp')
      return false;
    if (this.pinned.countRange(start, end) !== 0) {
      if (report) {
        const at = this.pinned.find(start, end, true);
        this.metrics.addAt(M_EAGAIN_FAILURES, 1);
        if (this.logging)
          this.log({
            type: 'merge_failed',
            offset: start * PAGE_SIZE,
            errno: 'EAGAIN',
            reason: `page at offset 0x${(at * PAGE_SIZE).toString(16)} has an elevated refcount`,
          });
      }
      return false;
    }
    return true;
  }

  private zapForMerge(start: number, pages: number): void {
    // Mappings of the small folios are zapped so KVM can map the merged folio huge. Inside a
    // conversion the range was already invalidated (rounded out to the huge page size).
    if (this.inConversion) return;
    this.invalidate(start, start + pages, 'merge');
  }

  // ---------------------------------------------------------------------------------------------
  // Allocation, fallocate and PUNCH_HOLE

  /** fallocate(mode 0): allocate [offset, offset + size), rounded out to huge page boundaries. */
  fallocate(offset: number, size: number): OpResult {
    const outer = this.beginOp();
    let failure: Failure | null;
    try {
      failure = this.fallocateOp(offset, size);
    } catch (err) {
      return this.opThrew(err, outer, offset);
    }
    return this.endOp(L_FALLOCATE, outer, failure);
  }

  private fallocateOp(offset: number, size: number): Failure | null {
    const [start, end] = this.pageRange(offset, size);
    const s = Math.floor(start / this.unitPages) * this.unitPages;
    const e = Math.ceil(end / this.unitPages) * this.unitPages;
    const before = this.layout.allocated.total;
    for (let u = s; u < e;) {
      const run = this.hugeOrder === ORDER_4K ? this.allocateBaseRun(u, e) : 0;
      if (run > 0) {
        u += run;
        continue;
      }
      const failure = this.allocateUnit(u);
      if (failure) return failure;
      u += this.unitPages;
    }
    if (this.logging)
      this.log({
        type: 'fallocate',
        offset,
        size,
        allocatedBytes: (this.layout.allocated.total - before) * PAGE_SIZE,
      });
    return null;
  }

  /** Fill the allocation unit at `start` with folios. */
  private allocateUnit(start: number): Failure | null {
    const poisonedAt = this.poisoned.find(start, start + this.unitPages, true);
    if (poisonedAt < start + this.unitPages) {
      return {
        errno: 'EHWPOISON',
        message: `offset 0x${(poisonedAt * PAGE_SIZE).toString(16)} is poisoned (memory error); punch it out first`,
        offset: poisonedAt * PAGE_SIZE,
      };
    }
    if (this.hugeOrder === ORDER_4K) return this.allocateBase(start);
    const missing =
      this.unitPages - this.layout.allocated.countRange(start, start + this.unitPages);
    if (missing === 0) return null;
    if (missing !== this.unitPages) {
      // Only 4 KiB folios of a split THP can be missing: refill them one by one.
      for (let i = start; i < start + this.unitPages; i++) {
        if (!this.layout.isAllocated(i)) {
          const failure = this.allocateBase(i);
          if (failure) return failure;
        }
      }
      return null;
    }
    const choice = this.mempolicy.choose(start, this.hugeOrder);
    const r = this.deps.allocator.allocate(this.handle, choice, this.hugeOrder);
    this.recordAllocLatency(r.cycles);
    if (!r.ok) {
      this.charge(C_ALLOCATION, r.cycles);
      if (this.config.allocator === 'thp') {
        // Best-effort THP: fall back to 4 KiB pages.
        this.metrics.addAt(M_THP_FALLBACKS, 1);
        for (let i = start; i < start + this.unitPages; i++) {
          const failure = this.allocateBase(i);
          if (failure) return failure;
        }
        return null;
      }
      return this.allocFailure(start, this.hugeOrder, r.errno, r.message);
    }
    this.charge(C_MIGRATION, r.migrationCycles);
    this.charge(C_ALLOCATION, r.cycles - r.migrationCycles);
    // A fresh folio is zeroed before it is handed to the guest (clear_huge_page).
    this.charge(C_ZEROING, this.costs.zeroPage4KCycles * this.unitPages);
    this.layout.addHugeFolio(start, this.hugeOrder, r.folio.node, r.folio.hvo);
    this.punched.assignRange(start, start + this.unitPages, false);
    if (this.logging)
      this.log({
        type: 'allocate',
        offset: start * PAGE_SIZE,
        order: this.hugeOrder,
        node: r.folio.node,
      });
    if (this.policies.split === 'always-split') {
      // RFC v1: split before use, so every page can be refcounted and converted on its own.
      return this.splitForAllocation(start);
    }
    // A new huge folio whose range already holds a shared page is split at once (in-place).
    if (!this.legacy && this.sharedInRange(start, start + this.unitPages) > 0) {
      return this.splitForShared(start, start + this.unitPages, null);
    }
    return null;
  }

  private splitForAllocation(start: number): Failure | null {
    if (this.hugeOrder === ORDER_1G) return this.splitFolio(start, ORDER_1G, ORDER_4K, null);
    return this.splitFolio(start, ORDER_2M, ORDER_4K, null);
  }

  private allocateBase(index: number): Failure | null {
    if (this.layout.isAllocated(index)) return null;
    if (this.poisoned.get(index)) {
      return {
        errno: 'EHWPOISON',
        message: `offset 0x${(index * PAGE_SIZE).toString(16)} is poisoned (memory error); punch it out first`,
        offset: index * PAGE_SIZE,
      };
    }
    const choice: NodeChoice = this.mempolicy.choose(index, ORDER_4K);
    const r = this.deps.allocator.allocate(this.handle, choice, ORDER_4K);
    this.recordAllocLatency(r.cycles);
    if (!r.ok) {
      this.charge(C_ALLOCATION, r.cycles);
      return this.allocFailure(index, ORDER_4K, r.errno, r.message);
    }
    this.charge(C_ALLOCATION, r.cycles);
    this.charge(C_ZEROING, this.costs.zeroPage4KCycles);
    this.layout.addBaseFolio(index, r.folio.node);
    this.punched.assign(index, false);
    return null;
  }

  /** Latency of one allocator call (CMA migration, pool dequeue, buddy), failed ones included. */
  private recordAllocLatency(cycles: number): void {
    if (cycles > 0) this.metrics.recordLatencyAt(L_ALLOCATE, cycles / this.costs.cpuGhz);
  }

  private allocFailure(index: number, order: PageOrder, errno: Errno, message: string): Failure {
    this.metrics.addAt(M_ALLOC_FAILURES, 1);
    if (this.logging)
      this.log({ type: 'alloc_failed', offset: index * PAGE_SIZE, order, errno, reason: message });
    return { errno, message, offset: index * PAGE_SIZE };
  }

  /** fallocate(PUNCH_HOLE | KEEP_SIZE) on [offset, offset + size). */
  punchHole(offset: number, size: number): OpResult {
    const outer = this.beginOp();
    let failure: Failure | null;
    try {
      failure = this.punchHoleOp(offset, size);
    } catch (err) {
      return this.opThrew(err, outer, offset);
    }
    return this.endOp(L_PUNCH_HOLE, outer, failure);
  }

  private punchHoleOp(offset: number, size: number): Failure | null {
    const [start, end] = this.pageRange(offset, size);
    this.metrics.addAt(M_PUNCHED_BYTES, size);
    return this.punchRange(start, end);
  }

  private punchRange(start: number, end: number): Failure | null {
    // kvm_gmem_punch_hole: invalidate (per backing folio, clipped, with order hints), then truncate.
    this.invalidate(start, end, 'punch_hole');
    // Truncation drops a poisoned folio from the file: the range can be allocated again.
    this.poisoned.assignRange(start, end, false);
    const freedBefore = this.metrics.getAt(M_FREED_BYTES);
    let zeroed = 0;
    let failure: Failure | null = null;
    const u0 = Math.floor(start / this.unitPages);
    const u1 = Math.floor((end - 1) / this.unitPages);
    for (let u = u0; u <= u1; u++) {
      const us = u * this.unitPages;
      const ue = us + this.unitPages;
      const s = Math.max(start, us);
      const e = Math.min(end, ue);
      if (this.layout.allocated.countRange(s, e) === 0) continue;
      if (s === us && e === ue) {
        failure = this.freeUnit(u) ?? failure;
        continue;
      }
      if (this.isHugeAllocation(us)) {
        // A huge page covered only in part is zeroed, not freed.
        zeroed += this.zeroPages(s, e);
        if (this.policies.deferredPunch && this.punched.countRange(us, ue) === this.unitPages) {
          // Deferred punch bitmap: every sub-page has now been punched: free the huge page.
          failure = this.freeUnit(u) ?? failure;
        }
      } else {
        failure = this.freeBasePages(s, e) ?? failure;
      }
    }
    if (this.logging)
      this.log({
        type: 'punch_hole',
        offset: start * PAGE_SIZE,
        size: (end - start) * PAGE_SIZE,
        freedBytes: this.metrics.getAt(M_FREED_BYTES) - freedBefore,
        zeroedBytes: zeroed * PAGE_SIZE,
      });
    return failure;
  }

  private zeroPages(start: number, end: number): number {
    let n = 0;
    let i = this.layout.allocated.find(start, end, true);
    while (i < end) {
      const j = this.layout.allocated.find(i, end, false);
      n += this.punched.assignRange(i, j, true);
      i = j < end ? this.layout.allocated.find(j, end, true) : end;
    }
    this.charge(C_ZEROING, n * this.costs.zeroPage4KCycles);
    return n;
  }

  /** Free a whole allocation unit: merged first if it was split, and only at the safe refcount. */
  private freeUnit(u: number): Failure | null {
    const start = u * this.unitPages;
    const end = start + this.unitPages;
    const pinnedAt = this.pinned.find(start, end, true);
    if (pinnedAt < end) {
      this.metrics.addAt(M_EAGAIN_FAILURES, 1);
      return {
        errno: 'EAGAIN',
        message: `cannot free the folio at offset 0x${(start * PAGE_SIZE).toString(16)}: page at 0x${(pinnedAt * PAGE_SIZE).toString(16)} is pinned`,
        offset: pinnedAt * PAGE_SIZE,
      };
    }
    this.pendingMerges.delete(u);
    if (!this.isHugeAllocation(start)) return this.freeBasePages(start, end);
    // Merged if needed (HugeTLB and CMA give back whole huge pages only).
    if (!this.isUnitHugeFolio(u)) this.rebuildUnit(u, false);
    const folio = this.folioAt(start, this.hugeOrder);
    const r = this.deps.allocator.free(this.handle, folio);
    this.charge(C_ALLOCATION, r.cycles);
    if (!r.ok) {
      // e.g. CMA with HVO: the vmemmap must be restored before release and memory ran out.
      this.metrics.addAt(M_ALLOC_FAILURES, 1);
      return {
        errno: r.errno,
        message: `free of the folio at offset 0x${(start * PAGE_SIZE).toString(16)} failed: ${r.message}`,
        offset: start * PAGE_SIZE,
      };
    }
    this.layout.removeHugeFolio(start, this.hugeOrder);
    this.punched.assignRange(start, end, false);
    this.noReconstruct.assign(u, false);
    this.metrics.addAt(M_FREED_BYTES, this.unitPages * PAGE_SIZE);
    if (this.logging) this.log({ type: 'free', offset: start * PAGE_SIZE, order: this.hugeOrder });
    return null;
  }

  /** Put a split huge allocation unit back together (a staged layout goes 4 KiB -> 2 MiB -> 1 GiB).
   * `accountingOnly`: no cost, counter or event (used when a memory error takes the page out). */
  private rebuildUnit(u: number, accountingOnly: boolean): void {
    const start = u * this.unitPages;
    if (this.hugeOrder === ORDER_2M) {
      this.mergeFolio(start, ORDER_4K, ORDER_2M, accountingOnly);
      return;
    }
    let staged = false;
    for (let b = blockOfPage(start); b < blockOfPage(start + this.unitPages); b++) {
      if (this.layout.blockOrderOf(b) === ORDER_2M) staged = true;
    }
    if (!staged) {
      this.mergeFolio(start, ORDER_4K, ORDER_1G, accountingOnly);
      return;
    }
    for (let b = blockOfPage(start); b < blockOfPage(start + this.unitPages); b++) {
      if (this.layout.blockOrderOf(b) === ORDER_4K)
        this.mergeFolio(b * 512, ORDER_4K, ORDER_2M, accountingOnly);
    }
    this.mergeFolio(start, ORDER_2M, ORDER_1G, accountingOnly);
  }

  private freeBasePages(start: number, end: number): Failure | null {
    // A whole 2 MiB THP still in one piece goes back as one folio.
    if (
      this.config.allocator === 'thp' &&
      (start & 511) === 0 &&
      end - start === 512 &&
      this.layout.blockOrderOf(blockOfPage(start)) === ORDER_2M
    ) {
      const r = this.deps.allocator.free(this.handle, this.folioAt(start, ORDER_2M));
      this.charge(C_ALLOCATION, r.cycles);
      this.layout.removeHugeFolio(start, ORDER_2M);
      this.punched.assignRange(start, end, false);
      this.metrics.addAt(M_FREED_BYTES, 512 * PAGE_SIZE);
      if (this.logging) this.log({ type: 'free', offset: start * PAGE_SIZE, order: ORDER_2M });
      return null;
    }
    if (
      this.config.allocator === 'thp' &&
      this.layout.blockOrderOf(blockOfPage(start)) === ORDER_2M
    ) {
      // Partial punch of an unsplit THP: zeroed, not freed.
      this.zeroPages(start, end);
      return null;
    }
    for (
      let i = this.layout.allocated.find(start, end, true);
      i < end;
      i = this.layout.allocated.find(i + 1, end, true)
    ) {
      if (this.pinned.get(i)) {
        this.metrics.addAt(M_EAGAIN_FAILURES, 1);
        return {
          errno: 'EAGAIN',
          message: `page at offset 0x${(i * PAGE_SIZE).toString(16)} is pinned`,
          offset: i * PAGE_SIZE,
        };
      }
      const r = this.deps.allocator.free(this.handle, this.folioAt(i, ORDER_4K));
      this.charge(C_ALLOCATION, r.cycles);
      this.layout.removeBaseFolio(i);
      this.punched.assign(i, false);
      this.metrics.addAt(M_FREED_BYTES, PAGE_SIZE);
    }
    return null;
  }

  // ---------------------------------------------------------------------------------------------
  // Legacy shared backend

  private allocateBackend(start: number, end: number): void {
    const backend = this.backend!;
    const unit = 2 ** this.backendOrder;
    const s = Math.floor(start / unit) * unit;
    const e = Math.min(this.nrPages, Math.ceil(end / unit) * unit);
    const added = backend.assignRange(s, e, true);
    if (added === 0) return;
    const costs = this.costs;
    const perUnit =
      this.backendOrder === ORDER_4K
        ? costs.buddyAlloc4KCycles
        : usToCycles(costs, costs.hugetlbAlloc2MNoHvoUs) * (unit / 512);
    this.charge(C_ALLOCATION, (added / unit) * perUnit);
    this.charge(C_ZEROING, added * costs.zeroPage4KCycles);
  }

  private discardBackend(start: number, end: number): void {
    const backend = this.backend!;
    const unit = 2 ** this.backendOrder;
    if (unit === 1) {
      // MADV_DONTNEED / PUNCH_HOLE on anonymous or shmem memory frees 4 KiB pages; pinned pages
      // stay until they are unpinned.
      for (let i = start; i < end; i = this.pinned.find(i, end, true) + 1) {
        const p = this.pinned.find(i, end, true);
        backend.assignRange(i, p, false);
        if (p >= end) break;
      }
      return;
    }
    // hugetlbfs cannot discard sub-ranges: only backend pages wholly inside the range go.
    const s = Math.ceil(start / unit) * unit;
    const e = Math.floor(end / unit) * unit;
    for (let u = s; u < e; u += unit) {
      if (this.pinned.countRange(u, u + unit) === 0) backend.assignRange(u, u + unit, false);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Refcounts

  /** Take an extra reference (GUP, IOMMU/VFIO mapping, vhost) on each page of the range. */
  pin(offset: number, size: number): OpResult {
    const outer = this.beginOp();
    let failure: Failure | null;
    try {
      failure = this.pinOp(offset, size);
    } catch (err) {
      return this.opThrew(err, outer, offset);
    }
    return this.endOp(L_NONE, outer, failure);
  }

  private pinOp(offset: number, size: number): Failure | null {
    const [start, end] = this.pageRange(offset, size);
    // In place, a page is held when it is allocated: the first page that is not, if any.
    let i = this.legacy ? start : this.layout.allocated.find(start, end, false);
    for (; i < end; i++) {
      if (!this.pageHeld(i)) {
        return {
          errno: 'EFAULT',
          message: `cannot pin offset 0x${(i * PAGE_SIZE).toString(16)}: no page is allocated there`,
          offset: i * PAGE_SIZE,
        };
      }
    }
    if (this.pinned.find(start, end, true) >= end) {
      // No page of the range is pinned yet: one pin each.
      this.pinned.assignRange(start, end, true);
    } else {
      for (let p = start; p < end; p++) {
        if (this.pinned.assign(p, true)) continue;
        this.extraPins.set(p, (this.extraPins.get(p) ?? 0) + 1);
      }
    }
    if (this.logging) this.log({ type: 'pin', offset, size });
    return null;
  }

  unpin(offset: number, size: number): OpResult {
    const outer = this.beginOp();
    let failure: Failure | null;
    try {
      failure = this.unpinOp(offset, size);
    } catch (err) {
      return this.opThrew(err, outer, offset);
    }
    return this.endOp(L_NONE, outer, failure);
  }

  private unpinOp(offset: number, size: number): Failure | null {
    const [start, end] = this.pageRange(offset, size);
    const unpinned = this.pinned.find(start, end, false);
    if (unpinned < end) {
      return {
        errno: 'EINVAL',
        message: `unpin of offset 0x${(unpinned * PAGE_SIZE).toString(16)}, which holds no pin`,
        offset: unpinned * PAGE_SIZE,
      };
    }
    if (this.extraPins.size === 0) {
      // Every page of the range holds exactly one pin.
      this.pinned.assignRange(start, end, false);
    } else {
      for (let p = start; p < end; p++) {
        const extra = this.extraPins.get(p);
        if (extra === undefined) this.pinned.assign(p, false);
        else if (extra === 1) this.extraPins.delete(p);
        else this.extraPins.set(p, extra - 1);
      }
    }
    if (this.logging) this.log({ type: 'unpin', offset, size });
    // Ranges that could not merge because of the pin may merge now (the deferred worker or the
    // next conversion retries; eager merging retries here).
    if (!this.legacy) this.retryMergesAfterUnpin(start, end);
    return null;
  }

  private retryMergesAfterUnpin(start: number, end: number): void {
    if (this.hugeOrder === ORDER_4K || this.policies.split === 'always-split') return;
    const u0 = Math.floor(start / this.unitPages);
    const u1 = Math.floor((end - 1) / this.unitPages);
    for (let u = u0; u <= u1; u++) {
      if (
        this.sharedInUnit(u) === 0 &&
        !this.isUnitHugeFolio(u) &&
        this.layout.allocated.countRange(u * this.unitPages, (u + 1) * this.unitPages) ===
          this.unitPages
      ) {
        this.scheduleOrMerge(u, false);
      }
    }
  }

  private pageHeld(i: number): boolean {
    if (this.legacy && this.shared.get(i)) return this.backend!.get(i);
    return this.layout.isAllocated(i);
  }

  pinCount(index: number): number {
    return this.pinned.get(index) ? 1 + (this.extraPins.get(index) ?? 0) : 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Faults

  /**
   * A fault on the page at file index `gfnIndex` (the memslot maps the file from offset 0).
   * Guest: an EPT/NPT violation, mapped at the largest level the folio, the attributes
   * (lpage_info mixed), the memslot alignment and the vendor allow. Host: a fault through the
   * host's mmap of the file, which needs a shared, order-0 folio.
   */
  fault(index: number, who: Who, access: Access, opts: { exit?: boolean } = {}): OpResult {
    const outer = this.beginOp();
    let failure: Failure | null;
    try {
      failure = this.faultOp(index, who, access, opts);
    } catch (err) {
      return this.opThrew(err, outer, index * PAGE_SIZE);
    }
    return this.endOp(L_FAULT, outer, failure);
  }

  private faultOp(
    index: number,
    who: Who,
    access: Access,
    opts: { exit?: boolean },
  ): Failure | null {
    if (!Number.isInteger(index) || index < 0 || index >= this.nrPages) {
      return {
        errno: 'EINVAL',
        message: `gfn index ${index} outside the memslot (0-${this.nrPages - 1})`,
        offset: index * PAGE_SIZE,
      };
    }
    return who === 'guest'
      ? this.guestFault(index, access, opts.exit ?? true)
      : this.hostFault(index, access);
  }

  private guestFault(index: number, access: Access, exit: boolean): Failure | null {
    const costs = this.costs;
    if (exit) {
      this.metrics.addAt(M_VM_EXITS, 1);
      this.charge(C_FAULT, costs.vmExitCycles);
    }
    this.metrics.addAt(M_TDP_FAULTS, 1);
    this.charge(C_FAULT, costs.tdpFaultCycles);
    if (this.mmu.levelAt(index) !== NOT_MAPPED) return null; // spurious: another vCPU mapped it
    const isShared = this.shared.get(index);
    let folioOrder: PageOrder;
    if (this.legacy && isShared) {
      this.allocateBackend(index, index + 1);
      folioOrder = this.backendOrder;
    } else {
      const unitStart = Math.floor(index / this.unitPages) * this.unitPages;
      const failure =
        this.hugeOrder === ORDER_4K ? this.allocateBase(index) : this.allocateUnit(unitStart);
      if (failure) return failure;
      if (!this.layout.isAllocated(index)) {
        const f = this.allocateBase(index);
        if (f) return f;
      }
      this.punched.assign(index, false);
      folioOrder = this.layout.orderAt(index);
    }
    let level = this.mappingLevel(index, folioOrder);
    if (
      level === ORDER_2M &&
      this.config.vendor === 'tdx' &&
      this.mmu.mapped4kInBlock(blockOfPage(index)) !== 0
    ) {
      // TDX cannot promote: zapping private 4 KiB SPTEs would remove the pages from the TD
      // (TDH.MEM.PAGE.REMOVE), so a block already mapped at 4 KiB stays at 4 KiB.
      level = ORDER_4K;
    }
    const pages = 2 ** level;
    const start = Math.floor(index / pages) * pages;
    // Installing a huge SPTE replaces any smaller mappings below it.
    if (level !== ORDER_4K) this.mmu.zapRange(start, start + pages);
    this.mmu.map(start, level);
    if (this.logging)
      this.log({
        type: 'fault',
        gfn: index,
        who: 'guest',
        access,
        level,
        reason: this.levelReason(index, folioOrder, level),
      });
    return null;
  }

  /**
   * guestFault(i, 'write', exit) for each page of the run from `start` that the per-page path
   * would handle alike, in one step: pages of one 2 MiB block held by 4 KiB folios (or none),
   * unmapped, private in the legacy model, and either all allocated (they are mapped at 4 KiB) or
   * all unallocated (4 KiB backing: allocated from one node, the mempolicy naming the same nodes
   * for every index). Only without an event log, which would get one event per fault. Counters,
   * costs, allocator, layout and mappings end exactly as after those calls. Returns the pages
   * done; 0 leaves `start` to guestFault().
   */
  private guestFaultRun(start: number, end: number, exit: boolean): number {
    if (this.logging || this.layout.blockOrderOf(blockOfPage(start)) !== ORDER_4K) return 0;
    let stop = Math.min(end, (blockOfPage(start) + 1) * 512);
    stop = this.mmu.next4kMapped(start, stop);
    if (this.legacy) stop = this.shared.find(start, stop, true);
    if (stop <= start) return 0;
    const allocated = this.layout.allocated;
    if (allocated.get(start)) {
      // Allocated order-0 folios: allocateBase() / allocateUnit() find nothing to do, unless the
      // unit is poisoned or partly unallocated (then the per-page path reports or refills).
      stop = allocated.find(start, stop, false);
      if (this.hugeOrder !== ORDER_4K) {
        const us = Math.floor(start / this.unitPages) * this.unitPages;
        const ue = us + this.unitPages;
        if (
          allocated.countRange(us, ue) !== this.unitPages ||
          this.poisoned.find(us, ue, true) < ue
        )
          return 0;
      }
      const n = stop - start;
      this.chargeFaults(n, exit, -1);
      this.punched.assignRange(start, stop, false);
      this.mmu.mapBaseRun(start, stop);
      return n;
    }
    if (this.hugeOrder !== ORDER_4K) return 0;
    const run = this.newBaseFolios(start, stop);
    if (!run) return 0;
    const n = run.count;
    this.chargeFaults(n, exit, run.cycles);
    this.mmu.mapBaseRun(start, start + n);
    return n;
  }

  /**
   * allocateUnit(i) of 4 KiB backing for each i of [start, end) that it would handle alike, in
   * one step: a run of unallocated, unpoisoned pages in one block gets folios from one node
   * (allocations, costs, latencies as those calls), and a run of allocated, unpoisoned pages needs
   * nothing. Returns the pages done; 0 leaves `start` to allocateUnit().
   */
  private allocateBaseRun(start: number, end: number): number {
    const stop = this.poisoned.find(start, Math.min(end, (blockOfPage(start) + 1) * 512), true);
    if (stop <= start) return 0;
    const allocated = this.layout.allocated;
    if (allocated.get(start)) return allocated.find(start, stop, false) - start;
    const run = this.newBaseFolios(start, stop);
    if (!run) return 0;
    this.chargeFaults(run.count, false, run.cycles, false);
    return run.count;
  }

  /**
   * allocateBase(i) for i = start, start + 1, ... up to `end` (one block, every page unallocated
   * and unpoisoned) while they all get their folio from the first node of the mempolicy, without
   * charging the cycles (the caller charges them in order with its own). Null when the allocator
   * or the mempolicy cannot do it in one step.
   */
  private newBaseFolios(start: number, end: number): BaseRun | null {
    const allocator = this.deps.allocator;
    if (!allocator.allocateBaseRun || !this.mempolicy.uniform) return null;
    end = this.layout.allocated.find(start, end, true);
    end = this.poisoned.find(start, end, true);
    if (end <= start) return null;
    const run = allocator.allocateBaseRun(
      this.handle,
      this.mempolicy.choose(start, ORDER_4K),
      end - start,
    );
    if (!run) return null;
    const n = run.count;
    if (run.cycles > 0) this.metrics.recordLatencyAt(L_ALLOCATE, run.cycles / this.costs.cpuGhz, n);
    this.layout.addBaseFolios(start, start + n, run.node);
    this.punched.assignRange(start, start + n, false);
    return run;
  }

  /** What `n` guest faults charge: the exit (if `exit`) and the TDP fault (if `fault`), then,
   * when `allocCycles` >= 0, the allocation of a 4 KiB folio and its zeroing; the same sums as n
   * rounds of those charge() calls. */
  private chargeFaults(n: number, exit: boolean, allocCycles: number, fault = true): void {
    const costs = this.costs;
    const m = this.metrics;
    const allocating = allocCycles >= 0;
    if (exit) m.addRepeatedAt(M_VM_EXITS, 1, n);
    if (fault) m.addRepeatedAt(M_TDP_FAULTS, 1, n);
    // charge() skips amounts <= 0.
    const fault1 = exit && costs.vmExitCycles > 0 ? costs.vmExitCycles : 0;
    const fault2 = fault && costs.tdpFaultCycles > 0 ? costs.tdpFaultCycles : 0;
    const alloc = allocating && allocCycles > 0 ? allocCycles : 0;
    const zero = allocating && costs.zeroPage4KCycles > 0 ? costs.zeroPage4KCycles : 0;
    const perPage = fault1 + fault2 + alloc + zero;
    const exactAfter = (now: number, delta: number) =>
      Number.isSafeInteger(now) &&
      Number.isSafeInteger(delta) &&
      Number.isSafeInteger(delta * n) &&
      Number.isSafeInteger(now + delta * n);
    if (
      Number.isSafeInteger(fault1) &&
      Number.isSafeInteger(fault2) &&
      exactAfter(m.getAt(C_FAULT), fault1 + fault2) &&
      exactAfter(m.getAt(C_ALLOCATION), alloc) &&
      exactAfter(m.getAt(C_ZEROING), zero) &&
      exactAfter(m.getAt(M_CYCLES_TOTAL), perPage) &&
      exactAfter(this.opCycles, perPage)
    ) {
      // Integer costs: every partial sum is exact, so n pages add up the same in one step.
      m.addRepeatedAt(C_FAULT, fault1 + fault2, n);
      m.addRepeatedAt(C_ALLOCATION, alloc, n);
      m.addRepeatedAt(C_ZEROING, zero, n);
      m.addRepeatedAt(M_CYCLES_TOTAL, perPage, n);
      this.opCycles += perPage * n;
      return;
    }
    for (let p = 0; p < n; p++) {
      if (exit) this.charge(C_FAULT, costs.vmExitCycles);
      if (fault) this.charge(C_FAULT, costs.tdpFaultCycles);
      if (allocating) {
        this.charge(C_ALLOCATION, allocCycles);
        this.charge(C_ZEROING, costs.zeroPage4KCycles);
      }
    }
  }

  private hostFault(index: number, access: Access): Failure | null {
    if (this.legacy) {
      if (!this.shared.get(index)) {
        return {
          errno: 'EFAULT',
          message: `host access to private page at offset 0x${(index * PAGE_SIZE).toString(16)} (the VMM's backend has no mapping there)`,
          offset: index * PAGE_SIZE,
        };
      }
      this.allocateBackend(index, index + 1);
      if (this.logging)
        this.log({
          type: 'fault',
          gfn: index,
          who: 'host',
          access,
          level: this.backendOrder,
          reason: 'backend',
        });
      return null;
    }
    if (!this.config.mmap) {
      return {
        errno: 'ENODEV',
        message: 'the file was created without GUEST_MEMFD_FLAG_MMAP: the host cannot map it',
        offset: index * PAGE_SIZE,
      };
    }
    if (!this.shared.get(index)) {
      // kvm_gmem_fault_user_mapping: private pages are never mapped into the host (SIGBUS).
      return {
        errno: 'EFAULT',
        message: `host fault on private page at offset 0x${(index * PAGE_SIZE).toString(16)} (SIGBUS)`,
        offset: index * PAGE_SIZE,
      };
    }
    const unitStart = Math.floor(index / this.unitPages) * this.unitPages;
    const failure =
      this.hugeOrder === ORDER_4K ? this.allocateBase(index) : this.allocateUnit(unitStart);
    if (failure) return failure;
    if (!this.layout.isAllocated(index)) {
      const f = this.allocateBase(index);
      if (f) return f;
    }
    if (this.layout.orderAt(index) !== ORDER_4K) {
      // A host fault on a shared page needs an order-0 folio.
      const f = this.splitBlockToBase(blockOfPage(index), []);
      if (f) return f;
    }
    this.punched.assign(index, false);
    if (this.logging)
      this.log({
        type: 'fault',
        gfn: index,
        who: 'host',
        access,
        level: ORDER_4K,
        reason: 'shared page, order-0 folio',
      });
    return null;
  }

  /** kvm_mmu_max_mapping_level() for a page whose backing folio has `folioOrder`. */
  mappingLevel(index: number, folioOrder: PageOrder): PageOrder {
    const gpa = this.config.memslotGpaBytes;
    const b = blockOfPage(index);
    const blockShared = this.shared.blockCount(b);
    const blockPages = Math.min(512, this.nrPages - b * 512);
    const gigShared = this.shared.perGig[gigOfPage(index)]!;
    const gigPages = Math.min(262144, this.nrPages - gigOfPage(index) * 262144);
    return maxMappingLevel({
      folioOrder,
      mixed2m: blockShared !== 0 && blockShared !== blockPages,
      mixed1g: (gigShared !== 0 && gigShared !== gigPages) || gigPages !== 262144,
      aligned2m: gpa % (2 * 1024 * 1024) === 0,
      aligned1g: gpa % GiB === 0,
      vendorMax: vendorMaxLevel(this.config.vendor, this.phase),
      accepted4kInBlock: this.accepted4k.get(b),
    });
  }

  private levelReason(index: number, folioOrder: PageOrder, level: PageOrder): string {
    if (level === folioOrder) return 'folio order';
    const vmax = vendorMaxLevel(this.config.vendor, this.phase);
    if (level === vmax) return `${this.config.vendor} limit (${this.phase})`;
    if (this.accepted4k.get(blockOfPage(index))) return 'TDX 4 KiB accept in this 2 MiB range';
    const gpa = this.config.memslotGpaBytes;
    if (gpa % (2 * 1024 * 1024) !== 0 || (level === ORDER_2M && gpa % GiB !== 0))
      return 'memslot alignment';
    return 'mixed attributes (lpage_info)';
  }

  /** KVM_PRE_FAULT_MEMORY over [offset, offset + size): map without VM exits. */
  prefault(offset: number, size: number): OpResult {
    const outer = this.beginOp();
    let failure: Failure | null;
    try {
      failure = this.prefaultOp(offset, size);
    } catch (err) {
      return this.opThrew(err, outer, offset);
    }
    return this.endOp(L_FAULT, outer, failure);
  }

  private prefaultOp(offset: number, size: number): Failure | null {
    const [start, end] = this.pageRange(offset, size);
    const before = this.mappedPages();
    const failure = this.faultInRange(start, end, false);
    if (failure) return failure;
    if (this.logging)
      this.log({
        type: 'prefault',
        offset,
        size,
        mappedBytes: (this.mappedPages() - before) * PAGE_SIZE,
      });
    return null;
  }

  /** Fault every unmapped page of [start, end) in, each mapping at the largest level allowed
   * (so one fault covers a whole huge mapping); `exit`: each fault is a VM exit (the guest touched
   * it) rather than KVM_PRE_FAULT_MEMORY. */
  private faultInRange(start: number, end: number, exit: boolean): Failure | null {
    let i = start;
    while (i < end) {
      const mapped = this.mmu.levelAt(i);
      if (mapped !== NOT_MAPPED) {
        i = (Math.floor(i / 2 ** mapped) + 1) * 2 ** mapped;
        continue;
      }
      const run = this.guestFaultRun(i, end, exit);
      if (run > 0) {
        i += run;
        continue;
      }
      const failure = this.guestFault(i, 'write', exit);
      if (failure) return failure;
      const level = this.mmu.levelAt(i);
      i = (Math.floor(i / 2 ** level) + 1) * 2 ** level;
    }
    return null;
  }

  /**
   * The guest accepts [offset, offset + size) (SNP PVALIDATE / TDX TDG.MEM.PAGE.ACCEPT), touching
   * each page: an unmapped page costs one exit and fault, mapped at the largest level allowed, so
   * 4 KiB backing costs one exit per page and 2 MiB backing one per 2 MiB. `level` is the guest's
   * accept size: TDX 4 KiB accepts block 2 MiB mappings of that range one-way.
   */
  accept(offset: number, size: number, level: PageOrder = ORDER_4K): OpResult {
    const outer = this.beginOp();
    let failure: Failure | null;
    try {
      failure = this.acceptOp(offset, size, level);
    } catch (err) {
      return this.opThrew(err, outer, offset);
    }
    return this.endOp(L_FAULT, outer, failure);
  }

  private acceptOp(offset: number, size: number, level: PageOrder): Failure | null {
    const [start, end] = this.pageRange(offset, size);
    const exitsBefore = this.metrics.getAt(M_VM_EXITS);
    if (this.config.vendor === 'tdx' && level === ORDER_4K) {
      for (let b = blockOfPage(start); b <= blockOfPage(end - 1); b++) {
        if (this.accepted4k.assign(b, true)) {
          // A 2 MiB mapping already there is demoted on the 4 KiB accept.
          if (this.mmu.levelAt(b * 512) >= ORDER_2M)
            this.issueInvalidations(b * 512, (b + 1) * 512, 'tdx_accept_4k');
        }
      }
    }
    const failure = this.faultInRange(start, end, true);
    if (failure) return failure;
    if (this.logging)
      this.log({
        type: 'accept',
        gfn: start,
        size: (end - start) * PAGE_SIZE,
        exits: this.metrics.getAt(M_VM_EXITS) - exitsBefore,
      });
    return null;
  }

  /**
   * A memory error (hwpoison) on the folio holding `offset`. The allocator takes the page out of
   * service (a HugeTLB or CMA huge page as a whole, even when split); guest_memfd zaps its mappings
   * (kvm_gmem_error_folio) and the range answers -EHWPOISON until it is punched (truncated).
   */
  memoryError(offset: number): OpResult {
    const outer = this.beginOp();
    let failure: Failure | null;
    try {
      failure = this.memoryErrorOp(offset);
    } catch (err) {
      return this.opThrew(err, outer, offset);
    }
    return this.endOp(L_NONE, outer, failure);
  }

  private memoryErrorOp(offset: number): Failure | null {
    const [index] = this.pageRange(offset, PAGE_SIZE);
    if (!this.layout.isAllocated(index)) {
      return { errno: 'EINVAL', message: `no folio at offset 0x${offset.toString(16)}`, offset };
    }
    const unit = Math.floor(index / this.unitPages);
    const huge = this.isHugeAllocation(unit * this.unitPages);
    let order: PageOrder = this.layout.orderAt(index);
    let start = Math.floor(index / 2 ** order) * 2 ** order;
    if (huge) {
      // The allocator takes the whole huge page out of service; a split one is first put back
      // together as far as the accounting goes.
      start = unit * this.unitPages;
      order = this.hugeOrder;
      this.issueInvalidations(start, start + this.unitPages, 'memory_error');
      if (!this.isUnitHugeFolio(unit)) this.rebuildUnit(unit, true);
    } else {
      this.issueInvalidations(start, start + 2 ** order, 'memory_error');
    }
    const end = start + 2 ** order;
    this.deps.allocator.error(this.handle, this.folioAt(start, order));
    if (order === ORDER_4K) this.layout.removeBaseFolio(start);
    else this.layout.removeHugeFolio(start, order);
    this.punched.assignRange(start, end, false);
    this.pendingMerges.delete(unit);
    this.poisoned.assignRange(start, end, true);
    if (this.logging) this.log({ type: 'memory_error', offset: start * PAGE_SIZE, order });
    return null;
  }

  /**
   * The guest reboots and the VMM reuses the file (QEMU keeps the guest_memfd across a reset): KVM
   * zaps every mapping (one invalidation of the whole memslot) and forgets the guest's acceptance
   * state, including TDX's one-way 4 KiB accept blocks, which belong to the old TD.
   */
  resetGuestState(): void {
    this.invalidate(0, this.nrPages, 'reboot');
    this.accepted4k.clear();
    this.phase = 'runtime';
  }

  /** Release everything: the file is closed and its memory goes back (teardown). */
  destroy(): void {
    if (this.destroyed) return;
    this.extraPins.clear();
    this.pinned.assignRange(0, this.nrPages, false);
    this.pendingMerges.clear();
    this.mmu.zapRange(0, this.nrPages);
    const units = this.nrPages / this.unitPages;
    for (let u = 0; u < units; u++) {
      const s = u * this.unitPages;
      if (this.layout.allocated.countRange(s, s + this.unitPages) > 0) this.freeUnit(u);
    }
    this.backend?.assignRange(0, this.nrPages, false);
    this.deps.allocator.unreserve(this.handle);
    this.destroyed = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Invalidation

  /** Invalidate [start, end) rounded out to the huge page size, and zap KVM's mappings there. */
  private invalidateRounded(start: number, end: number, reason: string): void {
    const s = Math.floor(start / this.unitPages) * this.unitPages;
    const e = Math.min(this.nrPages, Math.ceil(end / this.unitPages) * this.unitPages);
    this.invalidate(s, e, reason);
  }

  private invalidate(start: number, end: number, reason: string): void {
    // kvm_gmem_invalidate_begin / _end: kvm->mmu_lock taken for write once each.
    this.metrics.addAt(M_MMU_LOCK_WRITE, 2);
    this.charge(C_FAULT, 2 * this.costs.mmuLockWriteCycles);
    this.issueInvalidations(start, end, reason);
  }

  /** One invalidation per backing folio, clipped to [start, end), carrying the folio's order as a
   * hint; runs of 4 KiB folios are issued as one range with hint 0. */
  private issueInvalidations(start: number, end: number, reason: string): void {
    let i = start;
    while (i < end) {
      const order = this.layout.orderAt(i);
      let next: number;
      if (order !== ORDER_4K) {
        const size = 2 ** order;
        next = Math.min(end, (Math.floor(i / size) + 1) * size);
        if (!this.logging && next < end) {
          // Without an event log the folios of this order that follow need no iteration each:
          // one invalidation per folio, counted and charged as the loop would.
          const bEnd = Math.ceil(end / 512);
          const stop = Math.min(end, this.layout.blockRunEnd(blockOfPage(next), bEnd, order) * 512);
          if (stop > next) {
            this.chargeInvalidations(Math.ceil((stop - next) / size));
            next = stop;
          }
        }
      } else {
        // The run of order-0 blocks: whole 1 GiB ranges without huge blocks at once.
        const layout = this.layout;
        const hugeBlocks = layout.hugeBlocks;
        next = i + 1;
        while (next < end) {
          if (hugeBlocks[gigOfPage(next)] === 0) {
            next = Math.min(end, (gigOfPage(next) + 1) * 262144);
          } else if (layout.blockOrderOf(blockOfPage(next)) === ORDER_4K) {
            next = Math.min(end, (blockOfPage(next) + 1) * 512);
          } else break;
        }
      }
      this.metrics.addAt(M_INVALIDATIONS, 1);
      this.charge(C_FAULT, this.costs.invalidateCycles);
      if (this.logging)
        this.log({
          type: 'invalidate',
          start: i * PAGE_SIZE,
          end: next * PAGE_SIZE,
          orderHint: order,
          reason,
        });
      i = next;
    }
    this.mmu.zapRange(start, end);
  }

  /** `n` invalidations: the counter and charge() of each, in one step when exact. */
  private chargeInvalidations(n: number): void {
    const m = this.metrics;
    m.addRepeatedAt(M_INVALIDATIONS, 1, n);
    const c = this.costs.invalidateCycles;
    if (c <= 0) return;
    const total = c * n;
    if (
      Number.isSafeInteger(c) &&
      Number.isSafeInteger(total) &&
      Number.isSafeInteger(m.getAt(C_FAULT) + total) &&
      Number.isSafeInteger(m.getAt(C_FAULT)) &&
      Number.isSafeInteger(m.getAt(M_CYCLES_TOTAL)) &&
      Number.isSafeInteger(m.getAt(M_CYCLES_TOTAL) + total) &&
      Number.isSafeInteger(this.opCycles) &&
      Number.isSafeInteger(this.opCycles + total)
    ) {
      m.addAt(C_FAULT, total);
      m.addAt(M_CYCLES_TOTAL, total);
      this.opCycles += total;
      return;
    }
    for (let k = 0; k < n; k++) this.charge(C_FAULT, c);
  }

  // ---------------------------------------------------------------------------------------------
  // Metrics

  /** Set every gauge from the current state (memory classes, folios, mappings). */
  refreshGauges(): void {
    const m = this.deps.metrics;
    const stats = this.deps.allocator.stats();
    const classes = this.classifier.classify({
      allocated: this.layout.allocated,
      shared: this.shared,
      punched: this.punched,
      backend: this.backend,
    });
    const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
    let vmemmapPages = sum(stats.vmemmapPagesByNode);
    let hvoSavedPages = sum(stats.hvoSavedPagesByNode);
    if (this.structPageless) {
      // Only shared pages have struct pages: the vmemmap of each 2 MiB block holding one.
      vmemmapPages = this.blocksWithShared() * this.costs.vmemmapPagesPer2M;
      hvoSavedPages = 0;
    }
    const vmemmapBytes = vmemmapPages * PAGE_SIZE;
    const ptBytes = this.mmu.pageTablePages * PAGE_SIZE;
    const metadata = this.metadataBytes();
    const reserved = sum(stats.reservedBytesByNode);
    m.set('private_bytes', classes.private * PAGE_SIZE);
    m.set('shared_bytes', classes.shared * PAGE_SIZE);
    m.set('double_allocated_bytes', classes.doubleAllocated * PAGE_SIZE);
    m.set('zeroed_not_freed_bytes', classes.zeroedNotFreed * PAGE_SIZE);
    m.set('reserved_unused_bytes', reserved);
    m.set('vmemmap_bytes', vmemmapBytes);
    m.set('hvo_saved_bytes', hvoSavedPages * PAGE_SIZE);
    m.set('page_table_bytes', ptBytes);
    m.set('metadata_bytes', metadata);
    m.set(
      'host_total_bytes',
      (classes.private + classes.shared + classes.doubleAllocated + classes.zeroedNotFreed) *
        PAGE_SIZE +
        reserved +
        vmemmapBytes +
        ptBytes +
        metadata,
    );
    m.set('folios_4k', this.layout.folios4k);
    m.set('folios_2m', this.layout.folios2m);
    m.set('folios_1g', this.layout.folios1g);
    m.set('pages_4k', this.mmu.pages4k);
    m.set('pages_2m', this.mmu.pages2m);
    m.set('pages_1g', this.mmu.pages1g);
    m.set('mapped_4k_ratio', this.mmu.pages4k / this.nrPages);
    m.set('mapped_2m_ratio', (this.mmu.pages2m * 512) / this.nrPages);
    m.set('mapped_1g_ratio', (this.mmu.pages1g * 262144) / this.nrPages);
    m.set('guest_bytes', this.config.guestBytes);
    // Per node: guest_memfd folios, reservations and vmemmap where the allocator put them; the
    // legacy backend, page tables and metadata on the home node.
    const home = this.config.homeNode;
    for (let n = 0; n < this.deps.nodeCount; n++) {
      let bytes =
        (stats.allocatedBytesByNode[n] ?? 0) +
        (stats.reservedBytesByNode[n] ?? 0) +
        (this.structPageless ? 0 : (stats.vmemmapPagesByNode[n] ?? 0) * PAGE_SIZE);
      if (n === home) {
        bytes +=
          (this.backend?.total ?? 0) * PAGE_SIZE +
          ptBytes +
          metadata +
          (this.structPageless ? vmemmapBytes : 0);
      }
      m.setNodeBytes(n, bytes);
    }
  }

  private blocksWithShared(): number {
    let n = 0;
    const used = this.shared.usedBlocks;
    for (let g = 0; g < used.length; g++) n += used[g]!;
    return n;
  }

  /** Tracking beyond struct pages: one 64 B maple-tree slot per 2 MiB block of mixed shareability
   * (a coarse model of the shareability tree) and the deferred punch bitmaps. */
  private metadataBytes(): number {
    let mixed = 0;
    let punchedBlocks = 0;
    const partial = this.shared.partialBlocks;
    const punched = this.punched.usedBlocks;
    for (let g = 0; g < partial.length; g++) {
      mixed += partial[g]!;
      punchedBlocks += punched[g]!;
    }
    const bitmap = this.policies.deferredPunch ? punchedBlocks * 64 : 0;
    return mixed * 64 + bitmap;
  }

  /** Bytes of typed arrays holding this file's model state (the simulator's own footprint). */
  modelStorageBytes(): number {
    const bitmaps = [
      this.layout.allocated,
      this.shared,
      this.punched,
      this.pinned,
      this.poisoned,
      this.backend,
    ];
    let n =
      this.layout.storageBytes +
      this.accepted4k.storageBytes +
      this.noReconstruct.storageBytes +
      this.mmu.storageBytes;
    for (const b of bitmaps) if (b && b !== this.layout.allocated) n += b.storageBytes;
    // One 16 B map entry per pinned page.
    return n + this.pinned.total * 16;
  }

  mappedPages(): number {
    return this.mmu.pages4k + this.mmu.pages2m * 512 + this.mmu.pages1g * 262144;
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  /** Whether the allocator optimises the vmemmap of a rebuilt folio of this order (HugeTLB with
   * HVO on; CMA only with "HVO ported to CMA"). */
  private allocatorHvo(order: PageOrder): boolean {
    return order !== ORDER_4K && this.deps.hvo;
  }

  private folioAt(index: number, order: PageOrder): FolioRef {
    return {
      node: this.layout.nodeAt(index),
      order,
      hvo: order !== ORDER_4K && this.layout.hvoAt(index),
    };
  }

  private sharedInUnit(u: number): number {
    if (this.hugeOrder === ORDER_1G) return this.shared.perGig[u]!;
    if (this.hugeOrder === ORDER_2M) return this.shared.blockCount(u);
    return this.shared.get(u) ? 1 : 0;
  }

  private sharedInRange(start: number, end: number): number {
    return this.shared.countRange(start, end);
  }

  private isUnitHugeFolio(u: number): boolean {
    const start = u * this.unitPages;
    return (
      this.layout.blockOrderOf(blockOfPage(start)) === this.hugeOrder && this.hugeOrder !== ORDER_4K
    );
  }

  /** HugeTLB and CMA hand out whole huge pages; a split THP's 4 KiB folios are independent. */
  private isHugeAllocation(unitStart: number): boolean {
    const kind = this.config.allocator;
    if (kind === 'hugetlb' || kind === 'cma') return true;
    if (kind === 'thp') return this.layout.blockOrderOf(blockOfPage(unitStart)) === ORDER_2M;
    return false;
  }

  private pageRange(offset: number, size: number): [number, number] {
    this.checkRange(offset, size);
    return [offset / PAGE_SIZE, (offset + size) / PAGE_SIZE];
  }

  /** Throws EINVAL unless [offset, offset + size) is a non-empty, 4 KiB aligned range of the file. */
  private checkRange(offset: number, size: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size <= 0) {
      throw new KernelError(
        'EINVAL',
        `offset ${offset} / size ${size} must be non-negative integers, size > 0`,
        offset,
      );
    }
    if (offset % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) {
      throw new KernelError(
        'EINVAL',
        `offset 0x${offset.toString(16)} and size 0x${size.toString(16)} must be 4 KiB aligned`,
        offset,
      );
    }
    if (offset + size > this.config.guestBytes) {
      throw new KernelError(
        'EINVAL',
        `range [0x${offset.toString(16)}, 0x${(offset + size).toString(16)}) ends past the file size 0x${this.config.guestBytes.toString(16)}`,
        offset,
      );
    }
  }

  private charge(category: number, cycles: number): void {
    if (cycles <= 0) return;
    const m = this.metrics;
    m.addAt(category, cycles);
    m.addAt(M_CYCLES_TOTAL, cycles);
    this.opCycles += cycles;
  }

  /** Callers check `this.logging` first, so a run without an event log builds no event. */
  private log(event: Parameters<EventLog['push']>[1]): void {
    this.deps.log.push(this.deps.now(), event);
  }

  // One operation: beginOp(), the body (returns a Failure or null; argument errors throw
  // KernelError), then endOp() measures its cycles and records its latency, or opThrew().

  private beginOp(): number {
    if (this.destroyed) throw new Error('guest_memfd used after destroy()');
    const outer = this.opCycles;
    this.opCycles = 0;
    return outer;
  }

  private endOp(latency: number, outer: number, failure: Failure | null): OpResult {
    const cycles = this.opCycles;
    this.opCycles += outer;
    if (latency !== L_NONE) this.metrics.recordLatencyAt(latency, cycles / this.costs.cpuGhz);
    if (failure) {
      this.metrics.addAt(M_FAILED_OPERATIONS, 1);
      return { ok: false, ...failure, cycles };
    }
    return { ok: true, cycles };
  }

  private opThrew(err: unknown, outer: number, offset: number): OpResult {
    this.opCycles += outer;
    if (err instanceof KernelError) {
      this.metrics.addAt(M_FAILED_OPERATIONS, 1);
      return {
        ok: false,
        errno: err.errno,
        message: err.message,
        offset: err.offset ?? offset,
        cycles: 0,
      };
    }
    throw err;
  }
}

interface Failure {
  readonly errno: Errno;
  readonly message: string;
  readonly offset: number;
}
