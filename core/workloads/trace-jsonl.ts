// JSONL operation traces: one JSON object per line, its fields those of a CSV row; numbers may be
// JSON numbers or decimal / 0x-hex strings.
import { TimeChecker, type Parsed } from './trace-checks.js';
import {
  isSkippable,
  kindOf,
  truncationHint,
  type ErrorSink,
  type LineParser,
} from './trace-lines.js';
import type { TraceOp } from './trace-ops.js';
import { recordOp } from './trace-record.js';

export class JsonlParser implements LineParser {
  skipped = 0;
  private ops = 0;
  private readonly times = new TimeChecker();

  constructor(private readonly sink: ErrorSink) {}

  line(text: string, line: number, lastCut: boolean): TraceOp | null {
    if (isSkippable(text)) {
      this.skipped++;
      return null;
    }
    const record = jsonRecord(text, truncationHint(lastCut));
    if (!record.ok) {
      this.sink.add(line, record.message);
      return null;
    }
    const op = recordOp(line, record.value, { noun: 'field' }, this.times);
    if (!op.ok) {
      this.sink.add(line, op.message);
      return null;
    }
    this.ops++;
    return op.value;
  }

  end(): void {
    if (this.ops === 0 && this.sink.empty)
      this.sink.add(1, 'the trace holds no operations: expected one JSON object per line');
  }
}

/** The line's JSON object; the hint (a cut-short file) goes only with JSON that does not parse. */
function jsonRecord(text: string, hint: string): Parsed<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // V8 names the position in its message; its wording differs between versions.
    const position = /at position (\d+)/.exec((err as Error).message)?.[1];
    const where = position !== undefined ? ` at column ${Number(position) + 1}` : '';
    return {
      ok: false,
      message: `not valid JSON${where}: expected one JSON object per line${hint}`,
    };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: `expected one JSON object per line, got ${kindOf(value)}` };
  }
  return { ok: true, value: value as Record<string, unknown> };
}
