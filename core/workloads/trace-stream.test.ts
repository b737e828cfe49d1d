// Streaming a trace: lines split from chunks exactly as from the whole text, whatever the chunk
// size; every bad line of a long trace reported with its number; the replay from a stream equal to
// the replay of the parsed operations; progress by bytes and cancel within a pass.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runVariant, TRACE_CHECK_PHASE } from '../experiment/run.js';
import { parseExperimentValue } from '../experiment/load.js';
import { FORMAT_NAME, FORMAT_VERSION } from '../experiment/schema.js';
import { GiB, MiB } from '../units.js';
import { Cancelled } from './context.js';
import { MAX_REPORTED_ERRORS } from './trace-lines.js';
import { parseTrace, scanTrace } from './trace-parse.js';
import { LineReader, textSource } from './trace-stream.js';

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
  });
});

describe('a trace run streams its trace', () => {
  function traceExperiment(): ReturnType<typeof parseExperimentValue> {
    return parseExperimentValue({
      format: FORMAT_NAME,
      version: FORMAT_VERSION,
      name: 'stream',
      host: { nodes: [{ memoryBytes: 8 * GiB, cpus: '0-3', hugetlb2m: 1024 }] },
      guest: { memoryBytes: 1 * GiB, vendor: 'snp' },
      workload: { kind: 'trace', path: 'ops.log', format: 'auto', populate: 'fallocate' },
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

  it('stops a replay under way at its next poll, within 256 operations and one chunk', () => {
    // "Within a second": the replay polls the cancel flag every 256 operations (WorkloadContext
    // tick) and reads at most the chunk it holds; at the bench's slowest replay rate (above
    // 100,000 conversions a second per worker) that is a few milliseconds, on any trace length.
    const parsed = traceExperiment();
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
    const chunk = 16 * 1024;
    const inner = textSource(text, 'ops.log', chunk);
    let passes = 0;
    let charsHandedOut = 0;
    const source = {
      name: inner.name,
      bytes: inner.bytes,
      // Format detection reads the first bytes; the passes counted are the text ones.
      openBytes: () => inner.openBytes(),
      open() {
        passes++;
        const chunks = inner.open();
        return {
          next() {
            const piece = chunks.next();
            if (piece !== null && passes === 2) charsHandedOut += piece.length;
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
    let charsAtRaise = 0;
    let pollsAfterRaise = 0;
    expect(() =>
      runVariant(parsed.experiment, 0, {
        traceSource: source,
        onProgress: (p) => {
          if (!raised && p.phase === 'replay' && p.fraction > 0.25) {
            raised = true;
            charsAtRaise = charsHandedOut;
          }
        },
        isCancelled: () => {
          if (raised) pollsAfterRaise++;
          return raised;
        },
      }),
    ).toThrow(Cancelled);
    // Raised in the middle of the replay pass, which then stopped at the first poll after it,
    // having read no more than the next chunk.
    expect(raised).toBe(true);
    expect(passes).toBe(2);
    expect(pollsAfterRaise).toBe(1);
    expect(charsAtRaise).toBeLessThan(text.length / 2);
    expect(charsHandedOut - charsAtRaise).toBeLessThanOrEqual(chunk);
  });
});
