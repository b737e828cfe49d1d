// The simulation host: a pool of worker threads running the core, with a queue. Each run streams
// progress, can be cancelled, and ends with a result, an error or a cancellation. A worker that
// crashes or runs out of memory fails only its own run and is replaced; other runs go on.
import { availableParallelism, totalmem } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { VariantRunRequest } from '../../core/experiment/run.js';
import type { RunResult } from '../../core/metrics/result.js';
import type { RunProgress } from '@contract/api.js';
import type { RunRequest, WorkerMessage } from '../worker/protocol.js';

export interface SimulationHostOptions {
  /** Worker threads; default cores - 1, at least 1. */
  readonly size?: number;
  /** The worker entry: a built .js file, or a .ts file (then started through tsx). */
  readonly workerEntry?: URL;
  /** Per-worker memory limits (worker_threads resourceLimits). */
  readonly resourceLimits?: ResourceLimits;
  /** Least time between two progress events of one run. */
  readonly progressIntervalMs?: number;
  /** Each worker runs a warm-up simulation before it takes runs (main/worker/warm-up.ts), for a
   * pool started ahead of its first run: true for the default number of rounds, or a number. */
  readonly warmUp?: boolean | number;
  /** Memory each run's model state may take (core/storage-budget.ts): bytes, or null for no
   * limit; default defaultStorageBudget(size). */
  readonly storageBudgetBytes?: number | null;
}

/** Share of this machine's memory the model's state may take, split evenly between the workers
 * that run at once. An assumption (half, leaving the rest to the V8 heaps, the app and the rest
 * of the machine), settable per run: a run that passes it stops with a message, where without a
 * budget the operating system's out-of-memory killer would end the whole process. */
const DEFAULT_STORAGE_BUDGET_SHARE = 0.5;

export function defaultStorageBudget(workers: number): number {
  return Math.floor((totalmem() * DEFAULT_STORAGE_BUDGET_SHARE) / Math.max(1, workers));
}

export type RunOutcome =
  | { readonly status: 'done'; readonly result: RunResult }
  | { readonly status: 'cancelled' }
  | { readonly status: 'failed'; readonly message: string };

export interface RunHandle {
  readonly runId: number;
  readonly done: Promise<RunOutcome>;
  cancel(): void;
}

interface Job {
  readonly runId: number;
  readonly request: VariantRunRequest;
  readonly cancelFlag: SharedArrayBuffer;
  readonly onProgress: ((p: RunProgress) => void) | undefined;
  /** File the worker streams the event log to (recordEvents runs). */
  readonly eventsFile: string | undefined;
  readonly resolve: (o: RunOutcome) => void;
  cancelled: boolean;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  ready: boolean;
}

/** The worker beside this module: the TypeScript source when this is the source (tsx, tests), the
 * worker bundle beside the CLI bundle when this is out/cli/gmem-lab.mjs (tools/build-cli.ts). */
/** Warm-up rounds for `warmUp: true`: V8 optimizes what ran often, and a worker's first runs
 * after fewer rounds are still visibly slower. */
const DEFAULT_WARM_UP_ROUNDS = 3;

/** Workers in a row that may die before they are ready before the pool gives up on them. */
const MAX_START_FAILURES = 3;

const DEFAULT_ENTRY = import.meta.url.endsWith('.ts')
  ? new URL('../worker/simulation-worker.ts', import.meta.url)
  : new URL('./simulation-worker.mjs', import.meta.url);

export class SimulationHost {
  readonly size: number;
  private readonly entry: URL;
  private readonly limits: ResourceLimits;
  private readonly progressIntervalMs: number;
  /** Warm-up rounds of each new worker (0: none). */
  private readonly warmUp: number;
  /** Memory each run's model state may take; null: no limit. */
  readonly storageBudget: number | null;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextRunId = 1;
  private closed = false;
  /** whenReady() callers waiting for every worker to have started. */
  private readyWaiters: Array<() => void> = [];
  /** Workers in a row that died before they were ready. */
  private startFailures = 0;
  /** Set once workers keep dying at start: why, and every run fails with it at once. */
  private broken: string | null = null;

  constructor(options: SimulationHostOptions = {}) {
    this.size = Math.max(1, options.size ?? availableParallelism() - 1);
    this.entry = options.workerEntry ?? DEFAULT_ENTRY;
    this.limits = options.resourceLimits ?? { maxOldGenerationSizeMb: 2048 };
    this.progressIntervalMs = options.progressIntervalMs ?? 100;
    this.warmUp =
      options.warmUp === true ? DEFAULT_WARM_UP_ROUNDS : Math.max(0, Number(options.warmUp ?? 0));
    this.storageBudget =
      options.storageBudgetBytes === undefined
        ? defaultStorageBudget(this.size)
        : options.storageBudgetBytes;
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn());
  }

  /** Queue one variant run. `options.eventsFile`: with `request.recordEvents`, the new file
   * (absolute path, must not exist) the worker streams the event log to as the run goes; without
   * it the log comes back in the result (bounded by `request.eventLimit`). */
  run(
    request: VariantRunRequest,
    onProgress?: (p: RunProgress) => void,
    options: { readonly eventsFile?: string } = {},
  ): RunHandle {
    if (this.closed) throw new Error('the simulation host is closed');
    const runId = this.nextRunId++;
    if (this.broken !== null) {
      return {
        runId,
        done: Promise.resolve({ status: 'failed', message: this.broken }),
        cancel: () => {},
      };
    }
    let resolve!: (o: RunOutcome) => void;
    const done = new Promise<RunOutcome>((r) => (resolve = r));
    const job: Job = {
      runId,
      request,
      cancelFlag: new SharedArrayBuffer(4),
      onProgress,
      eventsFile: options.eventsFile,
      resolve,
      cancelled: false,
    };
    this.queue.push(job);
    this.dispatch();
    return {
      runId,
      done,
      cancel: () => this.cancel(job),
    };
  }

  /** Resolves once every worker has started and can take a run (at once if they all have). */
  whenReady(): Promise<void> {
    if (this.closed || this.broken !== null || this.slots.every((s) => s.ready))
      return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Runs waiting for a worker. */
  get queued(): number {
    return this.queue.length;
  }

  /** Runs on a worker now. */
  get running(): number {
    return this.slots.filter((s) => s.job !== null).length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const resolve of this.readyWaiters.splice(0)) resolve();
    for (const job of this.queue.splice(0)) job.resolve({ status: 'cancelled' });
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.job) {
          slot.job.resolve({ status: 'cancelled' });
          slot.job = null;
        }
        await slot.worker.terminate();
      }),
    );
  }

  private cancel(job: Job): void {
    if (job.cancelled) return;
    job.cancelled = true;
    const queuedAt = this.queue.indexOf(job);
    if (queuedAt >= 0) {
      this.queue.splice(queuedAt, 1);
      job.resolve({ status: 'cancelled' });
      return;
    }
    Atomics.store(new Int32Array(job.cancelFlag), 0, 1);
  }

  private spawn(): Slot {
    const worker = startWorker(this.entry, this.limits, this.warmUp);
    const slot: Slot = { worker, job: null, ready: false };
    worker.on('message', (message: WorkerMessage) => this.onMessage(slot, message));
    worker.on('error', (err: Error & { code?: string }) =>
      this.onCrash(slot, describeCrash(err, this.limits)),
    );
    worker.on('exit', (code) => {
      if (!this.closed && slot.worker === worker)
        this.onCrash(slot, `the simulation worker exited with code ${code}`);
    });
    return slot;
  }

  private onMessage(slot: Slot, message: WorkerMessage): void {
    if (message.type === 'ready') {
      slot.ready = true;
      this.startFailures = 0;
      this.dispatch();
      if (this.slots.every((s) => s.ready)) {
        for (const resolve of this.readyWaiters.splice(0)) resolve();
      }
      return;
    }
    const job = slot.job;
    if (!job || job.runId !== message.runId) return;
    switch (message.type) {
      case 'progress':
        if (!job.cancelled) {
          const { type: _type, ...progress } = message;
          job.onProgress?.(progress);
        }
        return;
      case 'result':
        this.finish(
          slot,
          job.cancelled ? { status: 'cancelled' } : { status: 'done', result: message.result },
        );
        return;
      case 'cancelled':
        this.finish(slot, { status: 'cancelled' });
        return;
      case 'error':
        this.finish(slot, { status: 'failed', message: message.message });
        return;
    }
  }

  private finish(slot: Slot, outcome: RunOutcome): void {
    const job = slot.job;
    slot.job = null;
    job?.resolve(outcome);
    this.dispatch();
  }

  /** A crashed worker fails its own run only, and is replaced; but a worker that cannot start
   * (its code fails to load, or memory is short at start) would die again at once, so after
   * MAX_START_FAILURES such deaths in a row the pool stops replacing them and fails every queued
   * and later run with the reason, instead of spawning workers in a loop. */
  private onCrash(slot: Slot, message: string): void {
    if (this.closed) return;
    const job = slot.job;
    slot.job = null;
    const dead = slot.worker;
    void dead.terminate();
    job?.resolve(job.cancelled ? { status: 'cancelled' } : { status: 'failed', message });
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) {
      this.broken = `the simulation worker cannot start (${MAX_START_FAILURES} attempts): ${message}`;
      for (const queued of this.queue.splice(0))
        queued.resolve({ status: 'failed', message: this.broken });
      for (const resolve of this.readyWaiters.splice(0)) resolve();
      return;
    }
    const replacement = this.spawn();
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots[i] = replacement;
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.job) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      // The run's own budget, if its caller set one, else the pool's.
      const budget = job.request.storageBudgetBytes ?? this.storageBudget;
      const message: RunRequest = {
        type: 'run',
        runId: job.runId,
        experiment: job.request.experiment,
        variantIndex: job.request.variantIndex,
        ...(job.request.traceText !== undefined ? { traceText: job.request.traceText } : {}),
        ...(job.request.tracePath !== undefined ? { tracePath: job.request.tracePath } : {}),
        recordEvents: job.request.recordEvents ?? false,
        ...(job.request.eventLimit !== undefined ? { eventLimit: job.request.eventLimit } : {}),
        ...(job.eventsFile !== undefined ? { eventsFile: job.eventsFile } : {}),
        ...(budget !== null ? { storageBudgetBytes: budget } : {}),
        cancelFlag: job.cancelFlag,
        progressIntervalMs: this.progressIntervalMs,
      };
      slot.worker.postMessage(message);
    }
  }
}

/** Start a worker on a built .js entry directly, or on a .ts entry through tsx: on Node 20 a
 * worker ignores `execArgv: ['--import', 'tsx']`, so a tiny eval stub registers tsx's API first. */
function startWorker(entry: URL, resourceLimits: ResourceLimits, warmUp: number): Worker {
  const path = fileURLToPath(entry);
  const workerData = { warmUp };
  if (!path.endsWith('.ts')) return new Worker(path, { resourceLimits, workerData });
  // An eval worker resolves bare specifiers from the working directory, not from this file: name
  // tsx's API by its resolved URL so the command works from any directory.
  // The checkout's tsconfig.json (this branch runs only from the sources): its `paths` map
  // @contract/*, whatever the working directory.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const tsconfig = fileURLToPath(new URL('../../tsconfig.json', import.meta.url));
  const stub = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register({ tsconfig: ${JSON.stringify(tsconfig)} }); return import(${JSON.stringify(pathToFileURL(path).href)}); }).catch((err) => { setImmediate(() => { throw err; }); });`;
  return new Worker(stub, { eval: true, resourceLimits, workerData });
}

function describeCrash(err: Error & { code?: string }, limits: ResourceLimits): string {
  if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
    return `the simulation ran out of memory (worker heap limit ${limits.maxOldGenerationSizeMb ?? 'default'} MiB); try a smaller guest or fewer recorded events`;
  }
  return `the simulation worker crashed: ${err.message}`;
}
