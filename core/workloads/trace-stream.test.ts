// Streaming a trace: lines split from chunks exactly as from the whole text, whatever the chunk
// size; every bad line of a long trace reported with its number; the replay from a stream equal to
// the replay of the parsed operations; progress by bytes and cancel within a pass.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runVariant, TRACE_CHECK_PHASE } from '../experiment/run.js';
import { parseExperimentValue } from '../experiment/load.js';
import { FORMAT_NAME, FORMAT_VERSION } from '../experiment/schema.js';
import { GiB, MiB } from '../units.js';
import { utf8Decode } from '../utf8.js';
import { Cancelled } from './context.js';
import { ErrorSink, MAX_REPORTED_ERRORS } from './trace-lines.js';
import type { TraceOp } from './trace-ops.js';
import { QemuParser } from './trace-qemu.js';
import { parseTrace, scanTrace } from './trace-parse.js';
import { prefetch, setOpLogBudget } from './trace-oplog.js';
import {
  ByteLineReader,
  bytesSource,
  LineReader,
  textSource,
  type TraceSource,
} from './trace-stream.js';

/** The lines of a whole text, as the parsers saw them before streaming: BOM dropped, split on
 * "\n", "\r" before it dropped, nothing after a final newline. */
function wholeTextLines(text: string): Array<{ text: string; lastCut: boolean }> {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body === '') return [];
  const lines = body.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const endsWithNewline = body.endsWith('\n');
  if (endsWithNewline) lines.pop();
  return lines.map((t, i) => ({ text: t, lastCut: i === lines.length - 1 && !endsWithNewline }));
}

function streamedLines(text: string, chunk: number) {
  const reader = new LineReader(textSource(text, 't', chunk).open());
  const out: Array<{ text: string; lastCut: boolean; line: number }> = [];
  for (let l = reader.next(); l !== null; l = reader.next()) out.push(l);
  return out;
}

const QEMU_LINE = (i: number) =>
  `48231@1733760512.${String(i % 1_000_000).padStart(6, '0')}:kvm_convert_memory start 0x${(i * 4096).toString(16)} size 0x1000 private_to_shared`;

describe('LineReader', () => {
  it('splits every text into the lines of the whole-text split, for any chunk size', () => {
    const piece = fc.constantFrom('a', 'b,c', ' ', '\n', '\r\n', '\r', '#x', '\uFEFF', 'é');
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 40 }),
        fc.integer({ min: 1, max: 9 }),
        (parts, n) => {
          const text = parts.join('');
          const expected = wholeTextLines(text);
          const got = streamedLines(text, n);
          expect(got.map((l) => ({ text: l.text, lastCut: l.lastCut }))).toEqual(expected);
          expect(got.map((l) => l.line)).toEqual(expected.map((_, i) => i + 1));
        },
      ),
      { seed: 20261207, numRuns: 400 },
    );
  });

  it('counts the bytes read as it goes', () => {
    const text = 'one\ntwo\nthree\n';
    const reader = new LineReader(textSource(text, 't', 4).open());
    reader.next();
    expect(reader.bytesRead).toBe(4);
    while (reader.next() !== null);
    expect(reader.bytesRead).toBe(text.length);
  });
});

/** The lines a pass over the source's bytes gives, decoded. */
function byteLines(source: TraceSource) {
  const reader = new ByteLineReader(source.openBytes());
  const out: Array<{ text: string; lastCut: boolean; line: number }> = [];
  while (reader.next())
    out.push({ text: reader.text(), lastCut: reader.lastCut, line: reader.line });
  return out;
}

describe('ByteLineReader', () => {
  const piece = fc.constantFrom('a', 'b,c', ' ', '\n', '\r\n', '\r', '#x', '\uFEFF', 'é', '€');

  it('gives the lines LineReader gives from the text, for any text and chunk size', () => {
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 40 }),
        fc.integer({ min: 1, max: 9 }),
        (parts, n) => {
          const text = parts.join('');
          expect(byteLines(textSource(text, 't', n))).toEqual(
            streamedLines(text, text.length || 1),
          );
        },
      ),
      { seed: 20261207, numRuns: 400 },
    );
  });

  it('gives the lines of the decoded text for any bytes, invalid UTF-8 and marks included', () => {
    const byte = fc.oneof(
      fc.constantFrom(0x0a, 0x0d, 0xef, 0xbb, 0xbf, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0x80, 0xff),
      fc.integer({ min: 0, max: 255 }),
    );
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), fc.integer({ min: 1, max: 9 }), (list, n) => {
        const bytes = Uint8Array.from(list);
        // The text a file source gives: the bytes decoded, a leading mark dropped.
        const text = utf8Decode(bytes);
        expect(byteLines(bytesSource(bytes, 't', n))).toEqual(
          streamedLines(text, text.length || 1),
        );
      }),
      { seed: 20261207, numRuns: 1000 },
    );
  });
});

describe('scanTrace', () => {
  it('reports every bad line of a long trace with its number, however far apart, in 1 KiB chunks', () => {
    const bad = new Set([7, 40_000, 123_457, 199_999]);
    const lines = Array.from({ length: 200_000 }, (_, i) =>
      bad.has(i + 1)
        ? 'kvm_convert_memory start 0x1000 size 0x1001 private_to_shared'
        : QEMU_LINE(i),
    );
    const text = lines.join('\n') + '\n';
    const r = scanTrace(textSource(text, 'long.log', 1024), 'auto');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.line)).toEqual([...bad]);
    for (const e of r.errors)
      expect(e.message).toMatch(/size 0x1001 \(4097\) is not a multiple of 4 KiB/);
  });

  it('reads a QEMU log from its bytes as the parser reads each decoded line, for any chunk size', () => {
    // The reference: every line decoded, split by LineReader, and read by QemuParser.line().
    function byText(text: string) {
      const sink = new ErrorSink();
      const parser = new QemuParser(sink);
      const ops: TraceOp[] = [];
      const reader = new LineReader(textSource(text, 'a.log').open());
      for (let l = reader.next(); l !== null; l = reader.next()) {
        const op = parser.line(l.text, l.line, l.lastCut);
        if (op !== null) ops.push(op);
      }
      parser.end();
      return sink.empty ? { ops, skipped: parser.skipped } : { errors: sink.result() };
    }
    const line = fc.oneof(
      { arbitrary: fc.nat(5000).map(QEMU_LINE), weight: 4 },
      {
        arbitrary: fc
          .tuple(fc.nat(1 << 20), fc.boolean())
          .map(
            ([p, back]) =>
              `kvm_convert_memory start 0x${(p * 4096).toString(16)} size 0x2000 ${back ? 'shared_to_private' : 'private_to_shared'}`,
          ),
        weight: 4,
      },
      {
        arbitrary: fc.constantFrom(
          '',
          'other_event x=1',
          'qemu-system-x86_64: warning: x',
          'kvm_convert_memory start 0x1001 size 0x1000 private_to_shared',
          'kvm_convert_memory start 0x1000 size 0x1000 private_to_shared ',
          'kvm_convert_memory start 0x1000 size 0x1000 private_to_shared\r',
          '1@1.000001:kvm_convert_memory start 0x0 size 0x1000 shared_to_private',
          'kvm_convert_memory start 0xé size 0x1000 private_to_shared',
          'garbage',
        ),
        weight: 2,
      },
    );
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 30 }),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constant(1 << 16)),
        fc.constantFrom(3, 4096),
        (lines, eol, endsWithEol, chunk, every) => {
          const text = lines.join(eol) + (endsWithEol ? eol : '');
          const ops: TraceOp[] = [];
          const r = scanTrace(textSource(text, 'a.log', chunk), 'qemu', {
            onOp: (op) => ops.push(op),
            everyLines: every,
          });
          const want = byText(text);
          if ('errors' in want) expect(r).toEqual({ ok: false, errors: want.errors });
          else {
            expect(r).toMatchObject({ ok: true, ops: want.ops.length, skippedLines: want.skipped });
            expect(ops).toEqual(want.ops);
          }
        },
      ),
      { seed: 20261207, numRuns: 1500 },
    );
  });

  it('lists the first MAX_REPORTED_ERRORS bad lines in full and sums up the rest', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => (i % 10 === 3 ? 'garbage' : QEMU_LINE(i)));
    const r = scanTrace(textSource(lines.join('\n') + '\n', 'x.log', 333), 'qemu');
    if (r.ok) throw new Error('expected errors');
    expect(r.errors).toHaveLength(MAX_REPORTED_ERRORS + 1);
    expect(r.errors[0]!.line).toBe(4);
    expect(r.errors.at(-1)!.message).toMatch(/and 400 more bad line\(s\)/);
  });

  it('gives the operations parseTrace gives, one at a time, for every format and chunk size', () => {
    const csv = 'op,offset,size,to\n# c\nconvert,0,4096,shared\n\nconvert,0x2000,8192,private';
    const jsonl =
      '{"op":"fallocate","offset":0,"size":4096}\n{"op":"pin","offset":0,"size":4096}\n';
    const qemu = `${QEMU_LINE(1)}\nother_event x\n${QEMU_LINE(2)}\r\n`;
    for (const [name, text] of [
      ['a.csv', csv],
      ['a.jsonl', jsonl],
      ['a.log', qemu],
      ['a.trace', qemu],
      // Told by their first line, read as bytes like a QEMU log.
      ['b.trace', csv],
      ['b.txt', jsonl],
    ] as const) {
      const whole = parseTrace(text, 'auto', name);
      if (!whole.ok) throw new Error(JSON.stringify(whole.errors));
      for (const chunk of [1, 5, 64]) {
        const ops: unknown[] = [];
        const r = scanTrace(textSource(text, name, chunk), 'auto', { onOp: (op) => ops.push(op) });
        expect(r).toMatchObject({ ok: true, ops: whole.ops.length, format: whole.format });
        expect(ops).toEqual(whole.ops);
      }
    }
    // Read as bytes (the format told by the first line) or as text (told by the extension): the
    // same operations.
    expect(parseTrace(csv, 'auto', 'b.trace')).toEqual(parseTrace(csv, 'auto', 'b.csv'));
    expect(parseTrace(jsonl, 'auto', 'b.txt')).toEqual(parseTrace(jsonl, 'auto', 'b.jsonl'));
  });
});

describe('a trace run streams its trace', () => {
  function traceExperiment(
    workload: Record<string, unknown> = {},
  ): ReturnType<typeof parseExperimentValue> {
    return parseExperimentValue({
      format: FORMAT_NAME,
      version: FORMAT_VERSION,
      name: 'stream',
      host: { nodes: [{ memoryBytes: 8 * GiB, cpus: '0-3', hugetlb2m: 1024 }] },
      guest: { memoryBytes: 1 * GiB, vendor: 'snp' },
      workload: {
        kind: 'trace',
        path: 'ops.log',
        format: 'auto',
        populate: 'fallocate',
        ...workload,
      },
      variants: [
        { name: 'HugeTLB 2 MiB', pageSize: '2m', allocator: 'hugetlb' },
        { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
      ],
    });
  }
  // 20,000 conversions to shared and back over the first 256 MiB.
  const text =
    Array.from({ length: 20_000 }, (_, i) => {
      const gpa = ((i * 7919) % 65536) * 4096;
      return `kvm_convert_memory start 0x${gpa.toString(16)} size 0x1000 ${i % 2 ? 'shared_to_private' : 'private_to_shared'}`;
    }).join('\n') + '\n';

  it('gives the same result from a stream of small chunks as from the whole text', () => {
    const parsed = traceExperiment();
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    for (const index of [0, 1]) {
      const whole = runVariant(parsed.experiment, index, { traceText: text });
      const streamed = runVariant(parsed.experiment, index, {
        traceSource: textSource(text, 'ops.log', 4096),
      });
      expect(streamed.summary).toEqual(whole.summary);
      expect(streamed.series.timeNs).toEqual(whole.series.timeNs);
    }
    expect(text.length).toBeGreaterThan(1 * MiB);
  });

  it('reports the check pass by bytes, then the replay, and stops within the pass when cancelled', () => {
    const parsed = traceExperiment();
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const phases: Array<{ phase: string; fraction: number }> = [];
    runVariant(parsed.experiment, 0, {
      traceSource: textSource(text, 'ops.log', 64 * 1024),
      onProgress: (p) => phases.push(p),
    });
    const checks = phases.filter((p) => p.phase === TRACE_CHECK_PHASE).map((p) => p.fraction);
    expect(checks.length).toBeGreaterThan(2);
    expect(checks.at(-1)).toBe(1);
    expect([...checks].sort((a, b) => a - b)).toEqual(checks);
    expect(phases.some((p) => p.phase === 'replay' && p.fraction > 0 && p.fraction < 1)).toBe(true);

    let polls = 0;
    expect(() =>
      runVariant(parsed.experiment, 0, {
        traceSource: textSource(text, 'ops.log', 64 * 1024),
        // Cancelled on the second poll: inside the check pass, before any replay.
        isCancelled: () => ++polls >= 2,
        onProgress: (p) => {
          if (p.phase === 'replay') throw new Error('the replay began after a cancel');
        },
      }),
    ).toThrow(Cancelled);
  });

  /** A replay cancelled once its progress passes a quarter: the passes over the trace's bytes
   * (format "qemu": no pass to tell the format) and the bytes each handed out. */
  function cancelledMidReplay() {
    const parsed = traceExperiment({ format: 'qemu' });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const chunk = 16 * 1024;
    const inner = textSource(text, 'ops.log', chunk);
    const handedOut: number[] = [];
    const source: TraceSource = {
      name: inner.name,
      bytes: inner.bytes,
      open: () => inner.open(),
      openBytes() {
        const pass = handedOut.push(0) - 1;
        const chunks = inner.openBytes();
        return {
          next() {
            const piece = chunks.next();
            if (piece !== null) handedOut[pass]! += piece.length;
            return piece;
          },
          get bytesRead() {
            return chunks.bytesRead;
          },
          close: () => chunks.close(),
        };
      },
    };
    let raised = false;
    let atRaise = 0;
    let pollsAfterRaise = 0;
    expect(() =>
      runVariant(parsed.experiment, 0, {
        traceSource: source,
        onProgress: (p) => {
          if (!raised && p.phase === 'replay' && p.fraction > 0.25) {
            raised = true;
            atRaise = handedOut.at(-1)!;
          }
        },
        isCancelled: () => {
          if (raised) pollsAfterRaise++;
          return raised;
        },
      }),
    ).toThrow(Cancelled);
    return { chunk, handedOut, raised, atRaise, pollsAfterRaise };
  }

  it('stops a replay under way at its next poll, within 256 operations', () => {
    // "Within a second": the replay polls the cancel flag every 256 operations (WorkloadContext
    // tick); at the bench's slowest replay rate (above 100,000 conversions a second per worker)
    // that is a few milliseconds, on any trace length. Here the replay reads the operations the
    // check pass kept: the trace is read once.
    const r = cancelledMidReplay();
    expect(r.raised).toBe(true);
    expect(r.pollsAfterRaise).toBe(1);
    expect(r.handedOut).toEqual([text.length]);
  });

  it('stops a replay that reads the trace again at its next poll, within one chunk', () => {
    // A check pass whose operations outgrow the log's budget keeps none, and the replay parses
    // the trace again: it reads at most the chunk it holds after the cancel.
    const before = setOpLogBudget(0);
    try {
      const r = cancelledMidReplay();
      expect(r.raised).toBe(true);
      expect(r.handedOut).toHaveLength(2);
      expect(r.pollsAfterRaise).toBe(1);
      expect(r.atRaise).toBeLessThan(text.length / 2);
      expect(r.handedOut[1]! - r.atRaise).toBeLessThanOrEqual(r.chunk);
    } finally {
      setOpLogBudget(before);
    }
  });

  it('replays the operations the check pass kept as a replay that reads the trace again', () => {
    // Timed lines (recorded timing waits for them) and a line to skip; both variants.
    const timed =
      text
        .split('\n')
        .filter(Boolean)
        .map((l, i) => `4242@1733760512.${String(i * 37).padStart(6, '0')}:${l}`)
        .join('\nother_event x=1\n') + '\n';
    for (const workload of [{}, { timing: 'recorded' }]) {
      const parsed = traceExperiment(workload);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
      for (const index of [0, 1]) {
        const run = () =>
          runVariant(parsed.experiment, index, { traceSource: textSource(timed, 'ops.log', 4096) });
        const kept = run();
        const before = setOpLogBudget(0);
        let again;
        try {
          again = run();
        } finally {
          setOpLogBudget(before);
        }
        expect(kept.summary).toEqual(again.summary);
        expect(kept.series).toEqual(again.series);
        expect(kept.endNs).toBe(again.endNs);
      }
    }
  });

  it('reads the state of the next operations ahead without changing what the replay computes', () => {
    const parsed = traceExperiment();
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    for (const index of [0, 1]) {
      const run = () =>
        runVariant(parsed.experiment, index, { traceSource: textSource(text, 'ops.log', 4096) });
      const batches = prefetch.batches;
      const ahead = run();
      // 20,000 operations read ahead 32 at a time.
      expect(prefetch.batches - batches).toBeGreaterThanOrEqual(600);
      prefetch.enabled = false;
      let plain;
      try {
        plain = run();
      } finally {
        prefetch.enabled = true;
      }
      expect(ahead.summary).toEqual(plain.summary);
      expect(ahead.series).toEqual(plain.series);
      expect(ahead.eventsJsonl).toBe(plain.eventsJsonl);
      expect(ahead.endNs).toBe(plain.endNs);
    }
  });
});
