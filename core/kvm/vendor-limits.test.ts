// Vendor limits on private mappings, each test named after the kernel function it mirrors:
// SEV-SNP's RMP entries (arch/x86/kvm/svm/sev.c), TDX (arch/x86/kvm/vmx/tdx.c, and Yan Zhao's TDX
// huge-page RFC), Arm CCA (realm_map_protected() in the CCA KVM series).
import { describe, expect, it } from 'vitest';
import type { MetricName } from '../metrics/definitions.js';
import type { Simulation } from '../sim/simulation.js';
import { simOf } from '../sim/test-helpers.js';
import { GiB, KiB, MiB, ORDER_2M, ORDER_4K } from '../units.js';
import { RmpTable } from './rmp.js';

const m = (sim: Simulation, name: MetricName) => sim.summary().metrics[name];

function snp2m(policies: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return simOf(
    { hugetlb2m: 8 },
    {
      pageSize: '2m',
      allocator: 'hugetlb',
      vendor: 'snp',
      guestBytes: 8 * MiB,
      policies,
      ...extra,
    },
  );
}

describe('sev_gmem_prepare / is_large_rmp_possible', () => {
  it('a 2 MiB folio with no assigned entry gets one 2 MiB RMP entry; 4 KiB folios 4 KiB entries', () => {
    const rmp = new RmpTable(2048);
    rmp.prepare(3, ORDER_2M);
    expect(rmp.levelAt(0)).toBe(ORDER_2M);
    expect(rmp.levelAt(511)).toBe(ORDER_2M);
    expect(rmp.levelAt(512)).toBe(-1);
    rmp.prepare(513, ORDER_4K);
    expect(rmp.levelAt(513)).toBe(ORDER_4K);
    // A 2 MiB folio over a range that already has a 4 KiB entry: 4 KiB entries only.
    rmp.prepare(600, ORDER_2M);
    expect(rmp.levelAt(600)).toBe(ORDER_4K);
    expect(rmp.maxMappingLevel(600)).toBe(ORDER_4K);
  });
});

describe('sev_gmem_invalidate', () => {
  it('a 2 MiB entry covered whole goes shared at 2 MiB; covered in part it is PSMASHed first', () => {
    let psmashes = 0;
    const rmp = new RmpTable(2048, () => psmashes++);
    rmp.prepare(0, ORDER_2M);
    rmp.prepare(512, ORDER_2M);
    rmp.makeShared(0, 512);
    expect(rmp.levelAt(0)).toBe(-1);
    expect(psmashes).toBe(0);
    rmp.makeShared(512 + 7, 512 + 8);
    expect(psmashes).toBe(1);
    expect(rmp.levelAt(512 + 7)).toBe(-1);
    expect(rmp.levelAt(512 + 8)).toBe(ORDER_4K);
    expect(rmp.maxMappingLevel(512 + 8)).toBe(ORDER_4K);
  });
});

describe('sev_private_max_mapping_level', () => {
  it('maps at the RMP entry level: 2 MiB after prepare, 4 KiB after a PSMASH, even once merged', () => {
    const sim = snp2m();
    expect(sim.fallocate(0, 8 * MiB).ok).toBe(true);
    expect(sim.prefault(0, 8 * MiB).ok).toBe(true);
    expect(m(sim, 'pages_2m')).toBe(4);
    // One 4 KiB page of block 1 goes shared and back: the 2 MiB RMP entry is PSMASHed, the folio
    // split and merged again (eager), and the block's 4 KiB entries stay.
    expect(sim.convert(2 * MiB + 8 * KiB, 4 * KiB, 'shared').ok).toBe(true);
    expect(m(sim, 'rmp_psmashes')).toBe(1);
    expect(sim.convert(2 * MiB + 8 * KiB, 4 * KiB, 'private').ok).toBe(true);
    expect(m(sim, 'merges_2m')).toBe(1);
    expect(m(sim, 'folios_2m')).toBe(4);
    expect(sim.prefault(0, 8 * MiB).ok).toBe(true);
    // The merged block is a 2 MiB folio mapped at 4 KiB: KVM does not promote RMP entries back.
    expect(m(sim, 'pages_2m')).toBe(3);
    expect(m(sim, 'pages_4k')).toBe(512);
    expect(sim.gmem.mappingLevel(512 + 1, ORDER_2M)).toBe(ORDER_4K);
    expect(sim.checkInvariants()).toEqual([]);
  });

  it('policy snpPromoteAfterMerge: the merged block gets a 2 MiB entry and maps at 2 MiB again', () => {
    const sim = snp2m({ snpPromoteAfterMerge: true });
    sim.fallocate(0, 8 * MiB);
    sim.prefault(0, 8 * MiB);
    sim.convert(2 * MiB + 8 * KiB, 4 * KiB, 'shared');
    sim.convert(2 * MiB + 8 * KiB, 4 * KiB, 'private');
    sim.prefault(0, 8 * MiB);
    expect(m(sim, 'rmp_psmashes')).toBe(1);
    // The converted page faults at 2 MiB (the 511 4 KiB SPTEs of the block are replaced).
    expect(m(sim, 'pages_2m')).toBe(4);
    expect(m(sim, 'pages_4k')).toBe(0);
  });
});

describe('sev_handle_rmp_fault', () => {
  it('an NPT mapping smaller than the 2 MiB RMP entry faults again: PSMASH, one more exit', () => {
    // A memslot GPA not 2 MiB aligned: KVM maps 4 KiB over a 2 MiB folio whose RMP entry is 2 MiB.
    const sim = snp2m({}, { memslotGpaBytes: 4 * KiB });
    sim.fallocate(0, 2 * MiB);
    const before = m(sim, 'vm_exits');
    expect(sim.fault(0, 'guest', 'write').ok).toBe(true);
    expect(m(sim, 'rmp_psmashes')).toBe(1);
    // The not-present #NPF and the RMP #NPF.
    expect(m(sim, 'vm_exits') - before).toBe(2);
    expect(m(sim, 'pages_4k')).toBe(1);
    // The block's entries are 4 KiB now: no more RMP faults there.
    sim.fault(1, 'guest', 'write');
    expect(m(sim, 'rmp_psmashes')).toBe(1);
  });
});

describe('tdx_gmem_private_max_mapping_level', () => {
  it('mainline maps TDX private memory at 4 KiB only, whatever the folio', () => {
    const sim = simOf({ hugetlb1g: 1 }, { pageSize: '1g', allocator: 'hugetlb', vendor: 'tdx' });
    sim.gmem.phase = 'runtime';
    sim.prefault(0, 4 * MiB);
    expect(m(sim, 'pages_4k')).toBe(1024);
    expect(m(sim, 'pages_2m')).toBe(0);
  });

  it("with Yan Zhao's TDX huge-page series (tdxHugePageSeries) 2 MiB once the TD runs", () => {
    const sim = simOf(
      { hugetlb1g: 1 },
      {
        pageSize: '1g',
        allocator: 'hugetlb',
        vendor: 'tdx',
        policies: { tdxHugePageSeries: true },
      },
    );
    sim.prefault(0, 4 * MiB);
    expect(m(sim, 'pages_2m')).toBe(2);
    expect(m(sim, 'pages_1g')).toBe(0);
  });
});

describe('realm_map_protected', () => {
  it('CCA maps protected memory at PAGE_SIZE or the 2 MiB block, never 1 GiB', () => {
    const sim = simOf({ hugetlb1g: 1 }, { pageSize: '1g', allocator: 'hugetlb', vendor: 'cca' });
    sim.fallocate(0, GiB);
    sim.prefault(0, GiB);
    expect(m(sim, 'pages_1g')).toBe(0);
    expect(m(sim, 'pages_2m')).toBe(512);
  });
});
