// Workload: the host fault path of an ordinary VM (the change_pte story, domain.md section 4). The
// guest touches memory it never wrote; each variant's fault path (core/kvm/change-pte.ts) decides
// how many exits, stale faults and mmu_lock write acquisitions that costs. Counters land in the
// same metrics as every other run (vm_exits, tdp_faults, mmu_lock_write, invalidations, cycles_*).
import { chargeStorage } from '../storage-budget.js';
import { z } from 'zod';
import type { CostModel } from '../constants.js';
import {
  CHANGE_PTE_VARIANTS,
  ChangePteMachine,
  variantConfig,
  type ChangePteVariant,
  type Tally,
} from '../kvm/change-pte.js';
import { MetricsRecorder } from '../metrics/recorder.js';
import { Rng } from '../rng.js';
import { MiB, PAGE_SIZE } from '../units.js';
import { Cancelled, type ProgressReport } from './context.js';

export const ChangePteVariantSchema = z
  .enum(CHANGE_PTE_VARIANTS.map((v) => v.id) as [ChangePteVariant, ...ChangePteVariant[]])
  .meta({ description: CHANGE_PTE_VARIANTS.map((v) => `${v.id}: ${v.label}`).join('; ') });

export const FaultPathSchema = z
  .object({
    kind: z.literal('fault-path').meta({ description: 'Workload kind.' }),
    touchedBytes: z
      .number()
      .int()
      .min(PAGE_SIZE)
      .max(64 * 1024 * MiB)
      .default(64 * MiB)
      .meta({
        unit: 'bytes',
        description: 'Guest memory the guest touches, from guest address 0.',
      }),
    pattern: z.enum(['read-then-write', 'write-only', 'mixed']).default('read-then-write').meta({
      description:
        'read-then-write: every page is read before it is first written (zeroing-on-read patterns); write-only: written first; mixed: each access reads with readFraction odds.',
    }),
    order: z
      .enum(['sequential', 'random'])
      .default('sequential')
      .meta({ description: 'Order in which the guest visits its pages.' }),
    readFraction: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .meta({ unit: 'ratio', description: 'mixed pattern only.' }),
    thpAvailable: z.boolean().default(true).meta({
      description: 'A free 2 MiB block exists when the anonymous fault path tries a THP.',
    }),
    accessNs: z.number().int().nonnegative().default(100).meta({
      unit: 'ns',
      description: 'Guest time between two accesses, besides the exits they cause.',
    }),
  })
  .strict();
export type FaultPathConfig = z.infer<typeof FaultPathSchema>;

export interface FaultPathRun {
  readonly metrics: MetricsRecorder;
  readonly endNs: number;
}

/** Run one fault-path variant; returns the metrics in the common catalog. */
export function runFaultPath(
  params: FaultPathConfig,
  variant: ChangePteVariant,
  costs: CostModel,
  seed: number,
  sampleIntervalNs: number,
  onProgress?: (r: ProgressReport) => void,
  isCancelled?: () => boolean,
): FaultPathRun {
  const machine = new ChangePteMachine(
    variantConfig(variant, { thpAvailable: params.thpAvailable }),
    costs,
  );
  const metrics = new MetricsRecorder(1);
  const pages = Math.floor(params.touchedBytes / PAGE_SIZE);
  const rng = new Rng(seed);
  const order = visitOrder(pages, params.order, rng);
  let now = 0;
  let nextSample = 0;
  const publish = (tally: Tally, populate: Tally | null) => {
    const c = tally.counters;
    const cy = tally.cycles;
    metrics.set('vm_exits', c.vmExits);
    metrics.set('tdp_faults', c.tdpFaults + (populate?.counters.tdpFaults ?? 0));
    metrics.set(
      'mmu_lock_write',
      c.mmuLockWriteAcquisitions + (populate?.counters.mmuLockWriteAcquisitions ?? 0),
    );
    metrics.set('invalidations', c.invalidations + (populate?.counters.invalidations ?? 0));
    const pc = populate?.cycles;
    metrics.set(
      'cycles_fault',
      cy.exit +
        cy.fault +
        cy.mmuLock +
        cy.invalidate +
        (pc ? pc.exit + pc.fault + pc.mmuLock + pc.invalidate : 0),
    );
    metrics.set('cycles_zeroing', cy.zeroing + (pc?.zeroing ?? 0));
    metrics.set('cycles_split', cy.split + (pc?.split ?? 0));
    metrics.set('cycles_allocation', cy.alloc + (pc?.alloc ?? 0));
    metrics.set('cycles_total', cy.total + (pc?.total ?? 0));
    // Ordinary VM memory is host memory the guest can share with the host: counted as shared.
    const allocated = (c.pagesAllocated + (populate?.counters.pagesAllocated ?? 0)) * PAGE_SIZE;
    metrics.set('shared_bytes', allocated);
    metrics.set('host_total_bytes', allocated);
    const maps = machine.mappingCounts();
    metrics.set('pages_4k', maps.pages4k);
    metrics.set('pages_2m', maps.pages2m);
    metrics.set('mapped_4k_ratio', maps.pages4k / pages);
    metrics.set('mapped_2m_ratio', Math.min(1, (maps.pages2m * 512) / pages));
    metrics.set('guest_bytes', pages * PAGE_SIZE);
    metrics.set('numa_nodes', 1);
    metrics.setNodeBytes(0, allocated);
  };
  if (variant === 'prefault') machine.prefaultMemory(0, pages);
  publish(machine.runTotals(), machine.prefaultTotals());
  metrics.sample(0);
  const accesses = params.pattern === 'read-then-write' ? 2 : 1;
  const total = order.length * accesses;
  let done = 0;
  for (let pass = 0; pass < accesses; pass++) {
    for (const gfn of order) {
      const before = machine.runTotals().cycles.total;
      const access =
        params.pattern === 'read-then-write'
          ? pass === 0
            ? 'read'
            : 'write'
          : params.pattern === 'write-only'
            ? 'write'
            : rng.chance(params.readFraction)
              ? 'read'
              : 'write';
      const ev = machine.guestAccess(gfn, access);
      metrics.recordLatency('fault', (machine.runTotals().cycles.total - before) / costs.cpuGhz);
      now += params.accessNs + (machine.runTotals().cycles.total - before) / costs.cpuGhz;
      void ev;
      done++;
      if (now >= nextSample) {
        publish(machine.runTotals(), machine.prefaultTotals());
        metrics.sample(now);
        nextSample = now + sampleIntervalNs;
      }
      if ((done & 1023) === 0) {
        if (isCancelled?.()) throw new Cancelled();
        onProgress?.({ phase: 'fault-path', fraction: done / total });
      }
    }
  }
  publish(machine.runTotals(), machine.prefaultTotals());
  metrics.sample(now);
  return { metrics, endNs: now };
}

function visitOrder(pages: number, order: 'sequential' | 'random', rng: Rng): Uint32Array {
  // Page numbers below 2^24 (touchedBytes is at most 64 GiB): 32-bit entries hold them.
  chargeStorage(pages * 4, 'visiting order of the touched pages');
  const gfns = new Uint32Array(pages);
  for (let i = 0; i < pages; i++) gfns[i] = i;
  if (order === 'random') {
    for (let i = pages - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      const t = gfns[i]!;
      gfns[i] = gfns[j]!;
      gfns[j] = t;
    }
  }
  return gfns;
}
