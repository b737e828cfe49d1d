// Every bundled preset runs through the CLI (real worker threads) and its summary passes checks
// written from the model: what each comparison is meant to show must show.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cli } from './test-helpers.js';
import { PRESETS_DIR, PRESET_SUFFIX } from '../services/run-preparation.js';

interface JsonVariant {
  name: string;
  summary: Record<string, number>;
  nodeBytes: number[];
  latencyNs: Record<string, { p50: number; p99: number; count: number }>;
}

async function runPreset(name: string): Promise<Record<string, JsonVariant>> {
  const { code, stdout, stderr } = await cli(['run', `preset:${name}`, '--json', '--workers', '2']);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  const parsed = JSON.parse(stdout) as { variants: JsonVariant[]; failures: string[] };
  expect(parsed.failures).toEqual([]);
  return Object.fromEntries(parsed.variants.map((v) => [v.name, v]));
}

const GiB = 1024 ** 3;

const CHECKS: Record<string, (v: Record<string, JsonVariant>) => void> = {
  'tdx-boot-8g-backings': (v) => {
    const k4 = v['4 KiB']!.summary;
    const h2 = v['HugeTLB 2 MiB']!.summary;
    const h1 = v['HugeTLB 1 GiB']!.summary;
    // TDX converts through MapGPA (one guest exit per call, one exit to the VMM per 2 MiB chunk)
    // and takes no PSC requests.
    expect(h2.mapgpa_guest_exits).toBeGreaterThan(0);
    expect(h2.mapgpa_userspace_exits).toBeGreaterThanOrEqual(h2.mapgpa_guest_exits!);
    expect(h2.psc_requests).toBe(0);
    // Boot conversions split huge folios; 4 KiB folios never split.
    expect(h2.splits_2m).toBeGreaterThan(0);
    expect(h1.splits_1g).toBeGreaterThan(0);
    expect(k4.splits_2m + k4.splits_1g).toBe(0);
    // The run time is streaming I/O through SWIOTLB: the same conversions for every backing.
    expect(k4.conversions_to_shared).toBe(h2.conversions_to_shared);
    expect(h1.conversions_to_shared).toBe(h2.conversions_to_shared);
  },
  'cca-boot-8g-backings': (v) => {
    const k4 = v['4 KiB']!.summary;
    const h2 = v['HugeTLB 2 MiB']!.summary;
    // RSI_IPA_STATE_SET: neither PSC requests nor MapGPA exits.
    expect(h2.psc_requests + h2.mapgpa_guest_exits + h2.mapgpa_userspace_exits).toBe(0);
    expect(h2.conversions_to_shared).toBeGreaterThan(0);
    expect(h2.splits_2m).toBeGreaterThan(0);
    expect(k4.splits_2m + k4.splits_1g).toBe(0);
    expect(k4.conversions_to_shared).toBe(h2.conversions_to_shared);
  },
  'snp-boot-16g-backings': (v) => {
    const k4 = v['4 KiB']!.summary;
    const thp = v['THP 2 MiB']!.summary;
    const h2 = v['HugeTLB 2 MiB']!.summary;
    const h1 = v['HugeTLB 1 GiB']!.summary;
    // 4 KiB folios never split and never map huge.
    expect(k4.splits_2m + k4.splits_1g).toBe(0);
    expect(k4.pages_2m + k4.pages_1g).toBe(0);
    // Conversions at boot (SWIOTLB, GHCBs, per-CPU pages, device rings) split huge folios.
    expect(thp.splits_2m).toBeGreaterThan(0);
    expect(h2.splits_2m).toBeGreaterThan(0);
    expect(h1.splits_1g).toBeGreaterThan(0);
    // The HugeTLB subpool reserves the whole 16 GiB file at creation.
    expect(h2.host_total_bytes).toBeGreaterThanOrEqual(16 * GiB);
    expect(h1.host_total_bytes).toBeGreaterThanOrEqual(16 * GiB);
    expect(k4.reserved_unused_bytes).toBe(0);
    // HVO: 2 MiB HugeTLB folios still whole keep their vmemmap optimised.
    expect(h2.hvo_saved_bytes).toBeGreaterThan(0);
    expect(k4.hvo_saved_bytes).toBe(0);
    // 4 KiB backing: every accepted 4 KiB page costs an exit; 2 MiB backing one per 2 MiB.
    expect(k4.accept_exits).toBeGreaterThan(100 * h2.accept_exits);
    // Every variant sees the same guest: the same conversion calls to within runtime noise.
    expect(Math.abs(k4.conversions_to_shared - h2.conversions_to_shared)).toBeLessThan(100);
  },
  'hugetlb-vs-cma-1g': (v) => {
    const h = v['HugeTLB 1 GiB']!.summary;
    const c = v['CMA 1 GiB']!.summary;
    // CMA migrates movable pages out of each range first; HugeTLB takes pre-reserved pages.
    expect(c.cycles_migration).toBeGreaterThan(0);
    expect(h.cycles_migration).toBe(0);
    // No HVO on CMA: its vmemmap work is nil; HugeTLB restores vmemmap before splits.
    expect(c.cycles_vmemmap).toBe(0);
    expect(h.cycles_vmemmap).toBeGreaterThan(0);
    expect(h.folios_1g + c.folios_1g).toBeGreaterThanOrEqual(0);
    expect(v['CMA 1 GiB']!.latencyNs['allocate']!.count).toBeGreaterThan(0);
  },
  'hugetlb-vs-cma-1g-fleet': (v) => {
    const h = v['HugeTLB 1 GiB']!.summary;
    const c = v['CMA 1 GiB']!.summary;
    // The same arrivals for both variants.
    expect(h.vm_starts + h.vm_start_failures).toBe(c.vm_starts + c.vm_start_failures);
    expect(h.vm_starts).toBeGreaterThan(0);
    expect(c.vm_starts).toBeGreaterThan(0);
    expect(c.cycles_migration).toBeGreaterThan(0);
  },
  'legacy-vs-in-place': (v) => {
    const anon = v['legacy, 4 KiB shared backend']!.summary;
    const hfs = v['legacy, hugetlbfs 2 MiB backend']!.summary;
    const inPlace = v['in-place']!.summary;
    // In place there is one copy of every page.
    expect(inPlace.double_allocated_bytes).toBe(0);
    expect(anon.double_allocated_bytes).toBeGreaterThan(0);
    // hugetlbfs backs shared pages with whole 2 MiB pages and cannot discard sub-ranges.
    expect(hfs.double_allocated_bytes).toBeGreaterThan(anon.double_allocated_bytes);
    // Legacy never splits guest_memfd folios (shared memory lives elsewhere).
    expect(anon.splits_2m).toBe(0);
    expect(inPlace.splits_2m).toBeGreaterThan(0);
  },
  'merge-policies': (v) => {
    const eager = v['eager']!.summary;
    const deferred = v['deferred 100 ms']!.summary;
    const never = v['never']!.summary;
    const staged = v['1 GiB, staged split, eager']!.summary;
    expect(eager.merges_2m).toBeGreaterThan(0);
    expect(never.merges_1g + never.merges_2m).toBe(0);
    // Deferred: queued merges, some cancelled by a reconversion before the worker ran.
    expect(deferred.merges_deferred).toBeGreaterThan(0);
    expect(deferred.merges_cancelled).toBeGreaterThan(0);
    expect(deferred.merges_2m).toBeLessThan(eager.merges_2m);
    // Never merging leaves the most 4 KiB folios.
    expect(never.folios_4k).toBeGreaterThan(eager.folios_4k);
    // Staged: 1 GiB folios split to 2 MiB first, and 2 MiB blocks merge back.
    expect(staged.splits_1g).toBeGreaterThan(0);
    expect(staged.merges_2m).toBeGreaterThan(0);
  },
  'guest-shared-pool': (v) => {
    const off = v['pool off']!.summary;
    const on = v['pool on']!.summary;
    expect(on.splits_2m).toBeLessThan(off.splits_2m);
    expect(on.conversions_to_shared).toBeLessThan(off.conversions_to_shared);
  },
  'numa-mempolicies': (v) => {
    const def = v['default']!;
    const bind = v['bind node 1']!;
    const inter = v['interleave']!;
    // default: the home node (0) holds the guest; bind 1: node 0 holds none of its folios.
    expect(def.nodeBytes[0]!).toBeGreaterThan(30 * GiB);
    expect(bind.nodeBytes[0]!).toBeLessThan(1 * GiB);
    expect(bind.nodeBytes[1]!).toBeGreaterThan(30 * GiB);
    // interleave: each node holds about half.
    expect(Math.abs(inter.nodeBytes[0]! - inter.nodeBytes[1]!)).toBeLessThan(2 * GiB);
  },
  'change-pte-variants': (v) => {
    const kept = v['change_pte kept']!.summary;
    const removed = v['change_pte removed']!.summary;
    const writable = v['always-writable slot']!.summary;
    const prefault = v['prefault']!.summary;
    // change_pte adds a third mmu_lock write acquisition per CoW; exits are the same.
    expect(kept.mmu_lock_write).toBeGreaterThan(removed.mmu_lock_write);
    expect(kept.vm_exits).toBe(removed.vm_exits);
    expect(writable.vm_exits).toBeLessThan(kept.vm_exits / 100);
    expect(prefault.vm_exits).toBe(0);
  },
  'trace-replay': (v) => {
    for (const variant of Object.values(v)) {
      expect(variant.summary.conversions_to_shared + variant.summary.conversions_to_private).toBe(
        332,
      );
    }
    expect(v['4 KiB']!.summary.splits_2m).toBe(0);
    expect(v['HugeTLB 2 MiB']!.summary.splits_2m).toBeGreaterThan(0);
    expect(v['HugeTLB 1 GiB']!.summary.splits_1g).toBeGreaterThan(0);
  },
};

describe('bundled presets', () => {
  const names = readdirSync(PRESETS_DIR)
    .filter((n) => n.endsWith(PRESET_SUFFIX))
    .map((n) => n.slice(0, -PRESET_SUFFIX.length))
    .sort();

  it('every preset has checks', () => {
    expect(names.sort()).toEqual(Object.keys(CHECKS).sort());
  });

  for (const name of names) {
    it(
      `${name} runs through the CLI and shows what it compares`,
      { timeout: 120_000 },
      async () => {
        const variants = await runPreset(name);
        CHECKS[name]!(variants);
      },
    );
  }
});
