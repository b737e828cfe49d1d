// One run request in a worker thread: runs the variant with the core, reports progress at most
// every progressIntervalMs, stops when the host raises the cancel flag, and sends the result,
// the cancellation or the error. The worker's message handler and its warm-up both go through
// here, so the warm-up trains the very closures real runs use.
import { closeSync, openSync, writeSync } from 'node:fs';
import type { EventSink } from '../../core/events/event-log.js';
import { runVariant } from '../../core/experiment/run.js';
import { Cancelled } from '../../core/workloads/context.js';
import { fileTraceSource } from '../services/trace-file.js';
import { packResult, type RunRequest, type WorkerMessage } from './protocol.js';

export type Send = (message: WorkerMessage, transfer?: ArrayBuffer[]) => void;

export function runRequest(request: RunRequest, send: Send): void {
  const cancel = new Int32Array(request.cancelFlag);
  let lastProgress = 0;
  const events = request.recordEvents && request.eventsFile ? fileSink(request.eventsFile) : null;
  try {
    const result = runVariant(request.experiment, request.variantIndex, {
      ...(request.traceText !== undefined ? { traceText: request.traceText } : {}),
      ...(request.tracePath !== undefined
        ? { traceSource: fileTraceSource(request.tracePath) }
        : {}),
      recordEvents: request.recordEvents ?? false,
      ...(request.eventLimit !== undefined ? { eventLimit: request.eventLimit } : {}),
      ...(events ? { eventSink: events.sink } : {}),
      ...(request.storageBudgetBytes !== undefined
        ? { storageBudgetBytes: request.storageBudgetBytes }
        : {}),
      isCancelled: () => Atomics.load(cancel, 0) === 1,
      onProgress: (report) => {
        const now = Date.now();
        if (now - lastProgress < request.progressIntervalMs && report.fraction < 1) return;
        lastProgress = now;
        send({
          type: 'progress',
          runId: request.runId,
          variantIndex: request.variantIndex,
          phase: report.phase,
          fraction: report.fraction,
        });
      },
    });
    events?.close();
    const { packed, transfer } = packResult(result);
    send({ type: 'result', runId: request.runId, result: packed }, transfer);
  } catch (err) {
    events?.close();
    if (err instanceof Cancelled) {
      send({ type: 'cancelled', runId: request.runId });
      return;
    }
    const e = err instanceof Error ? err : new Error(String(err));
    send({
      type: 'error',
      runId: request.runId,
      message: e.message,
      ...(e.stack ? { stack: e.stack } : {}),
    });
  }
}

/** An event sink writing straight to a new file, synchronously: the worker's own thread does
 * the writing, so the log never queues up in memory, whatever the run's length. */
function fileSink(path: string): { sink: EventSink; close(): void } {
  const fd = openSync(path, 'wx', 0o600);
  let open = true;
  return {
    sink: {
      write(text: string) {
        const bytes = Buffer.from(text);
        for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
      },
    },
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
