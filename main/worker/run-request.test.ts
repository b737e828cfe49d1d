// A run request as the worker runs it, here in the test's own thread: the cancel flag raised at the
// first progress report stops the run at its next poll, with a cancellation and no result.
import { describe, expect, it } from 'vitest';
import { parseExperimentValue } from '../../core/experiment/load.js';
import type { Experiment } from '../../core/experiment/schema.js';
import type { RunRequest, WorkerMessage } from './protocol.js';
import { runRequest } from './run-request.js';

const GiB = 1024 ** 3;

function experiment(): Experiment {
  const r = parseExperimentValue({
    format: 'gmem-lab-experiment',
    version: 1,
    name: 'run request test',
    host: { nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7', hugetlb2m: 2048 }] },
    guest: { memoryBytes: 4 * GiB, vendor: 'snp', vcpus: 4 },
    workload: { kind: 'fault-path', touchedBytes: GiB / 4, pattern: 'read-then-write' },
    variants: [
      { name: 'kept', pageSize: '4k', allocator: 'buddy', faultPath: 'change-pte-kept' },
      { name: 'removed', pageSize: '4k', allocator: 'buddy', faultPath: 'change-pte-removed' },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.experiment;
}

function request(cancelFlag: SharedArrayBuffer): RunRequest {
  return {
    type: 'run',
    runId: 7,
    experiment: experiment(),
    variantIndex: 0,
    cancelFlag,
    progressIntervalMs: 0,
  };
}

describe('run request', () => {
  it('runs to a result when nobody cancels it', () => {
    const messages: WorkerMessage[] = [];
    runRequest(request(new SharedArrayBuffer(4)), (m) => messages.push(m));
    expect(messages.at(-1)?.type).toBe('result');
    expect(messages.filter((m) => m.type === 'progress').length).toBeGreaterThan(1);
  });

  it('stops at the next poll once the flag is raised, and sends a cancellation only', () => {
    const flag = new SharedArrayBuffer(4);
    const messages: WorkerMessage[] = [];
    runRequest(request(flag), (m) => {
      messages.push(m);
      if (m.type === 'progress') Atomics.store(new Int32Array(flag), 0, 1);
    });
    expect(messages.map((m) => m.type)).toEqual(['progress', 'cancelled']);
    const first = messages[0];
    expect(first?.type === 'progress' && first.fraction).toBeLessThan(1);
    expect(messages[1]).toEqual({ type: 'cancelled', runId: 7 });
  });
});
