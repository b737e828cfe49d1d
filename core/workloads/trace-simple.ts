// QEMU's `simple` trace backend: the binary file QEMU writes with `--trace
// events=...,file=trace.bin` when built with `--enable-trace-backends=simple`, read directly (no
// trace-events-all file needed: only kvm_convert_memory's arguments are decoded, every other
// record is skipped by its length).
//
// The format, as trace/simple.c writes it and scripts/simpletrace.py reads it (version 4; QEMU
// says it is not guaranteed stable, so another version is refused, not guessed at), all fields in
// the host's byte order:
//   header    u64 HEADER_EVENT_ID (~0), u64 HEADER_MAGIC 0xf2b177cb0aa429b4, u64 version (4)
//   records   u64 type, then
//     type 0  TRACE_RECORD_TYPE_MAPPING: u64 event id, u32 name length, the name
//     type 1  TRACE_RECORD_TYPE_EVENT: TraceRecord {u64 event id, u64 timestamp_ns, u32 length
//             (the TraceRecord header's 24 bytes and the arguments), u32 pid}, then the arguments:
//             u64 per integer argument, u32 length and the bytes per string argument
//             (trace_record_write_u64 / trace_record_write_str)
//   DROPPED_EVENT_ID (~0 - 1) records carry one u64: how many events QEMU dropped because its
//   trace buffer was full.
// kvm_convert_memory(uint64_t start, uint64_t size, const char *msg) (accel/kvm/trace-events):
// start is a guest physical address, msg "private_to_shared" or "shared_to_private". The timestamp
// is QEMU's get_clock() (CLOCK_MONOTONIC) in ns; times become ns since the first conversion.
//
// The decoder is fed chunks of any size (push-based), so the worker's synchronous pass and the
// workbench's asynchronous estimate read the file the same way. "Line" numbers in messages and
// operations count records from 1 (mapping records included), and every message gives the
// record's byte offset too.
import type { Shareability } from '../gmem/guest-memfd.js';
import { checkAddress, checkRange, checkSize, TimeChecker } from './trace-checks.js';
import { ErrorSink, hex, show } from './trace-lines.js';
import { QEMU_EVENT } from './trace-qemu.js';
import type { TraceOp } from './trace-ops.js';
import { utf8Decode } from '../utf8.js';

const HEADER_EVENT_ID = 0xffffffffffffffffn;
const HEADER_MAGIC = 0xf2b177cb0aa429b4n;
const HEADER_VERSION = 4n;
const DROPPED_EVENT_ID = 0xfffffffffffffffen;
const RECORD_TYPE_MAPPING = 0n;
const RECORD_TYPE_EVENT = 1n;
const HEADER_BYTES = 24;
/** sizeof(TraceRecord) without its arguments. */
const RECORD_HEADER_BYTES = 24;
/** QEMU event names are short C identifiers; a longer "name" means the file is not a trace. */
const MAX_NAME_BYTES = 4096;
/** trace/simple.c's buffer is TRACE_BUF_LEN = 256 KiB: no record is longer. */
const MAX_RECORD_BYTES = 256 * 1024;

/** Whether `head` (the file's first bytes) starts with the simple backend's header, in either
 * byte order. */
export function hasSimpleHeader(head: Uint8Array): boolean {
  if (head.length < 16) return false;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return (
    view.getBigUint64(0, true) === HEADER_EVENT_ID &&
    (view.getBigUint64(8, true) === HEADER_MAGIC || view.getBigUint64(8, false) === HEADER_MAGIC)
  );
}

export interface SimpleDecodeResult {
  /** Records read, mapping records included. */
  readonly records: number;
  /** Records that carried no conversion (mappings, other events). */
  readonly skipped: number;
  readonly ops: number;
}

/**
 * The simple backend's records, decoded as bytes arrive: each kvm_convert_memory event handed to
 * `onOp` as a conversion, every problem reported to `sink` with its record number. A record whose
 * length cannot be trusted (a bad type or length, a file cut short) ends the decoding, since no
 * later record can be found without it.
 */
export class SimpleTraceDecoder {
  private pending = new Uint8Array(0);
  private offset = 0;
  private littleEndian = true;
  private headerRead = false;
  private stopped = false;
  private records = 0;
  private skipped = 0;
  private ops = 0;
  private readonly names = new Map<bigint, string>();
  private origin: bigint | null = null;
  private readonly times = new TimeChecker();

  constructor(
    private readonly sink: ErrorSink,
    private readonly onOp: (op: TraceOp) => void,
  ) {}

  /** Bytes of the file consumed so far. */
  get bytesDecoded(): number {
    return this.offset;
  }

  feed(chunk: Uint8Array): void {
    if (this.stopped || chunk.length === 0) return;
    let buf: Uint8Array;
    if (this.pending.length === 0) buf = chunk;
    else {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending, 0);
      buf.set(chunk, this.pending.length);
    }
    const used = this.decode(buf);
    // A copy: the caller may reuse its buffer, and a Node Buffer's slice() is a view.
    this.pending = used < buf.length ? new Uint8Array(buf.subarray(used)) : new Uint8Array(0);
  }

  /** The end of the file: a record cut short, or a trace without conversions, is reported. */
  end(): SimpleDecodeResult {
    if (!this.stopped) {
      if (!this.headerRead) {
        this.sink.add(
          1,
          `not a QEMU simple-backend trace: the file is ${this.pending.length} bytes long, shorter than the 24-byte header`,
        );
      } else if (this.pending.length > 0) {
        this.sink.add(
          this.records + 1,
          `record at byte ${hex(this.offset)} is cut short: the file ends ${this.pending.length} byte(s) into it (was QEMU still writing, or the copy incomplete?)`,
        );
      } else if (this.ops === 0 && this.sink.empty) {
        this.sink.add(
          1,
          this.names.size > 0 && ![...this.names.values()].includes(QEMU_EVENT)
            ? `no ${QEMU_EVENT} events: the trace's event list does not name it; was QEMU started with --trace ${QEMU_EVENT}?`
            : `no ${QEMU_EVENT} events among ${this.records} record(s): was the event enabled (--trace ${QEMU_EVENT})?`,
        );
      }
    }
    return { records: this.records, skipped: this.skipped, ops: this.ops };
  }

  private stop(message: string): void {
    this.sink.add(this.records + 1, message);
    this.stopped = true;
  }

  /** Decodes whole records from `buf`; returns the bytes used. */
  private decode(buf: Uint8Array): number {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let at = 0;
    if (!this.headerRead) {
      if (buf.length < HEADER_BYTES) return 0;
      if (!this.readHeader(view)) return buf.length;
      at = HEADER_BYTES;
      this.offset = HEADER_BYTES;
    }
    const le = this.littleEndian;
    while (!this.stopped && buf.length - at >= 8) {
      const type = view.getBigUint64(at, le);
      let need: number;
      if (type === RECORD_TYPE_MAPPING) {
        if (buf.length - at < 20) break;
        const len = view.getUint32(at + 16, le);
        if (len === 0 || len > MAX_NAME_BYTES) {
          this.stop(
            `mapping record at byte ${hex(this.offset)} names an event of ${len} bytes: not a QEMU simple-backend trace, or a damaged one`,
          );
          break;
        }
        need = 20 + len;
        if (buf.length - at < need) break;
        this.mapping(view.getBigUint64(at + 8, le), buf.subarray(at + 20, at + need));
      } else if (type === RECORD_TYPE_EVENT) {
        if (buf.length - at < 8 + RECORD_HEADER_BYTES) break;
        const length = view.getUint32(at + 8 + 16, le);
        if (length < RECORD_HEADER_BYTES || length > MAX_RECORD_BYTES) {
          this.stop(
            `event record at byte ${hex(this.offset)} gives its length as ${length} bytes (expected 24 to 256 KiB): the trace is damaged`,
          );
          break;
        }
        need = 8 + length;
        if (buf.length - at < need) break;
        this.event(view, at + 8, length);
      } else {
        this.stop(
          `record at byte ${hex(this.offset)} has type ${type} (expected 0, an event name, or 1, an event): the trace is damaged or not version 4`,
        );
        break;
      }
      at += need;
      this.offset += need;
    }
    return this.stopped ? buf.length : at;
  }

  private readHeader(view: DataView): boolean {
    const id = view.getBigUint64(0, true);
    const magicLe = view.getBigUint64(8, true);
    if (
      id !== HEADER_EVENT_ID ||
      (magicLe !== HEADER_MAGIC && view.getBigUint64(8, false) !== HEADER_MAGIC)
    ) {
      this.stop(
        `not a QEMU simple-backend trace: the file does not start with its header (event id ~0, magic 0xf2b177cb0aa429b4); set the workload's "format" to the trace's format`,
      );
      return false;
    }
    this.littleEndian = magicLe === HEADER_MAGIC;
    const version = view.getBigUint64(16, this.littleEndian);
    if (version !== HEADER_VERSION) {
      this.stop(
        `QEMU simple-backend trace version ${version}: only version 4 (QEMU 5.2 and later) is read; convert it with that QEMU's scripts/simpletrace.py and the log format`,
      );
      return false;
    }
    this.headerRead = true;
    return true;
  }

  private mapping(id: bigint, name: Uint8Array): void {
    this.records++;
    this.skipped++;
    this.names.set(id, utf8Decode(name));
  }

  private event(view: DataView, at: number, length: number): void {
    this.records++;
    const le = this.littleEndian;
    const id = view.getBigUint64(at, le);
    const timestampNs = view.getBigUint64(at + 8, le);
    const args = at + RECORD_HEADER_BYTES;
    const argBytes = length - RECORD_HEADER_BYTES;
    const where = `at byte ${hex(this.offset)}`;
    if (id === DROPPED_EVENT_ID) {
      const dropped = argBytes >= 8 ? view.getBigUint64(args, le) : 0n;
      this.sink.add(
        this.records,
        `QEMU dropped ${dropped} event(s) before the record ${where} (its trace buffer was full): the trace misses conversions; record again with fewer events enabled`,
      );
      return;
    }
    const name = this.names.get(id);
    if (name === undefined) {
      this.sink.add(
        this.records,
        `event record ${where} has event id ${id}, which no mapping record before it names: the trace is damaged`,
      );
      return;
    }
    if (name !== QEMU_EVENT) {
      this.skipped++;
      return;
    }
    const op = this.convert(view, args, argBytes, timestampNs);
    if (typeof op === 'string') this.sink.add(this.records, `${QEMU_EVENT} ${where}: ${op}`);
    else {
      this.ops++;
      this.onOp(op);
    }
  }

  private convert(
    view: DataView,
    at: number,
    bytes: number,
    timestampNs: bigint,
  ): TraceOp | string {
    const le = this.littleEndian;
    if (bytes < 20)
      return `its arguments are ${bytes} bytes, expected start, size and msg (at least 20)`;
    const start = view.getBigUint64(at, le);
    const size = view.getBigUint64(at + 8, le);
    const msgLength = view.getUint32(at + 16, le);
    if (20 + msgLength !== bytes)
      return `msg of ${msgLength} bytes does not fill the record's ${bytes - 20} remaining bytes`;
    const msg = utf8Decode(new Uint8Array(view.buffer, view.byteOffset + at + 20, msgLength));
    const to: Shareability | null =
      msg === 'private_to_shared' ? 'shared' : msg === 'shared_to_private' ? 'private' : null;
    const problems: string[] = [];
    if (to === null)
      problems.push(`msg ${show(msg)}: expected private_to_shared or shared_to_private`);
    const safe = BigInt(Number.MAX_SAFE_INTEGER);
    const gpa = start > safe ? null : Number(start);
    const bytesN = size > safe ? null : Number(size);
    const badStart =
      gpa === null ? `0x${start.toString(16)} is past the largest guest` : checkAddress('gpa', gpa);
    if (badStart) problems.push(`start ${badStart}`);
    const badSize =
      bytesN === null
        ? `0x${size.toString(16)} is larger than the largest guest`
        : checkSize(bytesN);
    if (badSize) problems.push(`size ${badSize}`);
    if (problems.length === 0) {
      const bad = checkRange('gpa', gpa!, bytesN!);
      if (bad) problems.push(bad);
    }
    if (problems.length > 0) return problems.join('; ');
    this.origin ??= timestampNs;
    const delta = timestampNs - this.origin;
    const timeNs = delta < 0n ? -Number(-delta) : Number(delta);
    const late = this.times.check(this.records, timeNs);
    if (late) return late;
    return {
      op: 'convert',
      line: this.records,
      timeNs,
      space: 'gpa',
      address: gpa!,
      size: bytesN!,
      to: to!,
    };
  }
}

/** Counts a simple-backend trace's conversions as chunks arrive, for estimates (problems are
 * left to the run's check pass). */
export function simpleConversionCounter(): { feed(chunk: Uint8Array): void; end(): number } {
  const decoder = new SimpleTraceDecoder(new ErrorSink(), () => {});
  return { feed: (chunk) => decoder.feed(chunk), end: () => decoder.end().ops };
}
