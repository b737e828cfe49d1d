// Progress on a terminal's stderr: one line, rewritten in place, listing each running variant.

export class ProgressLine {
  private readonly states = new Map<string, string>();
  private last = 0;

  constructor(private readonly write: (text: string) => void) {}

  update(label: string, state: string): void {
    this.states.set(label, state);
    const now = Date.now();
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
