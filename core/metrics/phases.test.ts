// Counters per workload phase: the recorder splits every counter's growth at the phase boundaries
// the workload marks, sums repeats of a phase, and the phases add up to the run's totals.
import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { simOf } from '../sim/test-helpers.js';
import { summaryRows, summaryTableText } from '../report/summary-table.js';
import { GiB, MiB } from '../units.js';
import { WorkloadContext } from '../workloads/context.js';
import { LifecycleSchema, runLifecycle } from '../workloads/lifecycle.js';
import { METRICS, PHASE_METRICS } from './definitions.js';
import { MetricsRecorder, SETUP_PHASE } from './recorder.js';

const COUNTERS = METRICS.filter((m) => m.kind === 'counter').map((m) => m.name);

describe('MetricsRecorder phases', () => {
  it('charges each counter to the phase it grew in, sums repeats of a phase, and times them', () => {
    const r = new MetricsRecorder(1);
    r.beginPhase('boot', 0);
    r.add('splits_2m', 3);
    r.beginPhase('runtime', 100);
    r.add('splits_2m', 1);
    r.add('merges_2m', 2);
    r.beginPhase('boot', 250);
    r.add('splits_2m', 5);
    const phases = r.summary(400).phases;
    expect(phases.map((p) => [p.name, p.count, p.durationNs])).toEqual([
      ['boot', 2, 100 + 150],
      ['runtime', 1, 150],
    ]);
    expect(phases[0]!.metrics.splits_2m).toBe(8);
    expect(phases[0]!.metrics.merges_2m).toBe(0);
    expect(phases[1]!.metrics).toMatchObject({ splits_2m: 1, merges_2m: 2 });
    // Gauges are levels, not growth: they have no per-phase value.
    expect(phases[0]!.metrics).not.toHaveProperty('host_total_bytes');
    expect(Object.keys(phases[0]!.metrics).sort()).toEqual([...COUNTERS].sort());
    // Each entry into a phase is marked at its time, for the charts.
    expect(r.summary(400).phaseMarks).toEqual([
      { name: 'boot', startNs: 0 },
      { name: 'runtime', startNs: 100 },
      { name: 'boot', startNs: 250 },
    ]);
  });

  it('leaves out a set-up in which no counter grew, keeps one in which some did', () => {
    const quiet = new MetricsRecorder(1);
    quiet.beginPhase('boot', 10);
    expect(quiet.summary(20).phases.map((p) => p.name)).toEqual(['boot']);
    const busy = new MetricsRecorder(1);
    busy.add('tdp_faults', 4);
    busy.beginPhase('boot', 10);
    const phases = busy.summary(20).phases;
    expect(phases.map((p) => p.name)).toEqual([SETUP_PHASE, 'boot']);
    expect(phases[0]!.metrics.tdp_faults).toBe(4);
  });

  it('has no phases when the workload marks none (the totals are the one phase)', () => {
    const r = new MetricsRecorder(1);
    r.add('tdp_faults', 4);
    expect(r.summary(10).phases).toEqual([]);
  });

  it('gives the same phases however often the summary is taken', () => {
    const r = new MetricsRecorder(1);
    r.beginPhase('boot', 0);
    r.add('splits_1g', 1);
    const first = r.summary(10).phases;
    expect(r.summary(10).phases).toEqual(first);
    r.add('splits_1g', 1);
    expect(r.summary(20).phases[0]!.metrics.splits_1g).toBe(2);
  });
});

describe('phases of a lifecycle run', () => {
  function lifecycle(reboots: number) {
    const guestBytes = 512 * MiB;
    const sim = simOf(
      { hugetlb2m: guestBytes / (2 * MiB) + 8 },
      { allocator: 'hugetlb', pageSize: '2m', vendor: 'snp', guestBytes },
    );
    const ctx = new WorkloadContext(sim, new Rng(3), { sampleIntervalNs: 1e6 });
    const params = LifecycleSchema.parse({
      kind: 'lifecycle',
      reboots,
      runtime: { durationNs: 20_000_000 },
      teardown: true,
    });
    runLifecycle(ctx, params, { memoryBytes: guestBytes, vcpus: 4, vendor: 'snp' });
    return sim.summary();
  }

  it('names boot, runtime, reboot and teardown, with one boot per reboot plus the first', () => {
    const s = lifecycle(2);
    expect(s.phases.map((p) => [p.name, p.count])).toEqual([
      ['boot', 3],
      ['runtime', 3],
      ['reboot', 2],
      ['teardown', 1],
    ]);
  });

  it('adds up: every counter summed over the phases is its final value', () => {
    const s = lifecycle(1);
    for (const name of COUNTERS) {
      const sum = s.phases.reduce((acc, p) => acc + p.metrics[name]!, 0);
      expect(sum, name).toBeCloseTo(s.metrics[name], 6);
    }
    // The durations cover the whole run.
    const total = s.phases.reduce((acc, p) => acc + p.durationNs, 0);
    expect(total).toBeGreaterThan(0);
  });

  it('puts the boot splits in boot and the reset merges in reboot', () => {
    const s = lifecycle(1);
    const of = (name: string) => s.phases.find((p) => p.name === name)!.metrics;
    // The boot converts the SWIOTLB and the decrypted boot structures to shared: splits.
    expect(of('boot').splits_2m).toBeGreaterThan(0);
    expect(of('boot').conversions_to_shared).toBeGreaterThan(0);
    // A reset to private reverts the shared ranges: merges come during the reboot, not the boot.
    expect(of('reboot').conversions_to_private).toBeGreaterThan(0);
    expect(of('teardown').splits_2m).toBe(0);
  });

  it('shows per-phase rows in the summary table, and their sum over phases is the total row', () => {
    const s = lifecycle(1);
    const rows = summaryRows([{ name: 'a', metrics: s.metrics, phases: s.phases }]);
    for (const name of PHASE_METRICS) {
      const total = rows.find((r) => r.key === name)!.values[0]!;
      const perPhase = rows
        .filter((r) => r.key.startsWith(`${name}@`))
        .reduce((acc, r) => acc + r.values[0]!, 0);
      expect(perPhase, name).toBe(total);
    }
    const text = summaryTableText([{ name: 'a', metrics: s.metrics, phases: s.phases }], {
      hideZero: true,
    });
    expect(text).toMatch(/^splits_2m@boot\s+\d/m);
    expect(
      summaryRows([{ name: 'a', metrics: s.metrics, phases: s.phases }], { phases: false }),
    ).toHaveLength(METRICS.length);
  });

  it('a 1 GiB-backed boot splits during boot; those splits show as splits_1g@boot', () => {
    const guestBytes = 2 * GiB;
    const sim = simOf(
      { hugetlb1g: 4 },
      { allocator: 'hugetlb', pageSize: '1g', vendor: 'snp', guestBytes },
    );
    const ctx = new WorkloadContext(sim, new Rng(5), { sampleIntervalNs: 1e6 });
    runLifecycle(ctx, LifecycleSchema.parse({ kind: 'lifecycle' }), {
      memoryBytes: guestBytes,
      vcpus: 2,
      vendor: 'snp',
    });
    const s = sim.summary();
    const boot = s.phases.find((p) => p.name === 'boot')!;
    expect(boot.metrics.splits_1g).toBeGreaterThan(0);
    expect(boot.metrics.splits_1g).toBe(
      s.metrics.splits_1g - (s.phases.find((p) => p.name === 'runtime')?.metrics.splits_1g ?? 0),
    );
  });
});
