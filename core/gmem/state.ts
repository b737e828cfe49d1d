// The state of one guest_memfd file bound to one memslot: its folios (FolioLayout), shareability,
// punched, poisoned and pinned pages, the legacy shared backend, KVM's mappings of it (TdpMmu),
// the deferred-merge queue, and the small queries and charges every mechanism shares. The
// mechanisms are the files beside this one (conversion, split-merge, allocation, truncation,
// refcount, fault, invalidation, memory-failure, gauges); GuestMemfd (guest-memfd.ts) is the
// file's API and brackets each operation. Model: struct kvm_gmem / gmem_file in
// virt/kvm/guest_memfd.c and the in-place conversion / HugeTLB series (Ackerley Tng, "1G page
// support for guest_memfd" RFC v1/v2).
import type { Allocator, AllocatorHandle, FolioRef } from '../allocators/allocator.js';
import type { GmemVariantConfig } from '../config.js';
import { isHugePageAllocator } from '../config.js';
import type { CostModel } from '../constants.js';
import { KernelError, type Errno } from '../errors.js';
import type { EventLog } from '../events/event-log.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import { TdpMmu } from '../kvm/mmu.js';
import { RmpTable } from '../kvm/rmp.js';
import {
  blockOfPage,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  PAGE_SIZE,
  orderOfPageSize,
  type PageOrder,
} from '../units.js';
import { MemoryClassCounter } from './accounting.js';
import { pageFastPathApplies } from './convert-page.js';
import { FolioLayout } from './folio-layout.js';
import { Mempolicy } from './mempolicy.js';
import { PagedBitmap } from './paged-bitmap.js';
import { C_ALLOCATION, L_NONE, M_CYCLES_TOTAL, M_RMP_PSMASHES } from './slots.js';

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

/** Why an operation failed: the errno it answers, a message, and the byte offset in the file. */
export interface Failure {
  readonly errno: Errno;
  readonly message: string;
  readonly offset: number;
}

/** The splits one conversion made, (index, from order, to order) triples in the first `length`
 * entries, for its rollback; one per file, reused by every conversion (it grows, never shrinks). */
export class SplitLog {
  readonly entries: number[] = [];
  length = 0;

  record(index: number, from: PageOrder, to: PageOrder): void {
    const e = this.entries;
    const n = this.length;
    if (n < e.length) {
      e[n] = index;
      e[n + 1] = from;
      e[n + 2] = to;
    } else e.push(index, from, to);
    this.length = n + 3;
  }
}

export class GmemState {
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
  readonly extraPins = new Map<number, number>();
  /** Pins left on pages of a 4 KiB-backed file that were punched while pinned (truncation.ts):
   * the holders drop them later with unpin. Sparse. */
  readonly truncatedPins = new Map<number, number>();
  /** Legacy model: pages allocated in the VMM's shared backend. */
  readonly backend: PagedBitmap | null;
  readonly backendOrder: PageOrder;
  readonly mmu: TdpMmu;
  /** TDX: the guest accepted a 4 KiB page in this 2 MiB block (blocks 2 MiB mapping one-way). */
  readonly accepted4k: PagedBitmap;
  /** SEV-SNP: the RMP entries of the file's private memory (core/kvm/rmp.ts); null otherwise. */
  readonly rmp: RmpTable | null;
  /** Per backing-size unit: never reconstruct (LPC 2024 "disallow split and reconstruct of shared"). */
  readonly noReconstruct: PagedBitmap;
  /** Deferred merges: unit -> due time (ns); queue in due order (the delay is constant). */
  readonly pendingMerges = new Map<number, number>();
  readonly mergeQueue: number[] = [];
  /** Due time of each queue entry: an entry whose unit was cancelled and queued again is stale. */
  readonly mergeQueueDue: number[] = [];
  mergeQueueHead = 0;
  /** LPC 2024 "disallow splitting shared huge pages": ranges converted to shared as one unit. */
  readonly sharedUnits = new Map<number, number>();
  readonly handle: AllocatorHandle;
  readonly mempolicy: Mempolicy;
  /** folioAt()'s values, by (node, order, HVO). */
  private readonly folioRefs: (FolioRef | undefined)[] = [];
  phase: 'build' | 'runtime' = 'runtime';
  /** Told how far a long range operation (acceptance or prefault of many GiB) has come, every
   * RANGE_REPORT_PAGES: the workload's progress and cancellation, inside one operation. */
  rangeWork: ((donePages: number, totalPages: number) => void) | null = null;
  opCycles = 0;
  inConversion = false;
  destroyed = false;
  readonly metrics: MetricsRecorder;
  readonly costs: CostModel;
  /** The event log keeps events: when it does not, no event object is built. */
  readonly logging: boolean;
  /** Work list of the conversion in progress: [start, end) pairs, flat, in the first workLength
   * entries (the array is reused). */
  readonly work: number[] = [];
  workLength = 0;
  /** Splits of the conversion in progress (conversions do not nest: inConversion). */
  readonly splitLog = new SplitLog();
  /** Memory classes, kept up to date by every change to the bitmaps they come from. */
  readonly classes: MemoryClassCounter;
  readonly policies: GmemVariantConfig['policies'];
  /** Legacy model: VM-wide attributes, shared memory in the VMM's backend. */
  readonly legacy: boolean;
  /** Struct-page-less private memory (policy, HugeTLB and CMA only). */
  readonly structPageless: boolean;
  /** Single-page conversions may take convertPage() (convert-page.ts). */
  readonly pageFastPath: boolean;

  constructor(readonly deps: GmemDeps) {
    const { config } = deps;
    this.metrics = deps.metrics;
    this.costs = deps.costs;
    this.logging = deps.log.enabled;
    this.policies = config.policies;
    this.legacy = config.conversionModel === 'legacy';
    this.structPageless = config.policies.structPageless && isHugePageAllocator(config.allocator);
    this.hugeOrder = orderOfPageSize(config.pageSize);
    this.unitPages = 2 ** this.hugeOrder;
    const unitBytes = this.unitPages * PAGE_SIZE;
    // kvm_gmem_create() (virt/kvm/guest_memfd.c) needs a PAGE_SIZE-aligned size; a huge-page
    // backed file (the HugeTLB series) a multiple of its page size. A 4 KiB-backed file of 16 KiB,
    // as the kernel selftests create, is accepted.
    if (config.guestBytes <= 0 || config.guestBytes % unitBytes !== 0) {
      throw new KernelError(
        'EINVAL',
        `guest size ${config.guestBytes} B is not a positive multiple of the ${config.pageSize} backing page size`,
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
    if (config.allocator === 'hugetlb-cma' && this.hugeOrder !== ORDER_1G) {
      throw new KernelError('EINVAL', 'hugetlb_cma= backing needs the 1g page size');
    }
    if (config.allocator === 'cma-raw' && this.hugeOrder === ORDER_4K) {
      throw new KernelError('EINVAL', 'raw CMA backing needs a 2m or 1g page size');
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
    this.classes = new MemoryClassCounter({
      allocated: this.layout.allocated,
      shared: this.shared,
      punched: this.punched,
      backend: this.backend,
    });
    this.mmu = new TdpMmu(this.nrPages);
    this.accepted4k = new PagedBitmap(Math.ceil(this.nrPages / 512));
    this.rmp =
      config.vendor === 'snp'
        ? new RmpTable(this.nrPages, () => this.metrics.addAt(M_RMP_PSMASHES, 1))
        : null;
    this.noReconstruct = new PagedBitmap(Math.ceil(this.nrPages / this.unitPages));
    this.mempolicy = new Mempolicy(config.mempolicy, config.homeNode, deps.nodeCount);
    this.pageFastPath = pageFastPathApplies(this);
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

  /** Whether the allocator optimises the vmemmap of a rebuilt folio of this order (HugeTLB with
   * HVO on; CMA only with "HVO ported to CMA"). */
  allocatorHvo(order: PageOrder): boolean {
    return order !== ORDER_4K && this.deps.hvo;
  }

  /** The folio of `order` holding `index`, as the allocator names it. FolioRefs are immutable
   * values: one frozen object per (node, order, HVO) serves every call. */
  folioAt(index: number, order: PageOrder): FolioRef {
    const node = this.layout.nodeAt(index);
    const hvo = order !== ORDER_4K && this.layout.hvoAt(index);
    const key = (node * 3 + order / 9) * 2 + (hvo ? 1 : 0);
    let ref = this.folioRefs[key];
    if (ref === undefined) {
      ref = Object.freeze({ node, order, hvo });
      this.folioRefs[key] = ref;
    }
    return ref;
  }

  sharedInUnit(u: number): number {
    if (this.hugeOrder === ORDER_1G) return this.shared.perGig[u]!;
    if (this.hugeOrder === ORDER_2M) return this.shared.blockCount(u);
    return this.shared.get(u) ? 1 : 0;
  }

  sharedInRange(start: number, end: number): number {
    return this.shared.countRange(start, end);
  }

  isUnitHugeFolio(u: number): boolean {
    const start = u * this.unitPages;
    return (
      this.layout.blockOrderOf(blockOfPage(start)) === this.hugeOrder && this.hugeOrder !== ORDER_4K
    );
  }

  /** HugeTLB and CMA hand out whole huge pages; a split THP's 4 KiB folios are independent. */
  isHugeAllocation(unitStart: number): boolean {
    const kind = this.config.allocator;
    if (isHugePageAllocator(kind)) return true;
    if (kind === 'thp') return this.layout.blockOrderOf(blockOfPage(unitStart)) === ORDER_2M;
    return false;
  }

  pageRange(offset: number, size: number): [number, number] {
    this.checkRange(offset, size);
    return [offset / PAGE_SIZE, (offset + size) / PAGE_SIZE];
  }

  /**
   * PUNCH_HOLE's range: offset and size PAGE_SIZE aligned (kvm_gmem_fallocate(): EINVAL
   * otherwise), size > 0 (vfs_fallocate()), the end clamped to the file size: a punch at or past
   * EOF succeeds and does nothing there (kvm_gmem_punch_hole() has no size check; truncation stops
   * at i_size). The page range may be empty.
   */
  clampedPageRange(offset: number, size: number): [number, number] {
    this.checkAligned(offset, size);
    const end = Math.min(offset + size, this.config.guestBytes);
    const start = Math.min(offset, end);
    return [start / PAGE_SIZE, end / PAGE_SIZE];
  }

  /** Throws EINVAL unless [offset, offset + size) is a non-empty, 4 KiB aligned range of the file. */
  checkRange(offset: number, size: number): void {
    this.checkAligned(offset, size);
    if (offset + size > this.config.guestBytes) {
      throw new KernelError(
        'EINVAL',
        `range [0x${offset.toString(16)}, 0x${(offset + size).toString(16)}) ends past the file size 0x${this.config.guestBytes.toString(16)}`,
        offset,
      );
    }
  }

  /** Throws EINVAL unless offset and size are non-negative integers, size > 0, 4 KiB aligned. */
  private checkAligned(offset: number, size: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size <= 0) {
      throw new KernelError(
        'EINVAL',
        `offset ${offset} / size ${size} must be non-negative integers, size > 0`,
        offset,
      );
    }
    // `& (PAGE_SIZE - 1)`: the low bits of any safe non-negative integer (ToInt32 keeps them),
    // without a floating-point remainder on every operation.
    if ((offset & (PAGE_SIZE - 1)) !== 0 || (size & (PAGE_SIZE - 1)) !== 0) {
      throw new KernelError(
        'EINVAL',
        `offset 0x${offset.toString(16)} and size 0x${size.toString(16)} must be 4 KiB aligned`,
        offset,
      );
    }
  }

  charge(category: number, cycles: number): void {
    if (cycles <= 0) return;
    const m = this.metrics;
    m.addAt(category, cycles);
    m.addAt(M_CYCLES_TOTAL, cycles);
    this.opCycles += cycles;
  }

  /** Start one latency sample: the cycles charged from here are counted apart from those of the
   * operation it runs inside. Returns that operation's count so far, for endSample(). */
  beginSample(): number {
    const outer = this.opCycles;
    this.opCycles = 0;
    return outer;
  }

  /** End the sample begun with beginSample(): its cycles are recorded as one sample of `latency`
   * (unless L_NONE) and added back to the enclosing operation's count. Returns them. */
  endSample(latency: number, outer: number): number {
    const cycles = this.opCycles;
    this.opCycles = cycles + outer;
    if (latency !== L_NONE) this.metrics.recordLatencyOnce(latency, cycles / this.costs.cpuGhz);
    return cycles;
  }

  /** Callers check `this.logging` first, so a run without an event log builds no event. */
  log(event: Parameters<EventLog['push']>[1]): void {
    this.deps.log.push(this.deps.now(), event);
  }

  pageHeld(i: number): boolean {
    if (this.legacy && this.shared.get(i)) return this.backend!.get(i);
    return this.layout.isAllocated(i);
  }

  pinCount(index: number): number {
    return this.pinned.get(index) ? 1 + (this.extraPins.get(index) ?? 0) : 0;
  }
}
