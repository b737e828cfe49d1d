// What a trace holds, without running a model: its format, lines, operations by kind, conversions
// each way and their bytes, the time span, the address range and the distinct 2 MiB and 1 GiB
// ranges its operations touch (what decides how many huge folios a replay can split). One
// streaming pass; memory grows with the 1 GiB ranges touched (64 bytes each), not with the trace.
import { MiB } from '../units.js';

const SZ_2M = 2 * MiB;
import type { TraceFormat } from './trace-config.js';
import type { TraceLineError } from './trace-lines.js';
import { TRACE_OP_NAMES, type TraceOp, type TraceOpName } from './trace-ops.js';
import { scanTrace, type ScanOptions } from './trace-parse.js';
import type { TraceSource } from './trace-stream.js';

/** Operations in one address space (a trace names file offsets, GPAs, or both). */
export interface TraceSpaceInfo {
  readonly ops: number;
  /** Lowest address an operation starts at, and the end of the highest range. */
  readonly lowest: number;
  readonly end: number;
  /** Distinct 2 MiB and 1 GiB aligned ranges that some operation covers part of. */
  readonly ranges2m: number;
  readonly ranges1g: number;
}

export interface TraceInfo {
  readonly name: string;
  readonly bytes: number;
  readonly format: TraceFormat;
  readonly lines: number;
  readonly skippedLines: number;
  readonly ops: number;
  readonly byOp: Readonly<Record<TraceOpName, number>>;
  readonly toShared: { readonly count: number; readonly bytes: number };
  readonly toPrivate: { readonly count: number; readonly bytes: number };
  /** Time of the first and last timed operation, ns since the first; null without times. */
  readonly timeSpanNs: number | null;
  readonly offset: TraceSpaceInfo | null;
  readonly gpa: TraceSpaceInfo | null;
}

export type TraceInfoResult =
  | { readonly ok: true; readonly info: TraceInfo }
  | { readonly ok: false; readonly errors: TraceLineError[] };

/** 2 MiB ranges touched, as one bit each in a 64-byte map per touched 1 GiB range. */
class RangeSet {
  private readonly gigs = new Map<number, Uint8Array>();
  private count2m = 0;
  ops = 0;
  lowest = Infinity;
  end = 0;

  add(address: number, size: number): void {
    this.ops++;
    this.lowest = Math.min(this.lowest, address);
    this.end = Math.max(this.end, address + size);
    const first = Math.floor(address / SZ_2M);
    const last = Math.floor((address + size - 1) / SZ_2M);
    for (let b = first; b <= last; b++) {
      const gig = Math.floor(b / 512);
      let map = this.gigs.get(gig);
      if (!map) this.gigs.set(gig, (map = new Uint8Array(64)));
      const bit = b - gig * 512;
      const mask = 1 << (bit & 7);
      if ((map[bit >> 3]! & mask) === 0) {
        map[bit >> 3]! |= mask;
        this.count2m++;
      }
    }
  }

  info(): TraceSpaceInfo | null {
    if (this.ops === 0) return null;
    return {
      ops: this.ops,
      lowest: this.lowest,
      end: this.end,
      ranges2m: this.count2m,
      ranges1g: this.gigs.size,
    };
  }
}

/** Read `source` once and say what it holds; a trace with bad lines gives its errors instead. */
export function traceInfo(
  source: TraceSource,
  format: 'auto' | TraceFormat = 'auto',
  options: Pick<ScanOptions, 'onLines'> = {},
): TraceInfoResult {
  const byOp = Object.fromEntries(TRACE_OP_NAMES.map((n) => [n, 0])) as Record<TraceOpName, number>;
  const toShared = { count: 0, bytes: 0 };
  const toPrivate = { count: 0, bytes: 0 };
  const spaces = { offset: new RangeSet(), gpa: new RangeSet() };
  let firstNs: number | null = null;
  let lastNs = 0;
  const onOp = (op: TraceOp): void => {
    byOp[op.op]++;
    if (op.op === 'convert') {
      const c = op.to === 'shared' ? toShared : toPrivate;
      c.count++;
      c.bytes += op.size;
    }
    if (op.timeNs !== undefined) {
      firstNs ??= op.timeNs;
      lastNs = op.timeNs;
    }
    spaces[op.space].add(op.address, op.size);
  };
  const r = scanTrace(source, format, { onOp, ...options });
  if (!r.ok) return r;
  return {
    ok: true,
    info: {
      name: source.name,
      bytes: source.bytes,
      format: r.format,
      lines: r.lines,
      skippedLines: r.skippedLines,
      ops: r.ops,
      byOp,
      toShared,
      toPrivate,
      timeSpanNs: firstNs === null ? null : lastNs - firstNs,
      offset: spaces.offset.info(),
      gpa: spaces.gpa.info(),
    },
  };
}
