// What the CLI says around a run: what each variant's run implies (validate), the warning before
// a run whose event log will be cut, and the event log's file once the runs end.
import { InvalidArgumentError } from 'commander';
import { MAX_EVENT_LIMIT } from '../../core/events/event-log.js';
import {
  eventLogCuts,
  suggestedEventLimit,
  type RunEstimate,
} from '../../core/experiment/estimate.js';
import type { RunResult } from '../../core/metrics/result.js';
import { formatBytes } from '../../core/units.js';
import type { Experiment } from '../../core/experiment/schema.js';
import { differences } from '../../core/experiment/variant-base.js';
import type { EventLogFiles } from '../services/event-files.js';
import { estimatePrepared, type PreparedRun } from '../services/run-preparation.js';
import type { RunOutcome } from '../services/simulation-host.js';
import type { CliIo } from './index.js';

/** A --events-limit value: a whole number of events, 1 to MAX_EVENT_LIMIT. */
export function eventCount(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!/^[\d_]+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > MAX_EVENT_LIMIT)
    throw new InvalidArgumentError(
      `expected a whole number of events from 1 to ${MAX_EVENT_LIMIT} (for example 5000000 or 5_000_000)`,
    );
  return n;
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');

/** Each variant written as differences from a base: its base and the fields it changes, as
 * `path=value` (core/experiment/variant-base.ts). */
export function baseChanges(
  experiment: Experiment,
): Array<{ variant: string; base: string; changes: Record<string, unknown> }> {
  const byName = new Map(experiment.variants.map((v) => [v.name, v]));
  return experiment.variants.flatMap((v) => {
    const base = v.base === undefined ? undefined : byName.get(v.base);
    if (!base) return [];
    const diff = differences(base as Record<string, unknown>, v as Record<string, unknown>) ?? {};
    return [{ variant: v.name, base: base.name, changes: leaves(diff) }];
  });
}

function leaves(value: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && key !== 'workloadOverrides')
      Object.assign(out, leaves(v as Record<string, unknown>, path));
    else out[path] = v;
  }
  return out;
}

export function baseChangesText(experiment: Experiment): string {
  return baseChanges(experiment)
    .map(({ variant, base, changes }) => {
      const list = Object.entries(changes).map(
        ([path, v]) => `${path}=${typeof v === 'string' ? v : JSON.stringify(v)}`,
      );
      return `  ${variant}: changes from ${base}: ${list.join(', ') || 'nothing (the same as its base)'}\n`;
    })
    .join('');
}

/** One block per variant: pages, operations, events, model memory. */
export function estimateText(estimates: readonly RunEstimate[]): string {
  let out = 'what a run implies (estimated from the parameters):\n';
  for (const e of estimates) {
    const o = e.operations;
    out +=
      `  ${e.variant}: ${count(e.guestPages)} guest pages (${formatBytes(e.guestPages * 4096)}), up to ${formatBytes(e.touchedBytes)} of them backed\n` +
      `    about ${count(o.faults)} faults, ${count(o.conversions)} conversions, ${count(o.allocations)} folio allocations, ${count(o.frees)} frees\n` +
      `    event log (--events): about ${count(e.events)} events; model memory: up to about ${formatBytes(e.modelBytes)}\n`;
  }
  return out;
}

/** Before the run: name every variant whose event log will be cut, with the limit and how to
 * raise it. */
export async function warnEventLogCuts(
  prepared: readonly PreparedRun[],
  limit: number,
  io: CliIo,
): Promise<void> {
  for (const p of prepared) {
    for (const cut of eventLogCuts(await estimatePrepared(p), limit)) {
      io.stderr(
        `gmem-lab: warning: the event log of variant "${cut.variant}" will be cut at ${count(cut.limit)} events ` +
          `(its run logs about ${count(cut.events)}); raise the limit with --events-limit ${cut.suggestedLimit}\n`,
      );
    }
  }
}

/** After the runs: join the variants' logs into the file, and say which were cut. */
export async function commitEventLog(
  events: EventLogFiles,
  outcomes: readonly RunOutcome[],
  io: CliIo,
): Promise<void> {
  const done = outcomes.flatMap((o, key) =>
    o.status === 'done' ? [{ key, result: o.result }] : [],
  );
  await events.commit(done.map((d) => d.key));
  for (const { result } of done) reportCut(result, io);
}

function reportCut(result: RunResult, io: CliIo): void {
  const log = result.eventLog;
  if (!log || log.dropped === 0) return;
  io.stderr(
    `gmem-lab: the event log of variant "${result.name}" was cut at ${count(log.limit)} events; ` +
      `${count(log.dropped)} more were left out (raise the limit with --events-limit ${suggestedEventLimit(log.logged + log.dropped)})\n`,
  );
}
