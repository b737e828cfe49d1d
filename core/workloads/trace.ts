// Workload: trace replay (domain.md section 5). Reads a conversion trace recorded from QEMU's
// `kvm_convert_memory` trace event, or one of our own CSV / JSONL operation traces
// (docs/trace-format.md), and replays it against the simulation, one operation per trace line.
//
// The parser trusts nothing: every line is checked (alignment, size, number range, field types,
// column count, time order) and every bad line is reported with its line number and what was
// expected; nothing is guessed. Whether a range fits the guest is only known at replay, where the
// model answers EINVAL like the kernel would.
import { z } from 'zod';
import type { Errno } from '../errors.js';
import type { Access, OpResult, Shareability, Who } from '../gmem/guest-memfd.js';
import type { Simulation } from '../sim/simulation.js';
import { GiB, PAGE_SIZE, TiB } from '../units.js';
import type { WorkloadContext } from './context.js';

// ---------------------------------------------------------------------------------------------
// Configuration

/** Where x86 QEMU maps guest RAM above the PCI hole. */
export const HIGH_RAM_GPA = 4 * GiB;

export const GpaLayoutSchema = z
  .object({
    lowMemBytes: z
      .number()
      .int()
      .min(0)
      .max(HIGH_RAM_GPA)
      .multipleOf(PAGE_SIZE)
      .default(2 * GiB)
      .meta({
        unit: 'bytes',
        description:
          'Guest RAM QEMU maps below 4 GiB (x86: up to the PCI hole); the rest starts at GPA 4 GiB. The q35 machine with 2.75 GiB of RAM or more uses 2 GiB (hw/i386/pc_q35.c), i440fx with 3.5 GiB or more 3 GiB; -machine max-ram-below-4g lowers it. guest_memfd offset = gpa below lowMemBytes, gpa - 4 GiB + lowMemBytes from 4 GiB; a GPA in between (the hole) is an error for its line.',
      }),
  })
  .strict();
export type GpaLayout = z.infer<typeof GpaLayoutSchema>;

export const TRACE_FORMATS = ['qemu', 'csv', 'jsonl'] as const;
export type TraceFormat = (typeof TRACE_FORMATS)[number];

export const TraceWorkloadSchema = z
  .object({
    kind: z.literal('trace').meta({ description: 'Workload kind.' }),
    path: z.string().min(1).max(4096).meta({
      description:
        'Trace file, relative to the experiment file: a QEMU log of kvm_convert_memory events, or a CSV / JSONL operation trace (docs/trace-format.md).',
    }),
    format: z
      .enum(['auto', ...TRACE_FORMATS])
      .default('auto')
      .meta({
        description:
          'auto: .csv, .jsonl / .ndjson and .log files by their extension, anything else by its first line; qemu: kvm_convert_memory trace-event log; csv / jsonl: our operation formats.',
      }),
    timing: z.enum(['recorded', 'back-to-back']).default('recorded').meta({
      description:
        "recorded: simulated time advances to each operation's timestamp (deferred merges can run in the gaps); back-to-back: timestamps are ignored and each operation starts when the previous one ends.",
    }),
    gpaLayout: GpaLayoutSchema.default({ lowMemBytes: 2 * GiB }).meta({
      description:
        'How guest physical addresses (QEMU traces, the gpa column) map to guest_memfd offsets.',
    }),
    populate: z.enum(['none', 'fallocate', 'prefault']).default('fallocate').meta({
      description:
        'What the VMM does before the traced operations: nothing (folios appear only on faults in the trace), fallocate the whole file (preallocated guest memory, as QEMU does for HugeTLB backends), or fallocate and pre-fault it (KVM_PRE_FAULT_MEMORY). QEMU traces hold conversions only, so without populating them nothing is split.',
    }),
    onError: z.enum(['stop', 'skip']).default('stop').meta({
      description:
        'What replay does when an operation fails in the model (EINVAL past the end of the guest, EAGAIN on a pinned page, ...): stop the run with the trace line and the error, or count it and go on.',
    }),
  })
  .strict();
export type TraceWorkloadConfig = z.infer<typeof TraceWorkloadSchema>;

// ---------------------------------------------------------------------------------------------
// Operations

export const TRACE_OP_NAMES = [
  'convert',
  'fallocate',
  'punch_hole',
  'pin',
  'unpin',
  'fault',
  'prefault',
] as const;
export type TraceOpName = (typeof TRACE_OP_NAMES)[number];

interface TraceOpBase {
  /** 1-based line of the trace file the operation comes from. */
  readonly line: number;
  /** When the operation starts, in ns since the start of the trace; absent when the trace has
   * no times. */
  readonly timeNs?: number;
  /** What `address` is: a guest_memfd file offset, or a guest physical address that replay
   * translates with the workload's gpaLayout. */
  readonly space: 'offset' | 'gpa';
  readonly address: number;
  /** Bytes, a multiple of 4 KiB; 4096 for a fault. */
  readonly size: number;
}

export type TraceOp =
  | (TraceOpBase & { readonly op: 'convert'; readonly to: Shareability })
  | (TraceOpBase & { readonly op: 'fallocate' })
  | (TraceOpBase & { readonly op: 'punch_hole' })
  | (TraceOpBase & { readonly op: 'pin' })
  | (TraceOpBase & { readonly op: 'unpin' })
  | (TraceOpBase & { readonly op: 'fault'; readonly who: Who; readonly access: Access })
  | (TraceOpBase & { readonly op: 'prefault' });

export interface TraceLineError {
  readonly line: number;
  readonly message: string;
}

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

/** Bad lines listed in full; the rest are summed up in one last entry. */
export const MAX_REPORTED_ERRORS = 100;
/** Largest guest the model takes (the experiment schema's limit): no range may end past it. */
export const MAX_TRACE_OFFSET = 64 * TiB;
/** GPAs of RAM above 4 GiB run up to 4 GiB past the largest file offset. */
export const MAX_TRACE_GPA = MAX_TRACE_OFFSET + HIGH_RAM_GPA;

// ---------------------------------------------------------------------------------------------
// Parsing: shared pieces

class ErrorSink {
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

interface SplitText {
  readonly lines: string[];
  readonly endsWithNewline: boolean;
}

function splitLines(text: string): SplitText {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body === '') return { lines: [], endsWithNewline: true };
  const lines = body.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const endsWithNewline = body.endsWith('\n');
  if (endsWithNewline) lines.pop();
  return { lines, endsWithNewline };
}

/** A hint for a bad last line of a file that does not end in a newline. */
function truncationHint(split: SplitText, index: number): string {
  return index === split.lines.length - 1 && !split.endsWithNewline
    ? ' (the file ends without a newline after this line: was it cut short?)'
    : '';
}

/** A piece of input for a message: strings quoted, other JSON values as JSON, cut short. */
function show(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  const cut = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return typeof value === 'string' ? JSON.stringify(cut) : cut;
}

/** What kind of JSON value this is, with its article. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** A number from the input, in hex and, for traces written in decimal, in decimal too. */
function both(n: number): string {
  return n < 10 ? hex(n) : `${hex(n)} (${n})`;
}

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; message: string };

const NUMBER_FORMS = 'a whole number in decimal (4096) or 0x hex (0x1000)';

/** A non-negative integer, from a JSON number or a decimal / 0x-hex string. */
function parseUnsigned(raw: unknown): Parsed<number> {
  const fail = (what: string): Parsed<number> => ({
    ok: false,
    message: `${what}: expected ${NUMBER_FORMS}`,
  });
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) return fail(`${raw} is not a number`);
    if (raw < 0) return fail(`${raw} is negative`);
    if (!Number.isInteger(raw)) return fail(`${raw} is not a whole number`);
    if (!Number.isSafeInteger(raw))
      return fail(`${raw} is beyond the safe integer range (2^53 - 1)`);
    return { ok: true, value: raw };
  }
  const got = (what: string): Parsed<number> => ({
    ok: false,
    message: `expected ${NUMBER_FORMS}, got ${what}`,
  });
  if (typeof raw !== 'string') return got(kindOf(raw));
  const s = raw.trim();
  let value: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) {
    value = parseInt(s.slice(2), 16);
  } else if (/^[0-9]+$/.test(s)) {
    value = Number(s);
  } else if (/^-\s*(0[xX][0-9a-fA-F]+|[0-9.]+)/.test(s)) {
    return fail(`${show(s)} is negative`);
  } else if (/^[+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) {
    return fail(`${show(s)} has a fraction, an exponent or a sign`);
  } else {
    return got(show(s));
  }
  if (!Number.isSafeInteger(value))
    return fail(`${show(s)} is beyond the safe integer range (2^53 - 1)`);
  return { ok: true, value };
}

function checkAddress(name: 'offset' | 'gpa', value: number): string | null {
  const limit = name === 'gpa' ? MAX_TRACE_GPA : MAX_TRACE_OFFSET;
  if (value % PAGE_SIZE !== 0) return `${both(value)} is not 4 KiB aligned`;
  if (value >= limit)
    return `${hex(value)} is past ${hex(limit)}, the end of the largest guest (64 TiB)`;
  return null;
}

function checkSize(value: number): string | null {
  if (value === 0) return '0: must be > 0, a multiple of 4 KiB';
  if (value % PAGE_SIZE !== 0) return `${both(value)} is not a multiple of 4 KiB`;
  if (value > MAX_TRACE_OFFSET) return `${hex(value)} is larger than the largest guest (64 TiB)`;
  return null;
}

/** Cross-field checks of one operation; messages name the field. */
function checkRange(space: 'offset' | 'gpa', address: number, size: number): string | null {
  const limit = space === 'gpa' ? MAX_TRACE_GPA : MAX_TRACE_OFFSET;
  if (address + size > limit) {
    return `${space} ${hex(address)} + size ${hex(size)} ends past ${hex(limit)}, the end of the largest guest (64 TiB)`;
  }
  return null;
}

/** Time order and all-or-none times, checked as operations are produced in line order. */
class TimeChecker {
  private first: { line: number; timed: boolean } | null = null;
  private previous: { line: number; ns: number } | null = null;

  check(line: number, timeNs: number | undefined): string | null {
    const timed = timeNs !== undefined;
    if (this.first === null) this.first = { line, timed };
    else if (this.first.timed !== timed) {
      return timed
        ? `has a time but the first operation (line ${this.first.line}) has none: give every operation a time, or none`
        : `has no time but the first operation (line ${this.first.line}) has one: give every operation a time, or none`;
    }
    if (timeNs === undefined) return null;
    if (this.previous && timeNs < this.previous.ns) {
      return `time ${timeNs} ns is before the previous operation's ${this.previous.ns} ns (line ${this.previous.line}): the trace must be in time order`;
    }
    this.previous = { line, ns: timeNs };
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// QEMU kvm_convert_memory logs
//
// QEMU's accel/kvm/trace-events declares the event as
//   kvm_convert_memory(uint64_t start, uint64_t size, const char *msg) "start 0x%" PRIx64 " size 0x%" PRIx64 " %s"
// and accel/kvm/kvm-all.c kvm_convert_memory() calls
//   trace_kvm_convert_memory(start, size, to_private ? "shared_to_private" : "private_to_shared");
// before it validates anything, with `start` a guest physical address. The `log` trace backend
// writes "<event name> <formatted arguments>\n" (scripts/tracetool/backend/log.py). With
// `-msg timestamp=on`, QEMU up to 10.0 prefixes "%d@%zu.%06zu:" (thread id, gettimeofday seconds
// and microseconds, no space before the event name); later QEMU prints the timestamp in qemu_log()
// (util/log.c) as g_date_time_format_iso8601() of UTC followed by a space, e.g.
// "2025-03-01T10:00:00.123456Z ".

const QEMU_EVENT = 'kvm_convert_memory';
const QEMU_EXPECTED = `"[<tid>@<seconds>.<micros>:]${QEMU_EVENT} start 0x<gpa> size 0x<bytes> private_to_shared|shared_to_private"`;
const TID_PREFIX = /^(\d+)@(\d{1,15})\.(\d{6}):/;
const ISO_PREFIX = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z /;
/** error_report() lines: "[timestamp ]<program name containing qemu>: message". */
const QEMU_MESSAGE = /^(?:\d{4}-\d{2}-\d{2}T[0-9:.]+Z )?\S*qemu[^\s:]*: /;
/** Another trace event of the log backend: an event name (C identifier with an underscore, as
 * every QEMU event name has) alone or followed by a space. */
const OTHER_EVENT = /^([A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]*)(?: |$)/;

interface WallTime {
  readonly seconds: number;
  readonly micros: number;
}

interface QemuPrefix {
  readonly rest: string;
  readonly time: WallTime | null;
  readonly error: string | null;
}

function stripQemuPrefix(line: string): QemuPrefix {
  const tid = TID_PREFIX.exec(line);
  if (tid) {
    return {
      rest: line.slice(tid[0].length),
      time: { seconds: Number(tid[2]), micros: Number(tid[3]) },
      error: null,
    };
  }
  const iso = ISO_PREFIX.exec(line);
  if (iso) {
    const [y, mo, d, h, mi, s] = iso.slice(1, 7).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const rest = line.slice(iso[0].length);
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
      return { rest, time: null, error: `timestamp ${show(iso[0].trim())} is not a valid date` };
    }
    const micros = Number((iso[7] ?? '').padEnd(6, '0'));
    return {
      rest,
      time: { seconds: Date.UTC(y, mo - 1, d, h, mi, s) / 1000, micros },
      error: null,
    };
  }
  return { rest: line, time: null, error: null };
}

type QemuLine =
  | { readonly kind: 'skip' }
  | { readonly kind: 'error'; readonly message: string }
  | {
      readonly kind: 'convert';
      readonly gpa: number;
      readonly size: number;
      readonly to: Shareability;
      readonly time: WallTime | null;
    };

function parseQemuLine(line: string): QemuLine {
  if (line.trim() === '') return { kind: 'skip' };
  const prefix = stripQemuPrefix(line);
  if (prefix.error) return { kind: 'error', message: prefix.error };
  const rest = prefix.rest;
  if (rest === QEMU_EVENT || rest.startsWith(`${QEMU_EVENT} `)) {
    return parseConvertArgs(rest.slice(QEMU_EVENT.length), prefix.time);
  }
  if (QEMU_MESSAGE.test(line)) return { kind: 'skip' };
  if (line.includes(QEMU_EVENT)) {
    return {
      kind: 'error',
      message: `unrecognised text before ${QEMU_EVENT}: expected nothing, "<tid>@<seconds>.<micros>:" or an ISO 8601 UTC timestamp and a space, as QEMU writes them`,
    };
  }
  const other = OTHER_EVENT.exec(rest);
  if (other && !QEMU_EVENT.startsWith(other[1]!)) return { kind: 'skip' };
  return {
    kind: 'error',
    message: `not a QEMU trace line: expected ${QEMU_EXPECTED}, another trace event, or a QEMU message; got ${show(line)}`,
  };
}

function parseConvertArgs(args: string, time: WallTime | null): QemuLine {
  const tokens = args.trim() === '' ? [] : args.trim().split(/\s+/);
  const fail = (message: string): QemuLine => ({ kind: 'error', message });
  const expectWord = (i: number, word: string): string | null =>
    tokens[i] === word
      ? null
      : `expected "${word}" at word ${i + 1} of the event, got ${show(tokens[i])}`;
  if (tokens.length < 5) {
    return fail(
      `${QEMU_EVENT} needs "start 0x<gpa> size 0x<bytes> private_to_shared|shared_to_private", the line stops after ${show(tokens.at(-1) ?? QEMU_EVENT)}`,
    );
  }
  if (tokens.length > 5)
    return fail(`unexpected text after the direction: ${show(tokens.slice(5).join(' '))}`);
  const problems: string[] = [];
  const number = (i: number, name: 'start' | 'size'): number | null => {
    const t = tokens[i]!;
    if (!/^0[xX]/.test(t)) {
      problems.push(`${name}: expected 0x-prefixed hex, as QEMU prints it, got ${show(t)}`);
      return null;
    }
    const r = parseUnsigned(t);
    if (!r.ok) {
      problems.push(`${name}: ${r.message}`);
      return null;
    }
    const bad = name === 'start' ? checkAddress('gpa', r.value) : checkSize(r.value);
    if (bad) {
      problems.push(`${name} ${bad}`);
      return null;
    }
    return r.value;
  };
  for (const [i, word] of [
    [0, 'start'],
    [2, 'size'],
  ] as const) {
    const bad = expectWord(i, word);
    if (bad) problems.push(bad);
  }
  const gpa = tokens[0] === 'start' ? number(1, 'start') : null;
  const size = tokens[2] === 'size' ? number(3, 'size') : null;
  const direction = tokens[4]!;
  const to: Shareability | null =
    direction === 'private_to_shared'
      ? 'shared'
      : direction === 'shared_to_private'
        ? 'private'
        : null;
  if (to === null) {
    problems.push(`expected private_to_shared or shared_to_private, got ${show(direction)}`);
  }
  if (problems.length === 0 && gpa !== null && size !== null) {
    const bad = checkRange('gpa', gpa, size);
    if (bad) problems.push(bad);
  }
  if (problems.length > 0 || gpa === null || size === null || to === null) {
    return fail(problems.join('; '));
  }
  return { kind: 'convert', gpa, size, to, time };
}

function parseQemu(split: SplitText, sink: ErrorSink): { ops: TraceOp[]; skipped: number } {
  const ops: TraceOp[] = [];
  const times = new TimeChecker();
  let origin: WallTime | null = null;
  let skipped = 0;
  let otherLines = 0;
  split.lines.forEach((text, index) => {
    const line = index + 1;
    const parsed = parseQemuLine(text);
    if (parsed.kind === 'skip') {
      skipped++;
      if (text.trim() !== '') otherLines++;
      return;
    }
    if (parsed.kind === 'error') {
      sink.add(line, parsed.message + truncationHint(split, index));
      return;
    }
    let timeNs: number | undefined;
    if (parsed.time) {
      origin ??= parsed.time;
      // Relative to the first conversion: absolute epoch nanoseconds do not fit a double.
      timeNs =
        (parsed.time.seconds - origin.seconds) * 1e9 + (parsed.time.micros - origin.micros) * 1e3;
      if (!Number.isSafeInteger(timeNs)) {
        sink.add(line, `timestamp is too far from the first conversion's to count in ns`);
        return;
      }
    }
    const bad = times.check(line, timeNs);
    if (bad) {
      sink.add(line, bad);
      return;
    }
    ops.push({
      op: 'convert',
      line,
      ...(timeNs !== undefined ? { timeNs } : {}),
      space: 'gpa',
      address: parsed.gpa,
      size: parsed.size,
      to: parsed.to,
    });
  });
  if (ops.length === 0 && sink.empty) {
    sink.add(
      1,
      otherLines > 0
        ? `no ${QEMU_EVENT} events among ${otherLines} other trace line(s): was the event enabled (-trace ${QEMU_EVENT})?`
        : `the trace is empty: expected ${QEMU_EXPECTED} lines`,
    );
  }
  return { ops, skipped };
}

// ---------------------------------------------------------------------------------------------
// Our formats: CSV and JSONL, one operation per line, validated by one zod schema per operation.

export const TRACE_FIELDS = [
  'time_ns',
  'op',
  'offset',
  'gpa',
  'size',
  'to',
  'who',
  'access',
] as const;

// Numbers come as JSON numbers or decimal / 0x-hex strings. An absent required field gets our
// "missing" message (zod's own says "expected nonoptional"); optional fields are also wrapped in
// .optional() so the object schema lets their key be absent.
const unsignedField = (check: (v: number) => string | null, required: boolean) =>
  z.unknown().transform((raw, ctx): number | undefined => {
    if (raw === undefined) {
      if (!required) return undefined;
      ctx.addIssue({ code: 'custom', message: 'missing' });
      return z.NEVER;
    }
    const r = parseUnsigned(raw);
    const bad = r.ok ? check(r.value) : r.message;
    if (!r.ok || bad) {
      ctx.addIssue({ code: 'custom', message: bad ?? 'invalid' });
      return z.NEVER;
    }
    return r.value;
  });
const optionalUnsigned = (check: (v: number) => string | null) =>
  unsignedField(check, false).optional();

const enumField = <T extends string>(values: readonly [T, ...T[]], usedBy: string) =>
  z.enum(values as unknown as [T, ...T[]], {
    error: (issue) =>
      issue.input === undefined
        ? `missing: ${usedBy} needs ${values.map((v) => `"${v}"`).join(' or ')}`
        : `expected ${values.map((v) => `"${v}"`).join(' or ')}, got ${show(issue.input)}`,
  });

const commonFields = {
  time_ns: optionalUnsigned(() => null),
  offset: optionalUnsigned((v) => checkAddress('offset', v)),
  gpa: optionalUnsigned((v) => checkAddress('gpa', v)),
  size: unsignedField(checkSize, true),
};

const rangeOp = <N extends TraceOpName>(op: N) =>
  z.object({ op: z.literal(op), ...commonFields }).strict();

const OP_SCHEMAS = {
  convert: z
    .object({
      op: z.literal('convert'),
      ...commonFields,
      to: enumField(['shared', 'private'], 'convert'),
    })
    .strict(),
  fallocate: rangeOp('fallocate'),
  punch_hole: rangeOp('punch_hole'),
  pin: rangeOp('pin'),
  unpin: rangeOp('unpin'),
  fault: z
    .object({
      op: z.literal('fault'),
      ...commonFields,
      // A fault touches one 4 KiB page; the size may be left out.
      size: optionalUnsigned((v) =>
        v === PAGE_SIZE
          ? null
          : `${hex(v)}: a fault covers one 4 KiB page, size 4096 (or leave it out)`,
      ),
      who: enumField(['guest', 'host'], 'fault'),
      access: enumField(['read', 'write'], 'fault'),
    })
    .strict(),
  prefault: rangeOp('prefault'),
} as const satisfies Record<TraceOpName, z.ZodType>;

const OpNameSchema = z.enum(TRACE_OP_NAMES, {
  error: (issue) =>
    issue.input === undefined
      ? `missing: expected one of ${TRACE_OP_NAMES.join(', ')}`
      : `unknown operation ${show(issue.input)}: expected one of ${TRACE_OP_NAMES.join(', ')}`,
});

/** Fields an operation takes, for messages. */
function fieldsOf(op: TraceOpName): string {
  const extra = op === 'convert' ? ', to' : op === 'fault' ? ', who, access' : '';
  return `time_ns, op, offset or gpa, size${extra}`;
}

interface RecordSource {
  /** 'column' (CSV) or 'field' (JSONL), for messages. */
  readonly noun: 'column' | 'field';
  /** CSV: the header's columns, to tell an empty cell from a missing column. */
  readonly columns?: readonly string[];
}

/** Validate one CSV row or JSON object and build its operation; messages name the field. */
function opFromRecord(
  line: number,
  record: Record<string, unknown>,
  source: RecordSource,
): Parsed<TraceOp> {
  const { noun } = source;
  const fail = (message: string): Parsed<TraceOp> => ({ ok: false, message });
  const name = OpNameSchema.safeParse(record.op);
  if (!name.success) return fail(`${noun} "op": ${name.error.issues[0]!.message}`);
  const op = name.data;
  const schema: z.ZodType = OP_SCHEMAS[op];
  const parsed = schema.safeParse(record);
  if (!parsed.success) {
    const messages = parsed.error.issues.map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const quote = (keys: string[]) => keys.map((k) => `"${k}"`).join(', ');
        const isField = (k: string) => (TRACE_FIELDS as readonly string[]).includes(k);
        const unused = issue.keys.filter(isField);
        const unknown = issue.keys.filter((k) => !isField(k));
        const parts: string[] = [];
        if (unused.length > 0) {
          const leave = noun === 'column' ? 'empty' : 'out';
          parts.push(
            `${op} takes no ${quote(unused)} (it takes ${fieldsOf(op)}): leave ${unused.length > 1 ? 'them' : 'it'} ${leave}`,
          );
        }
        if (unknown.length > 0) {
          parts.push(`unknown ${noun}(s) ${quote(unknown)}: expected ${fieldsOf(op)}`);
        }
        return parts.join('; ');
      }
      const key = String(issue.path[0] ?? '');
      let message = issue.message;
      if (message.startsWith('missing') && source.columns) {
        message = source.columns.includes(key)
          ? message.replace(/^missing/, 'empty')
          : message.replace(/^missing/, `missing (the header has no "${key}" column)`);
      }
      return key ? `${noun} "${key}": ${message}` : message;
    });
    return fail(messages.join('; '));
  }
  const d = parsed.data as {
    time_ns?: number;
    offset?: number;
    gpa?: number;
    size?: number;
    to?: Shareability;
    who?: Who;
    access?: Access;
  };
  if (d.offset !== undefined && d.gpa !== undefined) {
    return fail(
      `give "offset" (guest_memfd file offset) or "gpa" (guest physical address), not both`,
    );
  }
  if (d.offset === undefined && d.gpa === undefined) {
    return fail(
      `missing the address: give ${noun} "offset" (guest_memfd file offset) or "gpa" (guest physical address)`,
    );
  }
  const space = d.gpa !== undefined ? 'gpa' : 'offset';
  const address = (d.gpa ?? d.offset)!;
  const size = d.size ?? PAGE_SIZE;
  const bad = checkRange(space, address, size);
  if (bad) return fail(bad);
  const base = {
    line,
    ...(d.time_ns !== undefined ? { timeNs: d.time_ns } : {}),
    space,
    address,
    size,
  } as const;
  switch (op) {
    case 'convert':
      return { ok: true, value: { ...base, op, to: d.to! } };
    case 'fault':
      return { ok: true, value: { ...base, op, who: d.who!, access: d.access! } };
    default:
      return { ok: true, value: { ...base, op } };
  }
}

function isSkippable(text: string): boolean {
  const t = text.trim();
  return t === '' || t.startsWith('#');
}

const CSV_HEADER_EXAMPLE = 'time_ns,op,offset,size,to,who,access';

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

function parseCsv(split: SplitText, sink: ErrorSink): { ops: TraceOp[]; skipped: number } {
  const ops: TraceOp[] = [];
  const times = new TimeChecker();
  let skipped = 0;
  let header: string[] | null = null;
  let headerLine = 0;
  split.lines.forEach((text, index) => {
    const line = index + 1;
    if (isSkippable(text)) {
      skipped++;
      return;
    }
    const cells = text.split(',').map((c) => c.trim());
    if (header === null) {
      headerLine = line;
      const problems = checkCsvHeader(cells);
      if (problems.length > 0) {
        const notHeader = /^[0-9]/.test(cells[0] ?? '');
        sink.add(
          line,
          notHeader
            ? `the CSV needs a header line naming its columns before the first operation, e.g. "${CSV_HEADER_EXAMPLE}"`
            : `bad CSV header: ${problems.join('; ')}. Expected op, size, offset or gpa, and optionally time_ns, to, who, access, e.g. "${CSV_HEADER_EXAMPLE}"`,
        );
        header = [];
        return;
      }
      header = cells;
      return;
    }
    if (header.length === 0) return; // the header was bad: its error says so
    if (cells.length !== header.length) {
      sink.add(
        line,
        `has ${cells.length} column(s), the header (line ${headerLine}) names ${header.length}: ${header.join(',')}${truncationHint(split, index)}`,
      );
      return;
    }
    const record: Record<string, string> = {};
    header.forEach((column, i) => {
      if (cells[i] !== '') record[column] = cells[i]!;
    });
    const parsed = opFromRecord(line, record, { noun: 'column', columns: header });
    const bad = parsed.ok ? times.check(line, parsed.value.timeNs) : null;
    if (!parsed.ok || bad) {
      sink.add(line, (parsed.ok ? bad! : parsed.message) + truncationHint(split, index));
      return;
    }
    ops.push(parsed.value);
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

function parseJsonl(split: SplitText, sink: ErrorSink): { ops: TraceOp[]; skipped: number } {
  const ops: TraceOp[] = [];
  const times = new TimeChecker();
  let skipped = 0;
  split.lines.forEach((text, index) => {
    const line = index + 1;
    if (isSkippable(text)) {
      skipped++;
      return;
    }
    const hint = truncationHint(split, index);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      // V8 names the position in its message; its wording differs between versions.
      const position = /at position (\d+)/.exec((err as Error).message)?.[1];
      const where = position !== undefined ? ` at column ${Number(position) + 1}` : '';
      sink.add(line, `not valid JSON${where}: expected one JSON object per line${hint}`);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      sink.add(line, `expected one JSON object per line, got ${kindOf(value)}`);
      return;
    }
    const parsed = opFromRecord(line, value as Record<string, unknown>, { noun: 'field' });
    const bad = parsed.ok ? times.check(line, parsed.value.timeNs) : null;
    if (!parsed.ok || bad) {
      sink.add(line, parsed.ok ? bad! : parsed.message);
      return;
    }
    ops.push(parsed.value);
  });
  if (ops.length === 0 && sink.empty) {
    sink.add(1, 'the trace holds no operations: expected one JSON object per line');
  }
  return { ops, skipped };
}

// ---------------------------------------------------------------------------------------------
// Format detection and the entry point

function detectFormat(
  split: SplitText,
  sourceName: string,
): { ok: true; format: TraceFormat } | { ok: false; error: TraceLineError } {
  const ext = /\.([A-Za-z0-9]+)$/.exec(sourceName)?.[1]?.toLowerCase();
  if (ext === 'csv') return { ok: true, format: 'csv' };
  if (ext === 'jsonl' || ext === 'ndjson') return { ok: true, format: 'jsonl' };
  if (ext === 'log') return { ok: true, format: 'qemu' };
  for (let i = 0; i < split.lines.length; i++) {
    const t = split.lines[i]!.trim();
    if (t === '' || t.startsWith('#')) continue;
    if (t.startsWith('{')) return { ok: true, format: 'jsonl' };
    if (
      t.includes(QEMU_EVENT) ||
      TID_PREFIX.test(t) ||
      ISO_PREFIX.test(t) ||
      QEMU_MESSAGE.test(t) ||
      OTHER_EVENT.test(t)
    ) {
      return { ok: true, format: 'qemu' };
    }
    if (t.split(',').some((c) => c.trim() === 'op')) return { ok: true, format: 'csv' };
    return {
      ok: false,
      error: {
        line: i + 1,
        message: `cannot tell the format of ${sourceName} from this line: expected a QEMU ${QEMU_EVENT} trace line, a CSV header such as "${CSV_HEADER_EXAMPLE}", or a JSON object; or set the workload's "format" to qemu, csv or jsonl`,
      },
    };
  }
  return { ok: false, error: { line: 1, message: `the trace ${sourceName} is empty` } };
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
  const { ops, skipped } =
    resolved === 'qemu'
      ? parseQemu(split, sink)
      : resolved === 'csv'
        ? parseCsv(split, sink)
        : parseJsonl(split, sink);
  if (!sink.empty) return { ok: false, errors: sink.result() };
  return { ok: true, ops, format: resolved, skippedLines: skipped };
}

// ---------------------------------------------------------------------------------------------
// Replay

/**
 * guest_memfd offset of a guest physical range, as QEMU lays out x86 RAM: one RAMBlock (one
 * guest_memfd) aliased by a memslot below 4 GiB ("ram-below-4g", offset 0) and one from 4 GiB
 * ("ram-above-4g", file offset lowMemBytes). Whether the range fits the guest is the model's check.
 */
export function gpaToOffset(gpa: number, size: number, layout: GpaLayout): Parsed<number> {
  const low = layout.lowMemBytes;
  if (gpa < low) {
    if (gpa + size > low) {
      return {
        ok: false,
        message: `gpa range [${hex(gpa)}, ${hex(gpa + size)}) runs past the end of RAM below 4 GiB at ${hex(low)} (gpaLayout.lowMemBytes) into the PCI hole`,
      };
    }
    return { ok: true, value: gpa };
  }
  if (gpa < HIGH_RAM_GPA) {
    return {
      ok: false,
      message: `gpa ${hex(gpa)} is in the PCI hole [${hex(low)}, ${hex(HIGH_RAM_GPA)}) between RAM below 4 GiB (gpaLayout.lowMemBytes ${hex(low)}) and RAM from 4 GiB`,
    };
  }
  return { ok: true, value: gpa - HIGH_RAM_GPA + low };
}

export interface TraceReplayStats {
  /** Operations replayed, failed ones included. */
  readonly ops: number;
  /** Operations the model (or the GPA layout) refused; with onError 'stop', at most 1. */
  readonly failed: number;
  readonly failuresByErrno: Readonly<Partial<Record<Errno, number>>>;
  /** Recorded timing: operations that started after their timestamp because the ones before
   * took longer in the model than in the trace. */
  readonly lateOps: number;
}

function describeOp(op: TraceOp, offset: number | null): string {
  const what =
    op.op === 'convert'
      ? `convert to ${op.to}`
      : op.op === 'fault'
        ? `${op.who} ${op.access} fault`
        : op.op;
  const where =
    op.space === 'gpa'
      ? `gpa ${hex(op.address)}${offset !== null ? ` (offset ${hex(offset)})` : ''}`
      : `offset ${hex(op.address)}`;
  return `${what} ${where} size ${hex(op.size)}`;
}

function applyOp(sim: Simulation, op: TraceOp, offset: number): OpResult {
  switch (op.op) {
    case 'convert':
      return sim.convert(offset, op.size, op.to);
    case 'fallocate':
      return sim.fallocate(offset, op.size);
    case 'punch_hole':
      return sim.punchHole(offset, op.size);
    case 'pin':
      return sim.pin(offset, op.size);
    case 'unpin':
      return sim.unpin(offset, op.size);
    case 'fault':
      return sim.fault(offset / PAGE_SIZE, op.who, op.access);
    case 'prefault':
      return sim.prefault(offset, op.size);
  }
}

/** Replay and return what happened; runTrace is this without the statistics. */
export function replayTrace(
  ctx: WorkloadContext,
  params: TraceWorkloadConfig,
  ops: readonly TraceOp[],
): TraceReplayStats {
  const sim = ctx.sim;
  if (params.populate !== 'none') {
    ctx.beginPhase('populate');
    const size = sim.variant.guestBytes;
    const populated = sim.fallocate(0, size);
    if (!populated.ok)
      throw new Error(`populating the guest before the replay failed: ${populated.message}`);
    if (params.populate === 'prefault') sim.prefault(0, size);
    ctx.tick();
  }
  ctx.beginPhase('replay');
  const startNs = sim.now;
  const failuresByErrno: Partial<Record<Errno, number>> = {};
  let failed = 0;
  let lateOps = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (params.timing === 'recorded' && op.timeNs !== undefined) {
      const due = startNs + op.timeNs;
      if (due > sim.now) sim.advanceTo(due);
      else if (due < sim.now) lateOps++;
    }
    let offset: number | null = op.address;
    let failure: { errno: Errno; message: string } | null = null;
    if (op.space === 'gpa') {
      const translated = gpaToOffset(op.address, op.size, params.gpaLayout);
      offset = translated.ok ? translated.value : null;
      if (!translated.ok) failure = { errno: 'EINVAL', message: translated.message };
    }
    if (offset !== null) {
      const result = applyOp(sim, op, offset);
      if (!result.ok) {
        // Argument errors come back as "EINVAL: ..." already; say the errno once.
        const message = result.message.startsWith(`${result.errno}: `)
          ? result.message.slice(result.errno.length + 2)
          : result.message;
        failure = { errno: result.errno, message };
      }
    }
    if (failure) {
      failed++;
      failuresByErrno[failure.errno] = (failuresByErrno[failure.errno] ?? 0) + 1;
    }
    ctx.tick();
    if (failure && params.onError === 'stop') {
      throw new Error(
        `trace ${params.path} line ${op.line}: ${describeOp(op, offset)} failed: ${failure.errno}: ${failure.message} (onError "skip" counts failures and goes on)`,
      );
    }
    if ((i & 255) === 255) ctx.progress((i + 1) / ops.length);
  }
  ctx.progress(1);
  return { ops: ops.length, failed, failuresByErrno, lateOps };
}

/** The trace workload: replay parsed operations against the context's simulation. */
export function runTrace(ctx: WorkloadContext, params: TraceWorkloadConfig, ops: TraceOp[]): void {
  replayTrace(ctx, params, ops);
}
