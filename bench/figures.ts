// One figure of `npm run bench`.
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly target?: string;
  /** How it was measured, what it ran on, or why it was skipped. */
  readonly note?: string;
}
