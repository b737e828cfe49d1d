// Warm-up of a fresh simulation worker: V8 runs new code in its interpreter first and optimizes
// what runs often, so the first run in a new worker takes several times as long as the next
// (about 200 ms instead of 60 ms for the 16 GiB SNP boot preset). A pool that is started ahead of
// its first run (the workbench starts it with the app) can spend that time up front: the worker
// runs this experiment once before it reports ready, then throws the results away. Runs share no
// state, so nothing of the warm-up reaches a later run.
import { ExperimentSchema, FORMAT_NAME, FORMAT_VERSION } from '../../core/experiment/schema.js';
import { runRequest } from './run-request.js';

const GiB = 1024 ** 3;

/** The SNP boot of a 16 GiB guest on the four backings (the snp-boot-16g-backings preset with
 * another seed) and two merge and split policies: the code paths most runs take. */
const WARM_UP = {
  format: FORMAT_NAME,
  version: FORMAT_VERSION,
  name: 'worker warm-up',
  seed: 4242,
  host: {
    hvo: true,
    hvoBatched: true,
    nodes: [
      {
        memoryBytes: 64 * GiB,
        cpus: '0-31',
        hostReservedBytes: 4 * GiB,
        hugetlb2m: 8192,
        hugetlb1g: 16,
      },
    ],
  },
  guest: { memoryBytes: 16 * GiB, vcpus: 8, vendor: 'snp' },
  workload: { kind: 'lifecycle', runtime: { durationNs: 500_000_000 }, teardown: false },
  sampling: { intervalNs: 1_000_000 },
  variants: [
    { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
    { name: 'THP 2 MiB', pageSize: '2m', allocator: 'thp' },
    { name: 'HugeTLB 2 MiB', pageSize: '2m', allocator: 'hugetlb' },
    { name: 'HugeTLB 1 GiB', pageSize: '1g', allocator: 'hugetlb' },
    // The merge and split policies' own paths.
    {
      name: 'HugeTLB 2 MiB, deferred merge',
      pageSize: '2m',
      allocator: 'hugetlb',
      policies: { merge: 'deferred', mergeDelayNs: 100_000_000 },
    },
    {
      name: 'HugeTLB 1 GiB, staged split',
      pageSize: '1g',
      allocator: 'hugetlb',
      policies: { split: 'staged' },
    },
  ],
};

/** What a warm-up did: the runs it finished, and why it stopped early, if it did. */
export interface WarmUpReport {
  readonly ms: number;
  readonly runs: number;
  readonly error?: string;
}

/** Run the warm-up experiment `rounds` times the way the worker runs requests (runRequest(): a
 * structured clone of the experiment, the same progress and cancellation closures, packed
 * results, sent nowhere). Never throws: a warm-up that fails leaves the worker cold, and says so
 * in its report (the worker prints it). */
export function warmUp(rounds = 2): WarmUpReport {
  const t0 = performance.now();
  let runs = 0;
  try {
    const parsed = ExperimentSchema.parse(WARM_UP);
    let failed: string | null = null;
    for (let round = 0; round < rounds; round++) {
      const experiment = structuredClone(parsed);
      for (let i = 0; i < experiment.variants.length; i++) {
        runRequest(
          {
            type: 'run',
            runId: -1,
            experiment,
            variantIndex: i,
            recordEvents: false,
            cancelFlag: new SharedArrayBuffer(4),
            progressIntervalMs: 100,
          },
          (message) => {
            if (message.type === 'result') runs++;
            else if (message.type === 'error' || message.type === 'cancelled') {
              const why = message.type === 'error' ? message.message : 'cancelled';
              failed = `variant ${experiment.variants[i]!.name}: ${why}`;
            }
          },
        );
        if (failed !== null) throw new Error(failed);
      }
    }
  } catch (err) {
    return {
      ms: performance.now() - t0,
      runs,
      error: err instanceof Error ? err.message : String(err),
    };
  }
  return { ms: performance.now() - t0, runs };
}

/** Runs a warm-up of `rounds` makes when every one finishes. */
export const warmUpRuns = (rounds: number): number => rounds * WARM_UP.variants.length;
