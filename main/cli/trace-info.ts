// `gmem-lab trace info FILE`: what a trace holds (docs/trace-format.md), read once and streamed,
// without running a model: format, lines, operations, conversions each way, time span, address
// range and the distinct 2 MiB and 1 GiB ranges touched. A trace with bad lines prints every one
// of them (the first 100 in full) and exits 2, as a run would refuse it.
import { isAbsolute, resolve } from 'node:path';
import type { Command } from 'commander';
import { formatBytes } from '../../core/units.js';
import { TRACE_FORMATS, type TraceFormat } from '../../core/workloads/trace.js';
import { traceInfo, type TraceInfo, type TraceSpaceInfo } from '../../core/workloads/trace-info.js';
import { fileTraceSource } from '../services/trace-file.js';

export interface TraceInfoIo {
  readonly cwd: string;
  stdout(text: string): void;
  stderr(text: string): void;
}

const count = (n: number) => n.toLocaleString('en-US');
const hex = (n: number) => `0x${n.toString(16)}`;

function spaceText(label: string, s: TraceSpaceInfo | null): string {
  if (!s) return '';
  return `${label}: [${hex(s.lowest)}, ${hex(s.end)}) (${formatBytes(s.end - s.lowest)}), ${count(s.ops)} operations, ${count(s.ranges2m)} distinct 2 MiB and ${count(s.ranges1g)} distinct 1 GiB ranges touched\n`;
}

function traceInfoText(info: TraceInfo): string {
  const kinds = Object.entries(info.byOp)
    .filter(([, n]) => n > 0)
    .map(([op, n]) => `${op} ${count(n)}`)
    .join(', ');
  const span =
    info.timeSpanNs === null
      ? 'no times (replayed back to back)'
      : `${(info.timeSpanNs / 1e9).toFixed(6)} s from the first timed operation to the last`;
  // A simple-backend file has records where the text formats have lines.
  const unit = info.format === 'qemu-simple' ? 'records' : 'lines';
  return (
    `${info.name}: ${info.format} trace, ${formatBytes(info.bytes)}, ${count(info.lines)} ${unit} (${count(info.skippedLines)} carry no operation)\n` +
    `operations: ${count(info.ops)}${kinds ? ` (${kinds})` : ''}\n` +
    `conversions to shared: ${count(info.toShared.count)}, ${formatBytes(info.toShared.bytes)}; to private: ${count(info.toPrivate.count)}, ${formatBytes(info.toPrivate.bytes)}\n` +
    `time span: ${span}\n` +
    spaceText('guest physical addresses', info.gpa) +
    spaceText('guest_memfd offsets', info.offset)
  );
}

/** Register `trace info` on the program; returns the exit code through `setExit`. */
export function addTraceCommand(
  program: Command,
  io: TraceInfoIo,
  setExit: (code: number) => void,
  badInput: (message: string) => Error,
): void {
  const trace = program
    .command('trace')
    .description('look into trace files without running a model');
  trace
    .command('info')
    .description(
      'print what a trace holds: format, operations, conversions each way, time span, address range, distinct 2 MiB and 1 GiB ranges touched',
    )
    .argument('<file>', 'trace file (QEMU kvm_convert_memory log, CSV or JSON lines)')
    .option(
      '--format <format>',
      `trace format: auto (a QEMU simple-backend file by its header, others by extension, else by the first line), ${TRACE_FORMATS.join(', ')}`,
      'auto',
    )
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nReads the file once, a chunk at a time. A trace with bad lines lists each with its line number (the first 100 in full) and exits 2.\nExample: gmem-lab trace info qemu-trace.log',
    )
    .action((file: string, opts: { format: string; json?: boolean }) => {
      if (opts.format !== 'auto' && !(TRACE_FORMATS as readonly string[]).includes(opts.format))
        throw badInput(`--format "${opts.format}": expected auto, ${TRACE_FORMATS.join(', ')}`);
      const path = isAbsolute(file) ? file : resolve(io.cwd, file);
      let source;
      try {
        source = fileTraceSource(path, file);
      } catch (err) {
        throw badInput(`cannot read the trace ${path}: ${(err as Error).message}`);
      }
      const r = traceInfo(source, opts.format as 'auto' | TraceFormat);
      if (!r.ok) {
        for (const e of r.errors) io.stderr(`gmem-lab: ${file}:${e.line}: ${e.message}\n`);
        io.stderr(`gmem-lab: the trace ${file} has bad lines; a run would refuse it\n`);
        setExit(2);
        return;
      }
      io.stdout(opts.json ? JSON.stringify(r.info, null, 2) + '\n' : traceInfoText(r.info));
    });
}
