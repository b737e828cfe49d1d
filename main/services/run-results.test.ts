import { describe, expect, it } from 'vitest';
import { LATENCY_OPS, type LatencyOp } from '../../core/metrics/definitions.js';
import type { LatencySummary, RunResult } from '../../core/metrics/result.js';
import { RunResults } from './run-results.js';

function result(samples: number): RunResult {
  return {
    name: 'v',
    summary: {
      metrics: {} as RunResult['summary']['metrics'],
      nodeBytes: [],
      latencyNs: Object.fromEntries(
        LATENCY_OPS.map((op) => [op, { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 }]),
      ) as Record<LatencyOp, LatencySummary>,
      phases: [],
      phaseMarks: [],
    },
    series: {
      timeNs: new Float64Array(samples),
      names: ['a'],
      values: [new Float64Array(samples)],
      nodeBytes: [],
      fullLength: samples,
    },
    endNs: 0,
    coverage: { guestBytes: 0, nodes: 1, workload: 'lifecycle' },
  };
}

describe('RunResults', () => {
  it('keeps the last maxRuns runs, least recently used out first', () => {
    const kept = new RunResults(3);
    for (const id of [1, 2, 3]) kept.set(id, result(1));
    expect(kept.get(1)).toBeDefined(); // 1 is now the most recent
    kept.set(4, result(1));
    expect(kept.get(2)).toBeUndefined();
    expect([1, 3, 4].map((id) => kept.get(id) !== undefined)).toEqual([true, true, true]);
    expect(kept.size).toBe(3);
  });

  it('bounds the bytes of series kept, but always keeps the newest run', () => {
    const kept = new RunResults(64, 2 * 1000 * 16); // two runs of 1000 samples x 2 arrays x 8 bytes
    kept.set(1, result(1000));
    kept.set(2, result(1000));
    kept.set(3, result(1000));
    expect(kept.get(1)).toBeUndefined();
    expect(kept.size).toBe(2);
    kept.set(4, result(100_000));
    expect(kept.size).toBe(1);
    expect(kept.get(4)).toBeDefined();
  });
});
