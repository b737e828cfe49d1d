// The simulation host with real worker threads: progress, results, cancellation, queueing, and a
// crashed or out-of-memory worker failing only its own run.
import { afterEach, describe, expect, it } from 'vitest';
import { parseExperimentValue } from '../../core/experiment/load.js';
import type { Experiment } from '../../core/experiment/schema.js';
import type { RunProgress } from '@contract/api.js';
import { SimulationHost } from './simulation-host.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function experiment(overrides: Record<string, unknown> = {}): Experiment {
  const r = parseExperimentValue({
    format: 'gmem-lab-experiment',
    version: 2,
    name: 'host test',
    host: { nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7', hugetlb2m: 2048 }] },
    guest: { memoryBytes: 4 * GiB, vendor: 'snp', vcpus: 4 },
    workload: { kind: 'lifecycle', runtime: { durationNs: 200_000_000 }, teardown: false },
    variants: [
      { name: 'HugeTLB 2 MiB', pageSize: '2m', allocator: 'hugetlb' },
      { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
    ],
    ...overrides,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.experiment;
}

/** A long run: 2 GiB of 4 KiB faults in random order, read then written. */
function slowExperiment(): Experiment {
  return experiment({
    workload: {
      kind: 'fault-path',
      touchedBytes: 2 * GiB,
      pattern: 'read-then-write',
      order: 'random',
    },
    variants: [
      { name: 'kept', pageSize: '4k', allocator: 'buddy', faultPath: 'change-pte-kept' },
      { name: 'removed', pageSize: '4k', allocator: 'buddy', faultPath: 'change-pte-removed' },
    ],
  });
}

let host: SimulationHost | null = null;
afterEach(async () => {
  await host?.close();
  host = null;
});

describe('simulation host', () => {
  it('a warmed-up pool is ready later and gives the same results as a cold one', async () => {
    const exp = experiment();
    const cold = new SimulationHost({ size: 1 });
    let coldResult: unknown;
    try {
      const outcome = await cold.run({ experiment: exp, variantIndex: 1 }).done;
      expect(outcome.status).toBe('done');
      coldResult = outcome.status === 'done' ? outcome.result : null;
    } finally {
      await cold.close();
    }
    host = new SimulationHost({ size: 1, warmUp: 1 });
    await host.whenReady();
    const outcome = await host.run({ experiment: exp, variantIndex: 1 }).done;
    expect(outcome.status).toBe('done');
    if (outcome.status !== 'done') return;
    // The warm-up runs other simulations in the worker first: nothing of them may leak.
    expect(outcome.result).toEqual(coldResult);
  });

  it('streams progress at most about ten times a second and returns results as typed arrays', async () => {
    host = new SimulationHost({ size: 1 });
    const progress: RunProgress[] = [];
    const handle = host.run({ experiment: experiment(), variantIndex: 0 }, (p) => progress.push(p));
    const outcome = await handle.done;
    expect(outcome.status).toBe('done');
    if (outcome.status !== 'done') return;
    expect(outcome.result.name).toBe('HugeTLB 2 MiB');
    expect(outcome.result.series.timeNs).toBeInstanceOf(Float64Array);
    expect(outcome.result.series.values[0]).toBeInstanceOf(Float64Array);
    expect(outcome.result.series.timeNs.length).toBeGreaterThan(10);
    expect(outcome.result.summary.metrics['splits_2m']).toBeGreaterThan(0);
    expect(progress.length).toBeGreaterThan(0);
    expect(new Set(progress.map((p) => p.phase)).has('boot')).toBe(true);
  });

  it('cancels a running run and says so', async () => {
    host = new SimulationHost({ size: 1, progressIntervalMs: 10 });
    // Cancelled on its first progress event: the run is on the worker by then, however fast the
    // core gets (main/worker/run-request.test.ts shows the worker stops at its next poll).
    let progressEvents = 0;
    const handle = host.run({ experiment: slowExperiment(), variantIndex: 0 }, () => {
      progressEvents++;
      handle.cancel();
    });
    const outcome = await handle.done;
    expect(outcome.status).toBe('cancelled');
    // No progress after the cancellation.
    expect(progressEvents).toBe(1);
    // The worker is free again.
    const next = await host.run({ experiment: experiment(), variantIndex: 0 }).done;
    expect(next.status).toBe('done');
  });

  it('queues more runs than workers and finishes them all', async () => {
    host = new SimulationHost({ size: 2 });
    const handles = Array.from({ length: 6 }, (_, i) =>
      host!.run({ experiment: experiment(), variantIndex: i % 2 }),
    );
    expect(host.running + host.queued).toBe(6);
    const outcomes = await Promise.all(handles.map((h) => h.done));
    expect(outcomes.map((o) => o.status)).toEqual(Array(6).fill('done'));
    // Same experiment, same variant, same seed: identical summaries from different workers.
    const a = outcomes[0]!;
    const c = outcomes[2]!;
    if (a.status === 'done' && c.status === 'done')
      expect(a.result.summary).toEqual(c.result.summary);
  });

  it('a cancelled queued run never starts', async () => {
    host = new SimulationHost({ size: 1 });
    const first = host.run({ experiment: experiment(), variantIndex: 0 });
    const second = host.run({ experiment: experiment(), variantIndex: 1 });
    second.cancel();
    expect((await second.done).status).toBe('cancelled');
    expect((await first.done).status).toBe('done');
  });

  it('a worker that crashes fails only its own run, and the pool keeps serving', async () => {
    host = new SimulationHost({
      size: 1,
      workerEntry: new URL('../worker/fault-injection-worker.ts', import.meta.url),
    });
    const crash = host.run({ experiment: experiment({ name: '__crash__' }), variantIndex: 0 });
    const exit = host.run({ experiment: experiment({ name: '__exit__' }), variantIndex: 0 });
    const fine = host.run({ experiment: experiment(), variantIndex: 0 });
    const [c, e, f] = await Promise.all([crash.done, exit.done, fine.done]);
    expect(c).toEqual({
      status: 'failed',
      message: expect.stringMatching(/crashed: injected crash/),
    });
    expect(e).toEqual({ status: 'failed', message: expect.stringMatching(/exited with code 7/) });
    expect(f.status).toBe('done');
  });

  it('workers that die at start are not replaced in a loop: every run fails with the reason', async () => {
    host = new SimulationHost({
      size: 1,
      workerEntry: new URL('../worker/failing-start-worker.ts', import.meta.url),
    });
    const first = host.run({ experiment: experiment(), variantIndex: 0 });
    const second = host.run({ experiment: experiment(), variantIndex: 1 });
    const [a, b] = await Promise.all([first.done, second.done]);
    for (const outcome of [a, b]) {
      expect(outcome).toEqual({
        status: 'failed',
        message: expect.stringMatching(/cannot start \(3 attempts\).*injected start failure/),
      });
    }
    await host.whenReady();
    const later = await host.run({ experiment: experiment(), variantIndex: 0 }).done;
    expect(later).toEqual(a);
  });

  it('a run past its model memory budget fails with the reason, and the pool goes on', async () => {
    host = new SimulationHost({ size: 1 });
    // 20,000 buffers placed anywhere in a 128 GiB guest, each faulted in and accepted where it
    // lands: page bitmaps for most of its 1 GiB ranges, about 2 MiB of model state.
    const big = experiment({
      host: { nodes: [{ memoryBytes: 256 * GiB, cpus: '0-7', hugetlb2m: 2048 }] },
      guest: { memoryBytes: 128 * GiB, vendor: 'snp' },
      workload: {
        kind: 'lifecycle',
        boot: { accept: { mode: 'lazy' } },
        runtime: { durationNs: 200_000_000, buffersPerSec: 100_000, region: 'all', locality: 0 },
        teardown: false,
      },
    });
    const over = host.run({ experiment: big, variantIndex: 1, storageBudgetBytes: 1 * MiB });
    const fine = host.run({ experiment: experiment(), variantIndex: 0 });
    const o = await over.done;
    expect(o.status).toBe('failed');
    if (o.status === 'failed') expect(o.message).toMatch(/memory than its budget of 1 MiB/);
    expect((await fine.done).status).toBe('done');
    expect(host.storageBudget).toBeGreaterThan(0);
  });

  it('a worker that exceeds its memory limit fails only its own run', async () => {
    host = new SimulationHost({
      size: 1,
      resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 },
    });
    // Recording every event of a 16 GiB guest faulted in 4 KiB at a time needs far more than 48 MiB.
    const hungry = experiment({
      guest: { memoryBytes: 16 * GiB, vendor: 'snp' },
      workload: {
        kind: 'lifecycle',
        boot: { accept: { bootBytes: 16 * GiB, pageSize: '4k' } },
        runtime: { durationNs: 0 },
        teardown: false,
      },
    });
    const oom = host.run({ experiment: hungry, variantIndex: 1, recordEvents: true });
    const after = host.run({
      experiment: experiment({ guest: { memoryBytes: 64 * MiB * 4, vendor: 'snp' } }),
      variantIndex: 0,
    });
    const o = await oom.done;
    expect(o.status).toBe('failed');
    if (o.status === 'failed') expect(o.message).toMatch(/out of memory/);
    expect((await after.done).status).toBe('done');
  });
});
