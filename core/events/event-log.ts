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

export class EventLog {
  private readonly events: TimedEvent[] = [];
  private dropped = 0;

  /** `limit` bounds memory for long runs; events past it are counted, not kept. */
  constructor(
    readonly enabled: boolean,
    private readonly limit = 1_000_000,
  ) {}

  push(t: number, event: GmemEvent): void {
    if (!this.enabled) return;
    if (this.events.length >= this.limit) {
      this.dropped++;
      return;
    }
    this.events.push({ t, ...event } as TimedEvent);
  }

  get length(): number {
    return this.events.length;
  }

  get droppedCount(): number {
    return this.dropped;
  }

  all(): readonly TimedEvent[] {
    return this.events;
  }

  ofType<K extends GmemEvent['type']>(type: K): Array<Extract<TimedEvent, { type: K }>> {
    return this.events.filter((e) => e.type === type) as Array<Extract<TimedEvent, { type: K }>>;
  }

  toJsonLines(): string {
    let out = '';
    for (const e of this.events) out += JSON.stringify(e) + '\n';
    if (this.dropped > 0)
      out += JSON.stringify({ type: 'log_truncated', dropped: this.dropped }) + '\n';
    return out;
  }
}
