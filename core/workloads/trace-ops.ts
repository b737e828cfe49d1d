// Trace operations (docs/trace-format.md): what every format parser produces and replay consumes,
// and the address limits every format checks against.
import type { Access, Shareability, Who } from '../gmem/guest-memfd.js';
import { GiB, TiB } from '../units.js';

/** Where x86 QEMU maps guest RAM above the PCI hole. */
export const HIGH_RAM_GPA = 4 * GiB;

export const TRACE_OP_NAMES = [
  'convert',
  'fallocate',
  'punch_hole',
  'pin',
  'unpin',
  'fault',
  'prefault',
] as const;
export type TraceOpName = (typeof TRACE_OP_NAMES)[number];

interface TraceOpBase {
  /** 1-based line of the trace file the operation comes from. */
  readonly line: number;
  /** When the operation starts, in ns since the start of the trace; absent when the trace has
   * no times. */
  readonly timeNs?: number;
  /** What `address` is: a guest_memfd file offset, or a guest physical address that replay
   * translates with the workload's gpaLayout. */
  readonly space: 'offset' | 'gpa';
  readonly address: number;
  /** Bytes, a multiple of 4 KiB; 4096 for a fault. */
  readonly size: number;
}

export type TraceOp =
  | (TraceOpBase & { readonly op: 'convert'; readonly to: Shareability })
  | (TraceOpBase & { readonly op: 'fallocate' })
  | (TraceOpBase & { readonly op: 'punch_hole' })
  | (TraceOpBase & { readonly op: 'pin' })
  | (TraceOpBase & { readonly op: 'unpin' })
  | (TraceOpBase & { readonly op: 'fault'; readonly who: Who; readonly access: Access })
  | (TraceOpBase & { readonly op: 'prefault' });

/** Largest guest the model takes (the experiment schema's limit): no range may end past it. */
export const MAX_TRACE_OFFSET = 64 * TiB;
/** GPAs of RAM above 4 GiB run up to 4 GiB past the largest file offset. */
export const MAX_TRACE_GPA = MAX_TRACE_OFFSET + HIGH_RAM_GPA;

// An operation as numbers: what the check pass keeps for the replay (trace-oplog.ts) and what
// the fast paths hand on without building an object per line. `code` packs the operation's kind
// (its index in TRACE_OP_NAMES, bits 0-2) and its words; `timeNs` is NaN for an operation with no
// time.
export const OP_KIND_MASK = 7;
export const OP_CONVERT = 0;
export const OP_FALLOCATE = 1;
export const OP_PUNCH_HOLE = 2;
export const OP_PIN = 3;
export const OP_UNPIN = 4;
export const OP_FAULT = 5;
export const OP_PREFAULT = 6;
/** `address` is a guest physical address (else a guest_memfd offset). */
export const OP_GPA = 8;
/** convert: to private (else to shared). */
export const OP_TO_PRIVATE = 16;
/** fault: by the host (else by the guest). */
export const OP_BY_HOST = 32;
/** fault: a write (else a read). */
export const OP_WRITE = 64;

/** Where each operation goes, as numbers. */
export interface OpFieldSink {
  op(code: number, line: number, timeNs: number, address: number, size: number): void;
  /**
   * Told of operations `[from, to)` of these arrays a little before they come (a replay of the
   * kept operations, trace-oplog.ts), to read ahead the model state they will read first: it
   * changes nothing.
   */
  prefetch?(
    codes: Uint8Array,
    addresses: Float64Array,
    sizes: Float64Array,
    from: number,
    to: number,
  ): void;
}

export function opCode(op: TraceOp): number {
  const space = op.space === 'gpa' ? OP_GPA : 0;
  // A switch, not TRACE_OP_NAMES.indexOf(): the words of a parsed line are strings of their own,
  // compared faster one case at a time than through the array.
  switch (op.op) {
    case 'convert':
      return OP_CONVERT | space | (op.to === 'private' ? OP_TO_PRIVATE : 0);
    case 'fallocate':
      return OP_FALLOCATE | space;
    case 'punch_hole':
      return OP_PUNCH_HOLE | space;
    case 'pin':
      return OP_PIN | space;
    case 'unpin':
      return OP_UNPIN | space;
    case 'fault':
      return (
        OP_FAULT |
        space |
        (op.who === 'host' ? OP_BY_HOST : 0) |
        (op.access === 'write' ? OP_WRITE : 0)
      );
    case 'prefault':
      return OP_PREFAULT | space;
  }
}

/** The operation `opCode()` and the other fields describe, shaped as the parsers shape it. */
export function opFromFields(
  code: number,
  line: number,
  timeNs: number,
  address: number,
  size: number,
): TraceOp {
  const space = code & OP_GPA ? 'gpa' : 'offset';
  const base = Number.isNaN(timeNs)
    ? { line, space, address, size }
    : { line, timeNs, space, address, size };
  const kind = TRACE_OP_NAMES[code & OP_KIND_MASK]!;
  if (kind === 'convert') {
    return { op: kind, ...base, to: code & OP_TO_PRIVATE ? 'private' : 'shared' } as TraceOp;
  }
  if (kind === 'fault') {
    return {
      op: kind,
      ...base,
      who: code & OP_BY_HOST ? 'host' : 'guest',
      access: code & OP_WRITE ? 'write' : 'read',
    } as TraceOp;
  }
  return { op: kind, ...base } as TraceOp;
}
