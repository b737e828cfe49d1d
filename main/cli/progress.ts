// Progress on a terminal's stderr: one line, rewritten in place, listing each running variant's
// phase, its share done and the time left in the phase (core/report/eta.ts).
import { PhaseEta, formatEta } from '../../core/report/eta.js';

export class ProgressLine {
  private readonly states = new Map<string, string>();
  private readonly etas = new Map<string, PhaseEta>();
  private last = 0;

  constructor(
    private readonly write: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  update(label: string, phase: string, fraction: number): void {
    const now = this.now();
    let eta = this.etas.get(label);
    if (!eta) this.etas.set(label, (eta = new PhaseEta()));
    const left = eta.update(phase, fraction, now);
    this.states.set(
      label,
      `${phase} ${Math.round(fraction * 100)} %${left !== null ? `, ~${formatEta(left)} left in ${phase}` : ''}`,
    );
    if (now - this.last < 100) return;
    this.last = now;
    const text = [...this.states].map(([l, s]) => `${l}: ${s}`).join(' | ');
    const width = process.stderr.columns ?? 120;
    this.write(`\r\x1b[2K${text.length > width - 1 ? text.slice(0, width - 2) + '~' : text}`);
  }

  clear(): void {
    this.write('\r\x1b[2K');
  }
}
