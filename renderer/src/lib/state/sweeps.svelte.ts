// Sweeps in the workbench: one or two parameters and their values (the paths `gmem-lab sweep
// --param` takes), kept in the experiment's "sweep"; every point run on the worker pool
// (sweeps.start) with one progress and one cancel; each run's summary back for the sweep view's
// plot, heat map and CSV.
import type { GmemLabApi, SweepProgress, SweepRow } from '@contract/api';
import { ENGINE_VERSION } from '../../../../core/experiment/run';
import { parseSweepAxis, type SweepAxis } from '../../../../core/experiment/sweep';
import { paramLabel, unitOfPath } from '../../../../core/experiment/param-unit';
import { formatBytes } from '../../../../core/units';
import { parseSize } from '../format/size';
import type { Connection } from './connection.svelte';
import type { ExperimentsState } from './experiments.svelte';
import type { Notices } from './notices.svelte';

/** One axis as the form holds it: the path and the values as typed ("4294967296, 17179869184"). */
export interface AxisDraft {
  path: string;
  values: string;
}

export type AxisCheck =
  | { readonly ok: true; readonly axis: SweepAxis }
  | { readonly ok: false; readonly message: string };

/** The unit of a parameter path's field, or undefined (also for a path that is not one). */
function unitOf(path: string): string | undefined {
  try {
    return unitOfPath(path);
  } catch {
    return undefined;
  }
}

/** The values of an axis as the file keeps them, typed back as the form shows them (sizes in
 * binary units). */
function valuesText(path: string, values: readonly unknown[]): string {
  const bytes = unitOf(path) === 'bytes';
  return values
    .map((v) =>
      bytes && typeof v === 'number'
        ? formatBytes(v)
        : typeof v === 'string'
          ? v
          : JSON.stringify(v),
    )
    .join(', ');
}

/** A draft axis checked: a path and values, the way --param reads them. */
export function checkAxis(draft: AxisDraft): AxisCheck {
  const path = draft.path.trim();
  if (path === '') return { ok: false, message: 'name a parameter, e.g. guest.vcpus' };
  // Spaces around the commas are the form's, not the values'.
  const values = draft.values.trim().replace(/\s*,\s*/g, ',');
  if (values === '') return { ok: false, message: 'give at least one value, e.g. 8, 32' };
  // A size field takes sizes as people type them: "16 GiB, 64 GiB".
  if (unitOf(path) === 'bytes') {
    const sizes = values.split(',').map((v) => ({ v, r: parseSize(v) }));
    const bad = sizes.find((x) => !x.r.ok);
    if (bad && !bad.r.ok) return { ok: false, message: `"${bad.v}": ${bad.r.message}` };
    return {
      ok: true,
      axis: { path, values: sizes.map((x) => (x.r as { value: number }).value) },
    };
  }
  try {
    return { ok: true, axis: parseSweepAxis(`${path}=${values}`) };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

/** The experiment's "sweep" as the file keeps it (core/experiment/sweep-schema.ts). */
interface SavedSweep {
  axes?: Array<{ path: string; values: unknown[] }>;
  metric?: string;
  results?: {
    engineVersion: string;
    configHash: string;
    createdAt: string;
    axes: Array<{ path: string; values: unknown[] }>;
    rows: SweepRow[];
  };
}

export class SweepsState {
  axes: AxisDraft[] = $state([{ path: 'guest.vcpus', values: '2, 8' }]);
  /** The metric the view plots. */
  metric = $state('splits_2m');
  sweepId: number | null = $state(null);
  progress: SweepProgress | null = $state(null);
  rows: SweepRow[] = $state([]);
  /** The axes the rows belong to (the form may have changed since). */
  ranAxes: SweepAxis[] = $state([]);
  status: 'idle' | 'running' | 'done' | 'cancelled' = $state('idle');
  /** The configuration the rows were run on (the sweep itself left out), to tell them stale. */
  resultsHash: string | null = $state(null);

  readonly checks = $derived(this.axes.map(checkAxis));
  readonly ready = $derived(this.checks.every((c) => c.ok) && this.axes.length > 0);
  readonly running = $derived(this.status === 'running');
  /** The rows no longer match the configuration being edited. */
  get stale(): boolean {
    const hash = this.experiments.validation.hash;
    return this.resultsHash !== null && hash !== null && this.resultsHash !== hash;
  }

  constructor(
    private readonly connection: Connection,
    private readonly notices: Notices,
    private readonly experiments: ExperimentsState,
  ) {}

  listen(api: GmemLabApi): Array<() => void> {
    return [
      api.on('sweep.progress', (p) => {
        if (p.sweepId === this.sweepId) this.progress = p;
      }),
      api.on('sweep.done', (d) => {
        if (d.sweepId !== this.sweepId) return;
        this.rows = [...d.rows];
        this.status = d.status;
        this.sweepId = null;
        if (d.status === 'done') this.keepResults();
      }),
    ];
  }

  /** The form from the open experiment's "sweep", when it has one. */
  loadFromDoc(): void {
    const sweep = this.experiments.doc?.['sweep'] as SavedSweep | undefined;
    if (!sweep?.axes?.length) return;
    this.axes = sweep.axes.map((a) => ({ path: a.path, values: valuesText(a.path, a.values) }));
    if (sweep.metric) this.metric = sweep.metric;
    const r = sweep.results;
    if (r && this.sweepId === null) {
      this.rows = r.rows.map((row) => ({ ...row }));
      this.ranAxes = r.axes.map((a) => ({ path: a.path, values: [...a.values] }));
      this.resultsHash = r.configHash;
      this.status = 'done';
      this.progress = null;
    }
  }

  /** The finished sweep's rows kept in the experiment, so saving the file keeps them. */
  private keepResults(): void {
    const doc = this.experiments.doc;
    const hash = this.experiments.validation.hash;
    const sweep = doc?.['sweep'] as SavedSweep | undefined;
    if (!doc || !sweep || hash === null) return;
    this.resultsHash = hash;
    sweep.results = {
      engineVersion: ENGINE_VERSION,
      configHash: hash,
      // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a timestamp's text, never kept as a Date.
      createdAt: new Date().toISOString(),
      axes: this.ranAxes.map((a) => ({ path: a.path, values: [...a.values] })),
      rows: $state.snapshot(this.rows) as SweepRow[],
    };
  }

  addAxis(): void {
    if (this.axes.length < 2)
      this.axes.push({ path: 'guest.memoryBytes', values: '16 GiB, 64 GiB' });
  }

  removeAxis(i: number): void {
    if (this.axes.length > 1) this.axes.splice(i, 1);
  }

  /** Keep the axes (and the metric) in the experiment, so saving the file keeps the sweep. */
  private storeInDoc(axes: readonly SweepAxis[]): void {
    const doc = this.experiments.doc;
    if (!doc) return;
    // The last results stay until the new sweep's replace them (they may be stale, and say so).
    const kept = (doc['sweep'] as SavedSweep | undefined)?.results;
    doc['sweep'] = {
      axes: axes.map((a) => ({ path: a.path, values: [...a.values] })),
      metric: this.metric,
      ...(kept ? { results: kept } : {}),
    };
  }

  async start(): Promise<void> {
    const doc = this.experiments.doc;
    if (!doc) return;
    const bad = this.checks.find((c) => !c.ok);
    if (bad && !bad.ok) {
      this.notices.banner = {
        kind: 'error',
        title: 'The sweep cannot start',
        message: bad.message,
      };
      return;
    }
    const axes = this.checks.map((c) => (c as { axis: SweepAxis }).axis);
    this.storeInDoc(axes);
    await this.notices.guard('The sweep could not start', async () => {
      this.status = 'running';
      this.progress = null;
      try {
        const { sweepId } = await this.connection.client.call('sweeps.start', {
          experiment: $state.snapshot(doc),
          ...(this.experiments.path ? { path: this.experiments.path } : {}),
          axes: axes.map((a) => ({ path: a.path, values: [...a.values] })),
        });
        this.sweepId = sweepId;
        this.ranAxes = axes;
        this.rows = [];
      } catch (err) {
        this.status = 'idle';
        throw err;
      }
    });
  }

  async cancel(): Promise<void> {
    if (this.sweepId === null) return;
    const id = this.sweepId;
    await this.notices.guard('Could not cancel the sweep', () =>
      this.connection.client.call('sweeps.cancel', { sweepId: id }),
    );
  }

  /** A point's label: each swept value in its field's unit. */
  pointLabel(params: Readonly<Record<string, unknown>>): string {
    return Object.entries(params)
      .map(([path, v]) => paramLabel(path, v))
      .join(', ');
  }
}
