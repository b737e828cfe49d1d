// Replaying a trace against the simulation, from its parsed operations or as it is read: populate the guest as the workload says, then
// one model operation per trace operation, at its recorded time or back to back. The model decides
// whether an operation fits the guest (EINVAL past its end, EAGAIN on a pinned page, ...), as the
// kernel would; replay stops at the first failure or counts failures, as onError says.
import type { Errno } from '../errors.js';
import type { OpResult } from '../gmem/guest-memfd.js';
import type { Simulation } from '../sim/simulation.js';
import { PAGE_SIZE } from '../units.js';
import type { WorkloadContext } from './context.js';
import type { Parsed } from './trace-checks.js';
import type { GpaLayout, TraceFormat, TraceWorkloadConfig } from './trace-config.js';
import { hex } from './trace-lines.js';
import { takeOpLog } from './trace-oplog.js';
import {
  HIGH_RAM_GPA,
  OP_BY_HOST,
  OP_CONVERT,
  OP_FALLOCATE,
  OP_FAULT,
  OP_GPA,
  OP_KIND_MASK,
  OP_PIN,
  OP_PUNCH_HOLE,
  OP_TO_PRIVATE,
  OP_UNPIN,
  OP_WRITE,
  opCode,
  opFromFields,
  type OpFieldSink,
  type TraceOp,
} from './trace-ops.js';
import { scanFields } from './trace-parse.js';
import type { TraceSource } from './trace-stream.js';

/**
 * guest_memfd offset of a guest physical range, as QEMU lays out x86 RAM: one RAMBlock (one
 * guest_memfd) aliased by a memslot below 4 GiB ("ram-below-4g", offset 0) and one from 4 GiB
 * ("ram-above-4g", file offset lowMemBytes). Whether the range fits the guest is the model's check.
 */
export function gpaToOffset(gpa: number, size: number, layout: GpaLayout): Parsed<number> {
  const low = layout.lowMemBytes;
  if (gpa < low) {
    if (gpa + size > low) {
      return {
        ok: false,
        message: `gpa range [${hex(gpa)}, ${hex(gpa + size)}) runs past the end of RAM below 4 GiB at ${hex(low)} (gpaLayout.lowMemBytes) into the PCI hole`,
      };
    }
    return { ok: true, value: gpa };
  }
  if (gpa < HIGH_RAM_GPA) {
    return {
      ok: false,
      message: `gpa ${hex(gpa)} is in the PCI hole [${hex(low)}, ${hex(HIGH_RAM_GPA)}) between RAM below 4 GiB (gpaLayout.lowMemBytes ${hex(low)}) and RAM from 4 GiB`,
    };
  }
  return { ok: true, value: gpa - HIGH_RAM_GPA + low };
}

export interface TraceReplayStats {
  /** Operations replayed, failed ones included. */
  readonly ops: number;
  /** Operations the model (or the GPA layout) refused; with onError 'stop', at most 1. */
  readonly failed: number;
  readonly failuresByErrno: Readonly<Partial<Record<Errno, number>>>;
  /** Recorded timing: operations that started after their timestamp because the ones before
   * took longer in the model than in the trace. */
  readonly lateOps: number;
}

function describeOp(op: TraceOp, offset: number | null): string {
  const what =
    op.op === 'convert'
      ? `convert to ${op.to}`
      : op.op === 'fault'
        ? `${op.who} ${op.access} fault`
        : op.op;
  const where =
    op.space === 'gpa'
      ? `gpa ${hex(op.address)}${offset !== null ? ` (offset ${hex(offset)})` : ''}`
      : `offset ${hex(op.address)}`;
  return `${what} ${where} size ${hex(op.size)}`;
}

interface ReplayFailure {
  readonly errno: Errno;
  readonly message: string;
}

/** The model operation `code` names (trace-ops.ts) on `offset`. */
function applyOp(sim: Simulation, code: number, offset: number, size: number): OpResult {
  switch (code & OP_KIND_MASK) {
    case OP_CONVERT:
      return sim.convert(offset, size, code & OP_TO_PRIVATE ? 'private' : 'shared');
    case OP_FALLOCATE:
      return sim.fallocate(offset, size);
    case OP_PUNCH_HOLE:
      return sim.punchHole(offset, size);
    case OP_PIN:
      return sim.pin(offset, size);
    case OP_UNPIN:
      return sim.unpin(offset, size);
    case OP_FAULT:
      return sim.fault(
        offset / PAGE_SIZE,
        code & OP_BY_HOST ? 'host' : 'guest',
        code & OP_WRITE ? 'write' : 'read',
      );
    default:
      return sim.prefault(offset, size);
  }
}

/** A replay in progress: the guest populated as the workload says, then one model operation per
 * trace operation handed to `op`, in file order. */
class TraceReplayer implements OpFieldSink {
  private readonly startNs: number;
  private readonly failuresByErrno: Partial<Record<Errno, number>> = {};
  private readonly recorded: boolean;
  private readonly lowMemBytes: number;
  private ops = 0;
  private failed = 0;
  private lateOps = 0;

  constructor(
    private readonly ctx: WorkloadContext,
    private readonly params: TraceWorkloadConfig,
  ) {
    if (params.populate !== 'none') populateGuest(ctx, params.populate);
    ctx.beginPhase('replay');
    this.startNs = ctx.sim.now;
    this.recorded = params.timing === 'recorded';
    this.lowMemBytes = params.gpaLayout.lowMemBytes;
  }

  /** What prefetch() read, kept so that its reads are not optimised away. */
  private prefetched = 0;

  /** The model state of operations [from, to) read ahead (OpFieldSink.prefetch): GPAs translated
   * as op() does, one that does not translate left out. */
  prefetch(
    codes: Uint8Array,
    addresses: Float64Array,
    sizes: Float64Array,
    from: number,
    to: number,
  ): void {
    const gmem = this.ctx.sim.gmem;
    let read = 0;
    for (let i = from; i < to; i++) {
      const offset = this.offsetOf(codes[i]!, addresses[i]!, sizes[i]!);
      if (offset >= 0) read += gmem.prefetch(offset / PAGE_SIZE);
    }
    this.prefetched += read;
  }

  /** The file offset of an operation's address: gpaToOffset() inline for a GPA that translates,
   * -1 for one that does not (op() asks gpaToOffset() for its message). */
  private offsetOf(code: number, address: number, size: number): number {
    if (!(code & OP_GPA)) return address;
    const low = this.lowMemBytes;
    if (address < low) return address + size <= low ? address : -1;
    return address >= HIGH_RAM_GPA ? address - HIGH_RAM_GPA + low : -1;
  }

  /** One operation as numbers (trace-ops.ts): timeNs NaN when it has none. */
  op(code: number, line: number, timeNs: number, address: number, size: number): void {
    const sim = this.ctx.sim;
    if (this.recorded && !Number.isNaN(timeNs)) {
      if (!waitUntilDue(sim, this.startNs + timeNs)) this.lateOps++;
    }
    const offset = this.offsetOf(code, address, size);
    let failure: ReplayFailure | null;
    if (offset < 0) {
      const translated = gpaToOffset(address, size, this.params.gpaLayout);
      failure = { errno: 'EINVAL', message: translated.ok ? '' : translated.message };
    } else {
      failure = applyTraced(sim, code, offset, size);
    }
    this.ops++;
    if (failure) {
      this.failed++;
      this.failuresByErrno[failure.errno] = (this.failuresByErrno[failure.errno] ?? 0) + 1;
    }
    this.ctx.tick();
    if (failure && this.params.onError === 'stop') {
      const op = opFromFields(code, line, timeNs, address, size);
      throw new Error(
        `trace ${this.params.path} line ${line}: ${describeOp(op, offset < 0 ? null : offset)} failed: ${failure.errno}: ${failure.message} (onError "skip" counts failures and goes on)`,
      );
    }
  }

  finish(): TraceReplayStats {
    this.ctx.progress(1);
    return {
      ops: this.ops,
      failed: this.failed,
      failuresByErrno: this.failuresByErrno,
      lateOps: this.lateOps,
    };
  }
}

/** Replay parsed operations and return what happened. */
export function replayTrace(
  ctx: WorkloadContext,
  params: TraceWorkloadConfig,
  ops: readonly TraceOp[],
): TraceReplayStats {
  const replay = new TraceReplayer(ctx, params);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    replay.op(opCode(op), op.line, op.timeNs ?? NaN, op.address, op.size);
    if ((i & 255) === 255) ctx.progress((i + 1) / ops.length);
  }
  return replay.finish();
}

/**
 * Replay a trace checked by scanTrace just before: from the operations that check pass kept
 * (trace-oplog.ts), or, when they outgrew its budget, as it is read again from `source`, a line at
 * a time (this pass stops at a bad line). Progress is the share of the trace's bytes read.
 */
export function replayTraceSource(
  ctx: WorkloadContext,
  params: TraceWorkloadConfig,
  source: TraceSource,
  format: TraceFormat,
): TraceReplayStats {
  const replay = new TraceReplayer(ctx, params);
  const progress = (bytes: number) => ctx.progress(source.bytes > 0 ? bytes / source.bytes : 1);
  const log = takeOpLog(source, format);
  if (log !== null) {
    log.replay(replay, progress);
    return replay.finish();
  }
  const scanned = scanFields(source, format, { fields: replay, onLines: progress });
  if (!scanned.ok) {
    const first = scanned.errors[0]!;
    throw new Error(
      `trace ${params.path} changed while it was replayed: line ${first.line}: ${first.message} (it was checked before the replay began); run again`,
    );
  }
  return replay.finish();
}

/** What the VMM does before the traced operations; a failure here is the setup's, not the trace's. */
function populateGuest(ctx: WorkloadContext, populate: 'fallocate' | 'prefault'): void {
  const sim = ctx.sim;
  ctx.beginPhase('populate');
  const size = sim.variant.guestBytes;
  const populated = sim.fallocate(0, size);
  if (!populated.ok)
    throw new Error(`populating the guest before the replay failed: ${populated.message}`);
  if (populate === 'prefault') sim.prefault(0, size);
  ctx.tick();
}

/**
 * Recorded timing: advance to the operation's time, so deferred work can run in the gap. Returns
 * false when the model is already past it (the operations before took longer than recorded).
 */
function waitUntilDue(sim: Simulation, due: number): boolean {
  if (due > sim.now) sim.advanceTo(due);
  else if (due < sim.now) return false;
  return true;
}

function applyTraced(
  sim: Simulation,
  code: number,
  offset: number,
  size: number,
): ReplayFailure | null {
  const result = applyOp(sim, code, offset, size);
  if (result.ok) return null;
  // Argument errors come back as "EINVAL: ..." already; say the errno once.
  const message = result.message.startsWith(`${result.errno}: `)
    ? result.message.slice(result.errno.length + 2)
    : result.message;
  return { errno: result.errno, message };
}

/** The trace workload: replay parsed operations against the context's simulation. */
export function runTrace(ctx: WorkloadContext, params: TraceWorkloadConfig, ops: TraceOp[]): void {
  replayTrace(ctx, params, ops);
}
