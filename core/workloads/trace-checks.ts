// Checks of the values on a trace line, shared by every format: numbers (decimal or 0x hex, never
// guessed), 4 KiB alignment, sizes and ranges within the largest guest, and time order. Whether a
// range fits this run's guest is left to replay, where the model answers EINVAL as the kernel does.
import { PAGE_SIZE } from '../units.js';
import { both, hex, kindOf, show } from './trace-lines.js';
import { MAX_TRACE_GPA, MAX_TRACE_OFFSET } from './trace-ops.js';

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; message: string };

const NUMBER_FORMS = 'a whole number in decimal (4096) or 0x hex (0x1000)';

/** Input that is not a valid number: what is wrong, then the forms a number may take. */
function notUnsigned(what: string): Parsed<number> {
  return { ok: false, message: `${what}: expected ${NUMBER_FORMS}` };
}

/** Input that does not even look like a number: the forms first, then what came instead. */
function notANumber(what: string): Parsed<number> {
  return { ok: false, message: `expected ${NUMBER_FORMS}, got ${what}` };
}

/** A non-negative integer, from a JSON number or a decimal / 0x-hex string. */
export function parseUnsigned(raw: unknown): Parsed<number> {
  if (typeof raw === 'number') return unsignedFromNumber(raw);
  if (typeof raw !== 'string') return notANumber(kindOf(raw));
  return unsignedFromString(raw.trim());
}

function unsignedFromNumber(raw: number): Parsed<number> {
  if (!Number.isFinite(raw)) return notUnsigned(`${raw} is not a number`);
  if (raw < 0) return notUnsigned(`${raw} is negative`);
  if (!Number.isInteger(raw)) return notUnsigned(`${raw} is not a whole number`);
  if (!Number.isSafeInteger(raw))
    return notUnsigned(`${raw} is beyond the safe integer range (2^53 - 1)`);
  return { ok: true, value: raw };
}

/** Decimal or 0x hex only: a sign, fraction or exponent is refused rather than rounded. */
function unsignedFromString(s: string): Parsed<number> {
  let value: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) {
    value = parseInt(s.slice(2), 16);
  } else if (/^[0-9]+$/.test(s)) {
    value = Number(s);
  } else if (/^-\s*(0[xX][0-9a-fA-F]+|[0-9.]+)/.test(s)) {
    return notUnsigned(`${show(s)} is negative`);
  } else if (/^[+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) {
    return notUnsigned(`${show(s)} has a fraction, an exponent or a sign`);
  } else {
    return notANumber(show(s));
  }
  if (!Number.isSafeInteger(value))
    return notUnsigned(`${show(s)} is beyond the safe integer range (2^53 - 1)`);
  return { ok: true, value };
}

export function checkAddress(name: 'offset' | 'gpa', value: number): string | null {
  const limit = name === 'gpa' ? MAX_TRACE_GPA : MAX_TRACE_OFFSET;
  if (value % PAGE_SIZE !== 0) return `${both(value)} is not 4 KiB aligned`;
  if (value >= limit)
    return `${hex(value)} is past ${hex(limit)}, the end of the largest guest (64 TiB)`;
  return null;
}

export function checkSize(value: number): string | null {
  if (value === 0) return '0: must be > 0, a multiple of 4 KiB';
  if (value % PAGE_SIZE !== 0) return `${both(value)} is not a multiple of 4 KiB`;
  if (value > MAX_TRACE_OFFSET) return `${hex(value)} is larger than the largest guest (64 TiB)`;
  return null;
}

/** Cross-field checks of one operation; messages name the field. */
export function checkRange(space: 'offset' | 'gpa', address: number, size: number): string | null {
  const limit = space === 'gpa' ? MAX_TRACE_GPA : MAX_TRACE_OFFSET;
  if (address + size > limit) {
    return `${space} ${hex(address)} + size ${hex(size)} ends past ${hex(limit)}, the end of the largest guest (64 TiB)`;
  }
  return null;
}

/** Time order and all-or-none times, checked as operations are produced in line order. */
export class TimeChecker {
  private first: { line: number; timed: boolean } | null = null;
  /** The previous timed operation's line and time (NaN: none yet): numbers, not an object per
   * line, as every line of a timed trace passes here. */
  private previousLine = 0;
  private previousNs = NaN;

  check(line: number, timeNs: number | undefined): string | null {
    const timed = timeNs !== undefined;
    if (this.first === null) this.first = { line, timed };
    else if (this.first.timed !== timed) {
      return timed
        ? `has a time but the first operation (line ${this.first.line}) has none: give every operation a time, or none`
        : `has no time but the first operation (line ${this.first.line}) has one: give every operation a time, or none`;
    }
    if (timeNs === undefined) return null;
    if (timeNs < this.previousNs) {
      return `time ${timeNs} ns is before the previous operation's ${this.previousNs} ns (line ${this.previousLine}): the trace must be in time order`;
    }
    this.previousLine = line;
    this.previousNs = timeNs;
    return null;
  }
}
