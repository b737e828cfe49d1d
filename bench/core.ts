// Figures of the core on one thread: conversion throughput, and the memory a 1 TiB and a 4 TiB
// guest take (measured in child processes, so each peak is its own).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Simulation } from '../core/sim/simulation.js';
import { GiB, TiB } from '../core/units.js';
import type { Figure } from './figures.js';

const ROOT = join(import.meta.dirname, '..');

function hugeHost(guestBytes: number) {
  return {
    nodes: [{ memoryBytes: guestBytes + 64 * GiB, cpus: '0-15', hugetlb1g: guestBytes / GiB }],
  };
}

/** Random 4 KiB conversions alternating to-shared and to-private over a 1 TiB guest on 1 GiB
 * HugeTLB pages with eager merge: every pair splits and merges one 1 GiB folio. */
export function benchConversions(figures: Figure[]): void {
  const sim = new Simulation({
    host: hugeHost(TiB),
    variant: { name: 'bench', guestBytes: TiB, pageSize: '1g', allocator: 'hugetlb' },
    seed: 1,
  });
  sim.fallocate(0, TiB);
  const pages = TiB / 4096;
  let x = 1;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const offset = ((x * 64) % pages) * 4096;
      sim.convert(offset, 4096, 'shared');
      sim.convert(offset, 4096, 'private');
    }
  };
  run(20_000); // warm up
  const n = 200_000;
  const rates: number[] = [];
  for (let trial = 0; trial < 5; trial++) {
    const t0 = performance.now();
    run(n);
    rates.push((2 * n) / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  figures.push({
    name: 'conversions per second (1 TiB, 1 GiB HugeTLB, eager merge)',
    value: Math.round(rates[2]!),
    unit: '1/s',
    target: '>= 10,000,000',
    note: `median of 5 x ${2 * n} conversions, fastest ${Math.round(rates[4]!).toLocaleString('en-US')}/s`,
  });
}

export interface ChildResult {
  readonly maxRssMiB: number;
  readonly seconds: number;
  readonly modelStorageMiB?: number;
  readonly variants?: Array<{
    name: string;
    ms: number;
    guestBytes: number;
    faults: number;
    faultP99Ns: number;
  }>;
}

export function child(what: string, guestBytes: number, ...args: string[]): ChildResult {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench', 'child.ts'), what, String(guestBytes), ...args],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  if (r.status !== 0) throw new Error(`bench child ${what} ${guestBytes} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as ChildResult;
}

export function benchMemory(figures: Figure[]): void {
  for (const [bytes, label, target] of [
    [TiB, '1 TiB', '< 512'],
    [4 * TiB, '4 TiB', 'runs at all'],
  ] as const) {
    const fp = child('footprint', bytes);
    figures.push({
      name: `peak RSS, ${label} guest on 1 GiB HugeTLB: fallocate all, 100k conversions`,
      value: Math.round(fp.maxRssMiB),
      unit: 'MiB',
      target,
      note: `whole process (Node + tsx + model); model state ${Math.round(fp.modelStorageMiB!)} MiB; ${fp.seconds.toFixed(1)} s`,
    });
    const boot = child('boot', bytes);
    figures.push({
      name: `peak RSS, ${label} guest: SNP boot lifecycle, HugeTLB 1 GiB and 4 KiB variants`,
      value: Math.round(boot.maxRssMiB),
      unit: 'MiB',
      target,
      note: `whole process; ${boot.variants!.map((v) => `${v.name} ${v.ms} ms`).join(', ')}`,
    });
  }
}
