// The fast path of the QEMU log parser on bytes: a conversion line exactly as QEMU's log backend
// writes it (trace-qemu.ts says how), read where it lies in the chunk, without decoding it or
// cutting it out. Every other line is decoded and read by the full parser, which says what is
// wrong with a bad one.
import { PAGE_SIZE } from '../units.js';
import { MAX_TRACE_GPA, MAX_TRACE_OFFSET } from './trace-ops.js';

export const QEMU_EVENT = 'kvm_convert_memory';

const ascii = (t: string) => Uint8Array.from(t, (ch) => ch.charCodeAt(0));
const HEAD = word(ascii(`${QEMU_EVENT} start 0x`));
const SIZE = word(ascii(' size 0x'));
const TO_SHARED = word(ascii('private_to_shared'));
const TO_PRIVATE = word(ascii('shared_to_private'));
const DIRECTION_BYTES = 17;
/** Hex digits a value may have on the fast path: 13 hold 52 bits, exact in a double. */
const MAX_DIGITS = 13;
/** The value of each byte as a hex digit, -1 for a byte that is none. */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) HEX[97 + c] = HEX[65 + c] = 10 + c;

/** What readQemuConvert() read from the line it last took. */
const fast = { gpa: 0, size: 0, toPrivate: false, timed: false, seconds: 0, micros: 0 };
export const fastQemuFields: Readonly<typeof fast> = fast;

/** Digits from `i`, before `limit`: the index past the last one. */
function pastDigits(b: Uint8Array, i: number, limit: number): number {
  while (i < limit && b[i]! >= 48 && b[i]! <= 57) i++;
  return i;
}

/** The decimal value of the digits `b[from, to)` (at most 15: exact in a double). */
function decimal(b: Uint8Array, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) v = v * 10 + (b[i]! - 48);
  return v;
}

/** A word as little-endian 32-bit pieces and its last 0 to 3 bytes, compared a piece at a time. */
interface Word {
  readonly length: number;
  readonly pieces: Uint32Array;
  readonly tail: Uint8Array;
}

function word(bytes: Uint8Array): Word {
  const n = bytes.length >> 2;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pieces = Uint32Array.from({ length: n }, (_, k) => view.getUint32(4 * k, true));
  return { length: bytes.length, pieces, tail: bytes.slice(4 * n) };
}

/** The view readQemuConvert() reads `b` through, made once per array. */
let viewed: Uint8Array | null = null;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/** Whether `b` (seen through `view`) holds `w` at `at`, before `limit`. */
function holdsAt(b: Uint8Array, at: number, limit: number, w: Word): boolean {
  if (at + w.length > limit) return false;
  const { pieces, tail } = w;
  for (let k = 0; k < pieces.length; k++)
    if (view.getUint32(at + 4 * k, true) !== pieces[k]) return false;
  const t = at + 4 * pieces.length;
  for (let k = 0; k < tail.length; k++) if (b[t + k] !== tail[k]) return false;
  return true;
}

/**
 * A conversion as QEMU writes it, "[<tid>@<s>.<us>:]kvm_convert_memory start 0x<gpa> size
 * 0x<bytes> <direction>", read from `b` at `start`, before `limit`: the index just past the
 * direction, with the fields in fastQemuFields, or -1. A line `b[start, end)` is one
 * fastQemuConvert() takes (trace-qemu.ts) exactly when this gives `end` for it: every byte
 * either accepts is ASCII, so a line with any other byte goes to the text path. The
 * "<tid>@<s>.<us>:" prefix is TID_PREFIX read by hand: digits, "@", 1 to 15 digits, ".", 6
 * digits, ":".
 */
export function readQemuConvert(b: Uint8Array, start: number, limit: number): number {
  if (b !== viewed) {
    viewed = b;
    view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  let at = start;
  fast.timed = false;
  if (start < limit && b[start]! >= 48 && b[start]! <= 57) {
    const tidEnd = pastDigits(b, start, limit);
    if (tidEnd >= limit || b[tidEnd] !== 64) return -1;
    const sFrom = tidEnd + 1;
    const sTo = pastDigits(b, sFrom, limit);
    if (sTo === sFrom || sTo - sFrom > 15 || sTo >= limit || b[sTo] !== 46) return -1;
    const uFrom = sTo + 1;
    const uTo = pastDigits(b, uFrom, limit);
    if (uTo - uFrom !== 6 || uTo >= limit || b[uTo] !== 58) return -1;
    fast.timed = true;
    fast.seconds = decimal(b, sFrom, sTo);
    fast.micros = decimal(b, uFrom, uTo);
    at = uTo + 1;
  }
  if (!holdsAt(b, at, limit, HEAD)) return -1;
  let i = at + HEAD.length;
  let from = i;
  let gpa = 0;
  for (let d: number; i < limit && (d = HEX[b[i]!]!) >= 0; i++) gpa = gpa * 16 + d;
  if (i === from || i - from > MAX_DIGITS || !holdsAt(b, i, limit, SIZE)) return -1;
  i += SIZE.length;
  from = i;
  let size = 0;
  for (let d: number; i < limit && (d = HEX[b[i]!]!) >= 0; i++) size = size * 16 + d;
  if (i === from || i - from > MAX_DIGITS || i >= limit || b[i] !== 32) return -1;
  i++;
  if (holdsAt(b, i, limit, TO_SHARED)) fast.toPrivate = false;
  else if (holdsAt(b, i, limit, TO_PRIVATE)) fast.toPrivate = true;
  else return -1;
  // The checks of fastQemuConvert(): the rest is the full parser's to report.
  // `& (PAGE_SIZE - 1)`: the low bits of a safe integer, as `% PAGE_SIZE` without a remainder.
  if ((gpa & (PAGE_SIZE - 1)) !== 0 || gpa >= MAX_TRACE_GPA) return -1;
  if (size === 0 || (size & (PAGE_SIZE - 1)) !== 0 || size > MAX_TRACE_OFFSET) return -1;
  if (gpa + size > MAX_TRACE_GPA) return -1;
  fast.gpa = gpa;
  fast.size = size;
  return i + DIRECTION_BYTES;
}

/** Whether the line `b[start, end)` is a conversion exactly as QEMU writes it (readQemuConvert). */
export function fastQemuBytes(b: Uint8Array, start: number, end: number): boolean {
  return readQemuConvert(b, start, end) === end;
}
