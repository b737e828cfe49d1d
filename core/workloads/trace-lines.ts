// A trace's text as numbered lines, and the bad lines reported against it: every format parser
// splits the file here, reports into one ErrorSink, and quotes input in its messages the same way.
import type { TraceOp } from './trace-ops.js';

export interface TraceLineError {
  readonly line: number;
  readonly message: string;
}

/** Bad lines listed in full; the rest are summed up in one last entry. */
export const MAX_REPORTED_ERRORS = 100;

/** A format's parser, fed one line at a time in file order: it returns the line's operation, or
 * null for a line that carries none (skipped) or is bad (reported to its ErrorSink). */
export interface LineParser {
  line(text: string, line: number, lastCut: boolean): TraceOp | null;
  /** The end of the file: a trace with no operation is reported here. */
  end(): void;
  /** Lines that carried no operation and were not bad (blank lines, comments, other events). */
  readonly skipped: number;
}

/** What a conversion-log line is: one to skip, a bad one, or a conversion to build. */
export type LineVerdict<T> =
  | { readonly kind: 'skip' }
  | { readonly kind: 'error'; readonly message: string }
  | ({ readonly kind: 'convert' } & T);

/**
 * The bookkeeping of a parser of logs that carry conversions among other lines (QEMU logs, host
 * tracepoint text): lines to skip counted, bad lines reported, and a log without any conversion
 * reported at its end with what the subclass says to check.
 */
export abstract class ConversionLogParser<T> implements LineParser {
  skipped = 0;
  /** Conversions found (a subclass's fast path counts its own). */
  protected ops = 0;
  private otherLines = 0;

  constructor(protected readonly sink: ErrorSink) {}

  /** What the line is. */
  protected abstract classify(text: string): LineVerdict<T>;
  /** The line's operation, or a message for a conversion that cannot be (time order, ...). */
  protected abstract build(
    line: number,
    parsed: { readonly kind: 'convert' } & T,
  ): { ok: true; value: TraceOp } | { ok: false; message: string };
  /** The message for a log with no conversion, among `otherLines` other lines (0: empty). */
  protected abstract nothingFound(otherLines: number): string;

  line(text: string, line: number, lastCut: boolean): TraceOp | null {
    const parsed = this.classify(text);
    if (parsed.kind === 'skip') {
      this.skipped++;
      if (text.trim() !== '') this.otherLines++;
      return null;
    }
    if (parsed.kind === 'error') {
      this.sink.add(line, parsed.message + truncationHint(lastCut));
      return null;
    }
    const op = this.build(line, parsed);
    if (!op.ok) {
      this.sink.add(line, op.message);
      return null;
    }
    this.ops++;
    return op.value;
  }

  end(): void {
    if (this.ops === 0 && this.sink.empty) this.sink.add(1, this.nothingFound(this.otherLines));
  }
}

export class ErrorSink {
  readonly kept: TraceLineError[] = [];
  private total = 0;
  private firstOmittedLine = 0;

  add(line: number, message: string): void {
    this.total++;
    if (this.kept.length < MAX_REPORTED_ERRORS) this.kept.push({ line, message });
    else if (this.firstOmittedLine === 0) this.firstOmittedLine = line;
  }

  get empty(): boolean {
    return this.total === 0;
  }

  result(): TraceLineError[] {
    const more = this.total - this.kept.length;
    if (more === 0) return this.kept;
    return [
      ...this.kept,
      {
        line: this.firstOmittedLine,
        message: `and ${more} more bad line(s) from this one on, not listed (only the first ${MAX_REPORTED_ERRORS} are)`,
      },
    ];
  }
}

/** A hint for a bad last line of a file that does not end in a newline. */
export function truncationHint(lastCut: boolean): string {
  return lastCut ? ' (the file ends without a newline after this line: was it cut short?)' : '';
}

/** A piece of input for a message: strings quoted, other JSON values as JSON, cut short. */
export function show(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const cut = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return typeof value === 'string' ? JSON.stringify(cut) : cut;
}

/** What kind of JSON value this is, with its article. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** A number from the input, in hex and, for traces written in decimal, in decimal too. */
export function both(n: number): string {
  return n < 10 ? hex(n) : `${hex(n)} (${n})`;
}

/** Blank lines and # comments carry no operation in our own formats. */
export function isSkippable(text: string): boolean {
  const t = text.trim();
  return t === '' || t.startsWith('#');
}
