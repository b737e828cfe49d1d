// Early boot placement by the guest kernel's memblock rules: top-down order, start (not end)
// alignment, the per-CPU first chunk at the atom size, the SNP runtime data per CPU on its node,
// SWIOTLB below all of it, and how boot splits scale with guest size, vCPUs and devices.
import { describe, expect, it } from 'vitest';
import type { GmemVariantInput } from '../config.js';
import { Rng } from '../rng.js';
import { simOf } from '../sim/test-helpers.js';
import { GiB, KiB, MiB, PAGE_SIZE } from '../units.js';
import { BootSchema, bootGuest } from './coco-boot.js';
import { CocoGuest } from './coco-guest.js';
import { GuestNodes, Memblock, memmapBytes, pcpuAllocInfo, PMD_SIZE } from './coco-memblock.js';
import { GuestPhysMap } from './coco-placement.js';
import { WorkloadContext } from './context.js';

type Backing = Pick<GmemVariantInput, 'allocator' | 'pageSize'>;
const HUGE_2M: Backing = { allocator: 'hugetlb', pageSize: '2m' };
const HUGE_1G: Backing = { allocator: 'hugetlb', pageSize: '1g' };

function boot(guestBytes: number, vcpus: number, backing: Backing = HUGE_2M, params: object = {}) {
  const sim = simOf(
    {
      memoryBytes: guestBytes + 4 * GiB,
      hugetlb2m: backing.pageSize === '2m' ? guestBytes / (2 * MiB) : 0,
      hugetlb1g: backing.pageSize === '1g' ? guestBytes / GiB : 0,
    },
    { ...backing, vendor: 'snp', guestBytes },
  );
  const ctx = new WorkloadContext(sim, new Rng(1), { sampleIntervalNs: 1e6 });
  const guest = new CocoGuest(
    ctx,
    { memoryBytes: guestBytes, vcpus, vendor: 'snp' },
    { acceptPageSize: '2m', largePscEntries: true },
  );
  const map = new GuestPhysMap(guestBytes);
  const layout = bootGuest(guest, BootSchema.parse(params), new Rng(7), map);
  expect(sim.checkInvariants()).toEqual([]);
  return { sim, layout, map };
}

describe('memblock top-down (__memblock_find_range_top_down)', () => {
  it('stacks allocations downwards from the top of free memory, in allocation order', () => {
    const map = new GuestPhysMap(64 * MiB);
    const mb = new Memblock(map, new GuestNodes(64 * MiB, 1, 1));
    const a = mb.alloc(8208, PAGE_SIZE)!;
    const b = mb.alloc(8208, PAGE_SIZE)!;
    const c = mb.alloc(PAGE_SIZE, PAGE_SIZE)!;
    // round_down(64 MiB - 8208, 4096) = 64 MiB - 12 KiB; the next one ends where that one starts.
    expect(a.offset).toBe(64 * MiB - 12 * KiB);
    expect(b.offset).toBe(a.offset - 12 * KiB);
    expect(c.offset).toBe(b.offset - PAGE_SIZE);
  });

  it('aligns the start of a block, not its end', () => {
    const map = new GuestPhysMap(16 * MiB);
    const mb = new Memblock(map, new GuestNodes(16 * MiB, 1, 1));
    const r = mb.alloc(3 * MiB, 2 * MiB)!;
    // round_down(16 MiB - 3 MiB, 2 MiB) = 12 MiB: [12 MiB, 15 MiB), end not 2 MiB-aligned.
    expect(r).toEqual({ offset: 12 * MiB, size: 3 * MiB });
    // With PAGE_SIZE alignment the end is at the top and the start wherever the size puts it.
    const s = mb.alloc(1 * MiB + PAGE_SIZE, PAGE_SIZE)!;
    expect(s.offset + s.size).toBe(12 * MiB);
    expect(s.offset % (2 * MiB)).not.toBe(0);
  });

  it('allocates on the node asked for, and on any node when that one is full', () => {
    const map = new GuestPhysMap(1 * GiB);
    const nodes = new GuestNodes(1 * GiB, 4, 2);
    expect(nodes.ranges).toEqual([
      { offset: 0, size: 512 * MiB },
      { offset: 512 * MiB, size: 512 * MiB },
    ]);
    expect([0, 1, 2, 3].map((c) => nodes.nodeOfCpu(c))).toEqual([0, 0, 1, 1]);
    const mb = new Memblock(map, nodes);
    expect(mb.alloc(PAGE_SIZE, PAGE_SIZE, 0)!.offset).toBe(512 * MiB - PAGE_SIZE);
    expect(mb.alloc(PAGE_SIZE, PAGE_SIZE, 1)!.offset).toBe(1 * GiB - PAGE_SIZE);
    expect(mb.alloc(600 * MiB, PAGE_SIZE, 0, 0, true)).toBeNull();
  });

  it('frees the tail of a block so that later blocks can use it', () => {
    const map = new GuestPhysMap(8 * MiB);
    const mb = new Memblock(map, new GuestNodes(8 * MiB, 1, 1));
    const r = mb.alloc(2 * MiB, 2 * MiB)!;
    mb.free(r.offset + 1 * MiB, 1 * MiB);
    expect(mb.alloc(PAGE_SIZE, PAGE_SIZE)!.offset).toBe(8 * MiB - PAGE_SIZE);
  });
});

describe('per-CPU first chunk (pcpu_build_alloc_info, pcpu_embed_first_chunk)', () => {
  it('sizes units as the kernel logs them: s221184 r8192 d28672 u262144, 8 units per 2 MiB atom', () => {
    const info = pcpuAllocInfo(221184, 8 * KiB, 28 * KiB, PMD_SIZE, [8]);
    expect(info.sizeSum).toBe(63 * PAGE_SIZE);
    expect(info.unitBytes).toBe(256 * KiB);
    expect(info.allocBytes).toBe(PMD_SIZE);
    expect(info.unitsPerAlloc).toBe(8);
    expect(info.groupUnits).toEqual([8]);
  });

  it('grows the units rather than waste more than a third of them', () => {
    // 3 CPUs: 8 units per atom would waste 5; 4 units of 512 KiB waste 1 (<= 3 / 3).
    const three = pcpuAllocInfo(221184, 8 * KiB, 28 * KiB, PMD_SIZE, [3]);
    expect(three.unitsPerAlloc).toBe(4);
    expect(three.unitBytes).toBe(512 * KiB);
    expect(three.groupUnits).toEqual([4]);
    // 12 CPUs in two groups of 6: upa 8 wastes 4 > 12 / 3 = 4? no, 4 is allowed: 2 allocations.
    const two = pcpuAllocInfo(221184, 8 * KiB, 28 * KiB, PMD_SIZE, [6, 6]);
    expect(two.unitsPerAlloc).toBe(8);
    expect(two.groupUnits).toEqual([8, 8]);
  });

  it('places each CPU unit at the atom-aligned chunk below the memory map, decrypted page at the end of its static area', () => {
    const { layout, sim } = boot(16 * GiB, 8);
    // Memory map: 128 sections x 2 MiB at the top of the node.
    expect(memmapBytes(16 * GiB)).toBe(256 * MiB);
    expect(layout.memmap).toEqual([{ offset: 16 * GiB - 256 * MiB, size: 256 * MiB }]);
    const chunk = { offset: 16 * GiB - 258 * MiB, size: 2 * MiB };
    expect(layout.perCpuChunks).toEqual([chunk]);
    expect(chunk.offset % PMD_SIZE).toBe(0);
    layout.perCpuUnits.forEach((u, cpu) => {
      expect(u).toEqual({ offset: chunk.offset + cpu * 256 * KiB, size: 256 * KiB });
    });
    // .data..percpu..decrypted is the last page of the 54-page static area of each unit.
    layout.paravirt.forEach((p, cpu) => {
      expect(p).toEqual({
        offset: chunk.offset + cpu * 256 * KiB + 53 * PAGE_SIZE,
        size: PAGE_SIZE,
      });
      expect(sim.gmem.shared.get(p.offset / PAGE_SIZE)).toBe(true);
    });
  });

  it('puts one chunk per NUMA node at the top of that node, and each CPU runtime data on its node', () => {
    // With 4 CPUs per node the units are 512 KiB and each gives back a 260 KiB tail, so the
    // runtime data (8208 B) of the node's CPUs land in those tails, inside the chunk.
    const { layout } = boot(16 * GiB, 8, HUGE_2M, { numa: { nodes: 2 } });
    // Node 0 = [0, 8 GiB), node 1 = [8, 16 GiB); each node's memory map is 64 x 2 MiB.
    expect(layout.memmap).toEqual([
      { offset: 8 * GiB - 128 * MiB, size: 128 * MiB },
      { offset: 16 * GiB - 128 * MiB, size: 128 * MiB },
    ]);
    // 4 CPUs per node: 4 units of 512 KiB per 2 MiB chunk.
    expect(layout.perCpuChunks).toEqual([
      { offset: 8 * GiB - 130 * MiB, size: 2 * MiB },
      { offset: 16 * GiB - 130 * MiB, size: 2 * MiB },
    ]);
    layout.runtimeData.forEach((r, cpu) => {
      const node = cpu < 4 ? 0 : 1;
      const chunk = layout.perCpuChunks[node]!;
      expect(r.offset).toBeGreaterThanOrEqual(chunk.offset);
      expect(r.offset + r.size).toBeLessThanOrEqual(chunk.offset + chunk.size);
      // Not in a unit's part in use: past the 63 pages of its unit.
      expect((r.offset - chunk.offset) % (512 * KiB)).toBeGreaterThanOrEqual(63 * PAGE_SIZE);
    });
  });
});

describe('SNP runtime data and SWIOTLB by memblock', () => {
  it('stacks the runtime data below the per-CPU chunk, GHCB first, and SWIOTLB below them', () => {
    const { layout, sim } = boot(16 * GiB, 8);
    const chunk = layout.perCpuChunks[0]!;
    // memblock_alloc_node(8208, PAGE_SIZE): each one 12 KiB below the previous one.
    layout.runtimeData.forEach((r, cpu) => {
      expect(r).toEqual({ offset: chunk.offset - (cpu + 1) * 12 * KiB, size: 8208 });
      expect(layout.ghcb[cpu]).toEqual({ offset: r.offset, size: PAGE_SIZE });
    });
    const lowest = chunk.offset - 8 * 12 * KiB;
    // 6 % of 16 GiB, rounded up to a power of two of slabs (v6.0+): 1 GiB, ending right below.
    expect(layout.swiotlb).toEqual({ offset: lowest - 1 * GiB, size: 1 * GiB });
    // Its start is page-aligned only: it straddles 2 MiB blocks at both ends.
    expect(layout.swiotlb!.offset % (2 * MiB)).not.toBe(0);
    expect(sim.gmem.shared.get(layout.swiotlb!.offset / PAGE_SIZE)).toBe(true);
  });

  it('a kernel before v6.0 keeps 983.25 MiB, also ending right below the runtime data', () => {
    const { layout } = boot(16 * GiB, 8, HUGE_2M, { kernelVersion: '5.19' });
    const lowest = layout.runtimeData[7]!.offset;
    expect(layout.swiotlb).toEqual({ offset: lowest - 983.25 * MiB, size: 983.25 * MiB });
  });
});

describe('how boot splits scale (fixed vCPUs and devices)', () => {
  const splits = (guestBytes: number, vcpus: number, backing: Backing, params: object = {}) => {
    const { sim } = boot(guestBytes, vcpus, backing, params);
    return {
      s2m: sim.metrics.get('splits_2m'),
      s1g: sim.metrics.get('splits_1g'),
      shared: sim.gmem.shared.total,
    };
  };

  it('2 MiB and 1 GiB splits stay within 25 % from 16 GiB to 64 GiB', () => {
    for (const backing of [HUGE_2M, HUGE_1G]) {
      const small = splits(16 * GiB, 8, backing);
      const large = splits(64 * GiB, 8, backing);
      const key = backing.pageSize === '2m' ? 's2m' : 's1g';
      expect(small[key]).toBeGreaterThan(0);
      expect(Math.abs(large[key] - small[key])).toBeLessThanOrEqual(0.25 * small[key]);
    }
  });

  it('more vCPUs add their per-CPU shared pages and the splits they cause', () => {
    const few = splits(16 * GiB, 8, HUGE_2M);
    const many = splits(16 * GiB, 32, HUGE_2M);
    // 24 more CPUs: 24 GHCB pages and 24 decrypted per-CPU pages more.
    expect(many.shared - few.shared).toBe(48);
    // 32 units of 256 KiB are 4 chunks' worth (8 MiB): the decrypted pages sit in 4 PMDs, not 1.
    expect(many.s2m).toBeGreaterThan(few.s2m);
  });
});
