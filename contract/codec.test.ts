import { describe, expect, it } from 'vitest';
import { CodecError, decode, encode, toPlainJson } from './codec.js';

function roundTrip(value: unknown): unknown {
  return decode(encode(value));
}

describe('bridge codec', () => {
  it('sends plain values as JSON text', () => {
    const value = { id: 3, envelope: { ok: true, value: [1, 'two', null, { three: false }] } };
    const frame = encode(value);
    expect(typeof frame).toBe('string');
    expect(JSON.parse(frame as string)).toEqual(value);
    expect(roundTrip(value)).toEqual(value);
    expect(roundTrip(null)).toBeNull();
    expect(encode(undefined)).toBe('null');
  });

  it('round-trips nested Float64Arrays in a binary frame', () => {
    const timeNs = new Float64Array([0, 1e6, 2e6]);
    const value = {
      id: 7,
      envelope: {
        ok: true,
        value: {
          runId: 1,
          series: {
            timeNs,
            names: ['a', 'b'],
            values: [new Float64Array([1.5, -2.25, 3]), new Float64Array([4, 5, 6])],
            nodeBytes: [[new Float64Array([7])]],
            fullLength: 3,
          },
        },
      },
    };
    const frame = encode(value);
    expect(frame).toBeInstanceOf(Uint8Array);
    const back = roundTrip(value) as typeof value;
    expect(back).toEqual(value);
    expect(back.envelope.value.series.timeNs).toBeInstanceOf(Float64Array);
    expect(back.envelope.value.series.values[1]).toBeInstanceOf(Float64Array);
    expect(back.envelope.value.series.nodeBytes[0]![0]).toBeInstanceOf(Float64Array);
    // The decoded arrays are copies, never views of the frame.
    expect(back.envelope.value.series.timeNs.buffer).not.toBe((frame as Uint8Array).buffer);
  });

  it('keeps NaN, infinities and -0 inside arrays, and non-finite plain numbers', () => {
    const arr = new Float64Array([NaN, Infinity, -Infinity, -0, Number.MIN_VALUE, 1.7e308]);
    const back = roundTrip({ arr, metric: NaN, list: [Infinity, -Infinity, 1] }) as {
      arr: Float64Array;
      metric: number;
      list: number[];
    };
    expect(Number.isNaN(back.arr[0])).toBe(true);
    expect(back.arr[1]).toBe(Infinity);
    expect(back.arr[2]).toBe(-Infinity);
    expect(Object.is(back.arr[3], -0)).toBe(true);
    expect(back.arr[4]).toBe(Number.MIN_VALUE);
    expect(back.arr[5]).toBe(1.7e308);
    expect(back.metric).toBeNaN();
    expect(back.list).toEqual([Infinity, -Infinity, 1]);
  });

  it('round-trips empty arrays and keeps payloads 8-byte aligned', () => {
    const value = { a: new Float64Array(0), b: new Float64Array([1]), c: new Float64Array(0) };
    const frame = encode(value) as Uint8Array;
    const headerLength = new DataView(frame.buffer).getUint32(0, true);
    const payloadStart = (4 + headerLength + 7) & ~7;
    expect(payloadStart % 8).toBe(0);
    expect(frame.length).toBe(payloadStart + 8);
    const back = decode(frame) as typeof value;
    expect(back.a).toBeInstanceOf(Float64Array);
    expect(back.a.length).toBe(0);
    expect(back.c.length).toBe(0);
    expect(Array.from(back.b)).toEqual([1]);
  });

  it('round-trips big arrays (1e6 values)', () => {
    const big = new Float64Array(1_000_000);
    for (let i = 0; i < big.length; i++) big[i] = Math.sin(i) * i;
    const big2 = big.map((v) => -v);
    const frame = encode({ big, other: { big2 } }) as Uint8Array;
    expect(frame.length).toBeGreaterThan(16_000_000);
    const back = decode(frame) as { big: Float64Array; other: { big2: Float64Array } };
    // A plain loop: deep equality over 1e6 elements is slow in the assertion library.
    const same = (a: Float64Array, b: Float64Array) =>
      a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
    expect(same(back.big, big)).toBe(true);
    expect(same(back.other.big2, big2)).toBe(true);
  });

  it('decodes frames at an unaligned byte offset and from an ArrayBuffer', () => {
    const value = { s: new Float64Array([1, 2, 3]) };
    const frame = encode(value) as Uint8Array;
    const shifted = new Uint8Array(frame.length + 3);
    shifted.set(frame, 3);
    expect(decode(shifted.subarray(3))).toEqual(value);
    expect(decode(frame.slice().buffer)).toEqual(value);
  });

  it('keeps keys that look like tags, and __proto__ keys, as plain data', () => {
    const value = JSON.parse(
      '{"$f64":0,"$num":"NaN","$$x":1,"__proto__":{"polluted":true},"s":[1]}',
    ) as Record<string, unknown>;
    value['arr'] = new Float64Array([9]);
    const back = roundTrip(value) as Record<string, unknown>;
    expect(back['$f64']).toBe(0);
    expect(back['$num']).toBe('NaN');
    expect(back['$$x']).toBe(1);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(back['arr']).toEqual(new Float64Array([9]));
  });

  it('follows JSON for undefined, toJSON and functions', () => {
    const date = new Date(0);
    const value = { u: undefined, d: date, list: [undefined, 1], a: new Float64Array([1]) };
    expect(roundTrip(value)).toEqual({
      d: date.toISOString(),
      list: [null, 1],
      a: new Float64Array([1]),
    });
  });

  it('refuses cycles and other typed arrays when encoding', () => {
    const cyclic: Record<string, unknown> = { a: new Float64Array(1) };
    cyclic['self'] = cyclic;
    expect(() => encode(cyclic)).toThrow(/cycle/);
    expect(() => encode({ b: new Uint8Array(2) })).toThrow(/Uint8Array/);
    // The same object twice (not a cycle) is fine.
    const shared = { x: 1 };
    expect(roundTrip({ p: shared, q: shared, n: NaN })).toEqual({ p: shared, q: shared, n: NaN });
  });

  it('rejects malformed frames with a CodecError', () => {
    const good = encode({ a: new Float64Array([1, 2]) }) as Uint8Array;
    expect(() => decode('{not json')).toThrow(CodecError);
    expect(() => decode(new Uint8Array([1, 0]))).toThrow(CodecError);
    expect(() => decode(good.subarray(0, good.length - 8))).toThrow(/shorter/);
    const trailing = new Uint8Array(good.length + 8);
    trailing.set(good);
    expect(() => decode(trailing)).toThrow(/trailing/);
    const badHeader = good.slice();
    new DataView(badHeader.buffer).setUint32(0, 1e9, true);
    expect(() => decode(badHeader)).toThrow(/past the end/);
    const forge = (header: string, payload = 0) => {
      const h = new TextEncoder().encode(header);
      const start = (4 + h.length + 7) & ~7;
      const f = new Uint8Array(start + payload * 8);
      new DataView(f.buffer).setUint32(0, h.length, true);
      f.set(h, 4);
      return f;
    };
    expect(() => decode(forge('{"a":[],"v":{"$f64":0}}'))).toThrow(/does not hold/);
    expect(() => decode(forge('{"a":[1],"v":[{"$f64":0},{"$f64":0}]}', 1))).toThrow(/twice/);
    expect(() => decode(forge('{"a":[1],"v":1}', 1))).toThrow(/unreferenced/);
    expect(() => decode(forge('{"a":[-1],"v":1}'))).toThrow(/invalid array length/);
    expect(() => decode(forge('{"a":[],"v":{"$num":"1"}}'))).toThrow(/number tag/);
    expect(() => decode(forge('{"a":[],"v":{"$what":1}}'))).toThrow(/unknown tag/);
    expect(() => decode(forge('[1]'))).toThrow(/lacks/);
  });

  it('turns typed arrays into plain arrays for JSON-only consumers', () => {
    expect(toPlainJson({ s: new Float64Array([1, NaN]), n: 2 })).toEqual({ s: [1, null], n: 2 });
  });
});
