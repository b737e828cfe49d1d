// The operations of a checked trace, kept as numbers for the replay that follows: the check pass
// has already parsed every line, so a replay of the same source reads this log instead of parsing
// the file a second time. The log is bounded: past its budget (64 MiB: about 2.3 million
// operations with times, 3.2 million without) it is dropped and the replay parses the file
// again, so memory stays bounded by the model and this budget, never by the length of the trace.
import type { OpFieldSink } from './trace-ops.js';
import type { TraceSource } from './trace-stream.js';

/** Operations per block: the log grows a block at a time, never by copying what it holds. */
const BLOCK = 1 << 16;
/** Bytes an operation takes in the log: code (1), line (4), address and size (8 each); its time
 * (8 more) only in blocks that hold timed operations. */
const BYTES_PER_OP = 21;
const BYTES_PER_TIME = 8;
const MAX_LINE = 0xffff_ffff;

/** Memory the log of one check pass may take before it is dropped. An implementation limit, not
 * a model parameter: 64 MiB holds the operations of a 2,000,000-line trace with times, and keeps a
 * worker well under the 512 MiB it is given, model included. */
let budgetBytes = 64 * 2 ** 20;

/** The budget, changed (tests replay with a small one to take the re-parsing path); returns the
 * one it replaces. */
export function setOpLogBudget(bytes: number): number {
  const before = budgetBytes;
  budgetBytes = bytes;
  return before;
}

/** Operations a replay reads ahead at a time (OpFieldSink.prefetch), a power of two. On a large
 * guest the model state a conversion first reads (its block's folio entry and shared-page count)
 * is a cache miss, taken one after another by the operations in turn; read ahead 32 at a time,
 * the misses overlap (the CPU has many loads in flight), and a random trace over 1 TiB replays
 * some 8 % faster. What the replay computes is the same (a test compares it with prefetch off). */
const PREFETCH = 32;
/** Whether a replay reads ahead (tests turn it off to compare), and how many batches it read. */
export const prefetch = { enabled: true, batches: 0 };

class Block {
  readonly codes = new Uint8Array(BLOCK);
  readonly lines = new Uint32Array(BLOCK);
  readonly addresses = new Float64Array(BLOCK);
  readonly sizes = new Float64Array(BLOCK);
  times: Float64Array | null = null;
}

/** A check pass's operations, in file order, and the bytes of the file read as they were parsed
 * (for the replay's progress). */
export class OpLog implements OpFieldSink {
  private blocks: Block[] = [];
  private current: Block | null = null;
  private at = BLOCK;
  private count = 0;
  private bytes = 0;
  private dropped = false;
  /** Pairs (operations logged, bytes of the trace read then), one per progress report. */
  private marks: number[] = [];

  get length(): number {
    return this.count;
  }

  /** Whether the log outgrew its budget (or a line number its field) and holds nothing. */
  get complete(): boolean {
    return !this.dropped;
  }

  op(code: number, line: number, timeNs: number, address: number, size: number): void {
    if (this.dropped) return;
    if (this.at === BLOCK) {
      this.bytes += BLOCK * BYTES_PER_OP;
      if (this.bytes > budgetBytes) return this.drop();
      this.current = new Block();
      this.blocks.push(this.current);
      this.at = 0;
    }
    if (line > MAX_LINE) return this.drop();
    const b = this.current!;
    const i = this.at++;
    b.codes[i] = code;
    b.lines[i] = line;
    b.addresses[i] = address;
    b.sizes[i] = size;
    if (!Number.isNaN(timeNs) || b.times !== null) {
      if (b.times === null) {
        this.bytes += BLOCK * BYTES_PER_TIME;
        if (this.bytes > budgetBytes) return this.drop();
        b.times = new Float64Array(BLOCK).fill(NaN);
      }
      b.times[i] = timeNs;
    }
    this.count++;
  }

  /** The trace's bytes read so far, at a progress report of the check pass. */
  mark(bytesRead: number): void {
    if (!this.dropped) this.marks.push(this.count, bytesRead);
  }

  private drop(): void {
    this.dropped = true;
    this.blocks = [];
    this.current = null;
    this.marks = [];
    this.count = 0;
  }

  /**
   * Every operation to `sink`, in file order; `progress` with the bytes read when the check pass
   * had parsed as far (every few thousand operations, as that pass reported them).
   */
  replay(sink: OpFieldSink, progress: (bytesRead: number) => void): void {
    const marks = this.marks;
    const ahead = prefetch.enabled && sink.prefetch !== undefined;
    let m = 0;
    let n = 0;
    for (const b of this.blocks) {
      const end = Math.min(BLOCK, this.count - n);
      const { codes, lines, addresses, sizes, times } = b;
      let i = 0;
      while (i < end) {
        // The marks due before operation n, then the operations up to the next mark.
        while (m < marks.length && marks[m]! <= n) {
          progress(marks[m + 1]!);
          m += 2;
        }
        const upTo = Math.min(end, i + ((m < marks.length ? marks[m]! : Infinity) - n));
        n += upTo - i;
        for (; i < upTo; i++) {
          // Every PREFETCH operations, the sink reads ahead the state of the PREFETCH after the
          // next PREFETCH: their cache misses come together, not one after another.
          if (ahead && (i & (PREFETCH - 1)) === 0 && i + PREFETCH < end) {
            sink.prefetch!(codes, addresses, sizes, i + PREFETCH, Math.min(end, i + 2 * PREFETCH));
            prefetch.batches++;
          }
          sink.op(codes[i]!, lines[i]!, times === null ? NaN : times[i]!, addresses[i]!, sizes[i]!);
        }
      }
    }
    for (; m < marks.length; m += 2) progress(marks[m + 1]!);
  }
}

/** The complete log of the last check pass over each source, until its replay takes it. */
const logs = new WeakMap<TraceSource, { format: string; log: OpLog }>();

export function keepOpLog(source: TraceSource, format: string, log: OpLog): void {
  if (log.complete) logs.set(source, { format, log });
  else logs.delete(source);
}

/** The log a check pass of `source` in `format` kept, taken (a second replay parses again). */
export function takeOpLog(source: TraceSource, format: string): OpLog | null {
  const kept = logs.get(source);
  logs.delete(source);
  return kept && kept.format === format ? kept.log : null;
}
