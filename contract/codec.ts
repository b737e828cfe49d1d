// Frames of the localhost bridge. Plain values travel as JSON text. Values that JSON would damage
// (Float64Array series, NaN and infinite numbers) travel as one binary frame:
//
//   [u32 little-endian: header byte length][header: UTF-8 JSON][zero padding to 8 bytes]
//   [Float64 payloads, little-endian, one after the other]
//
// The header is {"a":[length of each array],"v":value}, where value is the original with each
// Float64Array replaced by {"$f64": index} and each non-finite number by {"$num": "NaN"|"Infinity"|
// "-Infinity"}. Object keys that start with "$" are escaped by one more "$" so that no plain object
// can pass for a tag. Every payload is a multiple of 8 bytes, so each one starts 8-byte aligned.
//
// Pure: runs in the renderer (browser) and in Node; no Buffer, no Node imports.

export type Frame = string | Uint8Array<ArrayBuffer>;

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

const HEADER_PREFIX_BYTES = 4;
const LITTLE_ENDIAN = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/** Encode a value as a text frame when JSON keeps it intact, else as a binary frame. */
export function encode(value: unknown): Frame {
  if (!needsBinary(value, new Set())) return JSON.stringify(value) ?? 'null';
  const arrays: Float64Array[] = [];
  const tagged = tag(value, arrays, new Set());
  const headerBytes = encoder.encode(JSON.stringify({ a: arrays.map((a) => a.length), v: tagged }));
  const payloadStart = align8(HEADER_PREFIX_BYTES + headerBytes.length);
  const total = arrays.reduce((n, a) => n + a.length * 8, payloadStart);
  const frame = new Uint8Array(total);
  const view = new DataView(frame.buffer);
  view.setUint32(0, headerBytes.length, true);
  frame.set(headerBytes, HEADER_PREFIX_BYTES);
  let offset = payloadStart;
  for (const array of arrays) {
    writeF64(frame, offset, array);
    offset += array.length * 8;
  }
  return frame;
}

/** Decode a frame made by `encode`. Binary frames may come as Uint8Array (also a Node Buffer,
 * at any byte offset) or ArrayBuffer. Throws CodecError on a malformed frame. */
export function decode(frame: string | Uint8Array | ArrayBuffer): unknown {
  if (typeof frame === 'string') {
    try {
      return JSON.parse(frame);
    } catch (err) {
      throw new CodecError(`text frame is not JSON: ${(err as Error).message}`);
    }
  }
  const bytes = ArrayBuffer.isView(frame)
    ? new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength)
    : new Uint8Array(frame);
  if (bytes.length < HEADER_PREFIX_BYTES) throw new CodecError('binary frame too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true);
  if (HEADER_PREFIX_BYTES + headerLength > bytes.length)
    throw new CodecError('binary frame header runs past the end of the frame');
  let header: unknown;
  try {
    header = JSON.parse(
      decoder.decode(bytes.subarray(HEADER_PREFIX_BYTES, HEADER_PREFIX_BYTES + headerLength)),
    );
  } catch (err) {
    throw new CodecError(`binary frame header is not JSON: ${(err as Error).message}`);
  }
  if (
    typeof header !== 'object' ||
    header === null ||
    !Array.isArray((header as { a?: unknown }).a) ||
    !hasOwn(header, 'v')
  )
    throw new CodecError('binary frame header lacks its array lengths or value');
  const lengths = (header as { a: unknown[] }).a;
  let offset = align8(HEADER_PREFIX_BYTES + headerLength);
  const arrays: Float64Array[] = [];
  for (const length of lengths) {
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0)
      throw new CodecError('binary frame header has an invalid array length');
    if (offset + length * 8 > bytes.length)
      throw new CodecError('binary frame payload shorter than its header says');
    arrays.push(readF64(bytes, offset, length));
    offset += length * 8;
  }
  if (offset !== bytes.length) throw new CodecError('binary frame has trailing bytes');
  const used = new Set<number>();
  const value = untag((header as { v: unknown }).v, arrays, used);
  if (used.size !== arrays.length) throw new CodecError('binary frame has unreferenced arrays');
  return value;
}

/** The value with every Float64Array turned into a plain array, for JSON-only consumers
 * (the HTTP API). Non-finite numbers become null, as JSON has them. */
export function toPlainJson(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => (v instanceof Float64Array ? Array.from(v) : v)) ??
      'null',
  );
}

// ---------------------------------------------------------------------------------------------

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Resolve toJSON the way JSON.stringify does, so both frame kinds agree on Dates and the like. */
function jsonView(value: unknown, key: string): unknown {
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  )
    return (value as { toJSON: (k: string) => unknown }).toJSON(key);
  return value;
}

function enter(value: object, ancestors: Set<object>): void {
  if (ancestors.has(value)) throw new TypeError('cannot encode a value with a cycle');
  ancestors.add(value);
}

function needsBinary(input: unknown, ancestors: Set<object>, key = ''): boolean {
  const value = jsonView(input, key);
  if (typeof value === 'number') return !Number.isFinite(value);
  if (typeof value !== 'object' || value === null) return false;
  if (value instanceof Float64Array) return true;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer)
    throw new TypeError(
      `cannot encode ${value.constructor.name}: only Float64Array crosses the bridge`,
    );
  enter(value, ancestors);
  let found = false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && !found; i++)
      found = needsBinary(value[i], ancestors, String(i));
  } else {
    for (const k of Object.keys(value)) {
      if (needsBinary((value as Record<string, unknown>)[k], ancestors, k)) {
        found = true;
        break;
      }
    }
  }
  ancestors.delete(value);
  return found;
}

function tag(input: unknown, arrays: Float64Array[], ancestors: Set<object>, key = ''): unknown {
  const value = jsonView(input, key);
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    return { $num: Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity' };
  }
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Float64Array) {
    arrays.push(value);
    return { $f64: arrays.length - 1 };
  }
  enter(value, ancestors);
  let out: unknown;
  if (Array.isArray(value)) {
    out = value.map((v, i) => tag(v, arrays, ancestors, String(i)));
  } else {
    const obj: Record<string, unknown> = {};
    for (const k of Object.keys(value))
      setOwn(
        obj,
        k.startsWith('$') ? `$${k}` : k,
        tag((value as Record<string, unknown>)[k], arrays, ancestors, k),
      );
    out = obj;
  }
  ancestors.delete(value);
  return out;
}

function untag(value: unknown, arrays: readonly Float64Array[], used: Set<number>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => untag(v, arrays, used));
  const keys = Object.keys(value);
  const record = value as Record<string, unknown>;
  if (keys.length === 1 && keys[0] === '$f64') {
    const index = record['$f64'];
    if (typeof index !== 'number' || !Number.isInteger(index) || !(index in arrays))
      throw new CodecError('binary frame refers to an array it does not hold');
    if (used.has(index)) throw new CodecError('binary frame refers to one array twice');
    used.add(index);
    return arrays[index];
  }
  if (keys.length === 1 && keys[0] === '$num') {
    const n = record['$num'];
    if (n === 'NaN') return NaN;
    if (n === 'Infinity') return Infinity;
    if (n === '-Infinity') return -Infinity;
    throw new CodecError('binary frame has an invalid number tag');
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    if (k.startsWith('$') && !k.startsWith('$$'))
      throw new CodecError(`binary frame has an unknown tag "${k}"`);
    setOwn(out, k.startsWith('$$') ? k.slice(1) : k, untag(record[k], arrays, used));
  }
  return out;
}

/** Define an own property, so that a key such as "__proto__" (JSON.parse makes those) stays
 * data and never changes the object's prototype. */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function writeF64(frame: Uint8Array, offset: number, array: Float64Array): void {
  if (LITTLE_ENDIAN) {
    new Float64Array(frame.buffer, offset, array.length).set(array);
    return;
  }
  const view = new DataView(frame.buffer);
  for (let i = 0; i < array.length; i++) view.setFloat64(offset + i * 8, array[i]!, true);
}

function readF64(bytes: Uint8Array, offset: number, length: number): Float64Array {
  // Copy out: the result must not alias the frame, and a Node Buffer may sit at an odd offset.
  const start = bytes.byteOffset + offset;
  if (LITTLE_ENDIAN) return new Float64Array(bytes.buffer.slice(start, start + length * 8));
  const view = new DataView(bytes.buffer, start, length * 8);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}
