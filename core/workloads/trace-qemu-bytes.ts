// The fast path of the QEMU log parser on bytes: a conversion line exactly as QEMU's log backend
// writes it (trace-qemu.ts says how), read where it lies in the chunk, without decoding it or
// cutting it out. Every other line is decoded and read by the full parser, which says what is
// wrong with a bad one.
import { PAGE_SIZE } from '../units.js';
import { MAX_TRACE_GPA, MAX_TRACE_OFFSET } from './trace-ops.js';

export const QEMU_EVENT = 'kvm_convert_memory';

const ascii = (t: string) => Uint8Array.from(t, (ch) => ch.charCodeAt(0));
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

/** The bytes of `text` as little-endian 32-bit pieces, and its last 0 to 3 bytes. */
function pieces(text: string): { pieces: number[]; tail: number[] } {
  const bytes = ascii(text);
  const n = bytes.length >> 2;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    pieces: Array.from({ length: n }, (_, k) => view.getUint32(4 * k, true)),
    tail: Array.from(bytes.slice(4 * n)),
  };
}

// The fixed words of the line, compared four bytes at a time through a DataView, each word with
// its comparisons written out: a loop over a word's pieces costs more than the comparisons.
const HEAD_TEXT = `${QEMU_EVENT} start 0x`;
const HEAD_BYTES = HEAD_TEXT.length;
const head = pieces(HEAD_TEXT);
const [H0, H1, H2, H3, H4, H5] = head.pieces as [number, number, number, number, number, number];
const [HT0, HT1, HT2] = head.tail as [number, number, number];
const SIZE_BYTES = ' size 0x'.length;
const [S0, S1] = pieces(' size 0x').pieces as [number, number];
const DIRECTION_BYTES = 'private_to_shared'.length;
const toShared = pieces('private_to_shared');
const toPrivate = pieces('shared_to_private');
const [TS0, TS1, TS2, TS3] = toShared.pieces as [number, number, number, number];
const TS4 = toShared.tail[0]!;
const [TP0, TP1, TP2, TP3] = toPrivate.pieces as [number, number, number, number];
const TP4 = toPrivate.tail[0]!;
if (head.pieces.length !== 6 || head.tail.length !== 3 || toShared.tail.length !== 1)
  throw new Error('trace-qemu-bytes: the fixed words changed length; update their comparisons');

/** Whether `b` (seen through `v`) holds "kvm_convert_memory start 0x" at `at`, before `limit`. */
function holdsHead(b: Uint8Array, v: DataView, at: number, limit: number): boolean {
  return (
    at + HEAD_BYTES <= limit &&
    v.getUint32(at, true) === H0 &&
    v.getUint32(at + 4, true) === H1 &&
    v.getUint32(at + 8, true) === H2 &&
    v.getUint32(at + 12, true) === H3 &&
    v.getUint32(at + 16, true) === H4 &&
    v.getUint32(at + 20, true) === H5 &&
    b[at + 24] === HT0 &&
    b[at + 25] === HT1 &&
    b[at + 26] === HT2
  );
}

/** Whether `v` holds " size 0x" at `at`, before `limit`. */
function holdsSize(v: DataView, at: number, limit: number): boolean {
  return (
    at + SIZE_BYTES <= limit && v.getUint32(at, true) === S0 && v.getUint32(at + 4, true) === S1
  );
}

/** The direction at `at`, before `limit`: 1 private_to_shared, 2 shared_to_private, 0 neither. */
function direction(b: Uint8Array, v: DataView, at: number, limit: number): number {
  if (at + DIRECTION_BYTES > limit) return 0;
  const first = v.getUint32(at, true);
  if (first === TS0)
    return v.getUint32(at + 4, true) === TS1 &&
      v.getUint32(at + 8, true) === TS2 &&
      v.getUint32(at + 12, true) === TS3 &&
      b[at + 16] === TS4
      ? 1
      : 0;
  if (first === TP0)
    return v.getUint32(at + 4, true) === TP1 &&
      v.getUint32(at + 8, true) === TP2 &&
      v.getUint32(at + 12, true) === TP3 &&
      b[at + 16] === TP4
      ? 2
      : 0;
  return 0;
}

/** The view readQemuConvert() reads `b` through, made once per array. */
let viewed: Uint8Array | null = null;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

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
  const v = view;
  if (!holdsHead(b, v, at, limit)) return -1;
  let i = at + HEAD_BYTES;
  let from = i;
  let gpa = 0;
  for (let d: number; i < limit && (d = HEX[b[i]!]!) >= 0; i++) gpa = gpa * 16 + d;
  if (i === from || i - from > MAX_DIGITS || !holdsSize(v, i, limit)) return -1;
  i += SIZE_BYTES;
  from = i;
  let size = 0;
  for (let d: number; i < limit && (d = HEX[b[i]!]!) >= 0; i++) size = size * 16 + d;
  if (i === from || i - from > MAX_DIGITS || i >= limit || b[i] !== 32) return -1;
  i++;
  const dir = direction(b, v, i, limit);
  if (dir === 0) return -1;
  fast.toPrivate = dir === 2;
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
