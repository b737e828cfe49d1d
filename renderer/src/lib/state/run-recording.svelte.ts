// What the next run records and what it will cost, said before it starts: the event log switch
// and its limit, and the estimate of each variant (core/experiment/estimate.ts, through
// runs.estimate): pages, operations, events, model memory, and which logs the limit would cut.
import { ApiError, EventLimitSchema, type GmemLabApi, type RunEstimates } from '@contract/api';
import { DEFAULT_EVENT_LIMIT } from '../../../../core/events/event-log';

type Doc = Record<string, unknown>;

export class RunRecording {
  /** Record each variant's event log (streamed to the app's data folder, saved from the run). */
  record = $state(false);
  /** The event limit as typed; empty: the default. */
  limitText = $state('');
  estimates: RunEstimates | null = $state(null);
  /** Why there is no estimate (the experiment has problems, its trace cannot be read, ...). */
  estimateProblem: string | null = $state(null);
  private asked = 0;

  /** The limit typed, checked: a number, or null for the default, or a problem. */
  readonly limit = $derived.by(
    (): { ok: true; value: number | null } | { ok: false; message: string } => {
      const text = this.limitText.trim().replace(/[_,\s]/g, '');
      if (text === '') return { ok: true, value: null };
      if (!/^\d+$/.test(text))
        return {
          ok: false,
          message: `Event limit: "${this.limitText.trim()}" is not a whole number of events; write for example 5000000, or leave it empty for ${DEFAULT_EVENT_LIMIT.toLocaleString('en-US')}.`,
        };
      const parsed = EventLimitSchema.safeParse(Number(text));
      if (!parsed.success)
        return { ok: false, message: `Event limit: ${parsed.error.issues[0]!.message}.` };
      return { ok: true, value: parsed.data };
    },
  );

  /** What runs.start takes from here; null while the limit is wrong. */
  readonly runOptions = $derived.by((): { recordEvents?: true; eventLimit?: number } | null => {
    if (!this.record) return {};
    if (!this.limit.ok) return null;
    return {
      recordEvents: true,
      ...(this.limit.value !== null ? { eventLimit: this.limit.value } : {}),
    };
  });

  /** Ask for the estimate of `doc` (at `path`, for its traces); the newest answer wins. */
  async refresh(api: GmemLabApi, doc: Doc, path: string | null): Promise<void> {
    const ask = ++this.asked;
    const limit = this.limit.ok ? this.limit.value : null;
    try {
      const estimates = await api.call('runs.estimate', {
        experiment: doc,
        ...(path ? { path } : {}),
        ...(limit !== null ? { eventLimit: limit } : {}),
      });
      if (ask !== this.asked) return;
      this.estimates = estimates;
      this.estimateProblem = null;
    } catch (err) {
      if (ask !== this.asked) return;
      this.estimates = null;
      this.estimateProblem =
        err instanceof ApiError || err instanceof Error ? err.message : String(err);
    }
  }

  /** Forget the estimate (the experiment has problems, or is closed). */
  clear(reason: string | null): void {
    this.asked++;
    this.estimates = null;
    this.estimateProblem = reason;
  }
}
