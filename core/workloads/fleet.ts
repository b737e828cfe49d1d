// Workload: a host fleet (domain.md section 5, "Host fleet"). VMs of given sizes arrive on one host
// (a Poisson process, rate per hour of simulated time) and leave after an exponentially distributed
// lifetime. Each arrival creates a guest_memfd (HugeTLB: the subpool reserves the whole file, or
// creation fails), populates it, converts a SWIOTLB-like range to shared and runs; each departure
// destroys the file and its memory returns. Pool exhaustion, CMA allocation failures and latency,
// and fragmentation of the pools and CMA areas show over time.
//
// The arrival stream (times, sizes, lifetimes) comes from its own Rng fork and is drawn in the same
// order whatever happens to each VM, so every variant of an experiment sees the same arrivals.
import { z } from 'zod';
import type { GmemVariantConfig, HostConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import type { MetricsRecorder } from '../metrics/recorder.js';
import { Rng } from '../rng.js';
import {
  FleetSimulation,
  swiotlbRange,
  type VmBoot,
  type VmStartStage,
} from '../sim/fleet-simulation.js';
import {
  GiB,
  MiB,
  PAGE_SIZE,
  alignUp,
  bytesOfOrder,
  formatBytes,
  orderOfPageSize,
} from '../units.js';
import { Cancelled, type ProgressReport } from './context.js';

const NS_PER_HOUR = 3600 * 1e9;

const FleetVmSizeSchema = z
  .object({
    bytes: z
      .number()
      .int()
      .min(2 * MiB)
      .max(64 * 1024 * GiB)
      .multipleOf(2 * MiB)
      .meta({ unit: 'bytes', description: 'Guest RAM of a VM of this size.' }),
    weight: z
      .number()
      .positive()
      .finite()
      .default(1)
      .meta({ description: 'Relative odds that an arriving VM has this size.' }),
  })
  .strict();

const DEFAULT_VM_SIZES = [
  { bytes: 4 * GiB, weight: 4 },
  { bytes: 8 * GiB, weight: 3 },
  { bytes: 16 * GiB, weight: 2 },
  { bytes: 32 * GiB, weight: 1 },
];

export const FleetSchema = z
  .object({
    kind: z.literal('fleet').meta({
      description:
        'VMs of given sizes arriving on and leaving one host, each with its guest_memfd.',
    }),
    vmSizes: z.array(FleetVmSizeSchema).max(64).default(DEFAULT_VM_SIZES).meta({
      description:
        'Size mix of arriving VMs (bytes, weight). Empty: every VM has the experiment guest size. Each size must be a multiple of the variants\u2019 backing page size.',
    }),
    arrivalsPerHour: z.number().nonnegative().max(1_000_000).default(1).meta({
      unit: '1/h',
      description: 'Mean VM arrival rate (Poisson process) in simulated time.',
    }),
    meanLifetimeHours: z
      .number()
      .positive()
      .max(1_000_000)
      .default(24)
      .meta({ unit: 'h', description: 'Mean VM lifetime (exponential distribution).' }),
    initialVms: z.number().int().nonnegative().max(10_000).default(0).meta({
      unit: 'count',
      description: 'VMs arriving at time 0, before the Poisson arrivals (fills the host at once).',
    }),
    durationHours: z
      .number()
      .positive()
      .max(24 * 365 * 10)
      .default(24 * 7)
      .meta({ unit: 'h', description: 'Simulated time the run covers.' }),
    maxEvents: z.number().int().min(1).max(1_000_000).default(5_000).meta({
      unit: 'count',
      description:
        'Cap on arrivals plus departures processed, so runs stay fast; when reached the run stops early and fleet_truncated is 1.',
    }),
    populateFraction: z.number().min(0).max(1).default(1).meta({
      unit: 'ratio',
      description:
        'Share of each VM\u2019s memory fallocate\u2019d at start, from offset 0, rounded up to the backing page size. The rest is never touched (a HugeTLB subpool still holds it reserved).',
    }),
    swiotlbFraction: z.number().min(0).max(1).default(0.06).meta({
      unit: 'ratio',
      description:
        'SWIOTLB bounce buffer converted to shared at boot, as a share of guest RAM (0: none). One contiguous range at the top of guest RAM, its start aligned down to 2 MiB (memblock allocates top-down; confidential guests use SWIOTLB_ANY).',
    }),
    swiotlbMinBytes: z
      .number()
      .int()
      .nonnegative()
      .multipleOf(PAGE_SIZE)
      .default(64 * MiB)
      .meta({ unit: 'bytes', description: 'Lower clamp of the SWIOTLB size.' }),
    swiotlbMaxBytes: z
      .number()
      .int()
      .nonnegative()
      .multipleOf(PAGE_SIZE)
      .default(1 * GiB)
      .meta({
        unit: 'bytes',
        description: 'Upper clamp of the SWIOTLB size (wins over the lower).',
      }),
    prefault: z.boolean().default(false).meta({
      description:
        'KVM_PRE_FAULT_MEMORY over the populated memory at start, so mapping-level metrics are filled (slower with small backing pages).',
    }),
    homeNodes: z.enum(['variant', 'round-robin']).default('variant').meta({
      description:
        'Home node of each VM: the variant\u2019s homeNode for all, or the VM\u2019s arrival number modulo the node count (matters for the default mempolicy).',
    }),
    teardownAtEnd: z.boolean().default(false).meta({
      description:
        'At the end, stop every VM still running (the final values then show what came back); otherwise they stay running.',
    }),
  })
  .strict();
export type FleetConfig = z.infer<typeof FleetSchema>;

/** What happened to one VM, for callers that want the per-VM story (tests, the event view). */
export type FleetVmEvent =
  | {
      readonly type: 'arrive';
      readonly t: number;
      readonly id: number;
      readonly bytes: number;
      readonly lifetimeNs: number;
    }
  | { readonly type: 'start'; readonly t: number; readonly id: number; readonly bytes: number }
  | {
      readonly type: 'start_failed';
      readonly t: number;
      readonly id: number;
      readonly bytes: number;
      readonly stage: VmStartStage;
      readonly errno: string;
      readonly message: string;
    }
  | { readonly type: 'stop'; readonly t: number; readonly id: number; readonly bytes: number };

export interface FleetRunOptions {
  /** Sample every metric at most this often in simulated time (ns); samples are taken at event
   * times (the state after the events of that instant) and at the end. */
  readonly sampleIntervalNs: number;
  readonly onProgress?: (r: ProgressReport) => void;
  /** Polled every few dozen events; the run stops with Cancelled when it returns true. */
  readonly isCancelled?: () => boolean;
  /** Called for each VM arrival, start, start failure and stop. */
  readonly onVmEvent?: (e: FleetVmEvent) => void;
}

export interface FleetRunResult {
  readonly metrics: MetricsRecorder;
  readonly endNs: number;
}

interface Arrival {
  readonly id: number;
  readonly t: number;
  readonly bytes: number;
  readonly lifetimeNs: number;
}

/** Events between two cancellation checks and progress reports (one VM start may fallocate tens of
 * thousands of folios, so this is kept smaller than WorkloadContext's 256 operations). */
const CHECK_EVERY = 64;

/** Run the fleet on one host for one variant; returns the metrics in the common catalog. */
export function runFleet(
  params: FleetConfig,
  host: HostConfig,
  variant: GmemVariantConfig,
  seed: number,
  options: FleetRunOptions,
): FleetRunResult {
  const sizes = resolveSizes(params, variant);
  const root = new Rng(seed);
  // Dedicated stream for arrivals, forked first: it never depends on the variant.
  const arrivalRng = root.fork(1);
  const fleet = new FleetSimulation({ host, variant, rng: root.fork(2) });
  const durationNs = Math.round(params.durationHours * NS_PER_HOUR);
  const unitBytes = bytesOfOrder(orderOfPageSize(variant.pageSize));
  const emit = options.onVmEvent;

  let nextId = 0;
  let lastArrivalT = 0;
  const drawArrival = (atTimeZero: boolean): Arrival => {
    // Always three draws per VM, in this order, whatever becomes of it.
    const gap = arrivalRng.exponential(
      params.arrivalsPerHour > 0 ? NS_PER_HOUR / params.arrivalsPerHour : 1,
    );
    const bytes = pickSize(sizes, arrivalRng);
    const lifetimeNs = Math.max(
      1,
      Math.round(arrivalRng.exponential(params.meanLifetimeHours * NS_PER_HOUR)),
    );
    const t = atTimeZero
      ? 0
      : params.arrivalsPerHour > 0
        ? Math.round(lastArrivalT + gap)
        : Infinity;
    if (!atTimeZero) lastArrivalT = t;
    return { id: nextId++, t, bytes, lifetimeNs };
  };
  let initialLeft = params.initialVms;
  let pending: Arrival = drawArrival(initialLeft-- > 0);

  const departures: { t: number; id: number }[] = [];
  const bootOf = (bytes: number): VmBoot => {
    const populateBytes = Math.min(
      bytes,
      alignUp(Math.ceil(params.populateFraction * bytes), unitBytes),
    );
    const swiotlbBytes =
      params.swiotlbFraction > 0
        ? Math.min(
            params.swiotlbMaxBytes,
            Math.max(
              params.swiotlbMinBytes,
              alignUp(Math.ceil(params.swiotlbFraction * bytes), PAGE_SIZE),
            ),
          )
        : 0;
    const range = swiotlbRange(bytes, swiotlbBytes);
    return { populateBytes, sharedRanges: range ? [range] : [], prefault: params.prefault };
  };

  let events = 0;
  let truncated = false;
  // Samples are taken when simulated time is about to move on, so each one holds the state after
  // every event of its instant (a step chart), at most once per sampleIntervalNs.
  let nextSampleNs = 0;
  let lastSampleNs = -Infinity;
  let changed = true;
  const sample = () => {
    fleet.metrics.set('fleet_truncated', truncated ? 1 : 0);
    fleet.sample();
    lastSampleNs = fleet.now;
    nextSampleNs = fleet.now + options.sampleIntervalNs;
    changed = false;
  };
  const sampleBeforeMovingTo = (t: number) => {
    if (t > fleet.now && changed && fleet.now >= nextSampleNs) sample();
  };
  options.onProgress?.({ phase: 'fleet', fraction: 0 });

  for (;;) {
    // Next departure: earliest time, lowest id on ties.
    let di = -1;
    for (let i = 0; i < departures.length; i++) {
      const d = departures[i]!;
      const best = departures[di];
      if (!best || d.t < best.t || (d.t === best.t && d.id < best.id)) di = i;
    }
    const dep = departures[di];
    // Departures before arrivals at the same instant: the memory is back first.
    const takeDeparture = dep !== undefined && dep.t <= pending.t;
    const t = takeDeparture ? dep.t : pending.t;
    if (t > durationNs) break;
    if (events >= params.maxEvents) {
      truncated = true;
      break;
    }
    sampleBeforeMovingTo(t);
    fleet.advanceTo(t);
    changed = true;
    if (takeDeparture) {
      departures.splice(di, 1);
      const vm = fleet.vm(dep.id)!;
      fleet.stopVm(dep.id);
      emit?.({ type: 'stop', t, id: dep.id, bytes: vm.bytes });
    } else {
      const a = pending;
      pending = drawArrival(initialLeft-- > 0);
      emit?.({ type: 'arrive', t, id: a.id, bytes: a.bytes, lifetimeNs: a.lifetimeNs });
      const homeNode =
        params.homeNodes === 'round-robin' ? a.id % fleet.host.nodeCount : variant.homeNode;
      const r = fleet.startVm({ id: a.id, bytes: a.bytes, homeNode, boot: bootOf(a.bytes) });
      if (r.ok) {
        departures.push({ t: t + a.lifetimeNs, id: a.id });
        emit?.({ type: 'start', t, id: a.id, bytes: a.bytes });
      } else {
        emit?.({
          type: 'start_failed',
          t,
          id: a.id,
          bytes: a.bytes,
          stage: r.stage,
          errno: r.errno,
          message: r.message,
        });
      }
    }
    events++;
    if (events % CHECK_EVERY === 0) {
      if (options.isCancelled?.()) throw new Cancelled();
      options.onProgress?.({ phase: 'fleet', fraction: fleet.now / durationNs });
    }
  }

  const endNs = truncated ? fleet.now : durationNs;
  sampleBeforeMovingTo(endNs);
  fleet.advanceTo(endNs);
  if (params.teardownAtEnd && fleet.runningCount > 0) {
    options.onProgress?.({ phase: 'teardown', fraction: 0 });
    for (const vm of fleet.running()) {
      fleet.stopVm(vm.id);
      emit?.({ type: 'stop', t: endNs, id: vm.id, bytes: vm.bytes });
    }
    changed = true;
  }
  // Deferred merges may have run on the way to endNs: always end with a sample there.
  if (changed || lastSampleNs !== endNs) sample();
  options.onProgress?.({ phase: params.teardownAtEnd ? 'teardown' : 'fleet', fraction: 1 });
  return { metrics: fleet.metrics, endNs };
}

interface SizeChoice {
  readonly bytes: number;
  readonly weight: number;
}

/** The size mix, checked against the variant's backing page size (a hugetlbfs / guest_memfd file
 * is a whole number of its pages). */
function resolveSizes(params: FleetConfig, variant: GmemVariantConfig): SizeChoice[] {
  const unit = bytesOfOrder(orderOfPageSize(variant.pageSize));
  if (params.vmSizes.length === 0) {
    if (variant.guestBytes % unit !== 0) {
      throw new ConfigError(
        `the guest size ${formatBytes(variant.guestBytes)} (the VM size when vmSizes is empty) is not a multiple of the ${variant.pageSize} backing page size of variant ${variant.name}`,
        'guest.memoryBytes',
      );
    }
    return [{ bytes: variant.guestBytes, weight: 1 }];
  }
  params.vmSizes.forEach((s, i) => {
    if (s.bytes % unit !== 0) {
      throw new ConfigError(
        `${formatBytes(s.bytes)} is not a multiple of the ${variant.pageSize} backing page size of variant ${variant.name}`,
        `workload.vmSizes[${i}].bytes`,
      );
    }
  });
  return params.vmSizes.map((s) => ({ bytes: s.bytes, weight: s.weight }));
}

function pickSize(sizes: readonly SizeChoice[], rng: Rng): number {
  const total = sizes.reduce((s, c) => s + c.weight, 0);
  let u = rng.next() * total;
  for (const c of sizes) {
    if (u < c.weight) return c.bytes;
    u -= c.weight;
  }
  return sizes[sizes.length - 1]!.bytes;
}
