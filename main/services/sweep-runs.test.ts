// A sweep's runs as one job: one progress, one done with every run's row, one cancel; and a
// sweep whose runs cannot all start (the pool closing) is refused whole, its started runs
// cancelled, with no event after.
import { describe, expect, it } from 'vitest';
import { sweepPoints } from '../../core/experiment/sweep.js';
import { parseExperimentValue } from '../../core/experiment/load.js';
import { FORMAT_NAME, FORMAT_VERSION } from '../../core/experiment/schema.js';
import type { VariantRunRequest } from '../../core/experiment/run.js';
import type { SweepDone, SweepProgress } from '@contract/api.js';
import type { RunHandle, RunOutcome } from './simulation-host.js';
import { SweepRuns } from './sweep-runs.js';

const GiB = 2 ** 30;

function points() {
  const r = parseExperimentValue({
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    name: 's',
    host: { nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7', hugetlb2m: 4096 }] },
    guest: { memoryBytes: 2 * GiB, vendor: 'snp', vcpus: 2 },
    workload: { kind: 'lifecycle', runtime: { durationNs: 1_000_000 }, teardown: false },
    variants: [
      { name: 'a', pageSize: '2m', allocator: 'hugetlb' },
      { name: 'b', base: 'a', pageSize: '4k', allocator: 'buddy' },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const ps = sweepPoints(r.experiment, [{ path: 'guest.vcpus', values: [2, 4] }]);
  const requests: VariantRunRequest[][] = ps.map((p) =>
    p.experiment.variants.map((_, variantIndex) => ({ experiment: p.experiment, variantIndex })),
  );
  return { ps, requests };
}

/** Runs that settle when told to, and record their cancels. */
function fakeRuns(failAt = Infinity) {
  const settle: Array<(o: RunOutcome) => void> = [];
  const cancelled: number[] = [];
  let started = 0;
  const run = (): RunHandle => {
    if (started === failAt) throw new Error('the simulation host is closed');
    const runId = ++started;
    return {
      runId,
      done: new Promise<RunOutcome>((resolve) => settle.push(resolve)),
      cancel: () => {
        cancelled.push(runId);
        settle[runId - 1]!({ status: 'cancelled' });
      },
    };
  };
  return { run, settle, cancelled, started: () => started };
}

function recorder() {
  const progress: SweepProgress[] = [];
  const done: SweepDone[] = [];
  return {
    progress,
    done,
    emit: {
      progress: (p: SweepProgress) => progress.push(p),
      done: (d: SweepDone) => done.push(d),
    },
  };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe('SweepRuns', () => {
  it('runs every point and variant, then says done once with a row per run, failures as failures', async () => {
    const { ps, requests } = points();
    const runs = fakeRuns();
    const ev = recorder();
    const sweeps = new SweepRuns(runs.run, ev.emit);
    const id = sweeps.start(ps, requests);
    expect(runs.started()).toBe(4);
    runs.settle[0]!({ status: 'failed', message: 'out of HugeTLB pages' });
    for (const s of runs.settle.slice(1))
      s({ status: 'done', result: { summary: { metrics: { faults: 1 } } } as never });
    await flush();
    expect(ev.done).toHaveLength(1);
    expect(ev.done[0]!.sweepId).toBe(id);
    expect(ev.done[0]!.status).toBe('done');
    expect(ev.done[0]!.rows).toHaveLength(4);
    expect(ev.done[0]!.rows[0]).toMatchObject({ variant: 'a', error: 'out of HugeTLB pages' });
    expect(ev.progress.at(-1)).toMatchObject({ done: 4, failed: 1, total: 4, fraction: 1 });
  });

  it('refuses a sweep whose runs cannot all start: the started ones are cancelled, nothing is said after', async () => {
    const { ps, requests } = points();
    const runs = fakeRuns(2);
    const ev = recorder();
    const sweeps = new SweepRuns(runs.run, ev.emit);
    expect(() => sweeps.start(ps, requests)).toThrow(/host is closed/);
    expect(runs.cancelled).toEqual([1, 2]);
    await flush();
    expect(ev.done).toEqual([]);
    expect(ev.progress).toEqual([]);
    // Nothing is left going: cancelling every sweep finds none.
    sweeps.cancelAll();
    expect(runs.cancelled).toEqual([1, 2]);
  });
});
