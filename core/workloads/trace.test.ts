// Trace replay: the three formats, every bad line with its number, the docs' examples (so
// docs/trace-format.md cannot drift from the parser), and replays of the sample traces.
import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { simOf } from '../sim/test-helpers.js';
import type { Simulation } from '../sim/simulation.js';
import { GiB, MiB } from '../units.js';
import { WorkloadContext, type ProgressReport } from './context.js';
import {
  gpaToOffset,
  MAX_REPORTED_ERRORS,
  parseTrace,
  replayTrace,
  runTrace,
  TraceWorkloadSchema,
  type TraceOp,
  type TraceWorkloadConfig,
} from './trace.js';

import { readFileSync } from 'node:fs';

const repoFile = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

function parseOk(
  text: string,
  format: 'auto' | 'qemu' | 'tracepoint' | 'csv' | 'jsonl',
  name = 'test',
): TraceOp[] {
  const r = parseTrace(text, format, name);
  if (!r.ok) throw new Error(r.errors.map((e) => `line ${e.line}: ${e.message}`).join('\n'));
  return r.ops;
}

function errorsOf(text: string, format: 'auto' | 'qemu' | 'csv' | 'jsonl', name = 'test') {
  const r = parseTrace(text, format, name);
  if (r.ok) throw new Error(`expected errors, got ${r.ops.length} operations`);
  return r.errors;
}

/** The sample traces' guest: 16 GiB backed by 2 MiB HugeTLB pages. */
function sampleGuest(): Simulation {
  return simOf(
    { memoryBytes: 32 * GiB, hugetlb2m: 8192 },
    { pageSize: '2m', allocator: 'hugetlb', guestBytes: 16 * GiB },
  );
}

function contextOf(sim: Simulation, onProgress?: (r: ProgressReport) => void): WorkloadContext {
  return new WorkloadContext(sim, new Rng(1), {
    sampleIntervalNs: 1e6,
    ...(onProgress ? { onProgress } : {}),
  });
}

function workload(over: Partial<Record<keyof TraceWorkloadConfig, unknown>> = {}) {
  return TraceWorkloadSchema.parse({
    kind: 'trace',
    path: 'test.trace',
    populate: 'none',
    ...over,
  });
}

describe('TraceWorkloadSchema', () => {
  it('fills the defaults and rejects unknown keys', () => {
    expect(TraceWorkloadSchema.parse({ kind: 'trace', path: 'boot.log' })).toEqual({
      kind: 'trace',
      path: 'boot.log',
      format: 'auto',
      timing: 'recorded',
      gpaLayout: { lowMemBytes: 2 * GiB },
      populate: 'fallocate',
      onError: 'stop',
    });
    expect(TraceWorkloadSchema.safeParse({ kind: 'trace', path: 'a', speed: 2 }).success).toBe(
      false,
    );
    expect(
      TraceWorkloadSchema.safeParse({
        kind: 'trace',
        path: 'a',
        gpaLayout: { lowMemBytes: 5 * GiB },
      }).success,
    ).toBe(false);
    expect(
      TraceWorkloadSchema.safeParse({ kind: 'trace', path: 'a', gpaLayout: { lowMemBytes: 4097 } })
        .success,
    ).toBe(false);
  });
});

describe('QEMU kvm_convert_memory logs', () => {
  it('reads the three line forms, with times relative to the first conversion', () => {
    const ops = parseOk(
      [
        '12345@1699999999.123456:kvm_convert_memory start 0x80000000 size 0x200000 shared_to_private',
        '12345@1700000000.000001:kvm_convert_memory start 0x100000000 size 0x1000 private_to_shared',
      ].join('\n'),
      'qemu',
    );
    expect(ops).toEqual([
      {
        op: 'convert',
        line: 1,
        timeNs: 0,
        space: 'gpa',
        address: 0x80000000,
        size: 0x200000,
        to: 'private',
      },
      {
        op: 'convert',
        line: 2,
        timeNs: 876_545_000,
        space: 'gpa',
        address: 0x100000000,
        size: 0x1000,
        to: 'shared',
      },
    ]);
    const iso = parseOk(
      '2025-03-01T10:00:59.5Z kvm_convert_memory start 0x0 size 0x1000 private_to_shared\n' +
        '2025-03-01T10:01:00Z kvm_convert_memory start 0x0 size 0x1000 shared_to_private\n',
      'qemu',
    );
    expect(iso.map((o) => o.timeNs)).toEqual([0, 500_000_000]);
    const bare = parseOk('kvm_convert_memory start 0xABC000 size 0x1000 private_to_shared', 'qemu');
    expect(bare[0]).not.toHaveProperty('timeNs');
    expect(bare[0]!.address).toBe(0xabc000);
  });

  it('skips only other trace events, QEMU messages and blank lines, and counts them', () => {
    const r = parseTrace(
      [
        '48213@1733760512.001200:kvm_set_user_memory AddrSpace#0 Slot#0 flags=0x4 gpa=0x0',
        'kvm_cpu_exec',
        'qemu-system-x86_64: warning: host does not support requested feature',
        '2025-03-01T10:00:00Z qemu-kvm: terminating on signal 15',
        '',
        'kvm_convert_memory start 0x1000 size 0x1000 private_to_shared',
      ].join('\r\n'),
      'qemu',
      't.log',
    );
    expect(r.ok && r.ops.length === 1 && r.skippedLines).toBe(5);
    expect(
      errorsOf(
        'Linux version 6.12\nkvm_convert_memory start 0x0 size 0x1000 private_to_shared',
        'qemu',
      ),
    ).toEqual([{ line: 1, message: expect.stringContaining('not a QEMU trace line') }]);
  });

  it('reports every bad line with its number', () => {
    const errors = errorsOf(
      [
        'kvm_convert_memory start 0x1000 size 0x1000 private_to_shared', // 1: fine
        'kvm_convert_memory start 0x1800 size 0x1000 private_to_shared', // 2: unaligned
        'kvm_convert_memory start 0x1000 size 0x0 private_to_shared', // 3: size 0
        'kvm_convert_memory start 0x1000 size 0xffffffffffffffff shared_to_private', // 4: huge
        'kvm_convert_memory start 0x1000 size 0x1000', // 5: no direction
        'kvm_convert_memory start 0x1000 size 0x1000 private_to_shared extra', // 6
        '12345@1699999999.123456:kvm_convert_memory start 0x0 size 0x1000 private_to_shared', // 7
        '[12345] kvm_convert_memory start 0x0 size 0x1000 private_to_shared', // 8: odd prefix
        'kvm_convert_memo', // 9: truncated event name
      ].join('\n'),
      'qemu',
    );
    expect(errors.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(errors[0]!.message).toContain('0x1800 (6144) is not 4 KiB aligned');
    expect(errors[1]!.message).toContain('must be > 0');
    expect(errors[2]!.message).toContain('safe integer range');
    expect(errors[3]!.message).toContain('the line stops after');
    expect(errors[4]!.message).toContain('unexpected text after the direction');
    expect(errors[5]!.message).toContain('has a time but the first operation (line 1) has none');
    expect(errors[6]!.message).toContain('unrecognised text before kvm_convert_memory');
    expect(errors[7]!.message).toContain('was it cut short?');
  });

  it('says when a log holds no conversions', () => {
    expect(errorsOf('kvm_cpu_exec\nkvm_io_window_exit\n', 'qemu')[0]!.message).toContain(
      'no kvm_convert_memory events among 2 other trace line(s)',
    );
    expect(errorsOf('', 'qemu')[0]!.message).toContain('the trace is empty');
  });
});

describe('CSV and JSONL', () => {
  it('parses the example files in resources/traces', () => {
    const csv = parseTrace(repoFile('resources/traces/example.csv'), 'auto', 'example.csv');
    expect(csv.ok && csv.format).toBe('csv');
    expect(csv.ok && csv.ops.map((o) => o.op)).toEqual([
      'fallocate',
      'prefault',
      'convert',
      'fault',
      'pin',
      'unpin',
      'convert',
      'fault',
      'convert',
      'convert',
      'punch_hole',
      'punch_hole',
    ]);
    const jsonl = parseTrace(repoFile('resources/traces/example.jsonl'), 'auto', 'example.jsonl');
    expect(jsonl.ok && jsonl.format).toBe('jsonl');
    expect(jsonl.ok && jsonl.ops[2]).toEqual({
      op: 'fault',
      line: 5,
      timeNs: 10_100_000,
      space: 'gpa',
      address: 0x100000000,
      size: 4096,
      who: 'host',
      access: 'write',
    });
  });

  it('reads columns in any order, hex and decimal, without times', () => {
    const ops = parseOk(
      'size,op ,to, gpa\n4096,convert,shared,4294967296\n0x2000, pin,,0x1000\n',
      'csv',
    );
    expect(ops).toEqual([
      { op: 'convert', line: 2, space: 'gpa', address: 4 * GiB, size: 4096, to: 'shared' },
      { op: 'pin', line: 3, space: 'gpa', address: 0x1000, size: 0x2000 },
    ]);
  });

  it('rejects hostile numbers, naming the line and the field', () => {
    const header = 'time_ns,op,offset,size,to';
    const cases: Array<[string, string]> = [
      ['0,convert,0,1e30,shared', 'column "size": "1e30" has a fraction, an exponent or a sign'],
      ['0,convert,0,-4096,shared', 'column "size": "-4096" is negative'],
      ['0,convert,0,NaN,shared', 'column "size": expected a whole number'],
      ['0,convert,0,Infinity,shared', 'column "size": expected a whole number'],
      ['0,convert,0,4096.5,shared', 'column "size": "4096.5" has a fraction'],
      ['0,convert,0,0x20000000000000,shared', 'beyond the safe integer range'],
      ['0,convert,0,99999999999999999999,shared', 'beyond the safe integer range'],
      ['0,convert,0x1000,0x400000000000,shared', 'ends past 0x400000000000'],
      ['0,convert,0x400000000000,0x1000,shared', 'is past 0x400000000000'],
      ['0,convert,0,0x400000001000,shared', 'larger than the largest guest'],
      ['0,convert,0,0,shared', 'column "size": 0: must be > 0'],
      ['0,convert,0,4095,shared', 'column "size": 0xfff (4095) is not a multiple of 4 KiB'],
      ['-1,convert,0,4096,shared', 'column "time_ns": "-1" is negative'],
      ['0,convert,0x,4096,shared', 'column "offset": expected a whole number'],
    ];
    for (const [row, message] of cases) {
      const errors = errorsOf(`${header}\n${row}\n`, 'csv');
      expect(errors, row).toEqual([{ line: 2, message: expect.stringContaining(message) }]);
    }
    const json: Array<[string, string]> = [
      [
        '{"op":"pin","offset":0,"size":1e30}',
        'field "size": 1e+30 is beyond the safe integer range',
      ],
      ['{"op":"pin","offset":0,"size":-4096}', 'field "size": -4096 is negative'],
      ['{"op":"pin","offset":0,"size":"NaN"}', 'field "size": expected a whole number'],
      [
        '{"op":"pin","offset":0,"size":null}',
        'field "size": expected a whole number in decimal (4096) or 0x hex (0x1000), got null',
      ],
      [
        '{"op":"pin","offset":0,"size":[4096]}',
        'field "size": expected a whole number in decimal (4096) or 0x hex (0x1000), got an array',
      ],
      ['{"op":"pin","offset":0}', 'field "size": missing'],
      [
        '{"op":"pin","offset":true,"size":4096}',
        'field "offset": expected a whole number in decimal (4096) or 0x hex (0x1000), got a boolean',
      ],
      [
        '{"op":"convert","offset":0,"size":4096}',
        'field "to": missing: convert needs "shared" or "private"',
      ],
      [
        '{"op":"convert","offset":0,"size":4096,"to":1}',
        'field "to": expected "shared" or "private", got 1',
      ],
      ['{"op":"zap","offset":0,"size":4096}', 'field "op": unknown operation "zap"'],
      ['{"offset":0,"size":4096}', 'field "op": missing: expected one of convert'],
      [
        '{"op":"fault","offset":0,"who":"guest","access":"write","size":8192}',
        'a fault covers one 4 KiB page',
      ],
      [
        '{"op":"fault","gpa":0,"who":"guest"}',
        'field "access": missing: fault needs "read" or "write"',
      ],
      ['"convert"', 'expected one JSON object per line, got a string'],
      [
        '{"op":"pin","offset":0,"size":4096,"to":"shared","foo":1}',
        'pin takes no "to" (it takes time_ns, op, offset or gpa, size): leave it out; unknown field(s) "foo": expected time_ns, op, offset or gpa, size',
      ],
    ];
    for (const [line, message] of json) {
      const errors = errorsOf(`{"op":"fallocate","offset":0,"size":4096}\n${line}\n`, 'jsonl');
      expect(errors, line).toEqual([{ line: 2, message: expect.stringContaining(message) }]);
    }
  });

  it('checks the CSV header and the column count', () => {
    expect(errorsOf('0,convert,0,4096,shared\n', 'csv')[0]!.message).toContain(
      'needs a header line naming its columns',
    );
    const bad = errorsOf('op,offset,gpa,size,size,colour\n', 'csv');
    expect(bad).toHaveLength(1);
    expect(bad[0]!.message).toContain('unknown column "colour"');
    expect(bad[0]!.message).toContain('column "size" appears twice');
    expect(bad[0]!.message).toContain('both "offset" and "gpa" columns');
    const errors = errorsOf('# c\n\nop,offset,size\npin,0,4096,extra\nfault,0,\npin,0', 'csv');
    expect(errors.map((e) => e.line)).toEqual([4, 5, 6]);
    expect(errors[0]!.message).toContain('has 4 column(s), the header (line 3) names 3');
    expect(errors[1]!.message).toContain('missing (the header has no "who" column)');
    expect(errors[2]!.message).toContain('was it cut short?');
    expect(errorsOf('# only comments\n', 'csv')[0]!.message).toContain('needs a header line');
    expect(errorsOf('op,offset,size\n', 'csv')[0]).toEqual({
      line: 1,
      message: 'the trace holds a header but no operations',
    });
  });

  it('keeps times in order and all or none', () => {
    const errors = errorsOf(
      'time_ns,op,offset,size\n10,pin,0,4096\n5,pin,0,4096\n10,unpin,0,4096\n,unpin,0,4096\n',
      'csv',
    );
    expect(errors).toEqual([
      {
        line: 3,
        message: expect.stringContaining("before the previous operation's 10 ns (line 2)"),
      },
      { line: 5, message: expect.stringContaining('has no time but the first operation (line 2)') },
    ]);
  });

  it('lists the first 100 bad lines and counts the rest', () => {
    const lines = ['op,offset,size'];
    for (let i = 0; i < 250; i++) lines.push('pin,1,4096');
    const errors = errorsOf(`${lines.join('\n')}\n`, 'csv');
    expect(errors).toHaveLength(MAX_REPORTED_ERRORS + 1);
    expect(errors[99]!.line).toBe(101);
    expect(errors[100]).toEqual({
      line: 102,
      message: expect.stringContaining('and 150 more bad line(s)'),
    });
  });
});

describe('format detection', () => {
  it('goes by the extension, then by the first meaningful line', () => {
    const kinds = (text: string, name: string) => {
      const r = parseTrace(text, 'auto', name);
      return r.ok ? r.format : r.errors[0]!.message;
    };
    expect(kinds('op,offset,size\npin,0,4096\n', 'a.txt')).toBe('csv');
    expect(kinds('# c\n{"op":"pin","offset":0,"size":4096}\n', 'trace')).toBe('jsonl');
    expect(kinds('kvm_convert_memory start 0x0 size 0x1000 private_to_shared\n', 'x.out')).toBe(
      'qemu',
    );
    expect(
      kinds('kvm_cpu_exec\nkvm_convert_memory start 0x0 size 0x1000 private_to_shared\n', 'x'),
    ).toBe('qemu');
    expect(kinds('{"op":"pin","offset":0,"size":4096}\n', 'x.ndjson')).toBe('jsonl');
    // The extension wins: a JSON line in a .csv file is a bad CSV header.
    expect(kinds('{"op":"pin"}\n', 'x.csv')).toContain('bad CSV header');
    expect(kinds('hello there\n', 'x.txt')).toContain('cannot tell the format of x.txt');
    expect(kinds('\n\n', 'x.txt')).toContain('is empty');
  });
});

describe('docs/trace-format.md', () => {
  const md = repoFile('docs/trace-format.md');
  const blocks = [...md.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({
    info: m[1]!.trim().split(/\s+/),
    body: m[2]!.replace(/\n$/, ''),
  }));

  it('has examples of every format, and every one parses', () => {
    const examples = blocks.filter(
      (b) => ['qemu', 'tracepoint', 'csv', 'jsonl'].includes(b.info[0]!) && !b.info[1],
    );
    expect(new Set(examples.map((b) => b.info[0]))).toEqual(
      new Set(['qemu', 'tracepoint', 'csv', 'jsonl']),
    );
    for (const b of examples) {
      const format = b.info[0] as 'qemu' | 'tracepoint' | 'csv' | 'jsonl';
      expect(parseOk(b.body, format).length, b.body).toBeGreaterThan(0);
      // And 'auto' agrees when told nothing but the content.
      const auto = parseTrace(b.body, 'auto', 'doc-example');
      expect(auto.ok && auto.format, b.body).toBe(format);
    }
  });

  it('shows the exact messages of its invalid examples', () => {
    let checked = 0;
    blocks.forEach((b, i) => {
      if (b.info[1] !== 'invalid') return;
      const expected = blocks[i + 1]!;
      expect(expected.info[0]).toBe('text');
      const errors = errorsOf(b.body, b.info[0] as 'qemu' | 'csv' | 'jsonl');
      expect(errors.map((e) => `line ${e.line}: ${e.message}`).join('\n')).toBe(expected.body);
      checked++;
    });
    expect(checked).toBe(3);
  });

  it('shows the exact message of a failed replay', () => {
    const shown = blocks.find((b) => b.body.startsWith('trace traces/boot.log line '))!.body;
    const ops = parseOk(
      'kvm_convert_memory start 0x100000000 size 0x1000 private_to_shared\n' +
        'kvm_convert_memory start 0x480000000 size 0x1000 private_to_shared\n',
      'qemu',
    );
    const sim = sampleGuest();
    expect(() => runTrace(contextOf(sim), workload({ path: 'traces/boot.log' }), ops)).toThrow(
      shown,
    );
  });
});

describe('gpaToOffset', () => {
  const layout = { lowMemBytes: 2 * GiB };
  it('maps RAM below the hole and from 4 GiB, and refuses the hole', () => {
    expect(gpaToOffset(0x1000, 0x1000, layout)).toEqual({ ok: true, value: 0x1000 });
    expect(gpaToOffset(4 * GiB, 0x1000, layout)).toEqual({ ok: true, value: 2 * GiB });
    expect(gpaToOffset(18 * GiB - 4096, 4096, layout)).toEqual({
      ok: true,
      value: 16 * GiB - 4096,
    });
    const hole = gpaToOffset(3 * GiB, 0x1000, layout);
    expect(!hole.ok && hole.message).toContain('is in the PCI hole [0x80000000, 0x100000000)');
    const across = gpaToOffset(2 * GiB - 4096, 0x2000, layout);
    expect(!across.ok && across.message).toContain('runs past the end of RAM below 4 GiB');
  });
});

describe('replay', () => {
  const sampleText = repoFile('resources/traces/snp-boot-sample.log');
  const sampleOps = parseOk(sampleText, 'auto', 'snp-boot-sample.log');
  const sampleLines = sampleText.trimEnd().split('\n').length;

  it('replays the SNP boot sample on a 16 GiB guest with 2 MiB HugeTLB pages', () => {
    expect(sampleOps).toHaveLength(sampleLines);
    const sim = sampleGuest();
    // A QEMU trace holds conversions only: populate the file so they have folios to split.
    expect(sim.fallocate(0, 16 * GiB).ok).toBe(true);
    const reports: ProgressReport[] = [];
    const stats = replayTrace(
      contextOf(sim, (r) => reports.push(r)),
      workload(),
      sampleOps,
    );
    const m = sim.summary().metrics;
    expect(m.conversions_to_shared + m.conversions_to_private).toBe(sampleLines);
    expect(m.conversions_to_shared).toBe(sampleText.split('private_to_shared').length - 1);
    expect(stats).toMatchObject({ ops: sampleLines, failed: 0 });
    expect(m.splits_2m).toBeGreaterThan(491); // the SWIOTLB alone splits 491 2 MiB folios
    expect(m.merges_2m).toBeGreaterThan(0); // runtime DMA buffers go back private
    expect(sim.checkInvariants()).toEqual([]);
    expect(reports[0]).toEqual({ phase: 'replay', fraction: 0 });
    expect(reports.at(-1)).toEqual({ phase: 'replay', fraction: 1 });
  });

  it('populates the whole file before the replay unless told not to', () => {
    const sim = sampleGuest();
    const reports: ProgressReport[] = [];
    runTrace(
      contextOf(sim, (r) => reports.push(r)),
      workload({ populate: 'fallocate' }),
      sampleOps,
    );
    expect(reports[0]).toEqual({ phase: 'populate', fraction: 0 });
    const m = sim.summary().metrics;
    expect(m.splits_2m).toBeGreaterThan(491);
    expect(sim.checkInvariants()).toEqual([]);
    const bare = sampleGuest();
    runTrace(contextOf(bare), workload({ populate: 'none' }), sampleOps);
    expect(bare.summary().metrics.splits_2m).toBe(0);
  });

  it('follows the recorded times, or ignores them back to back', () => {
    const span = sampleOps.at(-1)!.timeNs!;
    expect(span).toBe(56_240_905_000);
    const recorded = sampleGuest();
    const startRecorded = recorded.now;
    runTrace(contextOf(recorded), workload({ timing: 'recorded' }), sampleOps);
    const backToBack = sampleGuest();
    runTrace(contextOf(backToBack), workload({ timing: 'back-to-back' }), sampleOps);
    expect(recorded.now - startRecorded).toBeGreaterThanOrEqual(span);
    expect(backToBack.now).toBeLessThan(span / 100);
    // Same operations either way.
    const conversions = (s: Simulation) =>
      s.summary().metrics.conversions_to_shared + s.summary().metrics.conversions_to_private;
    expect(conversions(recorded)).toBe(conversions(backToBack));
  });

  it('lets deferred merges run in the recorded gaps', () => {
    const text =
      'time_ns,op,offset,size,to\n0,fallocate,0,0x200000,\n1000000,convert,0x1000,0x1000,shared\n' +
      '2000000,convert,0x1000,0x1000,private\n100000000,pin,0,0x1000,\n';
    const ops = parseOk(text, 'csv');
    const run = (timing: 'recorded' | 'back-to-back') => {
      const sim = simOf(
        { hugetlb2m: 64 },
        {
          pageSize: '2m',
          allocator: 'hugetlb',
          guestBytes: 64 * MiB,
          policies: { merge: 'deferred', mergeDelayNs: 10_000_000 },
        },
      );
      runTrace(contextOf(sim), workload({ timing }), ops);
      return sim.summary().metrics.merges_2m;
    };
    expect(run('recorded')).toBe(1);
    expect(run('back-to-back')).toBe(0);
  });

  it('replays the CSV and JSONL examples without a failure', () => {
    for (const name of ['example.csv', 'example.jsonl']) {
      const sim = sampleGuest();
      const ops = parseOk(repoFile(`resources/traces/${name}`), 'auto', name);
      const stats = replayTrace(contextOf(sim), workload({ path: name }), ops);
      expect(stats, name).toMatchObject({ failed: 0, lateOps: 0 });
      expect(sim.checkInvariants(), name).toEqual([]);
    }
  });

  describe('failures in the model', () => {
    const text =
      'op,offset,size,to\nfallocate,0,0x200000,\nconvert,0x1000,0x1000,shared\npin,0x1000,0x1000,\n' +
      'convert,0x1000,0x1000,private\nconvert,0x4000000,0x1000,shared\nconvert,0,0x1000,shared\n';
    const ops = parseOk(text, 'csv');
    const smallGuest = () =>
      simOf({ hugetlb2m: 64 }, { pageSize: '2m', allocator: 'hugetlb', guestBytes: 64 * MiB });

    it('stop: throws with the trace line and the model message', () => {
      const sim = smallGuest();
      expect(() => runTrace(contextOf(sim), workload(), ops)).toThrow(
        /^trace test\.trace line 5: convert to private offset 0x1000 size 0x1000 failed: EAGAIN: page at offset 0x1000 has an elevated refcount/,
      );
      expect(sim.summary().metrics.eagain_failures).toBe(1);
    });

    it('skip: counts failures by errno and goes on', () => {
      const sim = smallGuest();
      const stats = replayTrace(contextOf(sim), workload({ onError: 'skip' }), ops);
      expect(stats).toMatchObject({ ops: 6, failed: 2, failuresByErrno: { EAGAIN: 1, EINVAL: 1 } });
      const m = sim.summary().metrics;
      expect(m.eagain_failures).toBe(1);
      expect(m.conversions_to_shared).toBe(2); // line 7 ran after the failures
      expect(sim.checkInvariants()).toEqual([]);
    });

    it('past the end of the guest: EINVAL from the model, naming the line', () => {
      const sim = smallGuest();
      expect(() => runTrace(contextOf(sim), workload(), ops.slice(4))).toThrow(
        'trace test.trace line 6: convert to shared offset 0x4000000 size 0x1000 failed: EINVAL: range [0x4000000, 0x4001000) ends past the file size 0x4000000',
      );
    });

    it('a GPA in the PCI hole fails its line', () => {
      const hole = parseOk(
        'kvm_convert_memory start 0xc0000000 size 0x1000 private_to_shared\n',
        'qemu',
      );
      expect(() => runTrace(contextOf(smallGuest()), workload(), hole)).toThrow(
        /^trace test\.trace line 1: convert to shared gpa 0xc0000000 size 0x1000 failed: EINVAL: gpa 0xc0000000 is in the PCI hole/,
      );
      const stats = replayTrace(contextOf(smallGuest()), workload({ onError: 'skip' }), hole);
      expect(stats.failuresByErrno).toEqual({ EINVAL: 1 });
    });
  });
});
