// CSV operation traces: a header line names the columns (any order, a subset of TRACE_FIELDS),
// then one operation per line. Cells are not quoted: no field of ours holds a comma.
import { TimeChecker } from './trace-checks.js';
import {
  isSkippable,
  show,
  truncationHint,
  type ErrorSink,
  type LineParser,
} from './trace-lines.js';
import type { TraceOp } from './trace-ops.js';
import { recordOp, TRACE_FIELDS } from './trace-record.js';

export const CSV_HEADER_EXAMPLE = 'time_ns,op,offset,size,to,who,access';

export class CsvParser implements LineParser {
  skipped = 0;
  private ops = 0;
  private readonly times = new TimeChecker();
  private header: string[] | null = null;
  private headerLine = 0;

  constructor(private readonly sink: ErrorSink) {}

  line(text: string, line: number, lastCut: boolean): TraceOp | null {
    if (isSkippable(text)) {
      this.skipped++;
      return null;
    }
    const cells = text.split(',').map((c) => c.trim());
    if (this.header === null) {
      this.headerLine = line;
      this.header = readHeader(line, cells, this.sink);
      return null;
    }
    const header = this.header;
    if (header.length === 0) return null; // the header was bad: its error says so
    const hint = truncationHint(lastCut);
    if (cells.length !== header.length) {
      this.sink.add(
        line,
        `has ${cells.length} column(s), the header (line ${this.headerLine}) names ${header.length}: ${header.join(',')}${hint}`,
      );
      return null;
    }
    const op = recordOp(
      line,
      rowRecord(header, cells),
      { noun: 'column', columns: header },
      this.times,
    );
    if (!op.ok) {
      this.sink.add(line, op.message + hint);
      return null;
    }
    this.ops++;
    return op.value;
  }

  end(): void {
    if (this.header === null) {
      this.sink.add(
        1,
        `the trace is empty: a CSV trace needs a header line, e.g. "${CSV_HEADER_EXAMPLE}"`,
      );
    } else if (this.ops === 0 && this.sink.empty) {
      this.sink.add(this.headerLine, 'the trace holds a header but no operations');
    }
  }
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
