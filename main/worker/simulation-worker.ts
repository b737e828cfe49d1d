// Worker-thread entry: runs one variant of an experiment at a time with the core (run-request.ts),
// streams progress at most every progressIntervalMs, stops when the host raises the cancel flag.
import { parentPort, workerData } from 'node:worker_threads';
import type { RunRequest, WorkerMessage } from './protocol.js';
import { runRequest } from './run-request.js';
import { warmUp } from './warm-up.js';

const port = parentPort;
if (!port) throw new Error('simulation-worker must run in a worker thread');

// Results leave as transferred, hence detached, buffers. V8 compiles typed-array access without
// detach checks until a thread first detaches a buffer, and then throws all that optimized code
// away at once: in a worker, right after its first result, a pause of tens of milliseconds while
// everything is optimized again. Detaching one buffer now, before anything is optimized, spares it.
const detached = new ArrayBuffer(8);
structuredClone(detached, { transfer: [detached] });

function post(message: WorkerMessage, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

port.on('message', (request: RunRequest) => {
  if (request.type !== 'run') return;
  runRequest(request, post);
});

// The host asks for a warm-up when it starts its pool ahead of the first run (warm-up.ts).
const rounds = Number((workerData as { warmUp?: number } | undefined)?.warmUp ?? 0);
if (rounds > 0) {
  const report = warmUp(rounds);
  // The worker still serves runs, only colder: said on stderr, where the host's logs go.
  if (report.error !== undefined)
    console.error(`gmem-lab worker: warm-up stopped after ${report.runs} runs: ${report.error}`);
}
post({ type: 'ready' });
