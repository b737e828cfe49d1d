// Worker-thread entry: runs one variant of an experiment at a time with the core, streams
// progress at most every progressIntervalMs, stops when the host raises the cancel flag.
import { parentPort } from 'node:worker_threads';
import { runVariant } from '../../core/experiment/run.js';
import { Cancelled } from '../../core/workloads/context.js';
import { packResult, type RunRequest, type WorkerMessage } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('simulation-worker must run in a worker thread');

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

port.on('message', (request: RunRequest) => {
  if (request.type !== 'run') return;
  const cancel = new Int32Array(request.cancelFlag);
  let lastProgress = 0;
  try {
    const result = runVariant(request.experiment, request.variantIndex, {
      ...(request.traceText !== undefined ? { traceText: request.traceText } : {}),
      recordEvents: request.recordEvents ?? false,
      isCancelled: () => Atomics.load(cancel, 0) === 1,
      onProgress: (report) => {
        const now = Date.now();
        if (now - lastProgress < request.progressIntervalMs && report.fraction < 1) return;
        lastProgress = now;
        post({
          type: 'progress',
          runId: request.runId,
          phase: report.phase,
          fraction: report.fraction,
        });
      },
    });
    const { packed, transfer } = packResult(result);
    post({ type: 'result', runId: request.runId, result: packed }, transfer);
  } catch (err) {
    if (err instanceof Cancelled) {
      post({ type: 'cancelled', runId: request.runId });
      return;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    post({
      type: 'error',
      runId: request.runId,
      message: e.message,
      ...(e.stack ? { stack: e.stack } : {}),
    });
  }
});

post({ type: 'ready' });
