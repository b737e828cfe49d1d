// The event log: every operation and its consequences (splits, merges, invalidations with range and
// order hint, refusals, failures), in order, recordable as JSON lines.

export type GmemEvent =
  | {
      readonly type: 'convert';
      readonly offset: number;
      readonly size: number;
      readonly to: 'shared' | 'private';
      readonly changedBytes: number;
    }
  | {
      readonly type: 'convert_failed';
      readonly offset: number;
      readonly size: number;
      readonly to: 'shared' | 'private';
      readonly errno: string;
      readonly failedOffset: number;
      readonly reason: string;
    }
  | {
      readonly type: 'convert_refused';
      readonly offset: number;
      readonly size: number;
      readonly to: 'shared' | 'private';
      readonly reason: string;
    }
  | {
      readonly type: 'split';
      readonly offset: number;
      readonly fromOrder: number;
      readonly toOrder: number;
      readonly vmemmapPages: number;
    }
  | {
      readonly type: 'merge';
      readonly offset: number;
      readonly toOrder: number;
      readonly vmemmapPages: number;
    }
  | { readonly type: 'merge_deferred'; readonly offset: number; readonly dueNs: number }
  | { readonly type: 'merge_cancelled'; readonly offset: number }
  | {
      readonly type: 'merge_failed';
      readonly offset: number;
      readonly errno: string;
      readonly reason: string;
    }
  | {
      readonly type: 'invalidate';
      readonly start: number;
      readonly end: number;
      readonly orderHint: number;
      readonly reason: string;
    }
  | {
      readonly type: 'allocate';
      readonly offset: number;
      readonly order: number;
      readonly node: number;
    }
  | {
      readonly type: 'alloc_failed';
      readonly offset: number;
      readonly order: number;
      readonly errno: string;
      readonly reason: string;
    }
  | {
      readonly type: 'fallocate';
      readonly offset: number;
      readonly size: number;
      readonly allocatedBytes: number;
    }
  | {
      readonly type: 'punch_hole';
      readonly offset: number;
      readonly size: number;
      readonly freedBytes: number;
      readonly zeroedBytes: number;
    }
  | { readonly type: 'free'; readonly offset: number; readonly order: number }
  | { readonly type: 'pin'; readonly offset: number; readonly size: number }
  | { readonly type: 'unpin'; readonly offset: number; readonly size: number }
  | {
      readonly type: 'fault';
      readonly gfn: number;
      readonly who: 'guest' | 'host';
      readonly access: 'read' | 'write';
      readonly level: number;
      readonly reason: string;
    }
  | {
      readonly type: 'fault_failed';
      readonly gfn: number;
      readonly who: 'guest' | 'host';
      readonly errno: string;
      readonly reason: string;
    }
  | {
      readonly type: 'prefault';
      readonly offset: number;
      readonly size: number;
      readonly mappedBytes: number;
    }
  | { readonly type: 'accept'; readonly gfn: number; readonly size: number; readonly exits: number }
  | { readonly type: 'memory_error'; readonly offset: number; readonly order: number };

export type TimedEvent = GmemEvent & { readonly t: number };

/** Where a streaming event log writes: JSON lines, a chunk of whole lines at a time. */
export interface EventSink {
  write(text: string): void;
}

/** Events kept by default before the log is cut: bounds the file a long run writes (and, without
 * a sink, the memory the kept events take). An assumption of this tool, settable per run. */
export const DEFAULT_EVENT_LIMIT = 1_000_000;
/** The largest limit a run takes (the CLI's --events-limit, the workbench's field): 2^31 events,
 * some hundreds of GB of JSON lines, far past what any run is worth logging. */
export const MAX_EVENT_LIMIT = 2 ** 31;

/** Events buffered before a streaming log hands a chunk to its sink. */
const FLUSH_EVERY = 4096;

export interface EventLogOptions {
  /** Events kept; events past it are counted, not kept (default DEFAULT_EVENT_LIMIT). */
  readonly limit?: number;
  /** Stream the events to this sink as the run goes, keeping none in memory. */
  readonly sink?: EventSink;
  /** Fields written first in every streamed line (for example the variant's name). */
  readonly tag?: Readonly<Record<string, string | number>>;
}

export class EventLog {
  private readonly events: TimedEvent[] = [];
  private dropped = 0;
  private written = 0;
  private readonly limit: number;
  private readonly sink: EventSink | null;
  /** `{"variant":"x",` for tagged lines, else `{`: each line is prefix + JSON minus its `{`. */
  private readonly prefix: string;
  private pending = '';
  private pendingCount = 0;

  constructor(
    readonly enabled: boolean,
    options: EventLogOptions = {},
  ) {
    this.limit = options.limit ?? DEFAULT_EVENT_LIMIT;
    this.sink = options.sink ?? null;
    const tag = options.tag ? JSON.stringify(options.tag) : '{}';
    this.prefix = tag === '{}' ? '{' : tag.slice(0, -1) + ',';
  }

  push(t: number, event: GmemEvent): void {
    if (!this.enabled) return;
    if (this.written + this.events.length >= this.limit) {
      this.dropped++;
      return;
    }
    if (this.sink) {
      this.pending += this.prefix + JSON.stringify({ t, ...event }).slice(1) + '\n';
      this.written++;
      if (++this.pendingCount >= FLUSH_EVERY) this.flush();
      return;
    }
    this.events.push({ t, ...event } as TimedEvent);
  }

  /** Events logged so far (kept in memory or streamed), not counting dropped ones. */
  get length(): number {
    return this.written + this.events.length;
  }

  get droppedCount(): number {
    return this.dropped;
  }

  get eventLimit(): number {
    return this.limit;
  }

  /** Hand what is buffered to the sink. */
  flush(): void {
    if (!this.sink || this.pending === '') return;
    this.sink.write(this.pending);
    this.pending = '';
    this.pendingCount = 0;
  }

  /** End of the run: flush, and say in the log itself how many events it left out. */
  close(): void {
    if (!this.enabled || !this.sink) return;
    if (this.dropped > 0)
      this.pending += this.prefix + truncatedLine(this.dropped, this.limit).slice(1);
    this.flush();
  }

  /** Events kept in memory (none when the log streams to a sink). */
  all(): readonly TimedEvent[] {
    return this.events;
  }

  ofType<K extends GmemEvent['type']>(type: K): Array<Extract<TimedEvent, { type: K }>> {
    return this.events.filter((e) => e.type === type) as Array<Extract<TimedEvent, { type: K }>>;
  }

  toJsonLines(): string {
    let out = '';
    for (const e of this.events) out += this.prefix + JSON.stringify(e).slice(1) + '\n';
    if (this.dropped > 0) out += this.prefix + truncatedLine(this.dropped, this.limit).slice(1);
    return out;
  }
}

/** The last line of a log that was cut: how many events it left out, and at which limit. */
function truncatedLine(dropped: number, limit: number): string {
  return JSON.stringify({ type: 'log_truncated', dropped, limit }) + '\n';
}
