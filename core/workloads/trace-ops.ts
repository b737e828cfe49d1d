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
