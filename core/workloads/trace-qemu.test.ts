// The QEMU parser's fast path for well-formed conversion lines must read every line it takes
// exactly as the full parser does, and leave every other line to it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Encode } from '../utf8.js';
import { fastQemuBytes, fastQemuConvert, fastQemuFields, parseQemuLine } from './trace-qemu.js';

const hexDigits = (max: number) =>
  fc
    .array(fc.constantFrom(...'0123456789abcdefABCDEF'), { minLength: 0, maxLength: max })
    .map((d) => d.join(''));

/** Lines at and around the form QEMU writes: aligned or not, long numbers, other words, stray
 * spaces, timestamps good and bad. */
/** Mostly the canonical part, sometimes one of the others. */
const part = (canonical: fc.Arbitrary<string>, ...others: string[]) =>
  fc.oneof(
    { arbitrary: canonical, weight: 6 },
    { arbitrary: fc.constantFrom(...others), weight: 1 },
  );
const word = (w: string, ...others: string[]) => part(fc.constant(w), ...others);

const lineArb = fc
  .tuple(
    part(
      fc.constantFrom('', '123@1700000000.123456:'),
      '12@17.12:',
      '2025-03-01T10:00:00.1Z ',
      ' ',
    ),
    word('kvm_convert_memory', 'kvm_convert_mem', 'kvm_x'),
    word(' start ', '  start ', ' begin '),
    word('0x', '0X', '', '0'),
    fc.oneof(
      fc.bigInt({ min: 0n, max: 1n << 35n }).map((v) => (v * 4096n).toString(16)),
      hexDigits(16),
    ),
    word(' size ', ' size  ', ' size'),
    word('0x', '0X', ''),
    fc.oneof(
      fc.bigInt({ min: 0n, max: 1n << 22n }).map((v) => (v * 4096n).toString(16)),
      hexDigits(14),
    ),
    word(' ', '\t', '  '),
    part(
      fc.constantFrom('private_to_shared', 'shared_to_private'),
      'to_shared',
      'shared_to_privatex',
    ),
    word('', ' ', ' extra', '\t'),
  )
  .map((parts) => parts.join(''));

/** Timestamp prefixes at every edge of QEMU's `<thread id>@<seconds>.<micros>:` form (and one
 * that is not ASCII). */
const PREFIXES = [
  '7@1700000000.000001:',
  '1@123456789012345.123456:',
  '1@1234567890123456.123456:',
  '1@.123456:',
  '@1.123456:',
  '1@1.1234567:',
  '1@1.12345:',
  '1@1.123456',
  '12a@1.123456:',
  'é',
];
describe('fastQemuConvert', () => {
  it('reads each line it takes as parseQemuLine does, and takes the lines QEMU writes', () => {
    let taken = 0;
    fc.assert(
      fc.property(lineArb, (line) => {
        const fast = fastQemuConvert(line);
        if (fast !== null) {
          taken++;
          expect(fast).toEqual(parseQemuLine(line));
        }
      }),
      { numRuns: 5000 },
    );
    expect(taken).toBeGreaterThan(100);
    expect(
      fastQemuConvert('kvm_convert_memory start 0x1000 size 0x2000 private_to_shared'),
    ).toEqual({ kind: 'convert', gpa: 0x1000, size: 0x2000, to: 'shared', time: null });
    expect(
      fastQemuConvert(
        '42@1700000000.000123:kvm_convert_memory start 0x0 size 0x1000 shared_to_private',
      ),
    ).toEqual({
      kind: 'convert',
      gpa: 0,
      size: 0x1000,
      to: 'private',
      time: { seconds: 1700000000, micros: 123 },
    });
  });

  it('leaves bad lines to the full parser', () => {
    for (const line of [
      'kvm_convert_memory start 0x1001 size 0x1000 private_to_shared',
      'kvm_convert_memory start 0x1000 size 0x0 private_to_shared',
      'kvm_convert_memory start 0x1000 size 0x1000 private_to_sharedd',
      'kvm_convert_memory start 0x4000000001000 size 0x1000 private_to_shared',
    ]) {
      expect(fastQemuConvert(line)).toBeNull();
      expect(parseQemuLine(line).kind).toBe('error');
    }
    // A trailing space the full parser takes is left to it too.
    const spaced = 'kvm_convert_memory start 0x1000 size 0x1000 private_to_shared ';
    expect(fastQemuConvert(spaced)).toBeNull();
    expect(parseQemuLine(spaced).kind).toBe('convert');
  });
});

describe('fastQemuBytes', () => {
  /** The line's bytes inside a buffer with other bytes around them, as a line sits in a chunk. */
  function inChunk(line: string, before: string, after: string) {
    const head = utf8Encode(before);
    const body = utf8Encode(line);
    const bytes = utf8Encode(before + line + after);
    return { bytes, start: head.length, end: head.length + body.length };
  }
  const prefixArb = part(fc.constant(''), ...PREFIXES);
  const aroundArb = fc.constantFrom('', '\n', 'kvm_convert_memory start 0x1000', '0', 'é\n');

  it('takes a line exactly when fastQemuConvert takes its text, with the same fields', () => {
    let taken = 0;
    fc.assert(
      fc.property(
        prefixArb,
        lineArb,
        word('', 'é', ' 0x1000', '0'),
        aroundArb,
        aroundArb,
        (prefix, body, tail, before, after) => {
          const line = prefix + body + tail;
          const { bytes, start, end } = inChunk(line, before, after);
          const text = fastQemuConvert(line);
          expect(fastQemuBytes(bytes, start, end)).toBe(text !== null);
          if (text === null) return;
          taken++;
          const f = fastQemuFields;
          expect({
            gpa: f.gpa,
            size: f.size,
            to: f.toPrivate ? 'private' : 'shared',
            time: f.timed ? { seconds: f.seconds, micros: f.micros } : null,
          }).toEqual({ gpa: text.gpa, size: text.size, to: text.to, time: text.time });
        },
      ),
      { seed: 20261207, numRuns: 5000 },
    );
    expect(taken).toBeGreaterThan(100);
  });

  it('reads the timestamp prefix as TID_PREFIX does, at every edge', () => {
    const body = 'kvm_convert_memory start 0x2000 size 0x1000 shared_to_private';
    for (const prefix of ['', ...PREFIXES]) {
      const { bytes, start, end } = inChunk(prefix + body, '0', '9');
      const text = fastQemuConvert(prefix + body);
      expect(fastQemuBytes(bytes, start, end), prefix).toBe(text !== null);
      if (text?.time)
        expect([fastQemuFields.seconds, fastQemuFields.micros]).toEqual([
          text.time.seconds,
          text.time.micros,
        ]);
    }
  });
});
