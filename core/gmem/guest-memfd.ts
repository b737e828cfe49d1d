// One guest_memfd file bound to one memslot, and the operations of domain.md section 4: convert,
// fallocate, PUNCH_HOLE, pin, guest and host faults, prefault, acceptance, memory errors. Each
// operation goes through one bracket (op()): it measures the operation's own cycles, records its
// latency, and turns an argument error (KernelError) into a failed result. The mechanisms are one
// file each beside this one, over the file's state (state.ts); the rules follow
// virt/kvm/guest_memfd.c and the in-place conversion / HugeTLB series (Ackerley Tng, "1G page
// support for guest_memfd" RFC v1/v2); where those are silent, comments name the mechanism
// modelled.
import { KernelError } from '../errors.js';
import type { TdpMmu } from '../kvm/mmu.js';
import { ORDER_4K, PAGE_SIZE, type PageOrder } from '../units.js';
import type { AllocatorHandle } from '../allocators/allocator.js';
import type { GmemVariantConfig } from '../config.js';
import { convertOp } from './conversion.js';
import { acceptOp, faultOp, mappingLevel, prefaultOp } from './fault.js';
import type { FolioLayout } from './folio-layout.js';
import { fallocateOp } from './allocation.js';
import { gaugeCounterProblems, mappedPages, modelStorageBytes, refreshGauges } from './gauges.js';
import { invalidate } from './invalidation.js';
import { memoryErrorOp } from './memory-failure.js';
import type { Mempolicy } from './mempolicy.js';
import type { PagedBitmap } from './paged-bitmap.js';
import { pinOp, unpinOp } from './refcount.js';
import {
  L_CONVERT,
  L_FALLOCATE,
  L_FAULT,
  L_NONE,
  L_PUNCH_HOLE,
  M_FAILED_OPERATIONS,
} from './slots.js';
import { nextDeferredMergeNs, runDeferredMerges } from './split-merge.js';
import {
  GmemState,
  type Access,
  type Failure,
  type GmemDeps,
  type OpResult,
  type Shareability,
  type Who,
} from './state.js';
import { freeUnit, punchHoleOp } from './truncation.js';

export type { Access, GmemDeps, OpResult, Shareability, Who } from './state.js';

/** The body of one operation: a Failure, or null on success; argument errors throw KernelError. */
type OpBody<A, B, C, D> = (gmem: GmemState, a: A, b: B, c: C, d: D) => Failure | null;

export class GuestMemfd {
  private readonly gmem: GmemState;
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
  /** Legacy model: pages allocated in the VMM's shared backend. */
  readonly backend: PagedBitmap | null;
  readonly backendOrder: PageOrder;
  readonly mmu: TdpMmu;
  readonly handle: AllocatorHandle;
  readonly mempolicy: Mempolicy;

  constructor(deps: GmemDeps) {
    const gmem = new GmemState(deps);
    this.gmem = gmem;
    this.nrPages = gmem.nrPages;
    this.hugeOrder = gmem.hugeOrder;
    this.unitPages = gmem.unitPages;
    this.layout = gmem.layout;
    this.shared = gmem.shared;
    this.punched = gmem.punched;
    this.poisoned = gmem.poisoned;
    this.pinned = gmem.pinned;
    this.backend = gmem.backend;
    this.backendOrder = gmem.backendOrder;
    this.mmu = gmem.mmu;
    this.handle = gmem.handle;
    this.mempolicy = gmem.mempolicy;
  }

  get config(): GmemVariantConfig {
    return this.gmem.config;
  }

  /** Boot ('build': TDX maps private memory at 4 KiB until the TD is finalized) or runtime. */
  /** Progress of long range operations (see GmemState.rangeWork); null: none. */
  set onRangeWork(fn: ((donePages: number, totalPages: number) => void) | null) {
    this.gmem.rangeWork = fn;
  }

  get phase(): 'build' | 'runtime' {
    return this.gmem.phase;
  }

  set phase(phase: 'build' | 'runtime') {
    this.gmem.phase = phase;
  }

  /** Convert [offset, offset + size) to `to` (KVM_SET_MEMORY_ATTRIBUTES2 / guest_memfd ioctl). */
  convert(offset: number, size: number, to: Shareability): OpResult {
    return this.op(L_CONVERT, offset, convertOp, offset, size, to, undefined);
  }

  /** fallocate(mode 0): allocate [offset, offset + size), rounded out to huge page boundaries. */
  fallocate(offset: number, size: number): OpResult {
    return this.op(L_FALLOCATE, offset, fallocateOp, offset, size, undefined, undefined);
  }

  /** fallocate(PUNCH_HOLE | KEEP_SIZE) on [offset, offset + size). */
  punchHole(offset: number, size: number): OpResult {
    return this.op(L_PUNCH_HOLE, offset, punchHoleOp, offset, size, undefined, undefined);
  }

  /** Take an extra reference (GUP, IOMMU/VFIO mapping, vhost) on each page of the range. */
  pin(offset: number, size: number): OpResult {
    return this.op(L_NONE, offset, pinOp, offset, size, undefined, undefined);
  }

  /** Drop one extra reference from each page of the range. */
  unpin(offset: number, size: number): OpResult {
    return this.op(L_NONE, offset, unpinOp, offset, size, undefined, undefined);
  }

  /**
   * A fault on the page at file index `index` (the memslot maps the file from offset 0).
   * Guest: an EPT/NPT violation, mapped at the largest level the folio, the attributes
   * (lpage_info mixed), the memslot alignment and the vendor allow. Host: a fault through the
   * host's mmap of the file, which needs a shared, order-0 folio.
   */
  fault(index: number, who: Who, access: Access, opts: { exit?: boolean } = {}): OpResult {
    return this.op(L_FAULT, index * PAGE_SIZE, faultOp, index, who, access, opts.exit ?? true);
  }

  /** KVM_PRE_FAULT_MEMORY over [offset, offset + size): map without VM exits. Each fault it takes
   * is one fault latency sample (fault.ts, timedGuestFault). */
  prefault(offset: number, size: number): OpResult {
    return this.op(L_NONE, offset, prefaultOp, offset, size, undefined, undefined);
  }

  /**
   * The guest accepts [offset, offset + size) (SNP PVALIDATE / TDX TDG.MEM.PAGE.ACCEPT), touching
   * each page: an unmapped page costs one exit and fault, mapped at the largest level allowed, so
   * 4 KiB backing costs one exit per page and 2 MiB backing one per 2 MiB. `level` is the guest's
   * accept size: TDX 4 KiB accepts block 2 MiB mappings of that range one-way. Each fault is one
   * fault latency sample, never the whole range.
   */
  accept(offset: number, size: number, level: PageOrder = ORDER_4K): OpResult {
    return this.op(L_NONE, offset, acceptOp, offset, size, level, undefined);
  }

  /** A memory error (hwpoison) on the folio holding `offset` (memory-failure.ts). */
  memoryError(offset: number): OpResult {
    return this.op(L_NONE, offset, memoryErrorOp, offset, undefined, undefined, undefined);
  }

  /** kvm_mmu_max_mapping_level() for a page whose backing folio has `folioOrder`. */
  mappingLevel(index: number, folioOrder: PageOrder): PageOrder {
    return mappingLevel(this.gmem, index, folioOrder);
  }

  /** Current references on the page at `index` beyond the safe refcount. */
  pinCount(index: number): number {
    return this.gmem.pinCount(index);
  }

  /** The deferred-merge worker: merge every queued range whose delay has passed. */
  runDeferredMerges(now: number): void {
    runDeferredMerges(this.gmem, now);
  }

  /** Time of the next deferred merge, or Infinity. */
  nextDeferredMergeNs(): number {
    return nextDeferredMergeNs(this.gmem);
  }

  /** Set every gauge from the current state (memory classes, folios, mappings). */
  refreshGauges(): void {
    refreshGauges(this.gmem);
  }

  /** Where the counters the gauges read differ from a full recount of the state (a check for
   * tests and invariants: it walks every block). */
  gaugeCounterProblems(): string[] {
    return gaugeCounterProblems(this.gmem);
  }

  /**
   * Read the state a conversion of page `index` reads first (the folio entry of its 2 MiB block
   * and the block's count of shared pages) and change nothing: a replay reads a batch of upcoming
   * pages ahead so that their cache misses overlap (trace-oplog.ts, PREFETCH). Returns a number
   * made of what it read, for the caller to keep. A page outside the file reads nothing.
   */
  prefetch(index: number): number {
    if (!(index >= 0 && index < this.nrPages)) return 0;
    return this.layout.orderAt(index) + this.shared.blockCount(Math.floor(index / 512));
  }

  /** Bytes of typed arrays holding this file's model state (the simulator's own footprint). */
  modelStorageBytes(): number {
    return modelStorageBytes(this.gmem);
  }

  /** 4 KiB pages KVM maps, at any level. */
  mappedPages(): number {
    return mappedPages(this.gmem);
  }

  /**
   * The guest reboots and the VMM reuses the file (QEMU keeps the guest_memfd across a reset): KVM
   * zaps every mapping (one invalidation of the whole memslot) and forgets the guest's acceptance
   * state, including TDX's one-way 4 KiB accept blocks, which belong to the old TD.
   */
  resetGuestState(): void {
    const gmem = this.gmem;
    invalidate(gmem, 0, gmem.nrPages, 'reboot');
    gmem.accepted4k.clear();
    gmem.rmp?.clear();
    gmem.phase = 'runtime';
  }

  /** Release everything: the file is closed and its memory goes back (teardown). */
  destroy(): void {
    const gmem = this.gmem;
    if (gmem.destroyed) return;
    gmem.extraPins.clear();
    gmem.pinned.assignRange(0, gmem.nrPages, false);
    gmem.truncatedPins.clear();
    gmem.pendingMerges.clear();
    gmem.mmu.zapRange(0, gmem.nrPages);
    const units = gmem.nrPages / gmem.unitPages;
    for (let u = 0; u < units; u++) {
      const s = u * gmem.unitPages;
      if (gmem.layout.allocated.countRange(s, s + gmem.unitPages) > 0) freeUnit(gmem, u);
    }
    gmem.backend?.assignRange(0, gmem.nrPages, false);
    gmem.deps.allocator.unreserve(gmem.handle);
    gmem.destroyed = true;
  }

  /**
   * One operation: its cycles are counted apart from any operation it runs inside (the outer
   * one's count is put back after), its latency is recorded (unless `latency` is L_NONE), a
   * Failure becomes a failed result and counts as a failed operation, and an argument error
   * (KernelError) becomes a failed result with no cycles. Arguments are passed through, not
   * captured in a closure, so the per-fault path allocates nothing.
   */
  private op<A, B, C, D>(
    latency: number,
    offset: number,
    body: OpBody<A, B, C, D>,
    a: A,
    b: B,
    c: C,
    d: D,
  ): OpResult {
    const gmem = this.gmem;
    if (gmem.destroyed) throw new Error('guest_memfd used after destroy()');
    const outer = gmem.beginSample();
    let failure: Failure | null;
    try {
      failure = body(gmem, a, b, c, d);
    } catch (err) {
      gmem.endSample(L_NONE, outer);
      if (!(err instanceof KernelError)) throw err;
      gmem.metrics.addAt(M_FAILED_OPERATIONS, 1);
      return {
        ok: false,
        errno: err.errno,
        message: err.message,
        offset: err.offset ?? offset,
        cycles: 0,
      };
    }
    const cycles = gmem.endSample(latency, outer);
    if (failure) {
      gmem.metrics.addAt(M_FAILED_OPERATIONS, 1);
      return { ok: false, ...failure, cycles };
    }
    return { ok: true, cycles };
  }
}
