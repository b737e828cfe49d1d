// A trace file read a chunk at a time: the same text as a whole-file read, multi-byte characters
// split across chunks included; line counts for estimates; each pass starts from the beginning.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SimpleWriter } from '../../core/workloads/test-traces.js';
import { LineReader, scanTrace } from '../../core/workloads/trace.js';
import { makeTempDir, removeDir } from './store-test-helpers.js';
import { countTraceLines, fileTraceSource } from './trace-file.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await removeDir(d);
});

describe('fileTraceSource', () => {
  it('reads a file of several chunks as the whole-file read does, split characters included', async () => {
    const dir = await makeTempDir('gmemlab-trace-file-');
    dirs.push(dir);
    const path = join(dir, 't.csv');
    // 1 MiB - 1 bytes of "a", then a two-byte character across the first chunk boundary.
    const text =
      '\uFEFF' + 'a'.repeat((1 << 20) - 4) + 'é\r\n# comment\n' + 'b,c\n'.repeat(300_000) + 'tail';
    writeFileSync(path, text);
    const source = fileTraceSource(path, 'shown.csv');
    expect(source.name).toBe('shown.csv');
    expect(source.bytes).toBe(Buffer.byteLength(text));
    for (let pass = 0; pass < 2; pass++) {
      const chunks = source.open();
      let got = '';
      for (let c = chunks.next(); c !== null; c = chunks.next()) got += c;
      expect(got).toBe(readFileSync(path, 'utf8').replace(/^\uFEFF/, ''));
      expect(chunks.bytesRead).toBe(source.bytes);
    }
    const reader = new LineReader(source.open());
    const first = reader.next()!;
    expect(first.text.endsWith('é')).toBe(true);
    let last = first;
    for (let l = reader.next(); l !== null; l = reader.next()) last = l;
    expect(last).toEqual({ text: 'tail', line: 300_003, lastCut: true });
    expect(await countTraceLines(path)).toBe(300_003);
  });

  it('counts only lines that are not blank', async () => {
    const dir = await makeTempDir('gmemlab-trace-file-');
    dirs.push(dir);
    const path = join(dir, 't.log');
    writeFileSync(path, 'one\n\n  \t\r\ntwo\r\n   three');
    expect(await countTraceLines(path)).toBe(3);
    expect(await countTraceLines(path)).toBe(3);
    // A changed file is counted again (the count is kept only while size and time match).
    writeFileSync(path, 'one\n\n  \t\r\ntwo\r\n   three\nfour\n');
    expect(await countTraceLines(path)).toBe(4);
  });

  it('reads a binary trace of several chunks byte for byte, and counts its conversions', async () => {
    const dir = await makeTempDir('gmemlab-trace-file-');
    dirs.push(dir);
    const path = join(dir, 'trace-4242');
    // 40,000 conversion records (61 bytes each) and as many other events: over 4 MiB.
    const w = new SimpleWriter().mapping('kvm_convert_memory', 1n).mapping('kvm_run_exit', 2n);
    for (let i = 0; i < 40_000; i++) {
      w.convert(
        BigInt(i),
        BigInt(i % 512) * 4096n,
        4096n,
        i % 2 ? 'shared_to_private' : 'private_to_shared',
      );
      w.event({ name: 'kvm_run_exit', timestampNs: BigInt(i), args: [0n, 2n] });
    }
    const bytes = w.build();
    writeFileSync(path, bytes);
    const source = fileTraceSource(path);
    const chunks = source.openBytes();
    const read: Buffer[] = [];
    for (let c = chunks.next(); c !== null; c = chunks.next()) read.push(Buffer.from(c));
    expect(read.length).toBeGreaterThan(4);
    expect(Buffer.concat(read).equals(Buffer.from(bytes))).toBe(true);
    const scan = scanTrace(source, 'auto');
    expect(scan).toMatchObject({ ok: true, format: 'qemu-simple', ops: 40_000, lines: 80_002 });
    expect(await countTraceLines(path)).toBe(40_000);
  });
});
