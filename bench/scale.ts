// Scale: model time and peak RSS of guests of 1, 4, 16 and 64 TiB (1 GiB HugeTLB, the SNP boot
// lifecycle), with lazy and with eager acceptance, each in a process of its own. Eager acceptance
// of all RAM is one fault per 2 MiB mapping (SNP's RMP limit), so the work grows with the guest:
// the time per fault shows whether the model's cost grows faster than the work. Before them, the
// time of a fallocate of a whole 16 or 64 TiB guest on 2 MiB and 1 GiB HugeTLB pages.
import { child } from './core.js';
import type { Figure } from './figures.js';

const TiB = 2 ** 40;

export function benchScale(figures: Figure[]): void {
  // fallocate of a whole guest: allocateGig2M() and the HugeTLB runs (core/gmem/allocation.ts)
  // keep it from growing with the number of 2 MiB folios times the cost of recording each.
  for (const [tib, size] of [
    [16, '2m'],
    [64, '2m'],
    [64, '1g'],
  ] as const) {
    const r = child('fallocate', tib * TiB, size);
    figures.push({
      name: `fallocate of a whole ${tib} TiB guest, HugeTLB ${size === '2m' ? '2 MiB' : '1 GiB'}: model time`,
      value: Math.round(r.ms!),
      unit: 'ms',
      note: `model state ${r.modelStorageMiB!.toFixed(1)} MiB; peak RSS ${Math.round(r.maxRssMiB)} MiB (whole process)`,
    });
  }
  for (const mode of ['lazy', 'eager'] as const) {
    for (const tib of [1, 4, 16, 64]) {
      const r = child('scale', tib * TiB, mode);
      const v = r.variants![0]!;
      const target = mode === 'lazy' && tib === 64 ? '< 10 s and < 512 MiB' : undefined;
      figures.push({
        name: `scale, ${tib} TiB guest, ${mode} acceptance, HugeTLB 1 GiB: model time`,
        value: Math.round(v.ms),
        unit: 'ms',
        ...(target ? { target, pass: v.ms < 10_000 && r.maxRssMiB < 512 } : {}),
        note: `peak RSS ${Math.round(r.maxRssMiB)} MiB (whole process); ${v.faults.toLocaleString('en-US')} faults, ${((v.ms * 1e3) / Math.max(1, v.faults)).toFixed(2)} us per fault; fault p99 ${(v.faultP99Ns / 1e6).toFixed(3)} ms; guest_bytes ${v.guestBytes / TiB} TiB`,
      });
      figures.push({
        name: `scale, ${tib} TiB guest, ${mode} acceptance, HugeTLB 1 GiB: peak RSS`,
        value: Math.round(r.maxRssMiB),
        unit: 'MiB',
        ...(target ? { target: '< 512' } : {}),
      });
    }
  }
}
