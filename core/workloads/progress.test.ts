// Progress and cancellation inside one long operation: eager acceptance of all RAM is a single
// range fault-in in the model, and it reports as it goes (GmemState.rangeWork), so a run's progress
// moves through it and a cancel stops it midway instead of after it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseExperimentText } from '../experiment/load.js';
import { runVariant } from '../experiment/run.js';
import type { Experiment } from '../experiment/schema.js';
import { RANGE_REPORT_PAGES } from '../gmem/fault.js';
import { GiB } from '../units.js';
import { Cancelled, type ProgressReport } from './context.js';

const PRESET = new URL(
  '../../resources/presets/snp-boot-16g-backings.gmemlab.json',
  import.meta.url,
);

/** The SNP boot preset with a guest of `gib` GiB accepting all its RAM at boot, no run time. */
function eagerBoot(gib: number): Experiment {
  const raw = JSON.parse(readFileSync(PRESET, 'utf8'));
  raw.guest.memoryBytes = gib * GiB;
  raw.host.nodes[0] = {
    ...raw.host.nodes[0],
    memoryBytes: 4 * gib * GiB,
    hugetlb1g: gib + 2,
    hugetlb2m: 512 * gib + 64,
  };
  raw.workload = {
    kind: 'lifecycle',
    boot: { accept: { mode: 'eager' } },
    runtime: { durationNs: 0 },
    teardown: false,
  };
  const loaded = parseExperimentText(JSON.stringify(raw));
  if (!loaded.ok) throw new Error(loaded.problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return loaded.experiment;
}

const HUGETLB_2M = 2;

describe('progress through eager acceptance', () => {
  it('moves through the acceptance step, once per GiB, and never goes back', () => {
    const gib = 32;
    const reports: ProgressReport[] = [];
    runVariant(eagerBoot(gib), HUGETLB_2M, { onProgress: (r) => reports.push(r) });
    const boot = reports.filter((r) => r.phase === 'boot').map((r) => r.fraction);
    // One report per RANGE_REPORT_PAGES (1 GiB) of the range, besides the step boundaries.
    expect(RANGE_REPORT_PAGES * 4096).toBe(GiB);
    const inside = boot.filter((f) => f > 0 && f < 1);
    expect(inside.length).toBeGreaterThanOrEqual(gib - 2);
    for (let i = 1; i < boot.length; i++) expect(boot[i]).toBeGreaterThanOrEqual(boot[i - 1]!);
    expect(boot.at(-1)).toBe(1);
    // The acceptance of 32 GiB weighs 33 of the boot's (1 + 1 + 33 + 5) GiB-equivalents: most of
    // the boot's fraction is spent inside it.
    const spread = Math.max(...inside) - Math.min(...inside);
    expect(spread).toBeGreaterThan(0.6);
  });

  it('the number of reports grows with the guest: twice the RAM, about twice the reports', () => {
    const count = (gib: number) => {
      let n = 0;
      runVariant(eagerBoot(gib), HUGETLB_2M, { onProgress: () => n++ });
      return n;
    };
    const small = count(16);
    const large = count(32);
    expect(large - small).toBeGreaterThanOrEqual(15);
    expect(large - small).toBeLessThanOrEqual(17);
  });

  it('a cancel during the acceptance stops it midway', () => {
    let reports = 0;
    let cancelAt = -1;
    const experiment = eagerBoot(32);
    expect(() =>
      runVariant(experiment, HUGETLB_2M, {
        onProgress: (r) => {
          reports++;
          if (r.phase === 'boot' && r.fraction > 0.3 && cancelAt < 0) cancelAt = r.fraction;
        },
        isCancelled: () => cancelAt >= 0,
      }),
    ).toThrow(Cancelled);
    expect(cancelAt).toBeGreaterThan(0.3);
    expect(cancelAt).toBeLessThan(0.9);
    // It stopped at the next range report: the acceptance did not run to its end.
    const full: ProgressReport[] = [];
    runVariant(experiment, HUGETLB_2M, { onProgress: (r) => full.push(r) });
    expect(reports).toBeLessThan(full.length);
  });
});
