// Time left in a run's phase, from its progress reports: the rate over the last few seconds of
// the phase (not since its start, so a phase whose steps run at different speeds, such as a boot
// whose acceptance dominates, corrects itself as it goes). Used by the CLI's progress line and
// the workbench's run panel alike.

/** Reports older than this no longer weigh in the rate. */
const WINDOW_MS = 10_000;
/** No estimate before the phase has run this long, or moved this far. */
const MIN_ELAPSED_MS = 1000;
const MIN_FRACTION = 0.01;

export class PhaseEta {
  private phase = '';
  private readonly samples: Array<{ ms: number; fraction: number }> = [];

  /** Record a report; returns the milliseconds left in its phase, or null when too early to say. */
  update(phase: string, fraction: number, nowMs: number): number | null {
    if (phase !== this.phase) {
      this.phase = phase;
      this.samples.length = 0;
    }
    const s = this.samples;
    s.push({ ms: nowMs, fraction });
    while (s.length > 2 && nowMs - s[1]!.ms > WINDOW_MS) s.shift();
    const first = s[0]!;
    const elapsed = nowMs - first.ms;
    const moved = fraction - first.fraction;
    if (elapsed < MIN_ELAPSED_MS || moved < MIN_FRACTION || fraction >= 1) return null;
    return ((1 - fraction) * elapsed) / moved;
  }
}

/** "12 s", "3 min 5 s", "2 h 4 min": a duration for a progress line. */
export function formatEta(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
