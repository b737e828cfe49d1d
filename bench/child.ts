// A bench measurement in a process of its own, so its peak memory is its own: prints one JSON line
// with the process's peak RSS (process.resourceUsage().maxRSS, the whole Node process: runtime
// and model) and what it ran. The bench runs it bundled (bench/bundle.ts); `tsx bench/child.ts`
// runs it from the sources.
//
//   tsx bench/child.ts conversions BYTES 5 x 400 000 random 4 KiB conversions (to shared and back)
//                                        over a guest of BYTES on 1 GiB HugeTLB: the rate of each
//   tsx bench/child.ts footprint BYTES   a guest of BYTES on 1 GiB HugeTLB: fallocate of all of it,
//                                        100 000 4 KiB conversions, one sample
//   tsx bench/child.ts boot BYTES        the 16 GiB SNP boot preset's lifecycle (boot, lazy accept,
//                                        0.5 s of runtime DMA) on a guest of BYTES, two variants:
//                                        HugeTLB 1 GiB and 4 KiB
//   tsx bench/child.ts scale BYTES MODE  the same lifecycle on a guest of BYTES backed by 1 GiB
//                                        HugeTLB alone, with acceptance MODE (lazy or eager)
//   tsx bench/child.ts fallocate BYTES SIZE  fallocate of a whole guest of BYTES backed by HugeTLB
//                                        pages of SIZE (2m or 1g): its time and the model state
//   tsx bench/child.ts trace BYTES SIZE FILE  the QEMU log FILE replayed on a guest of BYTES backed
//                                        by HugeTLB pages of SIZE (2m or 1g), streamed from the
//                                        file as a worker does: check pass, then replay
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseExperimentValue } from '../core/experiment/load.js';
import { runVariant } from '../core/experiment/run.js';
import { FORMAT_NAME, FORMAT_VERSION } from '../core/experiment/schema.js';
import { Simulation } from '../core/sim/simulation.js';
import { GiB } from '../core/units.js';
import { fileTraceSource } from '../main/services/trace-file.js';

// Bundled (bench/bundle.ts), this file runs from a temp folder: the bench names the checkout.
const ROOT = process.env['GMEMLAB_ROOT'] ?? join(import.meta.dirname, '..');
const [what, bytesArg, modeArg] = process.argv.slice(2);
const guestBytes = Number(bytesArg);
/** A guest of `guestBytes` on 1 GiB HugeTLB pages, its file fallocated whole. */
function hugetlb1gGuest(guestBytes: number): Simulation {
  const sim = new Simulation({
    host: {
      nodes: [{ memoryBytes: guestBytes + 64 * GiB, cpus: '0-15', hugetlb1g: guestBytes / GiB }],
    },
    variant: { name: 'bench', guestBytes, pageSize: '1g', allocator: 'hugetlb' },
    seed: 1,
  });
  sim.fallocate(0, guestBytes);
  return sim;
}

const started = performance.now();
const out: Record<string, unknown> = { what, guestBytes };

if (what === 'conversions') {
  // Random 4 KiB conversions alternating to-shared and to-private over the guest on 1 GiB HugeTLB
  // pages with eager merge: every pair splits and merges one 1 GiB folio.
  const sim = hugetlb1gGuest(guestBytes);
  const pages = guestBytes / 4096;
  if (pages & (pages - 1)) throw new Error('conversions: the guest size must be a power of two');
  let x = 1;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      // pages is a power of two: the low bits, without a floating-point remainder per pair (the
      // harness, not the model). x << 6 keeps the low 32 bits of x * 64 as a 32-bit integer, where
      // x * 64 (up to 2^38) is a double that & must truncate first: the same offsets as
      // ((x * 64) % pages) for every guest up to 2^31 pages.
      const offset = ((x << 6) & (pages - 1)) * 4096;
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
  out['pairs'] = n;
  out['rates'] = rates;
} else if (what === 'fallocate') {
  const size = modeArg === '2m' ? '2m' : '1g';
  const sim = new Simulation({
    host: {
      nodes: [
        {
          memoryBytes: guestBytes + 64 * GiB,
          cpus: '0-15',
          ...(size === '2m'
            ? { hugetlb2m: guestBytes / (2 * 2 ** 20) }
            : { hugetlb1g: guestBytes / GiB }),
        },
      ],
    },
    variant: { name: 'bench', guestBytes, pageSize: size, allocator: 'hugetlb' },
    seed: 1,
  });
  const t0 = performance.now();
  sim.fallocate(0, guestBytes);
  out['ms'] = performance.now() - t0;
  out['modelStorageMiB'] = sim.gmem.modelStorageBytes() / 2 ** 20;
} else if (what === 'footprint') {
  const sim = hugetlb1gGuest(guestBytes);
  const pages = guestBytes / 4096;
  for (let i = 0; i < 100_000; i++)
    sim.convert(((i * 2654435761) % pages) * 4096, 4096, i % 3 === 0 ? 'private' : 'shared');
  sim.sample();
  out['modelStorageMiB'] = sim.gmem.modelStorageBytes() / 2 ** 20;
} else if (what === 'boot' || what === 'scale') {
  const preset = JSON.parse(
    readFileSync(join(ROOT, 'resources', 'presets', 'snp-boot-16g-backings.gmemlab.json'), 'utf8'),
  ) as { host: object; guest: object; workload: object; variants: object[] };
  const doc = {
    ...preset,
    name: `SNP boot of a ${guestBytes / GiB} GiB guest`,
    host: {
      ...preset.host,
      nodes: [
        {
          memoryBytes: guestBytes + 64 * GiB,
          cpus: '0-63',
          hostReservedBytes: 8 * GiB,
          hugetlb1g: guestBytes / GiB,
        },
      ],
    },
    guest: { ...preset.guest, memoryBytes: guestBytes },
    variants: [preset.variants[3], preset.variants[0]],
  };
  if (what === 'scale') {
    // One variant is what is measured; the schema asks for two, so the second one is the same
    // backing under another name and is not run.
    doc.variants = [preset.variants[3], { ...preset.variants[3]!, name: 'unused' }];
    Object.assign(doc, {
      workload: { ...preset.workload, boot: { accept: { mode: modeArg ?? 'lazy' } } },
    });
  }
  const parsed = parseExperimentValue(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  const variants: unknown[] = [];
  const runs = what === 'scale' ? 1 : parsed.experiment.variants.length;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = runVariant(parsed.experiment, i, {});
    variants.push({
      name: r.name,
      ms: Math.round(performance.now() - t0),
      samples: r.series.timeNs.length,
      hostTotalGiB: r.summary.metrics.host_total_bytes / GiB,
      guestBytes: r.summary.metrics.guest_bytes,
      faults: r.summary.metrics.tdp_faults,
      faultP99Ns: r.summary.latencyNs.fault.p99,
    });
  }
  out['variants'] = variants;
} else if (what === 'trace') {
  const [pageSize, file] = [modeArg, process.argv[5]!];
  const parsed = parseExperimentValue({
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    name: 'trace bench',
    host: {
      nodes: [
        {
          memoryBytes: guestBytes + 64 * GiB,
          cpus: '0-63',
          ...(pageSize === '1g'
            ? { hugetlb1g: guestBytes / GiB }
            : { hugetlb2m: guestBytes / (2 * 1024 * 1024) }),
        },
      ],
    },
    guest: { memoryBytes: guestBytes, vendor: 'snp' },
    workload: { kind: 'trace', path: file, format: 'qemu', populate: 'fallocate' },
    variants: [
      { name: `HugeTLB ${pageSize}`, pageSize, allocator: 'hugetlb' },
      { name: 'unused', pageSize, allocator: 'hugetlb' },
    ],
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  const t0 = performance.now();
  // When the populate phase (fallocate of the whole guest before the replay) starts and ends.
  let populateAt = 0;
  let replayAt = 0;
  const r = runVariant(parsed.experiment, 0, {
    traceSource: fileTraceSource(file),
    onProgress: (p) => {
      if (p.phase === 'populate' && populateAt === 0) populateAt = performance.now();
      if (p.phase === 'replay' && replayAt === 0) replayAt = performance.now();
    },
  });
  out['ms'] = performance.now() - t0;
  out['populateMs'] = replayAt - populateAt;
  out['conversions'] =
    r.summary.metrics.conversions_to_shared + r.summary.metrics.conversions_to_private;
  out['samples'] = r.series.timeNs.length;
  // Folio splits and merges the replay made: the model's work per conversion, which grows with
  // the number of huge pages a trace's conversions land in.
  const m = r.summary.metrics;
  out['splitsMerges'] = m.splits_1g + m.splits_2m + m.merges_1g + m.merges_2m;
} else {
  throw new Error(`unknown measurement ${what}`);
}
out['seconds'] = (performance.now() - started) / 1000;
out['maxRssMiB'] = process.resourceUsage().maxRSS / 1024;
process.stdout.write(JSON.stringify(out) + '\n');
