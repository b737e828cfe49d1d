// Boot of a confidential guest: the arithmetic (SWIOTLB size, SNP page-state-change requests, TDX
// MapGPA exits, lazy-acceptance exits) derived by hand, then checked against simulated boots.
import { describe, expect, it } from 'vitest';
import type { GmemVariantInput, Vendor } from '../config.js';
import { Rng } from '../rng.js';
import { simOf } from '../sim/test-helpers.js';
import { GiB, KiB, MiB, PAGE_SIZE } from '../units.js';
import { lazyAcceptExits } from './coco-accept.js';
import { BootSchema, bootGuest, type BootConfig } from './coco-boot.js';
import { kvmclockExtraBytes } from './coco-decrypted.js';
import { DmaPoolsSchema, dmaAtomicPoolBytes, vringBytes } from './coco-dma.js';
import { CocoGuest } from './coco-guest.js';
import { mapGpaExits, pscEntries, pscRequestPlan, pscRequests } from './coco-page-state.js';
import { GuestPhysMap } from './coco-placement.js';
import { SwiotlbSchema, swiotlbBytes } from './coco-swiotlb.js';
import { WorkloadContext } from './context.js';

type Backing = Pick<GmemVariantInput, 'allocator' | 'pageSize'>;
const HUGE_2M: Backing = { allocator: 'hugetlb', pageSize: '2m' };
const BASE_4K: Backing = { allocator: 'buddy', pageSize: '4k' };

function setup(vendor: Vendor, backing: Backing, guestBytes: number, vcpus = 4) {
  const sim = simOf({ hugetlb2m: guestBytes / (2 * MiB) + 16 }, { ...backing, vendor, guestBytes });
  const ctx = new WorkloadContext(sim, new Rng(1), { sampleIntervalNs: 1e6 });
  const guest = new CocoGuest(
    ctx,
    { memoryBytes: guestBytes, vcpus, vendor },
    { acceptPageSize: '2m', largePscEntries: true },
  );
  return { sim, ctx, guest };
}

/** Boot parameters with every structure off except those `on` names. */
function bootOnly(
  on: { swiotlb?: object; perCpu?: object; kvmclock?: object },
  extra: object = {},
): BootConfig {
  return BootSchema.parse({
    swiotlb: { enabled: false, ...(on.swiotlb ?? {}), ...(on.swiotlb ? { enabled: true } : {}) },
    memmap: { enabled: false },
    // Without per-CPU pages asked for, no per-CPU first chunk either (packed places nothing).
    perCpu: on.perCpu
      ? { ghcbPagesPerVcpu: 0, paravirtPagesPerVcpu: 0, ...on.perCpu }
      : { placement: 'packed', ghcbPagesPerVcpu: 0, paravirtPagesPerVcpu: 0 },
    kvmclock: { bssDecryptedBytes: 0, ...(on.kvmclock ?? {}) },
    dmaPools: { count: 0 },
    devices: [],
    ...extra,
  });
}

describe('swiotlbBytes', () => {
  const segment = SwiotlbSchema.parse({ rounding: 'segment' });
  it('clamps 6 % of RAM to [64 MiB, 1 GiB]', () => {
    // 512 MiB x 6 % = 30.72 MiB and 1 GiB x 6 % = 61.44 MiB: both below the 64 MiB floor.
    expect(swiotlbBytes(512 * MiB, segment)).toBe(64 * MiB);
    expect(swiotlbBytes(1 * GiB, segment)).toBe(64 * MiB);
    // 64 GiB x 6 % = 3.84 GiB: capped at 1 GiB.
    expect(swiotlbBytes(64 * GiB, segment)).toBe(1 * GiB);
  });

  it('rounds 4 GiB (245.76 MiB) and 16 GiB (983.04 MiB) up as the kernel does', () => {
    // 4 GiB x 6 / 100 = 257 698 037 B (integer division). swiotlb_adjust_size(): 2 KiB slabs,
    // ceil -> 125 830 slabs, then a multiple of 128 slabs -> 125 952 slabs = 246 MiB exactly.
    expect(swiotlbBytes(4 * GiB, segment)).toBe(246 * MiB);
    // 16 GiB: 1 030 792 151 B -> 503 317 slabs -> 503 424 slabs = 983.25 MiB ("~983 MiB").
    expect(swiotlbBytes(16 * GiB, segment)).toBe(983.25 * MiB);
    // Current kernels also round the slab count up to a power of two (one area per CPU).
    const pow2 = SwiotlbSchema.parse({ rounding: 'power-of-two' });
    expect(swiotlbBytes(4 * GiB, pow2)).toBe(256 * MiB);
    expect(swiotlbBytes(16 * GiB, pow2)).toBe(1 * GiB);
    // 'page' only aligns to 4 KiB: 257 698 037 -> 62 915 pages = 257 699 840 B.
    expect(swiotlbBytes(4 * GiB, SwiotlbSchema.parse({ rounding: 'page' }))).toBe(257_699_840);
  });

  it('follows the kernel version: power-of-two slabs from v6.0 (round_up_default_nslabs)', () => {
    const kernel = SwiotlbSchema.parse({});
    expect(kernel.rounding).toBe('kernel');
    // v5.19: swiotlb_adjust_size() only, whole segments.
    expect(swiotlbBytes(16 * GiB, kernel, 8, '5.19')).toBe(983.25 * MiB);
    expect(swiotlbBytes(4 * GiB, kernel, 8, '5.15')).toBe(246 * MiB);
    // v6.0 and later: swiotlb_adjust_nareas(num_possible_cpus()) rounds the slabs up.
    expect(swiotlbBytes(16 * GiB, kernel, 8, '6.0')).toBe(1 * GiB);
    expect(swiotlbBytes(4 * GiB, kernel, 8, '6.12')).toBe(256 * MiB);
    expect(swiotlbBytes(4 * GiB, kernel, 8, '10.1')).toBe(256 * MiB);
    // At least IO_TLB_SEGSIZE (128) slabs per area: 2048 possible CPUs -> 2048 areas -> 262 144
    // slabs = 512 MiB, above the 64 MiB of a 1 GiB guest.
    expect(swiotlbBytes(1 * GiB, kernel, 8, '6.12')).toBe(64 * MiB);
    expect(swiotlbBytes(1 * GiB, kernel, 2048, '6.12')).toBe(512 * MiB);
    // 1500 CPUs round up to 2048 areas as well.
    expect(swiotlbBytes(1 * GiB, kernel, 1500, '6.12')).toBe(512 * MiB);
  });

  it('takes the percentage and clamps as parameters', () => {
    const p = SwiotlbSchema.parse({
      fraction: 0.01,
      minBytes: 16 * MiB,
      maxBytes: 32 * MiB,
      rounding: 'segment',
    });
    expect(swiotlbBytes(1 * GiB, p)).toBe(16 * MiB); // 10.24 MiB -> floor 16 MiB
    expect(swiotlbBytes(2 * GiB, p)).toBe(20.5 * MiB); // 20.48 MiB -> 82 segments of 256 KiB
    expect(swiotlbBytes(8 * GiB, p)).toBe(32 * MiB); // 81.92 MiB -> cap 32 MiB
  });
});

describe('SNP page-state-change requests', () => {
  it('uses 2 MiB entries for aligned whole 2 MiB runs, 64 entries per request', () => {
    // 64 MiB, 2 MiB-aligned: 32 entries of 2 MiB = 1 request.
    expect(pscEntries(64 * MiB, 64 * MiB)).toEqual({ entries2m: 32, entries4k: 0, total: 32 });
    expect(pscRequests(64 * MiB, 64 * MiB)).toBe(1);
    // 1 MiB cannot hold a 2 MiB entry: 256 entries of 4 KiB = 4 requests.
    expect(pscRequests(0, 1 * MiB)).toBe(4);
    // 2 MiB starting at 1 MiB is not aligned: 512 entries of 4 KiB = 8 requests.
    expect(pscRequests(1 * MiB, 2 * MiB)).toBe(8);
    // Without 2 MiB entries the 64 MiB range is 16 384 entries = 256 requests.
    expect(pscRequests(0, 64 * MiB, 64, false)).toBe(256);
    // The GHCB spec maximum (253) as the batch: 16 384 / 253 -> 65 requests.
    expect(pscRequests(0, 64 * MiB, 253, false)).toBe(65);
  });

  it('splits an unaligned range into a 4 KiB head, 2 MiB middle and 4 KiB tail', () => {
    // [2 MiB + 4 KiB, 66 MiB + 4 KiB): 511 head entries up to 4 MiB, 31 entries of 2 MiB up to
    // 66 MiB, 1 tail entry: 543 entries = 9 requests.
    const offset = 2 * MiB + 4 * KiB;
    expect(pscEntries(offset, 64 * MiB)).toEqual({ entries2m: 31, entries4k: 512, total: 543 });
    const plan = pscRequestPlan(offset, 64 * MiB);
    expect(plan).toHaveLength(9);
    // Requests 1-7: 64 x 4 KiB each; request 8: 63 x 4 KiB then 1 x 2 MiB; request 9: 30 x 2 MiB
    // then the 4 KiB tail. Each run is one KVM_HC_MAP_GPA_RANGE exit, i.e. one conversion call.
    expect(plan.map((r) => r.length)).toEqual([1, 1, 1, 1, 1, 1, 1, 2, 2]);
    expect(plan[7]).toEqual([
      { offset: offset + 448 * PAGE_SIZE, size: 63 * PAGE_SIZE, entryBytes: PAGE_SIZE },
      { offset: 4 * MiB, size: 2 * MiB, entryBytes: 2 * MiB },
    ]);
    const covered = plan.flat().reduce((a, r) => a + r.size, 0);
    expect(covered).toBe(64 * MiB);
  });
});

describe('TDX MapGPA exits', () => {
  it('takes one exit per 2 MiB chunk, counted from the start of the range', () => {
    expect(mapGpaExits(64 * MiB)).toBe(32);
    expect(mapGpaExits(1 * MiB)).toBe(1);
    expect(mapGpaExits(3 * MiB)).toBe(2);
    expect(mapGpaExits(0)).toBe(0);
  });
});

describe('other sizes', () => {
  it('matches the kernel formulas', () => {
    // 256 descriptors: 16 x 256 + 2 x 259 = 4614 -> 4672 (64 B aligned) + 6 + 8 x 256 = 6726.
    expect(vringBytes(256)).toBe(6726);
    const pools = DmaPoolsSchema.parse({});
    expect(dmaAtomicPoolBytes(1 * GiB, pools)).toBe(128 * KiB);
    expect(dmaAtomicPoolBytes(3 * GiB, pools)).toBe(512 * KiB); // 384 KiB -> order 7
    expect(dmaAtomicPoolBytes(64 * GiB, pools)).toBe(4 * MiB); // capped at MAX_ORDER
    // kvmclock: 64 vCPUs fit the boot page; 200 need (200 - 64) x 64 B = 8704 B -> 4 pages.
    expect(kvmclockExtraBytes(64)).toBe(0);
    expect(kvmclockExtraBytes(65)).toBe(PAGE_SIZE);
    expect(kvmclockExtraBytes(200)).toBe(4 * PAGE_SIZE);
  });
});

describe('lazy acceptance', () => {
  // A 64 MiB range is 16 chunks of 4 MiB. SNP: one PSC request per chunk (two 2 MiB entries) plus
  // one fault per 4 KiB page (4 KiB backing: 16 384) or per 2 MiB (2 MiB backing: 32), no fault
  // after prefault. TDX: no PSC; mainline maps private memory at 4 KiB (one fault per page
  // whatever the backing); with the TDX huge-page series 2 MiB accepts on 2 MiB backing fault once
  // per 2 MiB.
  const TDX_SERIES_2M = { ...HUGE_2M, policies: { tdxHugePageSeries: true } } as Backing;
  const cases: Array<[Vendor, Backing, boolean, number]> = [
    ['snp', BASE_4K, false, 16_384 + 16],
    ['snp', BASE_4K, true, 16],
    ['snp', HUGE_2M, false, 32 + 16],
    ['snp', HUGE_2M, true, 16],
    ['tdx', BASE_4K, false, 16_384],
    ['tdx', BASE_4K, true, 0],
    ['tdx', HUGE_2M, false, 16_384],
    ['tdx', HUGE_2M, true, 0],
    ['tdx', TDX_SERIES_2M, false, 32],
    ['tdx', TDX_SERIES_2M, true, 0],
  ];
  for (const [vendor, backing, prefault, expected] of cases) {
    const series = backing === TDX_SERIES_2M;
    it(`${vendor}${series ? ' (huge-page series)' : ''}, ${backing.pageSize} backing, ${prefault ? 'with' : 'without'} prefault: ${expected} exits`, () => {
      const { sim, guest } = setup(vendor, backing, 64 * MiB);
      const helper = lazyAcceptExits({
        bytes: 64 * MiB,
        vendor,
        backingPageBytes: backing.pageSize === '4k' ? PAGE_SIZE : 2 * MiB,
        prefault,
        tdxHugePageSeries: series,
      });
      expect(helper.total).toBe(expected);
      if (prefault) guest.prefault(0, 64 * MiB);
      const before = sim.metrics.get('vm_exits');
      guest.accept(0, 64 * MiB, true);
      expect(sim.metrics.get('accept_exits')).toBe(expected);
      expect(sim.metrics.get('vm_exits') - before).toBe(expected);
      expect(sim.metrics.get('psc_requests')).toBe(helper.pscExits);
      expect(sim.checkInvariants()).toEqual([]);
    });
  }

  it('a TDX 4 KiB accept faults every page even on 2 MiB backing', () => {
    expect(
      lazyAcceptExits({
        bytes: 8 * MiB,
        vendor: 'tdx',
        backingPageBytes: 2 * MiB,
        prefault: false,
        acceptPageBytes: PAGE_SIZE,
      }).total,
    ).toBe(2048);
    const { sim, ctx } = setup('tdx', HUGE_2M, 64 * MiB);
    const g4k = new CocoGuest(
      ctx,
      { memoryBytes: 64 * MiB, vcpus: 1, vendor: 'tdx' },
      { acceptPageSize: '4k', largePscEntries: true },
    );
    g4k.accept(0, 8 * MiB);
    expect(sim.metrics.get('accept_exits')).toBe(2048);
  });
});

describe('boot structures', () => {
  it('shares one GHCB page per possible vCPU, one MSR-protocol exit each', () => {
    const vcpus = 16;
    const { sim, guest } = setup('snp', HUGE_2M, 1 * GiB, vcpus);
    const map = new GuestPhysMap(1 * GiB);
    const layout = bootGuest(guest, bootOnly({ perCpu: { ghcbPagesPerVcpu: 1 } }), new Rng(3), map);
    expect(layout.ghcb).toHaveLength(vcpus);
    expect(new Set(layout.ghcb.map((r) => r.offset)).size).toBe(vcpus);
    for (const r of layout.ghcb) expect(r.size).toBe(PAGE_SIZE);
    expect(sim.gmem.shared.total).toBe(vcpus);
    expect(sim.metrics.get('conversions_to_shared')).toBe(vcpus);
    expect(sim.checkInvariants()).toEqual([]);
  });

  it('adds the paravirt page per vCPU, converted once per variable', () => {
    // 64 vCPUs: 64 GHCB pages + 64 paravirt pages shared; conversions: 64 + 64 x 3.
    const { sim, guest } = setup('snp', HUGE_2M, 1 * GiB, 64);
    bootGuest(
      guest,
      bootOnly({ perCpu: { ghcbPagesPerVcpu: 1, paravirtPagesPerVcpu: 1 } }),
      new Rng(3),
      new GuestPhysMap(1 * GiB),
    );
    expect(sim.gmem.shared.total).toBe(128);
    expect(sim.metrics.get('conversions_to_shared')).toBe(64 + 64 * 3);
  });

  it('MSR-protocol conversions cost one PSC request per page', () => {
    const { sim, guest } = setup('snp', HUGE_2M, 64 * MiB);
    guest.accept(0, 4 * MiB);
    const before = sim.metrics.get('psc_requests');
    guest.share(0, 3 * PAGE_SIZE, 'msr');
    expect(sim.metrics.get('psc_requests') - before).toBe(3);
    expect(sim.metrics.get('conversions_to_shared')).toBe(3);
  });

  it('an unaligned SWIOTLB splits one more 2 MiB block and needs 4 KiB PSC entries', () => {
    // 1 GiB guest: 64 MiB SWIOTLB at the top of RAM. Aligned: 32 blocks split, one PSC request
    // (32 x 2 MiB) and one conversion call. Skewed by 4 KiB: 33 blocks split, 543 entries = 9
    // requests and 11 runs (conversion calls), as in the pscRequestPlan test. Acceptance adds one
    // request per boot-range chunk not populated by the launch (256 MiB = 64 chunks, minus the 9
    // chunks of the 36 MiB payload, validated by SNP_LAUNCH_UPDATE: 55) and one for the SWIOTLB
    // chunks (one memblock accept_memory() call: 16 or 17 chunks, 2 MiB entries, 1 request).
    const run = (skewBytes: number) => {
      const { sim, guest } = setup('snp', HUGE_2M, 1 * GiB);
      const layout = bootGuest(
        guest,
        bootOnly({ swiotlb: { skewBytes, alignBytes: 2 * MiB } }),
        new Rng(3),
        new GuestPhysMap(1 * GiB),
      );
      expect(sim.checkInvariants()).toEqual([]);
      return { sim, layout };
    };
    const aligned = run(0);
    expect(aligned.layout.swiotlb).toEqual({ offset: 1 * GiB - 64 * MiB, size: 64 * MiB });
    expect(aligned.sim.metrics.get('splits_2m')).toBe(32);
    expect(aligned.sim.metrics.get('conversions_to_shared')).toBe(1);
    expect(aligned.sim.metrics.get('psc_requests')).toBe(55 + 1 + 1);
    const skewed = run(PAGE_SIZE);
    expect(skewed.layout.swiotlb).toEqual({
      offset: 1 * GiB - 66 * MiB + PAGE_SIZE,
      size: 64 * MiB,
    });
    expect(skewed.sim.metrics.get('splits_2m')).toBe(33);
    expect(skewed.sim.metrics.get('conversions_to_shared')).toBe(11);
    expect(skewed.sim.metrics.get('psc_requests')).toBe(55 + 1 + 9);
    expect(skewed.sim.gmem.shared.total).toBe(16_384);
  });

  it('a full SNP boot of a 1 GiB guest shares exactly its structures', () => {
    // Defaults, 4 vCPUs: SWIOTLB 64 MiB (16 384 pages), 4 GHCB + 4 paravirt pages, 3 pages of
    // .bss..decrypted kept shared (the other 509 go back to private), 2 atomic pools of 128 KiB
    // (64 pages: GFP_KERNEL and GFP_DMA32; the payload fills ZONE_DMA, so there is no GFP_DMA
    // pool, as has_managed_dma() says), and the default devices' rings: virtio-net's receive and
    // transmit rings (256 entries, 2 pages each) and control ring (64 entries, 1 page), virtio-blk's
    // ring (2 pages): 7 pages. 16 466 pages.
    const { sim, guest } = setup('snp', HUGE_2M, 1 * GiB);
    const layout = bootGuest(guest, BootSchema.parse({}), new Rng(5), new GuestPhysMap(1 * GiB));
    expect(sim.checkInvariants()).toEqual([]);
    expect(layout.swiotlb?.size).toBe(64 * MiB);
    expect(layout.dmaPools).toHaveLength(2);
    expect(layout.virtio).toHaveLength(0);
    expect(layout.devices.map((d) => d.name)).toEqual(['virtio-net0', 'virtio-blk1']);
    expect(layout.deviceShared.map((r) => r.size / PAGE_SIZE)).toEqual([2, 2, 1, 2]);
    expect(sim.gmem.shared.total).toBe(16_466);
    // .bss..decrypted: 512 MSR exits; GHCB 4; paravirt 4 x 3.
    expect(sim.metrics.get('psc_requests')).toBeGreaterThan(512 + 4 + 12);
    expect(sim.metrics.get('mapgpa_guest_exits')).toBe(0);
  });

  it('a full TDX boot adds the firmware at 4 KiB and converts through MapGPA', () => {
    // MapGPA: 8 calls (SWIOTLB, 3 pools, 4 device rings), one guest exit each; exits to the VMM
    // per 2 MiB chunk: SWIOTLB 64 MiB = 32, the pools and rings (each < 2 MiB) = 7.
    const { sim, guest } = setup('tdx', HUGE_2M, 1 * GiB);
    bootGuest(guest, BootSchema.parse({}), new Rng(5), new GuestPhysMap(1 * GiB));
    expect(sim.checkInvariants()).toEqual([]);
    expect(sim.metrics.get('mapgpa_userspace_exits')).toBe(39);
    expect(sim.metrics.get('mapgpa_guest_exits')).toBe(8);
    expect(sim.metrics.get('psc_requests')).toBe(0);
    // The 4 MiB firmware was PAGE.ADDed at 4 KiB during the build and stays mapped at 4 KiB.
    expect(sim.metrics.get('pages_4k')).toBeGreaterThanOrEqual(1024);
    expect(sim.gmem.phase).toBe('runtime');
  });

  it('INIT_SHARED: the VMM writes the payload through mmap, then the file goes private', () => {
    // 36 MiB of payload = 18 blocks, split by the host faults (order-0 folios for shared pages)
    // and merged again when QEMU sets all memory private.
    const sim = simOf(
      { hugetlb2m: 600 },
      { ...HUGE_2M, vendor: 'snp', guestBytes: 1 * GiB, initPrivate: false },
    );
    const ctx = new WorkloadContext(sim, new Rng(1), { sampleIntervalNs: 1e6 });
    const guest = new CocoGuest(
      ctx,
      { memoryBytes: 1 * GiB, vcpus: 4, vendor: 'snp' },
      { acceptPageSize: '2m', largePscEntries: true },
    );
    bootGuest(guest, bootOnly({}), new Rng(2), new GuestPhysMap(1 * GiB));
    expect(sim.metrics.get('splits_2m')).toBe(18);
    expect(sim.metrics.get('merges_2m')).toBe(18);
    expect(sim.gmem.shared.total).toBe(0);
    expect(sim.checkInvariants()).toEqual([]);
  });
});

describe('GuestPhysMap', () => {
  it('places first-fit, last-fit and at random without overlap', () => {
    const map = new GuestPhysMap(16 * MiB);
    map.add(0, 4 * MiB);
    expect(map.firstFit(2 * MiB, 2 * MiB)).toBe(4 * MiB);
    expect(map.lastFit(2 * MiB, 2 * MiB)).toBe(14 * MiB);
    map.add(14 * MiB, 16 * MiB);
    expect(map.lastFit(4 * MiB, 4 * MiB)).toBe(8 * MiB);
    const rng = new Rng(9);
    for (let i = 0; i < 20; i++) {
      const at = map.random(PAGE_SIZE, PAGE_SIZE, rng);
      expect(at).not.toBeNull();
      map.add(at!, at! + PAGE_SIZE);
    }
    expect(map.count).toBe(22);
    expect(() => map.add(0, PAGE_SIZE)).toThrow(RangeError);
    expect(map.random(16 * MiB, PAGE_SIZE, rng)).toBeNull();
  });
});
