// Sweeps in the workbench: every point of a sweep (core/experiment/sweep.ts), every variant at
// each, run on the worker pool like any run, with one progress for the whole sweep and one
// cancel. Only each run's summary is kept: a sweep of 256 points would not fit its series, and
// its plot needs one value per point and variant.
import type { SweepPoint } from '../../core/experiment/sweep.js';
import type { VariantRunRequest } from '../../core/experiment/run.js';
import type { RunHandle, RunOutcome } from './simulation-host.js';
import type { SweepDone, SweepProgress, SweepRow } from '@contract/api.js';

interface Sweep {
  readonly handles: RunHandle[];
  cancelled: boolean;
}

/** Progress events at most this often, besides one per finished run. */
const PROGRESS_EVERY_MS = 200;

export class SweepRuns {
  private nextId = 1;
  private readonly sweeps = new Map<number, Sweep>();

  constructor(
    private readonly run: (
      request: VariantRunRequest,
      onProgress: (fraction: number) => void,
    ) => RunHandle,
    private readonly emit: {
      progress(p: SweepProgress): void;
      done(d: SweepDone): void;
    },
    private readonly now: () => number = Date.now,
  ) {}

  /** Start every run of the sweep: `requests[p]` are point p's variant runs. */
  start(points: readonly SweepPoint[], requests: readonly VariantRunRequest[][]): number {
    const sweepId = this.nextId++;
    const sweep: Sweep = { handles: [], cancelled: false };
    this.sweeps.set(sweepId, sweep);
    const jobs = requests.flatMap((rs, point) => rs.map((request) => ({ point, request })));
    const total = jobs.length;
    const fractions = new Float64Array(total);
    const rows: (SweepRow | undefined)[] = new Array(total);
    let done = 0;
    let failed = 0;
    let lastEmit = -Infinity;
    // A run that could not start (the pool closing as the app quits) stops the whole sweep.
    let aborted = false;
    const progress = (force: boolean) => {
      if (aborted) return;
      const t = this.now();
      if (!force && t - lastEmit < PROGRESS_EVERY_MS) return;
      lastEmit = t;
      let sum = 0;
      for (const f of fractions) sum += f;
      this.emit.progress({ sweepId, done, failed, total, fraction: total > 0 ? sum / total : 1 });
    };
    const finish = () => {
      this.sweeps.delete(sweepId);
      this.emit.done({
        sweepId,
        status: sweep.cancelled ? 'cancelled' : 'done',
        rows: rows.filter((r): r is SweepRow => r !== undefined),
      });
    };
    if (total === 0) {
      queueMicrotask(finish);
      return sweepId;
    }
    const startJob = ({ point, request }: (typeof jobs)[number], j: number) => {
      const handle = this.run(request, (f) => {
        fractions[j] = f;
        progress(false);
      });
      sweep.handles.push(handle);
      const variant = request.experiment.variants[request.variantIndex]!.name;
      const base = {
        point,
        params: points[point]!.params,
        variantIndex: request.variantIndex,
        variant,
      };
      const settle = (outcome: RunOutcome) => {
        if (aborted) return;
        fractions[j] = 1;
        done++;
        if (outcome.status === 'done')
          rows[j] = { ...base, summary: { ...outcome.result.summary.metrics } };
        else {
          failed++;
          // A cancelled sweep keeps what finished; its other runs are left out.
          if (outcome.status === 'failed') rows[j] = { ...base, error: outcome.message };
        }
        progress(true);
        if (done === total) finish();
      };
      handle.done.then(settle, (err: unknown) =>
        settle({ status: 'failed', message: `the run could not finish: ${String(err)}` }),
      );
    };
    try {
      jobs.forEach(startJob);
    } catch (err) {
      // The runs that started are cancelled and say nothing more: the caller is told the sweep
      // did not start, and no sweep.progress or sweep.done follows for it.
      aborted = true;
      this.sweeps.delete(sweepId);
      for (const h of sweep.handles) h.cancel();
      throw err;
    }
    progress(true);
    return sweepId;
  }

  /** Cancel every sweep going (the workbench is closing). */
  cancelAll(): void {
    for (const id of [...this.sweeps.keys()]) this.cancel(id);
  }

  /** Cancel every run of the sweep not yet finished; false when no such sweep is going. */
  cancel(sweepId: number): boolean {
    const sweep = this.sweeps.get(sweepId);
    if (!sweep) return false;
    sweep.cancelled = true;
    for (const h of sweep.handles) h.cancel();
    return true;
  }
}
