// What a workload gets to drive a simulation: the simulation, its own random stream, a sampler
// that records metrics over simulated time, progress reporting and cancellation.
import type { Rng } from '../rng.js';
import { SETUP_PHASE } from '../metrics/recorder.js';
import type { Simulation } from '../sim/simulation.js';

export interface ProgressReport {
  /** Phase of the workload, e.g. 'boot', 'runtime', 'teardown'. */
  readonly phase: string;
  /** 0..1 within the phase. */
  readonly fraction: number;
}

export class Cancelled extends Error {
  constructor() {
    super('run cancelled');
    this.name = 'Cancelled';
  }
}

export interface WorkloadContextOptions {
  /** Sample every metric at most this often in simulated time (ns). */
  readonly sampleIntervalNs: number;
  readonly onProgress?: (report: ProgressReport) => void;
  /** Polled between operations; a run stops with Cancelled when it returns true. */
  readonly isCancelled?: () => boolean;
}

export class WorkloadContext {
  private nextSampleNs = 0;
  private phaseName = SETUP_PHASE;
  private opsSinceCheck = 0;

  /** Part [from, to) of the phase's fraction that a long range operation now fills. */
  private span: readonly [number, number] | null = null;

  constructor(
    readonly sim: Simulation,
    readonly rng: Rng,
    private readonly options: WorkloadContextOptions,
  ) {
    // A range operation over many GiB (eager acceptance of all RAM, a full prefault) is one call
    // into the model: it reports as it goes, so progress moves and cancel works inside it.
    sim.gmem.onRangeWork = (done, total) => {
      if (this.span) this.progress(this.span[0] + ((this.span[1] - this.span[0]) * done) / total);
      if (this.options.isCancelled?.()) throw new Cancelled();
    };
  }

  /** Run `step`, which fills the part [from, to) of the phase: progress moves through that part
   * while its range operations run, and stands at `to` when it returns. */
  within<T>(from: number, to: number, step: () => T): T {
    const outer = this.span;
    this.span = [from, to];
    let result: T;
    try {
      result = step();
    } finally {
      this.span = outer;
    }
    this.progress(to);
    return result;
  }

  get phase(): string {
    return this.phaseName;
  }

  /** Start a phase: samples at its boundary so every phase shows in the series, and the counters
   * from here on count for this phase (RunSummary.phases). */
  beginPhase(name: string): void {
    this.sim.metrics.beginPhase(name, this.sim.now);
    this.phaseName = name;
    this.sampleNow();
    this.progress(0);
  }

  /** Call after each operation: samples when the sampling interval has passed, and checks for
   * cancellation every few hundred operations. */
  tick(): void {
    if (this.sim.now >= this.nextSampleNs) this.sampleNow();
    if (++this.opsSinceCheck >= 256) {
      this.opsSinceCheck = 0;
      if (this.options.isCancelled?.()) throw new Cancelled();
    }
  }

  sampleNow(): void {
    this.sim.sample();
    this.nextSampleNs = this.sim.now + this.options.sampleIntervalNs;
  }

  progress(fraction: number): void {
    this.options.onProgress?.({
      phase: this.phaseName,
      fraction: Math.max(0, Math.min(1, fraction)),
    });
  }
}
