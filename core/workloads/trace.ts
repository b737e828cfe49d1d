// Workload: trace replay (domain.md section 5). Reads a conversion trace recorded from QEMU's
// `kvm_convert_memory` trace event, or one of our own CSV / JSONL operation traces
// (docs/trace-format.md), and replays it against the simulation, one operation per trace line.
//
// The parser trusts nothing: every line is checked (alignment, size, number range, field types,
// column count, time order) and every bad line is reported with its line number and what was
// expected; nothing is guessed. Whether a range fits the guest is only known at replay, where the
// model answers EINVAL like the kernel would.
//
// This file is the workload's public face; each mechanism lives in its own file:
//   trace-config.ts  the workload's settings in the experiment file
//   trace-ops.ts     the operations a trace holds, and the address limits
//   trace-stream.ts  the trace's text from its source, a chunk and a line at a time
//   trace-oplog.ts   the operations a check pass keeps for the replay, within a budget
//   trace-parse.ts   format detection and the entry point of parsing (one streaming pass)
//   trace-lines.ts   lines, the bad-line report, how messages quote input
//   trace-checks.ts  numbers, alignment, ranges and time order, for every format
//   trace-qemu.ts    QEMU kvm_convert_memory logs
//   trace-qemu-bytes.ts  their conversion lines read from the bytes, in place
//   trace-simple.ts  the same event in QEMU's simple-backend binary file
//   trace-tracepoint.ts  perf script / trace-cmd report text of the KVM conversion tracepoints
//   trace-record.ts  the record model CSV and JSONL share; trace-csv.ts, trace-jsonl.ts
//   trace-replay.ts  GPA translation and replay against the simulation
export {
  GpaLayoutSchema,
  TRACE_FORMATS,
  TraceWorkloadSchema,
  type GpaLayout,
  type TraceFormat,
  type TraceWorkloadConfig,
} from './trace-config.js';
export { MAX_REPORTED_ERRORS, type TraceLineError } from './trace-lines.js';
export {
  HIGH_RAM_GPA,
  MAX_TRACE_GPA,
  MAX_TRACE_OFFSET,
  TRACE_OP_NAMES,
  type TraceOp,
  type TraceOpName,
} from './trace-ops.js';
export {
  formatByExtension,
  parseTrace,
  scanTrace,
  type ParseTraceResult,
  type ScanOptions,
  type ScanResult,
} from './trace-parse.js';
export {
  bytesSource,
  LineReader,
  textSource,
  type ByteChunks,
  type TraceChunks,
  type TraceLine,
  type TraceSource,
} from './trace-stream.js';
export { TRACE_FIELDS } from './trace-record.js';
export { hasSimpleHeader, simpleConversionCounter } from './trace-simple.js';
export {
  gpaToOffset,
  replayTrace,
  replayTraceSource,
  runTrace,
  type TraceReplayStats,
} from './trace-replay.js';
