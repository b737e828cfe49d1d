// One figure of `npm run bench`.
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly target?: string;
  /** Whether the target is met, when the target is not a plain comparison with `value`. */
  readonly pass?: boolean;
  /** How it was measured, what it ran on, or why it was skipped. */
  readonly note?: string;
}

/** Whether `f` meets its target: its own verdict, else the target read as a comparison with the
 * value (">= 2,000,000", "< 512"); undefined for a figure with no target. */
export function meetsTarget(f: Figure): boolean | undefined {
  if (f.pass !== undefined) return f.pass;
  if (!f.target) return undefined;
  if (f.target === 'runs at all') return Number.isFinite(f.value);
  const m = /^(>=|<=|<|>)\s*([\d,.]+)$/.exec(f.target.trim());
  if (!m || !Number.isFinite(f.value)) return undefined;
  const limit = Number(m[2]!.replace(/,/g, ''));
  switch (m[1]) {
    case '>=':
      return f.value >= limit;
    case '<=':
      return f.value <= limit;
    case '<':
      return f.value < limit;
    default:
      return f.value > limit;
  }
}
