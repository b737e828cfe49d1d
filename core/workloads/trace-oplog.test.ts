// The check pass's operation log: it gives back every operation as it was logged, with the
// progress marks in place, and drops itself, holding nothing, once it would pass its budget.
import { describe, expect, it } from 'vitest';
import { OpLog, prefetch, setOpLogBudget } from './trace-oplog.js';
import {
  OP_GPA,
  OP_TO_PRIVATE,
  opCode,
  opFromFields,
  TRACE_OP_NAMES,
  type TraceOp,
} from './trace-ops.js';

type Fields = [number, number, number, number, number];

function logged(log: OpLog): { ops: Fields[]; progress: Array<[number, number]> } {
  const ops: Fields[] = [];
  const progress: Array<[number, number]> = [];
  log.replay(
    { op: (...f: Fields) => void ops.push(f) },
    (bytes) => void progress.push([ops.length, bytes]),
  );
  return { ops, progress };
}

describe('OpLog', () => {
  it('gives back every operation in order, across blocks, times only where there are any', () => {
    const log = new OpLog();
    const want: Fields[] = [];
    for (let i = 0; i < 150_000; i++) {
      // Untimed in the first block, timed from the second on.
      const f: Fields = [
        i % 3 === 0 ? OP_GPA | OP_TO_PRIVATE : OP_GPA,
        i + 1,
        i < 65_536 ? NaN : i * 10,
        (2 ** 40 + i) * 4096,
        4096 * (1 + (i % 5)),
      ];
      want.push(f);
      log.op(...f);
      if (i % 50_000 === 49_999) log.mark(i);
    }
    log.mark(999);
    expect(log.complete).toBe(true);
    expect(log.length).toBe(150_000);
    const got = logged(log);
    expect(got.ops).toEqual(want);
    // Each mark before the first operation logged after it, the last one at the end.
    expect(got.progress).toEqual([
      [50_000, 49_999],
      [100_000, 99_999],
      [150_000, 149_999],
      [150_000, 999],
    ]);
  });

  it('drops everything once it would pass its budget', () => {
    // Two blocks of 65,536 operations without times fit in 3 MiB; a third does not.
    const before = setOpLogBudget(3 * 2 ** 20);
    try {
      const log = new OpLog();
      for (let i = 0; i < 2 * 65_536; i++) log.op(0, i + 1, NaN, i * 4096, 4096);
      expect(log.complete).toBe(true);
      log.op(0, 1, NaN, 0, 4096);
      expect(log.complete).toBe(false);
      expect(log.length).toBe(0);
      expect(logged(log).ops).toEqual([]);
      // Times take room too: one block with them (29 bytes an operation) passes 1.5 MiB.
      setOpLogBudget(1.5 * 2 ** 20);
      const timed = new OpLog();
      timed.op(0, 1, NaN, 0, 4096);
      expect(timed.complete).toBe(true);
      timed.op(0, 2, 5, 0, 4096);
      expect(timed.complete).toBe(false);
    } finally {
      setOpLogBudget(before);
    }
  });

  it('drops itself for a line number past its 32-bit field', () => {
    const log = new OpLog();
    log.op(0, 2 ** 32, NaN, 0, 4096);
    expect(log.complete).toBe(false);
  });

  it('codes every kind of operation so that it reads back as the parsers shape it', () => {
    const base = { line: 7, space: 'offset', address: 0x2000, size: 4096 } as const;
    const ops: TraceOp[] = [
      { ...base, op: 'convert', to: 'shared' },
      { ...base, op: 'convert', space: 'gpa', timeNs: 12, to: 'private' },
      { ...base, op: 'fallocate' },
      { ...base, op: 'punch_hole', timeNs: 0 },
      { ...base, op: 'pin' },
      { ...base, op: 'unpin', space: 'gpa' },
      { ...base, op: 'fault', who: 'guest', access: 'read' },
      { ...base, op: 'fault', who: 'host', access: 'write' },
      { ...base, op: 'fault', who: 'guest', access: 'write' },
      { ...base, op: 'prefault' },
    ];
    expect(new Set(ops.map((o) => o.op))).toEqual(new Set(TRACE_OP_NAMES));
    for (const op of ops) {
      const back = opFromFields(opCode(op), op.line, op.timeNs ?? NaN, op.address, op.size);
      expect(back).toStrictEqual(op);
    }
  });

  it('tells a sink of the operations a little before they come, and gives them all the same', () => {
    const log = new OpLog();
    for (let i = 0; i < 70_000; i++) log.op(OP_GPA, i + 1, NaN, i * 4096, 4096);
    const ops: number[] = [];
    /** For each operation (by its line), how many operations before it came it was read ahead. */
    const lead = new Map<number, number>();
    let inBlock = 0;
    log.replay(
      {
        op: (_code, line) => void ops.push(line),
        prefetch: (codes, addresses, sizes, from, to) => {
          expect(to - from).toBeLessThanOrEqual(32);
          for (let i = from; i < to; i++) {
            expect([codes[i], sizes[i]]).toEqual([OP_GPA, 4096]);
            lead.set(addresses[i]! / 4096 + 1, ops.length);
          }
          inBlock++;
        },
      },
      () => {},
    );
    expect(ops).toEqual(Array.from({ length: 70_000 }, (_, i) => i + 1));
    // Every operation but the first 32 of each block of 65,536 is read ahead, 1 to 64 operations
    // before it comes, once.
    for (let line = 1; line <= 70_000; line++) {
      const at = (line - 1) % 65_536;
      const before = lead.get(line);
      if (at < 32) expect(before, `line ${line}`).toBeUndefined();
      else expect(line - 1 - before!, `line ${line}`).toBeGreaterThanOrEqual(1);
      if (before !== undefined) expect(line - 1 - before).toBeLessThanOrEqual(64);
    }
    expect(inBlock).toBe(Math.ceil((65_536 - 32) / 32) + Math.ceil((70_000 - 65_536 - 32) / 32));
    // Turned off, no sink is told.
    prefetch.enabled = false;
    try {
      log.replay({ op: () => {}, prefetch: () => expect.fail('read ahead while off') }, () => {});
    } finally {
      prefetch.enabled = true;
    }
  });
});
