// One simulated guest on one host: the host model, the allocator chosen by the variant, the
// guest_memfd file, KVM's mappings, the metrics and the event log, on one simulated clock. The same
// code runs in a worker, the CLI and the tests; the same configuration and seed give the same
// results.
import type { Allocator } from '../allocators/allocator.js';
import { createAllocator } from '../allocators/index.js';
import {
  GmemVariantSchema,
  HostSchema,
  resolveCosts,
  type GmemVariantConfig,
  type GmemVariantInput,
  type HostConfig,
  allocatorHvo,
} from '../config.js';
import type { CostModel } from '../constants.js';
import { EventLog, type EventLogOptions } from '../events/event-log.js';
import {
  GuestMemfd,
  type Access,
  type OpResult,
  type Shareability,
  type Who,
} from '../gmem/guest-memfd.js';
import { Host } from '../host/host.js';
import { MEMORY_PARTS } from '../metrics/definitions.js';
import { MetricsRecorder, type RunSeries, type RunSummary } from '../metrics/recorder.js';
import { Rng } from '../rng.js';
import { ORDER_1G, ORDER_2M, ORDER_4K, PAGE_SIZE, type PageOrder } from '../units.js';
import { z } from 'zod';

export interface SimulationOptions {
  readonly host: z.input<typeof HostSchema> | HostConfig;
  readonly variant: GmemVariantInput | GmemVariantConfig;
  readonly seed: number;
  /** Record the event log: kept in memory, or streamed to `eventLog.sink`. */
  readonly recordEvents?: boolean;
  /** Limit, sink and line tag of the event log (core/events/event-log.ts). */
  readonly eventLog?: EventLogOptions;
}

export interface SimulationResult {
  readonly variant: string;
  readonly summary: RunSummary;
  readonly series: RunSeries;
  readonly eventsDropped: number;
}

export class Simulation {
  readonly host: Host;
  readonly allocator: Allocator;
  readonly gmem: GuestMemfd;
  readonly metrics: MetricsRecorder;
  readonly log: EventLog;
  readonly rng: Rng;
  readonly costs: CostModel;
  readonly variant: GmemVariantConfig;
  private clockNs = 0;

  constructor(options: SimulationOptions) {
    const hostConfig = HostSchema.parse(options.host);
    this.variant = GmemVariantSchema.parse(options.variant);
    this.costs = resolveCosts(this.variant.costs);
    this.rng = new Rng(options.seed);
    this.host = new Host(hostConfig, this.costs, this.rng.fork(1));
    this.allocator = createAllocator(
      this.variant.allocator,
      this.host,
      this.costs,
      this.rng.fork(2),
    );
    this.metrics = new MetricsRecorder(this.host.nodeCount);
    this.metrics.set('numa_nodes', this.host.nodeCount);
    this.log = new EventLog(options.recordEvents ?? false, options.eventLog);
    const hvo = allocatorHvo(this.variant.allocator, hostConfig);
    this.gmem = new GuestMemfd({
      config: this.variant,
      costs: this.costs,
      allocator: this.allocator,
      nodeCount: this.host.nodeCount,
      metrics: this.metrics,
      log: this.log,
      now: () => this.clockNs,
      hvo,
    });
  }

  /** Simulated time, ns. */
  get now(): number {
    return this.clockNs;
  }

  /** Let simulated time pass, running the deferred-merge worker when its merges fall due. */
  advanceTo(timeNs: number): void {
    if (timeNs < this.clockNs)
      throw new RangeError(`time ${timeNs} ns is before now (${this.clockNs} ns)`);
    for (
      let due = this.gmem.nextDeferredMergeNs();
      due <= timeNs;
      due = this.gmem.nextDeferredMergeNs()
    ) {
      this.clockNs = Math.max(this.clockNs, due);
      this.gmem.runDeferredMerges(this.clockNs);
    }
    this.clockNs = timeNs;
  }

  advanceBy(ns: number): void {
    this.advanceTo(this.clockNs + ns);
  }

  // Operations. Each advances the clock by its own cost (operations run one after another).
  convert(offset: number, size: number, to: Shareability): OpResult {
    return this.timed(this.gmem.convert(offset, size, to));
  }
  fallocate(offset: number, size: number): OpResult {
    return this.timed(this.gmem.fallocate(offset, size));
  }
  punchHole(offset: number, size: number): OpResult {
    return this.timed(this.gmem.punchHole(offset, size));
  }
  pin(offset: number, size: number): OpResult {
    return this.timed(this.gmem.pin(offset, size));
  }
  unpin(offset: number, size: number): OpResult {
    return this.timed(this.gmem.unpin(offset, size));
  }
  fault(gfn: number, who: Who, access: Access): OpResult {
    return this.timed(this.gmem.fault(gfn, who, access));
  }
  prefault(offset: number, size: number): OpResult {
    return this.timed(this.gmem.prefault(offset, size));
  }
  accept(offset: number, size: number, level: PageOrder = ORDER_4K): OpResult {
    return this.timed(this.gmem.accept(offset, size, level));
  }
  memoryError(offset: number): OpResult {
    return this.timed(this.gmem.memoryError(offset));
  }
  /** Guest reboot with reuse of the memory file. */
  rebootGuest(): void {
    this.gmem.resetGuestState();
  }
  teardown(): void {
    this.gmem.destroy();
  }

  private timed(result: OpResult): OpResult {
    this.advanceBy(result.cycles / this.costs.cpuGhz);
    return result;
  }

  /** Record one sample of every metric at the current time. */
  sample(): void {
    this.gmem.refreshGauges();
    this.metrics.sample(this.clockNs);
  }

  summary(): RunSummary {
    this.gmem.refreshGauges();
    return this.metrics.summary(this.clockNs);
  }

  result(): SimulationResult {
    if (this.metrics.sampleCount === 0 || this.metrics.seriesView().timeNs.at(-1) !== this.clockNs)
      this.sample();
    return {
      variant: this.variant.name,
      summary: this.summary(),
      series: this.metrics.seriesView(),
      eventsDropped: this.log.droppedCount,
    };
  }

  /** The invariants of domain.md section 8; an empty list when all hold. */
  checkInvariants(): string[] {
    const problems: string[] = [];
    const g = this.gmem;
    const layout = g.layout;
    const inPlace = g.config.conversionModel === 'in-place';
    let blocks2m = 0;
    let blocks1g = 0;
    let base = 0;
    for (let b = 0; b < layout.nrBlocks; b++) {
      const order = layout.blockOrderOf(b);
      const shared = g.shared.blockCount(b);
      const allocated = layout.allocated.blockCount(b);
      if (order === ORDER_2M) blocks2m++;
      else if (order === ORDER_1G) blocks1g++;
      else base += allocated;
      if (order !== ORDER_4K && allocated !== 512)
        problems.push(`block ${b}: order-${order} folio with ${allocated}/512 pages allocated`);
      // No shared page inside a huge folio (in-place), and a merged range is all private.
      if (inPlace && order !== ORDER_4K && shared !== 0)
        problems.push(`block ${b}: ${shared} shared pages inside an order-${order} folio`);
      if (g.punched.blockCount(b) > allocated)
        problems.push(`block ${b}: more punched than allocated pages`);
      // Mapping level never above folio order when the mapping was made (the fault caps it,
      // kvm_gmem_max_mapping_level()). A later split does not zap huge SPTEs outside the
      // converted range: RFC v2 kvm_gmem_convert_should_proceed() unmaps only the work range
      // (kvm_gmem_unmap_private()), and the TDX huge page v3 thread (Jan 2026) accepts huge
      // mappings over pages that stay contiguous and of one attribute. What must hold is that a
      // huge mapping covers allocated pages of one attribute, and only a folio that was at
      // least that large can have been under it (punched or never-allocated pages never are).
      const level = g.mmu.levelAt(b * 512);
      if (level >= ORDER_2M) {
        if (allocated !== 512)
          problems.push(
            `block ${b}: mapped at order ${level} over ${allocated}/512 allocated pages`,
          );
        if (shared !== 0 && shared !== 512)
          problems.push(`block ${b}: huge mapping over mixed attributes`);
      }
    }
    if (blocks2m !== layout.folios2m)
      problems.push(`folios_2m ${layout.folios2m} but ${blocks2m} blocks of order 9`);
    if (blocks1g !== layout.folios1g * 512)
      problems.push(`folios_1g ${layout.folios1g} but ${blocks1g} blocks of order 18`);
    if (base !== layout.folios4k)
      problems.push(`folios_4k ${layout.folios4k} but ${base} allocated pages in order-0 blocks`);
    // The counters the gauges read agree with a full recount (memory classes, blocks, folios,
    // mappings).
    problems.push(...g.gaugeCounterProblems());
    // Memory accounting adds up.
    const s = this.summary();
    const parts = MEMORY_PARTS.reduce((sum, p) => sum + s.metrics[p], 0);
    if (parts !== s.metrics.host_total_bytes)
      problems.push(`host_total_bytes ${s.metrics.host_total_bytes} != sum of parts ${parts}`);
    const stats = this.allocator.stats();
    const allocatorBytes = stats.allocatedBytesByNode.reduce((a, b) => a + b, 0);
    if (allocatorBytes !== layout.allocated.total * PAGE_SIZE) {
      problems.push(
        `allocator holds ${allocatorBytes} B but the file has ${layout.allocated.total * PAGE_SIZE} B allocated`,
      );
    }
    const nodeSum = s.nodeBytes.reduce((a, b) => a + b, 0);
    if (nodeSum !== s.metrics.host_total_bytes)
      problems.push(`per-node bytes ${nodeSum} != host_total_bytes ${s.metrics.host_total_bytes}`);
    // Pool counts never negative.
    for (let n = 0; n < this.host.nodeCount; n++) {
      for (const order of [ORDER_2M, ORDER_1G] as const) {
        const pool = this.host.pool(n, order);
        if (
          pool.freeHugePages < 0 ||
          pool.resvHugePages < 0 ||
          pool.nrHugePages < 0 ||
          pool.resvHugePages > pool.freeHugePages
        ) {
          problems.push(
            `node ${n} pool order ${order}: nr ${pool.nrHugePages} free ${pool.freeHugePages} resv ${pool.resvHugePages}`,
          );
        }
      }
    }
    return problems;
  }
}
