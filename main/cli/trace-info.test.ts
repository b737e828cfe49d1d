// `gmem-lab trace info`: what a trace holds, counted from the file, in text and JSON; a trace with
// bad lines lists every one with its number and exits 2, like a bad argument or a missing file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SimpleWriter } from '../../core/workloads/test-traces.js';
import { cli, smallExperiment, tempDir, writeExperiment } from './test-helpers.js';

const GiB = 2 ** 30;

/** Conversions of 4 KiB pages at GPAs in three 2 MiB ranges of two 1 GiB ranges, 1 s apart. */
function qemuLog(): string {
  const gpas = [0x1000, 0x2000, 0x200000, 4 * GiB + 0x3000];
  return (
    gpas
      .map(
        (gpa, i) =>
          `48231@1733760512.${String(i).padStart(6, '0')}:kvm_convert_memory start 0x${gpa.toString(16)} size 0x1000 ${i === 3 ? 'shared_to_private' : 'private_to_shared'}`,
      )
      .join('\n') + '\nkvm_set_user_memory_region slot 1\n'
  );
}

describe('gmem-lab trace info', () => {
  it('counts operations each way, the time span and the distinct ranges touched', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'boot.log'), qemuLog());
    const r = await cli(['trace', 'info', 'boot.log', '--json'], dir);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({
      format: 'qemu',
      lines: 5,
      skippedLines: 1,
      ops: 4,
      toShared: { count: 3, bytes: 3 * 4096 },
      toPrivate: { count: 1, bytes: 4096 },
      timeSpanNs: 3000,
      offset: null,
      gpa: { ops: 4, lowest: 0x1000, end: 4 * GiB + 0x4000, ranges2m: 3, ranges1g: 2 },
    });
    const text = await cli(['trace', 'info', 'boot.log'], dir);
    expect(text.stdout).toMatch(/conversions to shared: 3, 12 KiB; to private: 1, 4 KiB/);
    expect(text.stdout).toMatch(/3 distinct 2 MiB and 2 distinct 1 GiB ranges touched/);
  });

  it('a trace with bad lines lists each with its number and exits 2; so does a missing file', async () => {
    const dir = tempDir();
    const lines = qemuLog().split('\n');
    lines.splice(2, 0, 'kvm_convert_memory start 0x1001 size 0x1000 private_to_shared');
    writeFileSync(join(dir, 'bad.log'), lines.join('\n'));
    const r = await cli(['trace', 'info', 'bad.log'], dir);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bad\.log:3: start 0x1001 \(4097\) is not 4 KiB aligned/);
    const missing = await cli(['trace', 'info', 'none.log'], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the trace .*none\.log/);
    const format = await cli(['trace', 'info', 'bad.log', '--format', 'pcap'], dir);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(
      /--format "pcap": expected auto, qemu, qemu-simple, tracepoint, csv, jsonl/,
    );
  });

  it('reads a QEMU simple-backend file by its header, and a run replays it as it replays the log', async () => {
    const dir = tempDir();
    // The same conversions of a 2 GiB guest, as QEMU's simple and log backends write them.
    const convs: [number, number, string][] = [
      [0x0, 0x40000000, 'shared_to_private'],
      [0x1000, 0x1000, 'private_to_shared'],
      [0x203000, 0x2000, 'private_to_shared'],
      [0x1000, 0x1000, 'shared_to_private'],
    ];
    const w = new SimpleWriter().mapping('kvm_run_exit', 1n).mapping('kvm_convert_memory', 2n);
    convs.forEach(([gpa, size, msg], i) => {
      w.convert(1_000_000_000n + BigInt(i) * 1_000_000n, BigInt(gpa), BigInt(size), msg);
      w.event({ name: 'kvm_run_exit', timestampNs: 1n, args: [0n, 2n] });
    });
    writeFileSync(join(dir, 'trace-4242'), w.build());
    writeFileSync(
      join(dir, 'boot.log'),
      convs
        .map(
          ([gpa, size, msg], i) =>
            `4242@1733760512.${String(i * 1000).padStart(6, '0')}:kvm_convert_memory start 0x${gpa.toString(16)} size 0x${size.toString(16)} ${msg}`,
        )
        .join('\n') + '\n',
    );
    const info = await cli(['trace', 'info', 'trace-4242', '--json'], dir);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({
      format: 'qemu-simple',
      lines: 10,
      skippedLines: 6,
      ops: 4,
      toShared: { count: 2, bytes: 3 * 4096 },
      toPrivate: { count: 2, bytes: 0x40000000 + 4096 },
      timeSpanNs: 3_000_000,
    });
    const text = await cli(['trace', 'info', 'trace-4242'], dir);
    expect(text.stdout).toMatch(/qemu-simple trace, .* 10 records \(6 carry no operation\)/);

    const results: unknown[] = [];
    for (const path of ['trace-4242', 'boot.log']) {
      const exp = writeExperiment(
        dir,
        { ...smallExperiment(path), workload: { kind: 'trace', path } },
        `${path}.gmemlab.json`,
      );
      const r = await cli(['run', exp, '--json'], dir);
      expect(r.code, r.stderr).toBe(0);
      const json = JSON.parse(r.stdout) as {
        variants: { summary: { conversions_to_shared: number } }[];
      };
      expect(json.variants[0]!.summary.conversions_to_shared).toBe(2);
      results.push(json.variants.map((v) => v.summary));
    }
    expect(results[0]).toEqual(results[1]);
  });
});
