// CSV operation traces: a header line names the columns (any order, a subset of TRACE_FIELDS),
// then one operation per line. Cells are not quoted: no field of ours holds a comma.
import { TimeChecker } from './trace-checks.js';
import {
  forEachRecordLine,
  show,
  truncationHint,
  type ErrorSink,
  type ParsedLines,
  type SplitText,
} from './trace-lines.js';
import type { TraceOp } from './trace-ops.js';
import { recordOp, TRACE_FIELDS } from './trace-record.js';

export const CSV_HEADER_EXAMPLE = 'time_ns,op,offset,size,to,who,access';

export function parseCsv(split: SplitText, sink: ErrorSink): ParsedLines {
  const ops: TraceOp[] = [];
  const times = new TimeChecker();
  let header: string[] | null = null;
  let headerLine = 0;
  const skipped = forEachRecordLine(split, (text, line, index) => {
    const cells = text.split(',').map((c) => c.trim());
    if (header === null) {
      headerLine = line;
      header = readHeader(line, cells, sink);
      return;
    }
    if (header.length === 0) return; // the header was bad: its error says so
    const hint = truncationHint(split, index);
    if (cells.length !== header.length) {
      sink.add(
        line,
        `has ${cells.length} column(s), the header (line ${headerLine}) names ${header.length}: ${header.join(',')}${hint}`,
      );
      return;
    }
    const op = recordOp(line, rowRecord(header, cells), { noun: 'column', columns: header }, times);
    if (op.ok) ops.push(op.value);
    else sink.add(line, op.message + hint);
  });
  if (header === null) {
    sink.add(
      1,
      `the trace is empty: a CSV trace needs a header line, e.g. "${CSV_HEADER_EXAMPLE}"`,
    );
  } else if (ops.length === 0 && sink.empty) {
    sink.add(headerLine, 'the trace holds a header but no operations');
  }
  return { ops, skipped };
}

/** The header's columns, or none (reported) when it is bad: then no row can be read. */
function readHeader(line: number, cells: string[], sink: ErrorSink): string[] {
  const problems = checkCsvHeader(cells);
  if (problems.length === 0) return cells;
  // A first line that starts with a number is an operation: the header was left out.
  const notHeader = /^[0-9]/.test(cells[0] ?? '');
  sink.add(
    line,
    notHeader
      ? `the CSV needs a header line naming its columns before the first operation, e.g. "${CSV_HEADER_EXAMPLE}"`
      : `bad CSV header: ${problems.join('; ')}. Expected op, size, offset or gpa, and optionally time_ns, to, who, access, e.g. "${CSV_HEADER_EXAMPLE}"`,
  );
  return [];
}

function checkCsvHeader(cells: string[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const cell of cells) {
    if (!(TRACE_FIELDS as readonly string[]).includes(cell)) {
      problems.push(
        cell === ''
          ? 'an empty column name'
          : `unknown column ${show(cell)} (columns: ${TRACE_FIELDS.join(', ')})`,
      );
    } else if (seen.has(cell)) problems.push(`column "${cell}" appears twice`);
    seen.add(cell);
  }
  if (!seen.has('op')) problems.push('no "op" column');
  if (!seen.has('size')) problems.push('no "size" column');
  if (seen.has('offset') === seen.has('gpa')) {
    problems.push(
      seen.has('offset')
        ? 'both "offset" and "gpa" columns: use one'
        : 'no "offset" or "gpa" column',
    );
  }
  return problems;
}

/** A row as a record; an empty cell is an absent field, as in JSONL. */
function rowRecord(header: readonly string[], cells: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  header.forEach((column, i) => {
    if (cells[i] !== '') record[column] = cells[i]!;
  });
  return record;
}
