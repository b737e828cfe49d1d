// Figures of the core on one thread: conversion throughput, and the memory a 1 TiB and a 4 TiB
// guest take (measured in child processes, so each peak is its own, from the bundled model).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { TiB } from '../core/units.js';
import { bundledChild } from './bundle.js';
import type { Figure } from './figures.js';

const ROOT = join(import.meta.dirname, '..');

/** Random 4 KiB conversions alternating to-shared and to-private over a 1 TiB guest on 1 GiB
 * HugeTLB pages with eager merge: every pair splits and merges one 1 GiB folio (bench/child.ts). */
export function benchConversions(figures: Figure[]): void {
  const r = child('conversions', TiB);
  const rates = [...r.rates!].sort((a, b) => a - b);
  const median = Math.round(rates[2]!);
  figures.push({
    name: 'conversions per second (1 TiB, 1 GiB HugeTLB, eager merge)',
    value: median,
    unit: '1/s',
    target: '>= 10,000,000',
    pass: median >= 10_000_000,
    note: `median of 5 x ${2 * r.pairs!} conversions on one thread, fastest ${Math.round(rates[4]!).toLocaleString('en-US')}/s`,
  });
}

export interface ChildResult {
  readonly maxRssMiB: number;
  readonly seconds: number;
  readonly modelStorageMiB?: number;
  readonly ms?: number;
  readonly pairs?: number;
  readonly rates?: number[];
  readonly variants?: Array<{
    name: string;
    ms: number;
    guestBytes: number;
    faults: number;
    faultP99Ns: number;
  }>;
}

export function child(what: string, guestBytes: number, ...args: string[]): ChildResult {
  const r = spawnSync(process.execPath, [bundledChild(), what, String(guestBytes), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    env: { ...process.env, GMEMLAB_ROOT: ROOT },
  });
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
      note: `whole process (Node + model); model state ${Math.round(fp.modelStorageMiB!)} MiB; ${fp.seconds.toFixed(1)} s`,
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
