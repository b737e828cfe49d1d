// One latency sample per kernel operation: a fault histogram takes one sample per fault, whether
// the model runs the fault alone (fault(), or one page of a range) or in a bulk run of identical
// ones (the paths taken when no event log is kept), and a range that is prefaulted or accepted is
// many faults, never one sample covering them all.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExperimentText } from '../experiment/load.js';
import { variantConfig } from '../experiment/run.js';
import { effectiveWorkload, type Experiment } from '../experiment/schema.js';
import { LATENCY_OPS } from '../metrics/definitions.js';
import { Rng } from '../rng.js';
import { Simulation } from '../sim/simulation.js';
import { simOf } from '../sim/test-helpers.js';
import { GiB, MiB } from '../units.js';
import { WorkloadContext } from '../workloads/context.js';
import { runLifecycle } from '../workloads/lifecycle.js';

const PRESETS = new URL('../../resources/presets/', import.meta.url);

function lifecyclePresets(): { file: string; experiment: Experiment }[] {
  const out: { file: string; experiment: Experiment }[] = [];
  for (const file of readdirSync(PRESETS)
    .filter((f) => f.endsWith('.gmemlab.json'))
    .sort()) {
    const loaded = parseExperimentText(readFileSync(new URL(file, PRESETS), 'utf8'));
    if (!loaded.ok) throw new Error(`${file} does not load`);
    if (loaded.experiment.workload.kind === 'lifecycle')
      out.push({ file, experiment: loaded.experiment });
  }
  return out;
}

/** Run variant `index` of a lifecycle experiment as runVariant does, with or without the event
 * log (with it, every fault takes the per-page path). */
function simulate(experiment: Experiment, index: number, recordEvents: boolean): Simulation {
  const sim = new Simulation({
    host: experiment.host,
    variant: variantConfig(experiment, experiment.variants[index]!),
    seed: experiment.seed,
    recordEvents,
  });
  const ctx = new WorkloadContext(sim, new Rng(experiment.seed).fork(7), {
    sampleIntervalNs: experiment.sampling.intervalNs,
  });
  const workload = effectiveWorkload(experiment, experiment.variants[index]!);
  if (workload.kind !== 'lifecycle') throw new Error('lifecycle workloads only');
  runLifecycle(ctx, workload, experiment.guest);
  return sim;
}

describe('bulk paths record the same latency samples as the per-page path', () => {
  for (const { file, experiment } of lifecyclePresets()) {
    experiment.variants.forEach((variant, index) => {
      it(`${file}, ${variant.name}: every latency histogram, bucket by bucket`, () => {
        const single = simulate(experiment, index, true);
        const bulk = simulate(experiment, index, false);
        for (const op of LATENCY_OPS) {
          expect(bulk.metrics.latencyBuckets(op), op).toEqual(single.metrics.latencyBuckets(op));
        }
        const { metrics, latencyNs } = bulk.summary();
        expect(metrics).toEqual(single.summary().metrics);
        // One sample per split and per merge (none of these presets has a split or merge fail).
        expect(latencyNs.split.count).toBe(metrics.splits_1g + metrics.splits_2m);
        expect(latencyNs.merge.count).toBe(metrics.merges_1g + metrics.merges_2m);
      });
    });
  }
});

describe('a prefaulted or accepted range is one fault sample per fault', () => {
  // Each backing with a vendor that maps it whole (SNP's RMP stops at 2 MiB, so a 1 GiB folio is
  // shown on a guest without memory encryption), so every fault of the range costs the same.
  const cases = [
    { backing: '4 KiB', variant: { pageSize: '4k', allocator: 'buddy' }, vendor: 'snp' },
    { backing: 'HugeTLB 2 MiB', variant: { pageSize: '2m', allocator: 'hugetlb' }, vendor: 'snp' },
    { backing: 'HugeTLB 1 GiB', variant: { pageSize: '1g', allocator: 'hugetlb' }, vendor: 'none' },
  ] as const;
  for (const { backing, variant, vendor } of cases) {
    for (const how of ['accept', 'prefault'] as const) {
      it(`${backing}, ${how} of 2 GiB: as many samples as faults, each the cost of one`, () => {
        const sim = simOf(
          { memoryBytes: 8 * GiB, hugetlb2m: 1024, hugetlb1g: 2 },
          { ...variant, guestBytes: 2 * GiB, vendor },
        );
        sim.gmem.phase = 'runtime';
        const before = sim.summary();
        const r = how === 'accept' ? sim.gmem.accept(0, 2 * GiB) : sim.gmem.prefault(0, 2 * GiB);
        expect(r.ok).toBe(true);
        const after = sim.summary();
        const faults = after.metrics.tdp_faults - before.metrics.tdp_faults;
        // One fault per mapping, at the folio's order.
        expect(faults).toBe((2 * GiB) / (4096 * 2 ** sim.gmem.hugeOrder));
        const fault = after.latencyNs.fault;
        expect(fault.count - before.latencyNs.fault.count).toBe(faults);
        // Every fault of the range costs the same: each sample is the range's cost over the
        // faults, and together they add up to it.
        const perFaultNs = r.cycles / faults / sim.costs.cpuGhz;
        expect(fault.max).toBeCloseTo(perFaultNs, 6);
        expect(fault.mean * fault.count).toBeCloseTo(r.cycles / sim.costs.cpuGhz, 0);
      });
    }
  }

  it('the samples scale with the faults: 4 KiB backing takes 512 times the 2 MiB count', () => {
    const counts = (['4k', '2m'] as const).map((pageSize) => {
      const sim = simOf(
        { memoryBytes: 8 * GiB, hugetlb2m: 1024 },
        {
          pageSize,
          allocator: pageSize === '4k' ? 'buddy' : 'hugetlb',
          guestBytes: 1 * GiB,
          vendor: 'snp',
        },
      );
      expect(sim.gmem.accept(0, 64 * MiB).ok).toBe(true);
      return sim.summary().latencyNs.fault.count;
    });
    expect(counts).toEqual([16384, 32]);
  });
});
