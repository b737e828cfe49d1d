// Replaying a parsed trace against the simulation: populate the guest as the workload says, then
// one model operation per trace operation, at its recorded time or back to back. The model decides
// whether an operation fits the guest (EINVAL past its end, EAGAIN on a pinned page, ...), as the
// kernel would; replay stops at the first failure or counts failures, as onError says.
import type { Errno } from '../errors.js';
import type { OpResult } from '../gmem/guest-memfd.js';
import type { Simulation } from '../sim/simulation.js';
import { PAGE_SIZE } from '../units.js';
import type { WorkloadContext } from './context.js';
import type { Parsed } from './trace-checks.js';
import type { GpaLayout, TraceWorkloadConfig } from './trace-config.js';
import { hex } from './trace-lines.js';
import { HIGH_RAM_GPA, type TraceOp } from './trace-ops.js';

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

function applyOp(sim: Simulation, op: TraceOp, offset: number): OpResult {
  switch (op.op) {
    case 'convert':
      return sim.convert(offset, op.size, op.to);
    case 'fallocate':
      return sim.fallocate(offset, op.size);
    case 'punch_hole':
      return sim.punchHole(offset, op.size);
    case 'pin':
      return sim.pin(offset, op.size);
    case 'unpin':
      return sim.unpin(offset, op.size);
    case 'fault':
      return sim.fault(offset / PAGE_SIZE, op.who, op.access);
    case 'prefault':
      return sim.prefault(offset, op.size);
  }
}

interface ReplayFailure {
  readonly errno: Errno;
  readonly message: string;
}

/** Replay and return what happened; runTrace is this without the statistics. */
export function replayTrace(
  ctx: WorkloadContext,
  params: TraceWorkloadConfig,
  ops: readonly TraceOp[],
): TraceReplayStats {
  const sim = ctx.sim;
  if (params.populate !== 'none') populateGuest(ctx, params.populate);
  ctx.beginPhase('replay');
  const startNs = sim.now;
  const failuresByErrno: Partial<Record<Errno, number>> = {};
  let failed = 0;
  let lateOps = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (params.timing === 'recorded' && op.timeNs !== undefined) {
      if (!waitUntilDue(sim, startNs + op.timeNs)) lateOps++;
    }
    const { offset, failure } = replayOp(sim, op, params.gpaLayout);
    if (failure) {
      failed++;
      failuresByErrno[failure.errno] = (failuresByErrno[failure.errno] ?? 0) + 1;
    }
    ctx.tick();
    if (failure && params.onError === 'stop') {
      throw new Error(
        `trace ${params.path} line ${op.line}: ${describeOp(op, offset)} failed: ${failure.errno}: ${failure.message} (onError "skip" counts failures and goes on)`,
      );
    }
    if ((i & 255) === 255) ctx.progress((i + 1) / ops.length);
  }
  ctx.progress(1);
  return { ops: ops.length, failed, failuresByErrno, lateOps };
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

/** One operation: its file offset (null when its GPA maps to none) and why it failed, if it did. */
function replayOp(
  sim: Simulation,
  op: TraceOp,
  layout: GpaLayout,
): { offset: number | null; failure: ReplayFailure | null } {
  if (op.space === 'gpa') {
    const translated = gpaToOffset(op.address, op.size, layout);
    if (!translated.ok) {
      return { offset: null, failure: { errno: 'EINVAL', message: translated.message } };
    }
    return { offset: translated.value, failure: applyTraced(sim, op, translated.value) };
  }
  return { offset: op.address, failure: applyTraced(sim, op, op.address) };
}

function applyTraced(sim: Simulation, op: TraceOp, offset: number): ReplayFailure | null {
  const result = applyOp(sim, op, offset);
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
