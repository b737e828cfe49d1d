// JSONL operation traces: one JSON object per line, its fields those of a CSV row; numbers may be
// JSON numbers or decimal / 0x-hex strings.
import { TimeChecker, type Parsed } from './trace-checks.js';
import {
  forEachRecordLine,
  kindOf,
  truncationHint,
  type ErrorSink,
  type ParsedLines,
  type SplitText,
} from './trace-lines.js';
import type { TraceOp } from './trace-ops.js';
import { recordOp } from './trace-record.js';

export function parseJsonl(split: SplitText, sink: ErrorSink): ParsedLines {
  const ops: TraceOp[] = [];
  const times = new TimeChecker();
  const skipped = forEachRecordLine(split, (text, line, index) => {
    const record = jsonRecord(text, truncationHint(split, index));
    if (!record.ok) {
      sink.add(line, record.message);
      return;
    }
    const op = recordOp(line, record.value, { noun: 'field' }, times);
    if (op.ok) ops.push(op.value);
    else sink.add(line, op.message);
  });
  if (ops.length === 0 && sink.empty) {
    sink.add(1, 'the trace holds no operations: expected one JSON object per line');
  }
  return { ops, skipped };
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
