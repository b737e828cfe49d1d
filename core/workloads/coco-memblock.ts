// Early boot placement of a guest Linux kernel (domain.md section 5, "CoCo boot"): memblock's
// top-down allocator, the guest's NUMA nodes, the memory map (struct page arrays) and the per-CPU
// first chunk, each placed by the rule of the kernel function that allocates it.
//
// memblock (mm/memblock.c): memblock_alloc_range_nid() -> memblock_find_in_range_node() ->
// __memblock_find_range_top_down() walks the free ranges from the highest down and returns
// round_down(this_end - size, align) in the first range that holds it. So the END of a block lands
// at the top of free memory and only its START is aligned; successive allocations stack downwards.
// memblock accepts what it hands out (accept_memory() in memblock_alloc_range_nid(), Linux 6.5+).
import { z } from 'zod';
import { KiB, MiB, PAGE_SIZE, alignDown, alignUp } from '../units.js';
import type { GuestPhysMap, Range } from './coco-placement.js';

/** PMD_SIZE: the per-CPU atom size on x86-64 (setup_per_cpu_areas(), arch/x86/kernel/setup_percpu.c). */
export const PMD_SIZE = 2 * MiB;
/** __pa(MAX_DMA_ADDRESS): the lowest address of the memmap and per-CPU allocations (16 MiB). */
export const MAX_DMA_ADDRESS = 16 * MiB;
/** x86-64 SECTION_SIZE_BITS 27: one memory section is 128 MiB. */
export const SECTION_BYTES = 128 * MiB;
/** mm/percpu.c: PCPU_MIN_UNIT_SIZE (32 KiB) and PERCPU_DYNAMIC_EARLY_SIZE (20 KiB). */
const PCPU_MIN_UNIT_SIZE = 32 * KiB;
const PERCPU_DYNAMIC_EARLY_SIZE = 20 * KiB;

export const NumaSchema = z
  .object({
    nodes: z.number().int().min(1).max(64).default(1).meta({
      unit: 'count',
      description:
        'NUMA nodes of the guest (QEMU -numa): RAM split evenly in whole 128 MiB sections, the vCPUs in contiguous blocks, node 0 first. The even split and the CPU blocks are an assumption about the VMM topology. Per-node boot allocations (memmap, per-CPU chunk, SNP runtime data) go to the top of their node.',
      assumption: true,
    }),
  })
  .strict()
  .meta({ description: 'NUMA topology of the guest.' });
export type NumaConfig = z.infer<typeof NumaSchema>;

/** The guest's NUMA nodes as ranges of RAM, and the node of each CPU. */
export class GuestNodes {
  readonly ranges: readonly Range[];
  constructor(
    readonly bytes: number,
    readonly vcpus: number,
    nodes: number,
  ) {
    const n = Math.max(1, Math.min(nodes, Math.floor(bytes / SECTION_BYTES) || 1));
    const per = n === 1 ? bytes : alignDown(Math.floor(bytes / n), SECTION_BYTES);
    const ranges: Range[] = [];
    for (let i = 0; i < n; i++) {
      const offset = i * per;
      ranges.push({ offset, size: i === n - 1 ? bytes - offset : per });
    }
    this.ranges = ranges;
  }

  get count(): number {
    return this.ranges.length;
  }

  /** cpu_to_node(): contiguous blocks of CPUs per node. */
  nodeOfCpu(cpu: number): number {
    return Math.min(this.count - 1, Math.floor((cpu * this.count) / Math.max(1, this.vcpus)));
  }

  cpusOfNode(node: number): number[] {
    const out: number[] = [];
    for (let cpu = 0; cpu < this.vcpus; cpu++) if (this.nodeOfCpu(cpu) === node) out.push(cpu);
    return out;
  }
}

/** memblock over the guest physical map: top-down, per node, with frees of parts of a block. */
export class Memblock {
  constructor(
    readonly map: GuestPhysMap,
    readonly nodes: GuestNodes,
  ) {}

  /**
   * memblock_alloc_try_nid(size, align, minAddr, MEMBLOCK_ALLOC_ACCESSIBLE, nid): top-down in the
   * node's memory; memblock_alloc_range_nid() retries on any node when the node has no room
   * (unless `exact`, as memblock_alloc_exact_nid_raw()). nid null is NUMA_NO_NODE: all memory.
   */
  alloc(
    size: number,
    align: number,
    nid: number | null = null,
    minAddr = 0,
    exact = false,
  ): Range | null {
    if (size <= 0) return null;
    const any = (): number | null => this.map.lastFit(size, align, this.map.limit, minAddr);
    let at: number | null;
    if (nid === null) at = any();
    else {
      const node = this.nodes.ranges[nid]!;
      at = this.map.lastFit(size, align, node.offset + node.size, Math.max(minAddr, node.offset));
      if (at === null && !exact) at = any();
    }
    if (at === null) return null;
    this.map.add(at, at + size);
    return { offset: at, size };
  }

  /** memblock_free(): give back [offset, offset + size) of a block allocated before. */
  free(offset: number, size: number): void {
    if (size > 0) this.map.release(offset, offset + size);
  }
}

/**
 * Bytes of one node's memory map: sparse_init_nid() -> sparse_buffer_init(map_count *
 * section_map_size()) (mm/sparse.c), one top-down memblock block per node aligned at
 * section_map_size(): 64 B of struct page per 4 KiB page, 2 MiB per 128 MiB section.
 */
export function memmapBytes(nodeBytes: number, structPageBytes = 64): number {
  const sections = Math.ceil(nodeBytes / SECTION_BYTES);
  return sections * sectionMapBytes(structPageBytes);
}

export function sectionMapBytes(structPageBytes = 64): number {
  return alignUp((SECTION_BYTES / PAGE_SIZE) * structPageBytes, PMD_SIZE);
}

export interface PcpuAllocInfo {
  /** PFN_ALIGN(static + reserved + dynamic): the part of a unit in use. */
  readonly sizeSum: number;
  readonly unitBytes: number;
  /** The atom-aligned allocation size (one or more units). */
  readonly allocBytes: number;
  readonly unitsPerAlloc: number;
  /** Units of each group (one group per node): a whole number of allocations. */
  readonly groupUnits: readonly number[];
}

/**
 * pcpu_build_alloc_info() (mm/percpu.c): the unit size and the units per atom-sized allocation,
 * for groups of CPUs (one per NUMA node). Units per allocation start at the most that fit and
 * drop while the allocation size does not divide into page-aligned units, or more than a third of
 * the units would be wasted, or more allocations would be needed.
 */
export function pcpuAllocInfo(
  staticBytes: number,
  reservedBytes: number,
  dynBytes: number,
  atomBytes: number,
  groupCpus: readonly number[],
): PcpuAllocInfo {
  const sizeSum = alignUp(
    staticBytes + reservedBytes + Math.max(dynBytes, PERCPU_DYNAMIC_EARLY_SIZE),
    PAGE_SIZE,
  );
  const minUnit = Math.max(sizeSum, PCPU_MIN_UNIT_SIZE);
  const allocBytes = alignUp(minUnit, atomBytes);
  const fits = (upa: number) => allocBytes % upa === 0 && (allocBytes / upa) % PAGE_SIZE === 0;
  let maxUpa = Math.floor(allocBytes / minUnit);
  while (maxUpa > 1 && !fits(maxUpa)) maxUpa--;
  const possible = groupCpus.reduce((a, b) => a + b, 0);
  let lastAllocs = Infinity;
  let best = 1;
  for (let upa = maxUpa; upa >= 1; upa--) {
    if (!fits(upa)) continue;
    let allocs = 0;
    let wasted = 0;
    for (const n of groupCpus) {
      const a = Math.ceil(n / upa);
      allocs += a;
      wasted += a * upa - n;
    }
    if (wasted > Math.floor(possible / 3)) continue;
    if (allocs > lastAllocs) break;
    lastAllocs = allocs;
    best = upa;
  }
  return {
    sizeSum,
    unitBytes: allocBytes / best,
    allocBytes,
    unitsPerAlloc: best,
    groupUnits: groupCpus.map((n) => Math.ceil(n / best) * best),
  };
}

export const MemmapSchema = z
  .object({
    enabled: z.boolean().default(true).meta({
      description:
        'The guest places its memory map (struct page arrays) with memblock before the per-CPU chunk: sparse_init_nid() -> sparse_buffer_init() (mm/sparse.c), one block per NUMA node at its top, aligned at section_map_size(). Private memory, but it moves everything memblock places after it.',
    }),
    structPageBytes: z.number().int().min(32).max(256).default(64).meta({
      unit: 'bytes',
      description: 'sizeof(struct page): 64 B on x86-64 (include/linux/mm_types.h).',
    }),
  })
  .strict()
  .meta({ description: 'The guest memory map (struct page arrays), placed by memblock.' });
export type MemmapConfig = z.infer<typeof MemmapSchema>;

/** sparse_init(): one memmap block per node, top-down in the node, accepted (memblock does) and
 * written (memmap_init()), private. */
export function placeMemmap(mb: Memblock, cfg: MemmapConfig, accept: (r: Range) => void): Range[] {
  if (!cfg.enabled) return [];
  const out: Range[] = [];
  mb.nodes.ranges.forEach((node, nid) => {
    const size = memmapBytes(node.size, cfg.structPageBytes);
    // memblock_alloc_exact_nid_raw(size, section_map_size(), __pa(MAX_DMA_ADDRESS), ..., nid).
    const r = mb.alloc(size, sectionMapBytes(cfg.structPageBytes), nid, MAX_DMA_ADDRESS, true);
    if (r) {
      out.push(r);
      accept(r);
    }
  });
  return out;
}
