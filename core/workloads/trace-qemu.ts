// QEMU kvm_convert_memory logs: the conversions a real VMM made, as its `log` trace backend wrote
// them; other trace events and QEMU's own messages in the same log are skipped, anything else is a
// bad line.
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
import type { Shareability } from '../gmem/guest-memfd.js';
export { fastQemuBytes, fastQemuFields, QEMU_EVENT } from './trace-qemu-bytes.js';
import { PAGE_SIZE } from '../units.js';
import {
  checkAddress,
  checkRange,
  checkSize,
  parseUnsigned,
  TimeChecker,
  type Parsed,
} from './trace-checks.js';
import { ConversionLogParser, show } from './trace-lines.js';
import { fastQemuFields as fast, QEMU_EVENT, readQemuConvert } from './trace-qemu-bytes.js';
import {
  MAX_TRACE_GPA,
  MAX_TRACE_OFFSET,
  OP_CONVERT,
  OP_GPA,
  OP_TO_PRIVATE,
  type OpFieldSink,
  type TraceOp,
} from './trace-ops.js';

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

/** The "<tid>@<seconds>.<micros>:" or ISO 8601 timestamp QEMU writes before a line, if any. */
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
  if (iso) return isoPrefix(line, iso);
  return { rest: line, time: null, error: null };
}

/** The regex takes any digits; a date that cannot exist is reported, not rolled over. */
function isoPrefix(line: string, iso: RegExpExecArray): QemuPrefix {
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

/** Whether a line looks like QEMU log output at all, for telling the format of a trace. */
export function looksLikeQemuLine(t: string): boolean {
  return (
    t.includes(QEMU_EVENT) ||
    TID_PREFIX.test(t) ||
    ISO_PREFIX.test(t) ||
    QEMU_MESSAGE.test(t) ||
    OTHER_EVENT.test(t)
  );
}

interface QemuConvertFields {
  readonly gpa: number;
  readonly size: number;
  readonly to: Shareability;
  readonly time: WallTime | null;
}
type QemuConvert = { readonly kind: 'convert' } & QemuConvertFields;

type QemuLine =
  { readonly kind: 'skip' } | { readonly kind: 'error'; readonly message: string } | QemuConvert;

/** One log line: our event, a line to skip, or what is wrong with it. */
export function parseQemuLine(line: string): QemuLine {
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
  // A name that starts our event's (kvm_convert...) is one cut short, not another event.
  const other = OTHER_EVENT.exec(rest);
  if (other && !QEMU_EVENT.startsWith(other[1]!)) return { kind: 'skip' };
  return {
    kind: 'error',
    message: `not a QEMU trace line: expected ${QEMU_EXPECTED}, another trace event, or a QEMU message; got ${show(line)}`,
  };
}

/** The arguments of one event: exactly "start 0x<gpa> size 0x<bytes> <direction>". */
function parseConvertArgs(args: string, time: WallTime | null): QemuLine {
  const tokens = args.trim() === '' ? [] : args.trim().split(/\s+/);
  const badCount = checkTokenCount(tokens);
  if (badCount) return { kind: 'error', message: badCount };
  // Every problem of the line is reported at once, in the order of its words.
  const problems = [expectWord(tokens, 0, 'start'), expectWord(tokens, 2, 'size')].filter(
    (p): p is string => p !== null,
  );
  const gpa = tokens[0] === 'start' ? hexArgument(tokens[1]!, 'start', problems) : null;
  const size = tokens[2] === 'size' ? hexArgument(tokens[3]!, 'size', problems) : null;
  const to = directionOf(tokens[4]!, problems);
  if (problems.length === 0 && gpa !== null && size !== null) {
    const bad = checkRange('gpa', gpa, size);
    if (bad) problems.push(bad);
  }
  if (problems.length > 0 || gpa === null || size === null || to === null) {
    return { kind: 'error', message: problems.join('; ') };
  }
  return { kind: 'convert', gpa, size, to, time };
}

function checkTokenCount(tokens: readonly string[]): string | null {
  if (tokens.length < 5) {
    return `${QEMU_EVENT} needs "start 0x<gpa> size 0x<bytes> private_to_shared|shared_to_private", the line stops after ${show(tokens.at(-1) ?? QEMU_EVENT)}`;
  }
  if (tokens.length > 5)
    return `unexpected text after the direction: ${show(tokens.slice(5).join(' '))}`;
  return null;
}

function expectWord(tokens: readonly string[], i: number, word: string): string | null {
  return tokens[i] === word
    ? null
    : `expected "${word}" at word ${i + 1} of the event, got ${show(tokens[i])}`;
}

/** start or size: QEMU prints both with PRIx64 after "0x", so decimal here means a foreign log. */
function hexArgument(t: string, name: 'start' | 'size', problems: string[]): number | null {
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
}

/** kvm_convert_memory's msg names the direction; the model's word is the target shareability. */
function directionOf(direction: string, problems: string[]): Shareability | null {
  if (direction === 'private_to_shared') return 'shared';
  if (direction === 'shared_to_private') return 'private';
  problems.push(`expected private_to_shared or shared_to_private, got ${show(direction)}`);
  return null;
}

/** Char codes of the fixed words of the fast path (compared code by code: startsWith with a
 * position is a builtin call per word). */
const codes = (t: string) => Array.from(t, (ch) => ch.charCodeAt(0));
const FAST_HEAD = codes(`${QEMU_EVENT} start 0x`);
const FAST_SIZE = codes(' size 0x');
const TO_SHARED = codes('private_to_shared');
const TO_PRIVATE = codes('shared_to_private');
/** Hex digits a value may have on the fast path: 13 hold 52 bits, exact in a double. */
const FAST_MAX_DIGITS = 13;

/** Whether `line` holds the characters `word` at `at`. */
function holdsAt(line: string, at: number, word: readonly number[]): boolean {
  if (at + word.length > line.length) return false;
  for (let k = 0; k < word.length; k++) if (line.charCodeAt(at + k) !== word[k]) return false;
  return true;
}

/** Value of the hex digit with char code `c`, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * A good conversion line exactly as QEMU's log backend writes it ("[<tid>@<s>.<us>:]kvm_convert_memory
 * start 0x<gpa> size 0x<bytes> <direction>", single spaces, nothing after), read without regexes,
 * splitting or intermediate strings: the same result as parseQemuLine() for it. Anything else,
 * including every bad line, gives null and goes through parseQemuLine(), which says what is wrong.
 */
export function fastQemuConvert(line: string): QemuConvert | null {
  let at = 0;
  let time: WallTime | null = null;
  const c0 = line.charCodeAt(0);
  if (c0 >= 48 && c0 <= 57) {
    const tid = TID_PREFIX.exec(line);
    if (!tid) return null;
    at = tid[0].length;
    time = { seconds: Number(tid[2]), micros: Number(tid[3]) };
  }
  if (!holdsAt(line, at, FAST_HEAD)) return null;
  let i = at + FAST_HEAD.length;
  let from = i;
  let gpa = 0;
  for (let d = hexDigit(line.charCodeAt(i)); d >= 0; d = hexDigit(line.charCodeAt(++i)))
    gpa = gpa * 16 + d;
  if (i === from || i - from > FAST_MAX_DIGITS || !holdsAt(line, i, FAST_SIZE)) return null;
  i += FAST_SIZE.length;
  from = i;
  let size = 0;
  for (let d = hexDigit(line.charCodeAt(i)); d >= 0; d = hexDigit(line.charCodeAt(++i)))
    size = size * 16 + d;
  if (i === from || i - from > FAST_MAX_DIGITS || line.charCodeAt(i) !== 32) return null;
  i++;
  let to: Shareability;
  if (line.length - i !== 17) return null;
  if (holdsAt(line, i, TO_SHARED)) to = 'shared';
  else if (holdsAt(line, i, TO_PRIVATE)) to = 'private';
  else return null;
  // checkAddress, checkSize and checkRange pass (else the full parser reports them).
  // `& (PAGE_SIZE - 1)`: the low bits of a safe integer, as `% PAGE_SIZE` without a remainder.
  if ((gpa & (PAGE_SIZE - 1)) !== 0 || gpa >= MAX_TRACE_GPA) return null;
  if (size === 0 || (size & (PAGE_SIZE - 1)) !== 0 || size > MAX_TRACE_OFFSET) return null;
  if (gpa + size > MAX_TRACE_GPA) return null;
  return { kind: 'convert', gpa, size, to, time };
}

/** Times relative to the first timed conversion: absolute epoch nanoseconds do not fit a double. */
class QemuClock {
  private timed = false;
  private originSeconds = 0;
  private originMicros = 0;

  sinceOrigin(seconds: number, micros: number): number {
    if (!this.timed) {
      this.timed = true;
      this.originSeconds = seconds;
      this.originMicros = micros;
    }
    return (seconds - this.originSeconds) * 1e9 + (micros - this.originMicros) * 1e3;
  }
}

const TOO_FAR = `timestamp is too far from the first conversion's to count in ns`;

/** What is wrong with a conversion's time, if anything (time order is checked here). */
function timeProblem(line: number, timeNs: number | undefined, times: TimeChecker): string | null {
  if (timeNs !== undefined && !Number.isSafeInteger(timeNs)) return TOO_FAR;
  return times.check(line, timeNs);
}

function convertOp(
  line: number,
  parsed: QemuConvert,
  clock: QemuClock,
  times: TimeChecker,
): Parsed<TraceOp> {
  const timeNs = parsed.time
    ? clock.sinceOrigin(parsed.time.seconds, parsed.time.micros)
    : undefined;
  const bad = timeProblem(line, timeNs, times);
  if (bad) return { ok: false, message: bad };
  const { gpa: address, size, to } = parsed;
  return {
    ok: true,
    value:
      timeNs !== undefined
        ? { op: 'convert', line, timeNs, space: 'gpa', address, size, to }
        : { op: 'convert', line, space: 'gpa', address, size, to },
  };
}

export class QemuParser extends ConversionLogParser<QemuConvertFields> {
  private readonly times = new TimeChecker();
  private readonly clock = new QemuClock();

  protected classify(text: string): QemuLine {
    return fastQemuConvert(text) ?? parseQemuLine(text);
  }

  /**
   * The line `b[start, end)` read from its bytes, when it is a conversion exactly as QEMU writes
   * it (fastQemuBytes): its operation handed to `sink`, or its time reported, as line() would for
   * its text. False for any other line, which is to be decoded and given to line().
   */
  bytesLine(b: Uint8Array, start: number, end: number, line: number, sink: OpFieldSink): boolean {
    if (readQemuConvert(b, start, end) !== end) return false;
    this.took(line, sink);
    return true;
  }

  /**
   * Lines read in place from `b`, from `start` to at most `limit`, numbered from `line`, for as
   * long as each is a conversion exactly as QEMU writes it and ends in "\n" (or "\r\n") before
   * `limit`: each taken as bytesLine() takes it. Returns how many it took; the caller reads on
   * from `fastLinesEnd`, the start of the first line not taken. `most` bounds the count.
   */
  fastLines(
    b: Uint8Array,
    start: number,
    limit: number,
    line: number,
    most: number,
    sink: OpFieldSink,
  ): number {
    let at = start;
    let n = 0;
    while (n < most) {
      const r = readQemuConvert(b, at, limit);
      if (r < 0) break;
      let next: number;
      if (r < limit && b[r] === 10) next = r + 1;
      else if (r + 1 < limit && b[r] === 13 && b[r + 1] === 10) next = r + 2;
      else break;
      this.took(line + n, sink);
      n++;
      at = next;
    }
    this.fastLinesEnd = at;
    return n;
  }

  /** Where the lines fastLines() took end. */
  fastLinesEnd = 0;

  /** The conversion readQemuConvert() read, on line `line`: its time checked, then handed on. */
  private took(line: number, sink: OpFieldSink): void {
    const f = fast;
    const timeNs = f.timed ? this.clock.sinceOrigin(f.seconds, f.micros) : undefined;
    const bad = timeProblem(line, timeNs, this.times);
    if (bad) {
      this.sink.add(line, bad);
      return;
    }
    this.ops++;
    sink.op(
      OP_CONVERT | OP_GPA | (f.toPrivate ? OP_TO_PRIVATE : 0),
      line,
      timeNs ?? NaN,
      f.gpa,
      f.size,
    );
  }

  protected build(line: number, parsed: QemuConvert): Parsed<TraceOp> {
    return convertOp(line, parsed, this.clock, this.times);
  }

  protected nothingFound(otherLines: number): string {
    return otherLines > 0
      ? `no ${QEMU_EVENT} events among ${otherLines} other trace line(s): was the event enabled (-trace ${QEMU_EVENT})?`
      : `the trace is empty: expected ${QEMU_EXPECTED} lines`;
  }
}
