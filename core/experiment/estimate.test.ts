// The estimate of what a run implies follows the workload's parameters (the scaling they imply),
// and holds against real runs: the events it promises are at most those the log records, and the
// model memory it gives is at least what the model's state charges.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { storageInUse, withStorageBudget } from '../storage-budget.js';
import { GiB } from '../units.js';
import { estimateRun } from './estimate.js';
import { parseExperimentText } from './load.js';
import { runVariant } from './run.js';
import type { Experiment } from './schema.js';

const PRESETS = new URL('../../resources/presets/', import.meta.url);

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- edits of raw preset JSON
type Raw = any;

function preset(file: string, edit: (raw: Raw) => void = () => {}): Experiment {
  const raw = JSON.parse(readFileSync(new URL(file, PRESETS), 'utf8'));
  edit(raw);
  const loaded = parseExperimentText(JSON.stringify(raw));
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return loaded.experiment;
}

const SNP = 'snp-boot-16g-backings.gmemlab.json';
const eager = (gib: number) => (raw: Raw) => {
  raw.guest.memoryBytes = gib * GiB;
  raw.workload.boot = { accept: { mode: 'eager' } };
};

describe('the estimate follows the parameters', () => {
  it('eager acceptance: one fault per mapping, twice the guest twice the faults', () => {
    const [small, large] = [16, 32].map((g) => estimateRun(preset(SNP, eager(g))));
    // SNP maps at most 2 MiB: 16 GiB is 8192 mappings whatever the folio. The preset's run time
    // is device I/O (streaming DMA through SWIOTLB, no synthetic buffers): no faults of its own.
    const buffers = 0;
    // faulted at 4 KiB the 4 KiB-backed variant takes 512 times as many.
    expect(small!.map((e) => e.operations.faults)).toEqual([
      8192 * 512 + buffers,
      8192 + buffers,
      8192 + buffers,
      8192 + buffers,
    ]);
    for (let v = 0; v < 4; v++) {
      expect(large![v]!.operations.faults - buffers).toBe(
        2 * (small![v]!.operations.faults - buffers),
      );
      expect(large![v]!.guestPages).toBe(2 * small![v]!.guestPages);
    }
    // Folios: 4 KiB pages, 2 MiB, 2 MiB and 1 GiB for the preset's four variants.
    expect(small!.map((e) => e.operations.allocations)).toEqual([4 * 2 ** 20, 8192, 8192, 16]);
  });

  it('run time: each transient buffer converts twice, so the rate and the duration scale it', () => {
    const at = (rate: number, ns: number) =>
      estimateRun(
        preset(SNP, (raw) => {
          raw.workload.runtime = { durationNs: ns, buffersPerSec: rate };
        }),
      )[0]!.operations.conversions;
    const base = at(0, 0);
    expect(at(1000, 1e9) - base).toBe(2000);
    expect(at(2000, 1e9) - base).toBe(4000);
    expect(at(1000, 2e9) - base).toBe(4000);
  });

  it('the model memory grows with the RAM touched, not with the guest', () => {
    const lazy = (gib: number) =>
      estimateRun(preset(SNP, (raw) => (raw.guest.memoryBytes = gib * GiB)))[3]!.modelBytes;
    const full = (gib: number) => estimateRun(preset(SNP, eager(gib)))[3]!.modelBytes;
    // 64 TiB lazy (a few GiB touched) stays in megabytes; eager grows with the guest.
    expect(lazy(65536)).toBeLessThan(64 * 2 ** 20);
    expect(full(256) - full(128)).toBeGreaterThan((100 * (full(128) - lazy(128))) / 128);
  });
});

describe('the estimate holds against real runs of the presets', () => {
  const files = readdirSync(PRESETS)
    .filter((f) => f.endsWith('.gmemlab.json'))
    .sort();
  for (const file of files) {
    const experiment = preset(file);
    if (experiment.workload.kind !== 'lifecycle') continue;
    it(`${file}: events at most those logged, memory at least that charged`, () => {
      const estimates = estimateRun(experiment);
      experiment.variants.forEach((variant, index) => {
        let charged = 0;
        let logged = 0;
        withStorageBudget(2 ** 50, () => {
          const r = runVariant(experiment, index, { recordEvents: true, eventLimit: 1e9 });
          logged = r.eventLog!.logged;
          charged = storageInUse();
        });
        const e = estimates[index]!;
        expect(e.events, variant.name).toBeLessThanOrEqual(logged);
        expect(e.modelBytes, variant.name).toBeGreaterThanOrEqual(charged);
      });
    });
  }
});
