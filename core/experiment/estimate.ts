// What a run implies before it runs: the guest's pages, the operations the model will take (faults,
// conversions, folio allocations and frees), the events its log would hold, and the memory the
// model's own state needs. Derived from the experiment's parameters and the model's data
// structures, never from a run: `validate` prints it, and a run whose event log would be cut says
// so before it starts (main/services/run-preparation.ts).
//
// The counts are the operations the workload asks for; what the model makes of them (a conversion
// that splits, a fault refused) can add events, so `events` is a lower bound and the operations
// are "about". Workloads other than lifecycle and trace record no event log.
import { BLOCK_TABLE_CHUNK_BYTES } from '../gmem/block-table.js';
import { LAYOUT_CHUNK_BYTES } from '../gmem/folio-layout.js';
import { CHUNK_STORAGE_BYTES } from '../gmem/paged-bitmap.js';
import { METRICS } from '../metrics/definitions.js';
import { GiB, MiB, PAGE_SIZE, alignUp } from '../units.js';
import { bootAcceptBytes } from '../workloads/coco-accept.js';
import { dmaAtomicPoolBytes } from '../workloads/coco-dma.js';
import { memmapBytes } from '../workloads/coco-memblock.js';
import { swiotlbBytes } from '../workloads/coco-swiotlb.js';
import type { LifecycleConfig } from '../workloads/lifecycle.js';
import { effectiveWorkload, type Experiment } from './schema.js';

const SZ_2M = 2 * MiB;
const SZ_1G = GiB;

export interface RunEstimate {
  readonly variant: string;
  /** 4 KiB pages of guest RAM. */
  readonly guestPages: number;
  /** Guest RAM the workload backs with folios, at most. */
  readonly touchedBytes: number;
  /** Operations the workload asks the model for (about). */
  readonly operations: {
    readonly faults: number;
    readonly conversions: number;
    readonly allocations: number;
    readonly frees: number;
  };
  /** Events the event log would hold, at least (one per fault and per conversion); 0 for
   * workloads that record none. */
  readonly events: number;
  /** Memory of the model's own state, bytes (an estimate, see modelBytes()). */
  readonly modelBytes: number;
}

/** Per-page bitmaps a touched 1 GiB range fills at 4 KiB granularity, at most: guest_memfd's
 * allocated folios and shared pages (core/gmem/state.ts, folio-layout.ts), the MMU's 4 KiB
 * mappings (core/kvm/mmu.ts) and the guest's accepted memory (core/workloads/coco-guest.ts). */
const PAGE_BITMAPS_PER_TOUCHED_GIB = 4;
/** Per-2 MiB block storage a touched GiB fills: the folio layout's entries (order, node and HVO
 * state in 16 bits a block, core/gmem/folio-layout.ts) and the MMU's 2 MiB mappings (a byte a
 * block, core/gmem/block-table.ts, used by kvm/mmu.ts). */
const BLOCK_BYTES_PER_TOUCHED_GIB = LAYOUT_CHUNK_BYTES + BLOCK_TABLE_CHUNK_BYTES;
/** Tables sized by the guest, bytes per GiB of guest: seven page bitmaps' per-GiB summaries and
 * chunk slots (24 B each, core/gmem/paged-bitmap.ts), the folio layout's and the MMU's per-GiB
 * orders, nodes and block-table slots (about 40 B, core/gmem/folio-layout.ts, core/kvm/mmu.ts):
 * about 210 B, rounded up. */
const FIXED_BYTES_PER_GUEST_GIB = 384;

/** Estimate every variant of `experiment`; `traceOps[i]`: the operations of the trace variant i
 * replays, when the caller has read it. */
export function estimateRun(
  experiment: Experiment,
  traceOps: readonly (number | undefined)[] = [],
): RunEstimate[] {
  return experiment.variants.map((variant, index) => {
    const workload = effectiveWorkload(experiment, variant);
    const guestBytes = experiment.guest.memoryBytes;
    const folioBytes =
      variant.pageSize === '1g' ? SZ_1G : variant.pageSize === '2m' ? SZ_2M : PAGE_SIZE;
    let ops = { faults: 0, conversions: 0, allocations: 0, frees: 0 };
    let touchedBytes = 0;
    let logged = false;
    if (workload.kind === 'lifecycle') {
      const mapBytes = Math.min(
        folioBytes,
        vendorMappingBytes(experiment.guest.vendor, variant.policies.tdxHugePageSeries),
      );
      ({ ops, touchedBytes } = lifecycleOps(
        experiment.guest.vendor !== 'none',
        workload,
        guestBytes,
        folioBytes,
        mapBytes,
        experiment.guest.vcpus,
      ));
      logged = true;
    } else if (workload.kind === 'trace') {
      ops = { faults: 0, conversions: traceOps[index] ?? 0, allocations: 0, frees: 0 };
      touchedBytes = guestBytes;
      logged = true;
    }
    const samples = sampleCount(
      workload,
      experiment.sampling.intervalNs,
      ops.faults + ops.conversions,
    );
    return {
      variant: variant.name,
      guestPages: Math.ceil(guestBytes / PAGE_SIZE),
      touchedBytes,
      operations: ops,
      // A fault and a conversion log one event each; allocations and frees may log one event for a
      // whole range (fallocate, truncation), so they are not counted.
      events: logged ? ops.faults + ops.conversions : 0,
      modelBytes: modelBytes(
        guestBytes,
        touchedBytes,
        samples,
        experiment.host.nodes.length,
        variant.conversionModel === 'legacy',
        experiment.guest.vendor === 'snp',
      ),
    };
  });
}

/** The largest private mapping a vendor's TDP takes at run time (core/kvm/mmu.ts
 * vendorMaxLevel: SNP's RMP, CCA and pKVM stop at 2 MiB; TDX maps 4 KiB in mainline, 2 MiB with
 * the TDX huge-page series). */
function vendorMappingBytes(vendor: Experiment['guest']['vendor'], tdxHugePages: boolean): number {
  if (vendor === 'tdx') return tdxHugePages ? SZ_2M : PAGE_SIZE;
  return vendor === 'snp' || vendor === 'cca' || vendor === 'pkvm' ? SZ_2M : SZ_1G;
}

/**
 * The lifecycle workload's operations: per boot, the acceptance (one fault per mapping of the
 * accepted RAM, and of the prefaulted RAM), the boot's shared structures (SWIOTLB, atomic pools,
 * virtio rings, .bss..decrypted and, per vCPU, the GHCB and paravirt per-CPU pages: a few
 * conversions each), and the run time (each transient DMA buffer converted to shared and back,
 * and faulted in again; each flip of a poorly behaved guest one conversion). Folios are allocated
 * once for the touched RAM (they stay across reboots) and freed at teardown.
 */
function lifecycleOps(
  confidential: boolean,
  w: LifecycleConfig,
  guestBytes: number,
  folioBytes: number,
  mapBytes: number,
  vcpus: number,
): { ops: RunEstimate['operations']; touchedBytes: number } {
  const acc = w.boot.accept;
  const acceptBytes = acc.mode === 'eager' ? guestBytes : bootAcceptBytes(acc, guestBytes);
  const prefaultBytes =
    acc.prefault === 'all'
      ? guestBytes
      : acc.prefault === 'boot-range'
        ? bootAcceptBytes(acc, guestBytes)
        : 0;
  // Lazy acceptance also accepts (so faults in) the boot's structures placed beyond the boot
  // range: SWIOTLB (coco-swiotlb.ts), an atomic DMA pool (coco-dma.ts) and the memory map that
  // memblock places at the top of RAM (coco-memblock.ts), at least.
  const structBytes =
    confidential && acc.mode !== 'eager'
      ? (w.boot.swiotlb.enabled
          ? swiotlbBytes(guestBytes, w.boot.swiotlb, vcpus, w.boot.kernelVersion)
          : 0) +
        dmaAtomicPoolBytes(guestBytes, w.boot.dmaPools) +
        lastNodeMemmapAboveBootRange(w, guestBytes)
      : 0;
  const rt = w.runtime;
  const seconds = rt.durationNs / 1e9;
  const buffers = rt.buffersPerSec * seconds;
  // With a guest-side shared pool, buffers come from pools converted once (runtime.ts): the
  // buffers themselves convert and fault nothing.
  const converting = rt.guestSharedPool.enabled ? 0 : buffers;
  const flips = rt.poorlyBehaved.enabled ? rt.poorlyBehaved.flipsPerSec * seconds : 0;
  // A plain VM ('none') converts nothing at boot.
  const bootConversions = confidential ? 16 + 4 * vcpus : 0;
  const rounds = w.reboots + 1;
  // Folios allocated, at least: the accepted and prefaulted RAM.
  const backedBytes = Math.max(acceptBytes, prefaultBytes);
  // What the folios may back, at most: besides that RAM, (lazy acceptance) each boot structure,
  // and each run-time buffer when the run time places them over all RAM, in a 1 GiB range of its
  // own (twice, for one that straddles two).
  const placed =
    acc.mode === 'eager' ? 0 : 2 * (bootConversions + (rt.region === 'all' ? buffers : 0)) * GiB;
  const touchedBytes = Math.min(guestBytes, alignUp(backedBytes, GiB) + placed);
  const allocations = Math.ceil(backedBytes / folioBytes);
  return {
    ops: {
      faults: Math.ceil(
        rounds * ((acceptBytes + structBytes + prefaultBytes) / mapBytes + converting),
      ),
      conversions: Math.ceil(rounds * (bootConversions + 2 * converting + flips)),
      allocations,
      frees: w.teardown ? allocations : 0,
    },
    touchedBytes,
  };
}

/** The last node's memory map, at the top of RAM, when it lies above the boot range (its faults
 * are then not among the boot range's). */
function lastNodeMemmapAboveBootRange(w: LifecycleConfig, guestBytes: number): number {
  if (!w.boot.memmap.enabled) return 0;
  const bytes = memmapBytes(guestBytes / w.boot.numa.nodes, w.boot.memmap.structPageBytes);
  return guestBytes - bytes >= bootAcceptBytes(w.boot.accept, guestBytes) ? bytes : 0;
}

/** Samples of the series: one per interval of simulated time, at most one per operation (a
 * sample is taken after an operation once the interval has passed), plus the phase boundaries. */
function sampleCount(workload: Experiment['workload'], intervalNs: number, ops: number): number {
  const boundaries = 8 * (workload.kind === 'lifecycle' ? workload.reboots + 1 : 1);
  if (workload.kind !== 'lifecycle') return Math.min(ops, 1_000_000) + boundaries;
  const runNs = workload.runtime.durationNs * (workload.reboots + 1);
  return Math.min(Math.ceil(runNs / intervalNs), ops) + boundaries;
}

/**
 * Memory of the model's state: the tables sized by the guest, the page bitmaps of the touched
 * RAM (PAGE_BITMAPS_PER_TOUCHED_GIB chunks per touched GiB, one more for a legacy variant's
 * backend bitmap, at most), and the metric series (8 bytes per metric and node per sample, in
 * buffers that grow by doubling: old and new both live while one grows).
 */
export function modelBytes(
  guestBytes: number,
  touchedBytes: number,
  samples: number,
  nodes: number,
  legacy = false,
  /** SEV-SNP: the RMP table's two bitmaps (core/kvm/rmp.ts): 4 KiB entries per page, and 2 MiB
   * entries per block (one chunk per 512 GiB of guest). */
  snp = false,
): number {
  const bitmaps = PAGE_BITMAPS_PER_TOUCHED_GIB + (legacy ? 1 : 0) + (snp ? 1 : 0);
  const guestGib = Math.ceil(guestBytes / GiB);
  const touchedGib = Math.ceil(touchedBytes / GiB);
  return (
    (snp ? Math.ceil(guestGib / 512) * CHUNK_STORAGE_BYTES : 0) +
    guestGib * FIXED_BYTES_PER_GUEST_GIB +
    touchedGib * (bitmaps * CHUNK_STORAGE_BYTES + BLOCK_BYTES_PER_TOUCHED_GIB) +
    3 * samples * (METRICS.length + nodes + 1) * 8
  );
}

/** A variant whose event log the run would cut: the events it logs at least, and the limit. */
export interface EventLogCut {
  readonly variant: string;
  readonly events: number;
  readonly limit: number;
  /** A round limit that holds the log: `events` and a tenth, rounded up to two digits. */
  readonly suggestedLimit: number;
}

/** The variants whose event log will be cut at `limit` events. */
export function eventLogCuts(estimates: readonly RunEstimate[], limit: number): EventLogCut[] {
  return estimates
    .filter((e) => e.events > limit)
    .map((e) => ({
      variant: e.variant,
      events: e.events,
      limit,
      suggestedLimit: suggestedEventLimit(e.events),
    }));
}

/** A round limit above `events`: two significant digits, rounded up, with a tenth to spare
 * (the event count is a lower bound). */
export function suggestedEventLimit(events: number): number {
  const step = 10 ** Math.max(0, Math.floor(Math.log10(events)) - 1);
  return Math.ceil((events * 1.1) / step) * step;
}
