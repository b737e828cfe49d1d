// Events in simulated time, run in (time, sequence number) order so that a seed gives one result:
// what the run-time workloads (synthetic churn, devices) schedule.

interface QueuedEvent {
  readonly t: number;
  readonly seq: number;
  readonly run: (t: number) => void;
}

function before(a: QueuedEvent, b: QueuedEvent): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

/** Binary min-heap on (t, seq): ties run in the order they were scheduled. */
export class EventQueue {
  private readonly heap: QueuedEvent[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Schedule `run` at time `t`; it gets its own time when it runs. */
  push(t: number, run: (t: number) => void): void {
    const h = this.heap;
    h.push({ t, seq: this.seq++, run });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  peekTime(): number | undefined {
    return this.heap[0]?.t;
  }

  pop(): QueuedEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
