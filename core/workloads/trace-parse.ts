// Reading a trace file: tell its format (by extension, else by its first line), split it into
// lines and hand them to that format's parser. Every bad line is reported; a trace with any bad
// line yields no operations, so a replay never runs on a trace read in part.
import { CSV_HEADER_EXAMPLE, parseCsv } from './trace-csv.js';
import type { TraceFormat } from './trace-config.js';
import { parseJsonl } from './trace-jsonl.js';
import {
  ErrorSink,
  isSkippable,
  splitLines,
  type ParsedLines,
  type SplitText,
  type TraceLineError,
} from './trace-lines.js';
import type { TraceOp } from './trace-ops.js';
import { looksLikeQemuLine, parseQemu, QEMU_EVENT } from './trace-qemu.js';

export type ParseTraceResult =
  | {
      readonly ok: true;
      readonly ops: TraceOp[];
      readonly format: TraceFormat;
      /** Lines that carried no operation: blank lines, comments, other QEMU trace events and
       * QEMU messages (docs/trace-format.md says which). */
      readonly skippedLines: number;
    }
  | { readonly ok: false; readonly errors: TraceLineError[] };

const PARSERS: Record<TraceFormat, (split: SplitText, sink: ErrorSink) => ParsedLines> = {
  qemu: parseQemu,
  csv: parseCsv,
  jsonl: parseJsonl,
};

type Detected = { ok: true; format: TraceFormat } | { ok: false; error: TraceLineError };

/** The extension decides when it names a format; else the first line that is not a comment. */
function detectFormat(split: SplitText, sourceName: string): Detected {
  const byName = formatByExtension(sourceName);
  if (byName) return { ok: true, format: byName };
  const index = split.lines.findIndex((text) => !isSkippable(text));
  if (index < 0)
    return { ok: false, error: { line: 1, message: `the trace ${sourceName} is empty` } };
  return formatByLine(split.lines[index]!.trim(), index + 1, sourceName);
}

function formatByExtension(sourceName: string): TraceFormat | null {
  const ext = /\.([A-Za-z0-9]+)$/.exec(sourceName)?.[1]?.toLowerCase();
  if (ext === 'csv') return 'csv';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'log') return 'qemu';
  return null;
}

/** A JSON object, a line QEMU writes, or a CSV header with an "op" column, checked in that order. */
function formatByLine(t: string, line: number, sourceName: string): Detected {
  if (t.startsWith('{')) return { ok: true, format: 'jsonl' };
  if (looksLikeQemuLine(t)) return { ok: true, format: 'qemu' };
  if (t.split(',').some((c) => c.trim() === 'op')) return { ok: true, format: 'csv' };
  return {
    ok: false,
    error: {
      line,
      message: `cannot tell the format of ${sourceName} from this line: expected a QEMU ${QEMU_EVENT} trace line, a CSV header such as "${CSV_HEADER_EXAMPLE}", or a JSON object; or set the workload's "format" to qemu, csv or jsonl`,
    },
  };
}

/**
 * Parse a trace file's text. Every bad line is reported (the first MAX_REPORTED_ERRORS in full)
 * with its line number; a trace with any bad line yields no operations.
 */
export function parseTrace(
  text: string,
  format: 'auto' | TraceFormat,
  sourceName: string,
): ParseTraceResult {
  const split = splitLines(text);
  let resolved: TraceFormat;
  if (format === 'auto') {
    const detected = detectFormat(split, sourceName);
    if (!detected.ok) return { ok: false, errors: [detected.error] };
    resolved = detected.format;
  } else {
    resolved = format;
  }
  const sink = new ErrorSink();
  const { ops, skipped } = PARSERS[resolved](split, sink);
  if (!sink.empty) return { ok: false, errors: sink.result() };
  return { ok: true, ops, format: resolved, skippedLines: skipped };
}
