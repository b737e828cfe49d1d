// Many guests on one host: one Host, one allocator of the variant's kind shared by every guest
// (reserve() per file returns its own handle, as one hugetlbfs mount or CMA area serves many
// files), and one guest_memfd per running VM. VMs start and stop on one simulated clock; counters
// accumulate across VMs in one MetricsRecorder and the gauges are the sum over the running VMs, so
// a fleet run reports in the same catalog as a single-guest run.
//
// Gauge aggregation. GuestMemfd.refreshGauges() sets the per-file gauges (memory classes, page
// tables, metadata, folios, mappings) in the recorder it was given, but it also copies the
// allocator-wide figures (allocator.stats(): reserved, vmemmap, HVO savings, per-node bytes) as if
// the file were the allocator's only one. So each VM's per-file gauges are captured right after
// its own refresh (a snapshot, refreshed whenever the VM's state changes) and summed; the
// allocator-wide parts are taken once from allocator.stats(). Struct-page-less files compute their
// vmemmap per file (only blocks with shared pages have struct pages), so then vmemmap is summed too.
import type { Allocator } from '../allocators/allocator.js';
import { createAllocator } from '../allocators/index.js';
import {
  resolveCosts,
  type GmemVariantConfig,
  type HostConfig,
  allocatorHvo,
  isHugePageAllocator,
} from '../config.js';
import type { CostModel } from '../constants.js';
import type { Errno } from '../errors.js';
import { KernelError } from '../errors.js';
import { EventLog } from '../events/event-log.js';
import { GuestMemfd, type OpResult } from '../gmem/guest-memfd.js';
import { Host } from '../host/host.js';
import { MEMORY_PARTS } from '../metrics/definitions.js';
import { MetricsRecorder } from '../metrics/recorder.js';
import type { Rng } from '../rng.js';
import { MiB, ORDER_1G, ORDER_2M, PAGE_SIZE, bytesOfOrder } from '../units.js';

export interface FleetSimulationOptions {
  /** Parsed host configuration (HostSchema output). */
  readonly host: HostConfig;
  /** Parsed variant (GmemVariantSchema output): backing, allocator, policies and mempolicy of
   * every VM. Its guestBytes is not used here: each VM brings its own size. */
  readonly variant: GmemVariantConfig;
  /** Streams for the host (per node) and the allocator are forked from it. */
  readonly rng: Rng;
  /** Keep every guest_memfd's event log (costs memory on long runs). */
  readonly recordEvents?: boolean;
}

/** What a VM does at start, in order. */
export interface VmBoot {
  /** fallocate [0, populateBytes) (already a multiple of the backing page size; 0: nothing). */
  readonly populateBytes: number;
  /** Ranges [offset, offset + size) converted to shared at boot (e.g. the SWIOTLB buffer). */
  readonly sharedRanges: readonly (readonly [offset: number, size: number])[];
  /** KVM_PRE_FAULT_MEMORY over the populated range after the conversions. */
  readonly prefault: boolean;
}

export interface VmRequest {
  readonly id: number;
  readonly bytes: number;
  /** Node of the VM's vCPU threads (where its default mempolicy allocates first). */
  readonly homeNode: number;
  readonly boot: VmBoot;
}

/** The step of a VM start that failed. */
export type VmStartStage =
  'create' | 'populate' | 'convert-private' | 'convert-shared' | 'prefault';

export type VmStartResult =
  | { readonly ok: true; readonly cycles: number }
  | {
      readonly ok: false;
      readonly stage: VmStartStage;
      readonly errno: Errno;
      readonly message: string;
      readonly cycles: number;
    };

/** Per-file gauges of one VM, captured right after its refreshGauges(). */
interface VmGauges {
  readonly private: number;
  readonly shared: number;
  readonly doubleAllocated: number;
  readonly zeroedNotFreed: number;
  readonly pageTables: number;
  readonly metadata: number;
  /** Only meaningful for struct-page-less files (otherwise the allocator-wide figure). */
  readonly vmemmap: number;
  readonly folios4k: number;
  readonly folios2m: number;
  readonly folios1g: number;
  readonly pages4k: number;
  readonly pages2m: number;
  readonly pages1g: number;
  /** Legacy model: the VMM's shared backend, charged to the home node. */
  readonly backend: number;
}

export interface FleetVm {
  readonly id: number;
  readonly bytes: number;
  readonly homeNode: number;
  readonly startNs: number;
  readonly gmem: GuestMemfd;
  gauges: VmGauges;
}

const EMPTY_GAUGES: VmGauges = {
  private: 0,
  shared: 0,
  doubleAllocated: 0,
  zeroedNotFreed: 0,
  pageTables: 0,
  metadata: 0,
  vmemmap: 0,
  folios4k: 0,
  folios2m: 0,
  folios1g: 0,
  pages4k: 0,
  pages2m: 0,
  pages1g: 0,
  backend: 0,
};

export class FleetSimulation {
  readonly host: Host;
  /** The allocator every VM's guest_memfd shares (with allocate() latency recorded). */
  readonly allocator: Allocator;
  readonly metrics: MetricsRecorder;
  readonly log: EventLog;
  readonly costs: CostModel;
  readonly variant: GmemVariantConfig;
  private readonly hvo: boolean;
  private readonly structPageless: boolean;
  private readonly vms = new Map<number, FleetVm>();
  private clockNs = 0;

  constructor(options: FleetSimulationOptions) {
    this.variant = options.variant;
    this.costs = resolveCosts(this.variant.costs);
    this.host = new Host(options.host, this.costs, options.rng.fork(1));
    this.metrics = new MetricsRecorder(this.host.nodeCount);
    this.allocator = createAllocator(
      this.variant.allocator,
      this.host,
      this.costs,
      options.rng.fork(2),
    );
    this.log = new EventLog(options.recordEvents ?? false);
    // As in Simulation: HugeTLB folios (hugetlb_cma= ones too) get HVO when the host has it on; raw
    // CMA folios only with "HVO ported to CMA".
    const kind = this.variant.allocator;
    this.hvo = allocatorHvo(kind, options.host);
    // Mirrors GuestMemfd's own rule: struct-page-less private memory applies to HugeTLB and CMA.
    this.structPageless = this.variant.policies.structPageless && isHugePageAllocator(kind);
    this.refreshGauges();
  }

  /** Simulated time, ns. */
  get now(): number {
    return this.clockNs;
  }

  get runningCount(): number {
    return this.vms.size;
  }

  /** Running VMs in start order. */
  running(): FleetVm[] {
    return [...this.vms.values()];
  }

  vm(id: number): FleetVm | undefined {
    return this.vms.get(id);
  }

  /**
   * Start a VM at the current time: create its guest_memfd (HugeTLB: the subpool reserves the
   * whole file or creation fails), populate it, make the boot ranges shared (after converting an
   * INIT_SHARED file to private, as a confidential guest's memory starts private), and optionally
   * prefault. Any failure tears the half-built VM down, returning what it took, and counts a start
   * failure.
   */
  startVm(request: VmRequest): VmStartResult {
    if (this.vms.has(request.id)) throw new Error(`fleet: VM ${request.id} is already running`);
    const config: GmemVariantConfig = {
      ...this.variant,
      guestBytes: request.bytes,
      homeNode: request.homeNode,
    };
    let gmem: GuestMemfd;
    try {
      gmem = new GuestMemfd({
        config,
        costs: this.costs,
        allocator: this.allocator,
        nodeCount: this.host.nodeCount,
        metrics: this.metrics,
        log: this.log,
        now: () => this.clockNs,
        hvo: this.hvo,
      });
    } catch (err) {
      if (!(err instanceof KernelError)) throw err;
      return this.startFailed(null, 'create', err.errno, err.message, 0);
    }
    let cycles = 0;
    const step = (stage: VmStartStage, run: () => OpResult): VmStartResult | null => {
      const r = run();
      cycles += r.cycles;
      return r.ok ? null : this.startFailed(gmem, stage, r.errno, r.message, cycles);
    };
    const { populateBytes, sharedRanges, prefault } = request.boot;
    const failure =
      (populateBytes > 0 ? step('populate', () => gmem.fallocate(0, populateBytes)) : null) ??
      (!config.initPrivate
        ? step('convert-private', () => gmem.convert(0, request.bytes, 'private'))
        : null) ??
      sharedRanges.reduce<VmStartResult | null>(
        (prev, [offset, size]) =>
          prev ?? step('convert-shared', () => gmem.convert(offset, size, 'shared')),
        null,
      ) ??
      (prefault && populateBytes > 0
        ? step('prefault', () => gmem.prefault(0, populateBytes))
        : null);
    if (failure) return failure;
    const vm: FleetVm = {
      id: request.id,
      bytes: request.bytes,
      homeNode: request.homeNode,
      startNs: this.clockNs,
      gmem,
      gauges: EMPTY_GAUGES,
    };
    this.vms.set(vm.id, vm);
    this.metrics.add('vm_starts', 1);
    this.snapshot(vm);
    this.refreshGauges();
    return { ok: true, cycles };
  }

  /** The VM leaves: its guest_memfd is destroyed and its memory returns to the allocator. */
  stopVm(id: number): void {
    const vm = this.vms.get(id);
    if (!vm) throw new Error(`fleet: VM ${id} is not running`);
    vm.gmem.destroy();
    this.vms.delete(id);
    this.metrics.add('vm_stops', 1);
    this.refreshGauges();
  }

  /** Let simulated time pass, running each VM's deferred-merge worker when its merges fall due,
   * in time order across VMs. */
  advanceTo(timeNs: number): void {
    if (timeNs < this.clockNs)
      throw new RangeError(`time ${timeNs} ns is before now (${this.clockNs} ns)`);
    let changed = false;
    for (;;) {
      let next: FleetVm | undefined;
      let due = Infinity;
      for (const vm of this.vms.values()) {
        const d = vm.gmem.nextDeferredMergeNs();
        if (d < due) {
          due = d;
          next = vm;
        }
      }
      if (!next || due > timeNs) break;
      this.clockNs = Math.max(this.clockNs, due);
      next.gmem.runDeferredMerges(this.clockNs);
      this.snapshot(next);
      changed = true;
    }
    this.clockNs = timeNs;
    if (changed) this.refreshGauges();
  }

  /** Set every gauge: sums over the running VMs, allocator-wide parts once, host state. */
  refreshGauges(): void {
    const m = this.metrics;
    const nodeCount = this.host.nodeCount;
    const stats = this.allocator.stats();
    const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
    const t = { ...EMPTY_GAUGES } as Record<keyof VmGauges, number>;
    const homeExtra = new Array<number>(nodeCount).fill(0);
    let guestBytes = 0;
    for (const vm of this.vms.values()) {
      const g = vm.gauges;
      for (const k of Object.keys(t) as (keyof VmGauges)[]) t[k] += g[k];
      guestBytes += vm.bytes;
      // What refreshGauges() puts on the home node besides the allocator's figures.
      homeExtra[vm.homeNode]! +=
        g.backend + g.pageTables + g.metadata + (this.structPageless ? g.vmemmap : 0);
    }
    const vmemmapBytes = this.structPageless
      ? t.vmemmap
      : sum(stats.vmemmapPagesByNode) * PAGE_SIZE;
    const hvoSaved = this.structPageless ? 0 : sum(stats.hvoSavedPagesByNode) * PAGE_SIZE;
    const reserved = sum(stats.reservedBytesByNode);
    m.set('private_bytes', t.private);
    m.set('shared_bytes', t.shared);
    m.set('double_allocated_bytes', t.doubleAllocated);
    m.set('zeroed_not_freed_bytes', t.zeroedNotFreed);
    m.set('reserved_unused_bytes', reserved);
    m.set('vmemmap_bytes', vmemmapBytes);
    m.set('hvo_saved_bytes', hvoSaved);
    m.set('page_table_bytes', t.pageTables);
    m.set('metadata_bytes', t.metadata);
    m.set(
      'host_total_bytes',
      MEMORY_PARTS.reduce((s, p) => s + m.get(p), 0),
    );
    m.set('folios_4k', t.folios4k);
    m.set('folios_2m', t.folios2m);
    m.set('folios_1g', t.folios1g);
    m.set('pages_4k', t.pages4k);
    m.set('pages_2m', t.pages2m);
    m.set('pages_1g', t.pages1g);
    const guestPages = guestBytes / PAGE_SIZE;
    m.set('mapped_4k_ratio', guestPages > 0 ? t.pages4k / guestPages : 0);
    m.set('mapped_2m_ratio', guestPages > 0 ? (t.pages2m * 512) / guestPages : 0);
    m.set('mapped_1g_ratio', guestPages > 0 ? (t.pages1g * 262144) / guestPages : 0);
    m.set('guest_bytes', guestBytes);
    m.set('numa_nodes', nodeCount);
    for (let n = 0; n < nodeCount; n++) {
      m.setNodeBytes(
        n,
        (stats.allocatedBytesByNode[n] ?? 0) +
          (stats.reservedBytesByNode[n] ?? 0) +
          (this.structPageless ? 0 : (stats.vmemmapPagesByNode[n] ?? 0) * PAGE_SIZE) +
          homeExtra[n]!,
      );
    }
    // Host state: what later VMs can still get.
    m.set('vms_running', this.vms.size);
    let free2m = 0;
    let free1g = 0;
    let cma1g = 0;
    let cma2m = 0;
    let buddyFree = 0;
    for (let n = 0; n < nodeCount; n++) {
      free2m += this.host.pool(n, ORDER_2M).available;
      free1g += this.host.pool(n, ORDER_1G).available;
      const cma = this.host.cma(n)?.counters();
      cma1g += cma?.free1GRanges ?? 0;
      cma2m += cma?.free2MBlocks ?? 0;
      buddyFree += this.host.buddy(n).freeBytes;
    }
    m.set('pool_free_2m_pages', free2m);
    m.set('pool_free_1g_pages', free1g);
    m.set('pool_free_bytes', free2m * bytesOfOrder(ORDER_2M) + free1g * bytesOfOrder(ORDER_1G));
    m.set('cma_free_1g_ranges', cma1g);
    m.set('cma_free_2m_blocks', cma2m);
    m.set('host_free_bytes', buddyFree);
  }

  /** Record one sample of every metric at the current time. */
  sample(): void {
    this.refreshGauges();
    this.metrics.sample(this.clockNs);
  }

  /** Fleet-level invariants (domain.md section 8); an empty list when all hold. */
  checkInvariants(): string[] {
    const problems: string[] = [];
    this.refreshGauges();
    const m = this.metrics;
    const parts = MEMORY_PARTS.reduce((s, p) => s + m.get(p), 0);
    const total = m.get('host_total_bytes');
    if (parts !== total) problems.push(`host_total_bytes ${total} != sum of parts ${parts}`);
    let nodeSum = 0;
    for (let n = 0; n < this.host.nodeCount; n++) nodeSum += m.nodeBytes(n);
    if (nodeSum !== total) problems.push(`per-node bytes ${nodeSum} != host_total_bytes ${total}`);
    const stats = this.allocator.stats();
    const allocatorBytes = stats.allocatedBytesByNode.reduce((a, b) => a + b, 0);
    let fileBytes = 0;
    for (const vm of this.vms.values()) fileBytes += vm.gmem.layout.allocated.total * PAGE_SIZE;
    if (allocatorBytes !== fileBytes) {
      problems.push(
        `allocator holds ${allocatorBytes} B but the running VMs' files have ${fileBytes} B allocated`,
      );
    }
    const running = m.get('vm_starts') - m.get('vm_stops');
    if (running !== this.vms.size)
      problems.push(`vm_starts - vm_stops = ${running} but ${this.vms.size} VMs run`);
    for (let n = 0; n < this.host.nodeCount; n++) {
      for (const order of [ORDER_2M, ORDER_1G] as const) {
        const pool = this.host.pool(n, order);
        if (
          pool.resvHugePages < 0 ||
          pool.freeHugePages < pool.resvHugePages ||
          pool.nrHugePages < pool.freeHugePages
        ) {
          problems.push(
            `node ${n} pool order ${order}: nr ${pool.nrHugePages} free ${pool.freeHugePages} resv ${pool.resvHugePages}`,
          );
        }
      }
      if (this.host.buddy(n).freeBytes < 0) problems.push(`node ${n}: buddy free bytes negative`);
    }
    return problems;
  }

  /** Capture a VM's per-file gauges: its refreshGauges() writes them into the shared recorder,
   * read back at once (the caller then refreshes the fleet gauges over them). */
  private snapshot(vm: FleetVm): void {
    vm.gmem.refreshGauges();
    const m = this.metrics;
    vm.gauges = {
      private: m.get('private_bytes'),
      shared: m.get('shared_bytes'),
      doubleAllocated: m.get('double_allocated_bytes'),
      zeroedNotFreed: m.get('zeroed_not_freed_bytes'),
      pageTables: m.get('page_table_bytes'),
      metadata: m.get('metadata_bytes'),
      vmemmap: m.get('vmemmap_bytes'),
      folios4k: m.get('folios_4k'),
      folios2m: m.get('folios_2m'),
      folios1g: m.get('folios_1g'),
      pages4k: m.get('pages_4k'),
      pages2m: m.get('pages_2m'),
      pages1g: m.get('pages_1g'),
      backend: (vm.gmem.backend?.total ?? 0) * PAGE_SIZE,
    };
  }

  private startFailed(
    gmem: GuestMemfd | null,
    stage: VmStartStage,
    errno: Errno,
    message: string,
    cycles: number,
  ): VmStartResult {
    // Teardown of the half-built VM: what it allocated or reserved goes back.
    gmem?.destroy();
    this.metrics.add('vm_start_failures', 1);
    this.refreshGauges();
    return { ok: false, stage, errno, message, cycles };
  }
}

/** SWIOTLB placement used by the fleet workload: at the top of guest RAM, its start aligned down
 * to 2 MiB (memblock allocates top-down, and confidential guests let SWIOTLB sit anywhere,
 * SWIOTLB_ANY). Returns [offset, size] with the size clipped to the guest, or null for size 0. */
export function swiotlbRange(guestBytes: number, size: number): [number, number] | null {
  const clipped = Math.min(size, guestBytes);
  if (clipped <= 0) return null;
  const align = 2 * MiB;
  return [Math.floor((guestBytes - clipped) / align) * align, clipped];
}
