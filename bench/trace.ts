// Trace replay at real size: a generated QEMU kvm_convert_memory log of 2,000,000 random 4 KiB
// conversions (each direction at random) over the guest, replayed from the file on HugeTLB 2 MiB
// and 1 GiB, for a 16 GiB and a 1 TiB guest, each in a process of its own as a worker runs it:
// conversions per second end to end (the check pass over the file, then the model replaying the
// operations that pass kept: the whole run, populate included) and the process's peak RSS. The
// time per conversion at 1 TiB over 16 GiB is given twice: each guest with its own random trace
// (the 1 TiB one lands in 64 times as many huge pages, so the model splits and merges more), and
// the 16 GiB trace on a 1 TiB guest (the same model work: the cost of the guest's size alone).
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../core/rng.js';
import { child } from './core.js';
import type { Figure } from './figures.js';

const GiB = 2 ** 30;
const CONVERSIONS = 2_000_000;
/** Lines of the long log: more operations than the check pass keeps for the replay (64 MiB,
 * core/workloads/trace-oplog.ts), so the replay reads the file a second time, as it does for a
 * trace of any length past that. */
const LONG_CONVERSIONS = 6_000_000;

async function writeLog(path: string, guestBytes: number, lines = CONVERSIONS): Promise<void> {
  const out = createWriteStream(path);
  const rng = new Rng(12);
  const pages = guestBytes / 4096;
  // RAM above 4 GiB starts at GPA 4 GiB in QEMU's x86 layout; below it, the first 2 GiB
  // (the trace workload's default gpaLayout.lowMemBytes): map page p of the file to its GPA.
  const low = 2 * GiB;
  let batch = '';
  for (let i = 0; i < lines; i++) {
    const offset = Math.floor(rng.next() * pages) * 4096;
    const gpa = offset < low ? offset : offset - low + 4 * GiB;
    const dir = rng.next() < 0.5 ? 'private_to_shared' : 'shared_to_private';
    batch += `kvm_convert_memory start 0x${gpa.toString(16)} size 0x1000 ${dir}\n`;
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await new Promise<void>((r) => out.once('drain', () => r()));
      batch = '';
    }
  }
  out.end(batch);
  await new Promise<void>((r) => out.once('finish', () => r()));
}

export async function benchTrace(figures: Figure[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gmemlab-bench-trace-'));
  /** ns per line, by page size, at 16 GiB and at 1 TiB. */
  const perLine: Record<string, number[]> = { '2m': [], '1g': [] };
  /** Folio splits and merges of each of those runs. */
  const splitsMerges: Record<string, number[]> = { '2m': [], '1g': [] };
  const smallLogs: Record<string, string> = {};
  try {
    for (const [label, bytes] of [
      ['16 GiB', 16 * GiB],
      ['1 TiB', 1024 * GiB],
    ] as const) {
      const file = join(dir, `${label.replace(' ', '')}.log`);
      await writeLog(file, bytes);
      const mb = statSync(file).size / 1e6;
      for (const size of ['2m', '1g']) {
        const r = child('trace', bytes, size, file) as unknown as TraceRun;
        const perSec = Math.round(CONVERSIONS / (r.ms / 1000));
        // Per conversion: the passes over the trace, not populating the guest first (a fallocate
        // of all of it, which grows with the guest by nature).
        perLine[size]!.push(((r.ms - r.populateMs) * 1e6) / CONVERSIONS);
        splitsMerges[size]!.push(r.splitsMerges);
        if (label === '16 GiB') smallLogs[size] = file;
        figures.push({
          name: `trace replay, ${label} guest, HugeTLB ${size === '2m' ? '2 MiB' : '1 GiB'}: conversions/s end to end`,
          value: perSec,
          unit: '/s',
          target: '>= 2,000,000',
          note: `${CONVERSIONS.toLocaleString('en-US')} lines (${mb.toFixed(0)} MB) checked, parsed and replayed in ${(r.ms / 1000).toFixed(1)} s (of which populating the guest before the replay ${(r.populateMs / 1000).toFixed(1)} s); ${r.conversions.toLocaleString('en-US')} conversions the model ran; ${((r.ms * 1e6) / CONVERSIONS).toFixed(0)} ns per line`,
        });
        figures.push({
          name: `trace replay, ${label} guest, HugeTLB ${size === '2m' ? '2 MiB' : '1 GiB'}: peak RSS`,
          value: Math.round(r.maxRssMiB),
          unit: 'MiB',
          target: '< 512',
        });
      }
    }
    for (const size of ['2m', '1g']) {
      const [small, large] = perLine[size]!;
      const [fewer, more] = splitsMerges[size]!;
      const backing = size === '2m' ? '2 MiB' : '1 GiB';
      figures.push({
        name: `trace replay, HugeTLB ${backing}: time per conversion, 1 TiB guest over 16 GiB guest`,
        value: Math.round((large! / small!) * 100) / 100,
        unit: 'x',
        target: '<= 1.5',
        note: `check and replay time per line (the populate before the replay left out), each guest's own random trace: the 1 TiB trace spreads its conversions over 64 times as many huge pages, so the model splits and merges ${fewer!.toLocaleString('en-US')} folios at 16 GiB and ${more!.toLocaleString('en-US')} at 1 TiB`,
      });
      // The 16 GiB guest's trace on a 1 TiB guest: the same conversions of the same huge pages,
      // so the model's work is the same and only the guest's size differs (what sampling and
      // the bookkeeping of untouched memory must not pay for).
      const same = child('trace', 1024 * GiB, size, smallLogs[size]!) as unknown as TraceRun;
      const sameLine = ((same.ms - same.populateMs) * 1e6) / CONVERSIONS;
      figures.push({
        name: `trace replay, HugeTLB ${backing}: time per conversion, same trace on a 1 TiB guest over 16 GiB guest`,
        value: Math.round((sameLine / small!) * 100) / 100,
        unit: 'x',
        target: '<= 1.5',
        note: `the 16 GiB guest's trace replayed on a 1 TiB guest (${same.splitsMerges.toLocaleString('en-US')} splits and merges, as at 16 GiB): the cost of the guest's size alone, sampling included; ${sameLine.toFixed(0)} ns per line, ${Math.round(same.maxRssMiB)} MiB peak RSS`,
      });
    }
    benchLongTrace(figures, await longLog(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface TraceRun {
  readonly ms: number;
  readonly populateMs: number;
  readonly conversions: number;
  readonly splitsMerges: number;
  readonly maxRssMiB: number;
}

async function longLog(dir: string): Promise<string> {
  const file = join(dir, 'long.log');
  await writeLog(file, 16 * GiB, LONG_CONVERSIONS);
  return file;
}

/** A log too long for the check pass's operation log: checked, then read again and replayed. */
function benchLongTrace(figures: Figure[], file: string): void {
  const mb = statSync(file).size / 1e6;
  const r = child('trace', 16 * GiB, '1g', file) as unknown as {
    ms: number;
    maxRssMiB: number;
  };
  const label = `trace replay, ${(LONG_CONVERSIONS / 1e6).toFixed(0)} M lines past the kept operations, 16 GiB guest, HugeTLB 1 GiB`;
  figures.push({
    name: `${label}: conversions/s end to end`,
    value: Math.round(LONG_CONVERSIONS / (r.ms / 1000)),
    unit: '/s',
    target: '>= 2,000,000',
    note: `${mb.toFixed(0)} MB checked, then read again and replayed, in ${(r.ms / 1000).toFixed(1)} s`,
  });
  figures.push({
    name: `${label}: peak RSS`,
    value: Math.round(r.maxRssMiB),
    unit: 'MiB',
    target: '< 512',
  });
}
