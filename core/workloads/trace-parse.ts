// Reading a trace: tell its format (by extension, else by its first line), read it line by line
// from its source and hand each line to that format's parser. Every bad line is reported; a trace
// with any bad line is not replayed, so a replay never runs on a trace read in part. The trace is
// streamed: scanTrace holds one chunk and one line at a time, never the file, and of its operations
// at most the bounded log a check pass keeps for the replay (trace-oplog.ts).
import { CSV_HEADER_EXAMPLE, CsvParser } from './trace-csv.js';
import type { TraceFormat } from './trace-config.js';
import { JsonlParser } from './trace-jsonl.js';
import { ErrorSink, isSkippable, type LineParser, type TraceLineError } from './trace-lines.js';
import { keepOpLog, OpLog } from './trace-oplog.js';
import { opCode, opFromFields, type OpFieldSink, type TraceOp } from './trace-ops.js';
import { looksLikeQemuLine, QEMU_EVENT, QemuParser } from './trace-qemu.js';
import { hasSimpleHeader, SimpleTraceDecoder } from './trace-simple.js';
import {
  ByteLineReader,
  textSource,
  TextLineReader,
  type PassLines,
  type TraceLine,
  type TraceSource,
} from './trace-stream.js';
import { looksLikeTracepointLine, TracepointParser } from './trace-tracepoint.js';

type TextFormat = Exclude<TraceFormat, 'qemu-simple'>;

const PARSERS: Record<TextFormat, new (sink: ErrorSink) => LineParser> = {
  qemu: QemuParser,
  tracepoint: TracepointParser,
  csv: CsvParser,
  jsonl: JsonlParser,
};

type Detected = { ok: true; format: TextFormat } | { ok: false; error: TraceLineError };

/** The format a trace's name says (.csv, .jsonl / .ndjson, .log), or null. */
export function formatByExtension(sourceName: string): TextFormat | null {
  const ext = /\.([A-Za-z0-9]+)$/.exec(sourceName)?.[1]?.toLowerCase();
  if (ext === 'csv') return 'csv';
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'log') return 'qemu';
  return null;
}

/** A JSON object, a perf script / trace-cmd report line, a line QEMU writes, or a CSV header with
 * an "op" column, checked in that order. */
function formatByLine(t: string, line: number, sourceName: string): Detected {
  if (t.startsWith('{')) return { ok: true, format: 'jsonl' };
  if (looksLikeTracepointLine(t)) return { ok: true, format: 'tracepoint' };
  if (looksLikeQemuLine(t)) return { ok: true, format: 'qemu' };
  if (t.split(',').some((c) => c.trim() === 'op')) return { ok: true, format: 'csv' };
  return {
    ok: false,
    error: {
      line,
      message: `cannot tell the format of ${sourceName} from this line: expected a QEMU ${QEMU_EVENT} trace line, a perf script or trace-cmd report line, a CSV header such as "${CSV_HEADER_EXAMPLE}", or a JSON object; or set the workload's "format" to qemu, qemu-simple, tracepoint, csv or jsonl`,
    },
  };
}

/** What one pass over a trace found. */
export type ScanResult =
  | {
      readonly ok: true;
      readonly format: TraceFormat;
      /** Operations the trace holds. */
      readonly ops: number;
      /** Lines that carried no operation: blank lines, comments, other QEMU trace events and
       * QEMU messages (docs/trace-format.md says which). */
      readonly skippedLines: number;
      readonly lines: number;
    }
  | { readonly ok: false; readonly errors: TraceLineError[] };

export interface ScanOptions {
  /** Each operation, in file order, as its line is read. */
  readonly onOp?: (op: TraceOp) => void;
  /** Called every `everyLines` lines (default 4096) and at the end with the bytes read so far:
   * for progress and cancellation (it may throw to stop the pass). */
  readonly onLines?: (bytesRead: number) => void;
  readonly everyLines?: number;
}

/** A pass's options inside the workload: operations handed on as numbers too. */
export interface FieldScanOptions extends ScanOptions {
  readonly fields?: OpFieldSink;
}

/**
 * One pass over a trace: every bad line reported (the first MAX_REPORTED_ERRORS in full) with its
 * line number, each good line's operation handed to `onOp` as it is read. Operations handed out
 * before a bad line stand: check first (a pass without onOp), then replay. A check pass keeps the
 * operations it read, within a bounded budget (trace-oplog.ts), for the replay of the same source
 * that follows it.
 */
export function scanTrace(
  source: TraceSource,
  format: 'auto' | TraceFormat,
  options: ScanOptions = {},
): ScanResult {
  if (options.onOp) return scanFields(source, format, options);
  const log = new OpLog();
  const r = scanFields(source, format, {
    ...options,
    fields: log,
    onLines: (bytesRead) => {
      log.mark(bytesRead);
      options.onLines?.(bytesRead);
    },
  });
  if (r.ok) keepOpLog(source, r.format, log);
  return r;
}

/** One pass, its operations to `onOp` as objects and to `fields` as numbers. */
export function scanFields(
  source: TraceSource,
  format: 'auto' | TraceFormat,
  options: FieldScanOptions,
): ScanResult {
  if (format === 'qemu-simple' || (format === 'auto' && startsAsSimpleTrace(source)))
    return scanSimple(source, options);
  return scanText(source, format, options);
}

/** Whether the source's first bytes are the simple trace backend's header. */
function startsAsSimpleTrace(source: TraceSource): boolean {
  const chunks = source.openBytes();
  try {
    const head = new Uint8Array(16);
    let have = 0;
    while (have < head.length) {
      const c = chunks.next();
      if (c === null) return false;
      const take = Math.min(c.length, head.length - have);
      head.set(c.subarray(0, take), have);
      have += take;
    }
    return hasSimpleHeader(head);
  } finally {
    chunks.close();
  }
}

/** Where a pass's operations go: counted, then to `onOp` as objects and `fields` as numbers. */
class OpOutlet implements OpFieldSink {
  count = 0;
  private readonly onOp: ((op: TraceOp) => void) | null;
  private readonly fields: OpFieldSink | null;

  constructor(options: FieldScanOptions) {
    this.onOp = options.onOp ?? null;
    this.fields = options.fields ?? null;
  }

  object(op: TraceOp): void {
    this.count++;
    if (this.onOp !== null) this.onOp(op);
    if (this.fields !== null)
      this.fields.op(opCode(op), op.line, op.timeNs ?? NaN, op.address, op.size);
  }

  op(code: number, line: number, timeNs: number, address: number, size: number): void {
    this.count++;
    if (this.onOp !== null) this.onOp(opFromFields(code, line, timeNs, address, size));
    if (this.fields !== null) this.fields.op(code, line, timeNs, address, size);
  }
}

/** One pass over a simple-backend binary trace: records for lines. */
function scanSimple(source: TraceSource, options: FieldScanOptions): ScanResult {
  const chunks = source.openBytes();
  try {
    const sink = new ErrorSink();
    const outlet = new OpOutlet(options);
    const decoder = new SimpleTraceDecoder(sink, (op) => outlet.object(op));
    for (let c = chunks.next(); c !== null; c = chunks.next()) {
      decoder.feed(c);
      options.onLines?.(chunks.bytesRead);
    }
    const r = decoder.end();
    if (!sink.empty) return { ok: false, errors: sink.result() };
    return {
      ok: true,
      format: 'qemu-simple',
      ops: r.ops,
      skippedLines: r.skipped,
      lines: r.records,
    };
  } finally {
    chunks.close();
  }
}

/**
 * One pass over a text trace. A QEMU log (or a trace whose format is still to be told) is read as
 * bytes: a conversion line exactly as QEMU writes it is read from its bytes (QemuParser.fastLines,
 * bytesLine), every other line decoded and given to the parser. The other formats' lines are all
 * decoded, a chunk at a time (TextLineReader). Either way each line is read as the parser reads
 * its text.
 */
function scanText(
  source: TraceSource,
  format: 'auto' | TextFormat,
  options: FieldScanOptions,
): ScanResult {
  let resolved: TextFormat | null = format === 'auto' ? formatByExtension(source.name) : format;
  const bytes =
    resolved === null || resolved === 'qemu' ? new ByteLineReader(source.openBytes()) : null;
  const reader: PassLines = bytes ?? new TextLineReader(source.open());
  try {
    const sink = new ErrorSink();
    // Lines before the one that tells the format (blank lines and comments), fed once it is known.
    const before: TraceLine[] = [];
    let parser = resolved ? new PARSERS[resolved](sink) : null;
    let qemu = parser instanceof QemuParser ? parser : null;
    const every = options.everyLines ?? 4096;
    const outlet = new OpOutlet(options);
    let lines = 0;
    for (;;) {
      if (qemu !== null && bytes !== null && bytes.inPlace()) {
        // Conversion lines as QEMU writes them, read where they lie, up to the next report.
        const chunk = bytes.chunkBytes;
        const room = every - (lines % every);
        const n = qemu.fastLines(chunk, bytes.chunkAt, chunk.length, bytes.line + 1, room, outlet);
        if (n > 0) {
          bytes.skipLines(n, qemu.fastLinesEnd);
          lines += n;
          if (lines % every === 0) options.onLines?.(reader.bytesRead);
          continue;
        }
      }
      if (!reader.next()) break;
      lines++;
      if (lines % every === 0) options.onLines?.(reader.bytesRead);
      if (
        qemu !== null &&
        bytes !== null &&
        qemu.bytesLine(bytes.bytes, bytes.start, bytes.end, bytes.line, outlet)
      )
        continue;
      if (parser !== null) {
        const op = parser.line(reader.text(), reader.line, reader.lastCut);
        if (op !== null) outlet.object(op);
        continue;
      }
      const l = { text: reader.text(), line: reader.line, lastCut: reader.lastCut };
      before.push(l);
      if (isSkippable(l.text)) continue;
      const detected = formatByLine(l.text.trim(), l.line, source.name);
      if (!detected.ok) return { ok: false, errors: [detected.error] };
      resolved = detected.format;
      parser = new PARSERS[resolved](sink);
      qemu = parser instanceof QemuParser ? parser : null;
      for (const b of before.splice(0)) {
        const op = parser.line(b.text, b.line, b.lastCut);
        if (op !== null) outlet.object(op);
      }
    }
    options.onLines?.(reader.bytesRead);
    if (parser === null || resolved === null)
      return { ok: false, errors: [{ line: 1, message: `the trace ${source.name} is empty` }] };
    parser.end();
    if (!sink.empty) return { ok: false, errors: sink.result() };
    return {
      ok: true,
      format: resolved,
      ops: outlet.count,
      skippedLines: parser.skipped,
      lines,
    };
  } finally {
    reader.close();
  }
}

export type ParseTraceResult =
  | {
      readonly ok: true;
      readonly ops: TraceOp[];
      readonly format: TraceFormat;
      readonly skippedLines: number;
    }
  | { readonly ok: false; readonly errors: TraceLineError[] };

/**
 * Parse a trace file's whole text into its operations (small traces and tests; runs stream with
 * scanTrace). Every bad line is reported; a trace with any bad line yields no operations.
 */
export function parseTrace(
  text: string,
  format: 'auto' | TraceFormat,
  sourceName: string,
): ParseTraceResult {
  const ops: TraceOp[] = [];
  const r = scanTrace(textSource(text, sourceName), format, { onOp: (op) => ops.push(op) });
  if (!r.ok) return r;
  return { ok: true, ops, format: r.format, skippedLines: r.skippedLines };
}
