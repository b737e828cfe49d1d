// Decrypted (shared) kernel data of an SNP guest (domain.md section 5, "CoCo boot"): the
// .bss..decrypted section and the per-CPU GHCB and paravirt pages, shared page by page over the
// MSR protocol in early boot; kvmclock pages beyond the boot array; and the unused part of
// .bss..decrypted going back to private once the boot is done.
import { z } from 'zod';
import type { Rng } from '../rng.js';
import { KiB, MiB, PAGE_SIZE, alignUp } from '../units.js';
import { bytesField } from './coco-fields.js';
import type { CocoGuest } from './coco-guest.js';
import { MAX_DMA_ADDRESS, PMD_SIZE, pcpuAllocInfo, type Memblock } from './coco-memblock.js';
import { getOrder, MAX_PAGE_ORDER, type GuestPageAllocator } from './guest-page-alloc.js';
import { nextPowerOfTwo, reserve, type GuestPhysMap, type Range } from './coco-placement.js';

const SZ_2M = 2 * MiB;

/** arch/x86/kernel/kvmclock.c: HVC_BOOT_ARRAY_SIZE entries of 64 B live in .bss..decrypted. */
const HVC_BOOT_ARRAY_SIZE = PAGE_SIZE / 64;
const PVCLOCK_BYTES = 64;

export const PerCpuSchema = z
  .object({
    placement: z.enum(['memblock', 'scattered', 'packed']).default('memblock').meta({
      description:
        "memblock: where the guest kernel puts them: each CPU's unit of the per-CPU first chunk (pcpu_embed_first_chunk(), mm/percpu.c, atom PMD_SIZE on x86-64) with its decrypted per-CPU page at its offset in the unit, and the SNP runtime data (GHCB) of each CPU from memblock_alloc_node() on its node (alloc_runtime_data(), arch/x86/coco/sev/core.c), all top-down; scattered: each page at a place drawn from the seed (the earlier model, kept for old experiments); packed: all of them in one run at the top of free RAM.",
    }),
    staticBytes: z.number().int().nonnegative().multipleOf(PAGE_SIZE).default(221184).meta({
      unit: 'bytes',
      description:
        'Static per-CPU data of the guest kernel (__per_cpu_end - __per_cpu_start). The default is an assumption: a typical x86-64 distribution kernel, whose boot log reads "percpu: Embedded 63 pages/cpu s221184 r8192 d28672 u262144".',
      assumption: true,
    }),
    reservedBytes: bytesField(
      8 * KiB,
      'Reserved per-CPU area of the first chunk: PERCPU_FIRST_CHUNK_RESERVE = PERCPU_MODULE_RESERVE (8 KiB, include/linux/percpu.h).',
    ),
    dynamicBytes: bytesField(
      28 * KiB,
      'Dynamic per-CPU area of the first chunk: dyn_size in setup_per_cpu_areas() (arch/x86/kernel/setup_percpu.c), PERCPU_DYNAMIC_RESERVE = 28 KiB on 64-bit.',
    ),
    runtimeDataBytes: z.number().int().min(PAGE_SIZE).max(MiB).default(8208).meta({
      unit: 'bytes',
      description:
        'SNP: sizeof(struct sev_es_runtime_data) (arch/x86/coco/sev/internal.h: ghcb_page and backup_ghcb, 4 KiB each, two flags and dr7), one memblock_alloc_node(size, PAGE_SIZE, cpu_to_node(cpu)) per possible CPU (memblock placement).',
    }),
    ghcbPagesPerVcpu: z.number().int().min(0).max(16).default(1).meta({
      unit: 'count',
      description:
        'SNP: shared GHCB pages per possible vCPU (struct sev_es_runtime_data.ghcb_page, init_ghcb() -> early_set_memory_decrypted(): one GHCB MSR-protocol page-state change per page), at the start of the runtime data.',
    }),
    paravirtPagesPerVcpu: z.number().int().min(0).max(16).default(1).meta({
      unit: 'count',
      description:
        'SNP: pages of DEFINE_PER_CPU_DECRYPTED data per vCPU (apf_reason, steal_time, kvm_apic_eoi share the page-aligned .data..percpu..decrypted section, the last input of PERCPU_INPUT in include/asm-generic/vmlinux.lds.h, so it ends the static area of each unit).',
    }),
    paravirtConversionsPerVcpu: z.number().int().min(0).max(16).default(3).meta({
      unit: 'count',
      description:
        'SNP: early_set_memory_decrypted() calls per vCPU in sev_map_percpu_data() (one per variable; each is one MSR-protocol exit, repeats hit a page already shared).',
    }),
  })
  .strict()
  .meta({
    description: 'Per-CPU memory: the first chunk, and SNP shared pages (GHCBs and paravirt data).',
  });
export type PerCpuConfig = z.infer<typeof PerCpuSchema>;

export const KvmclockSchema = z
  .object({
    enabled: z.boolean().default(true).meta({
      description:
        'SNP: the guest uses kvmclock (off with Secure TSC). Its boot array sits in .bss..decrypted; guests with more than 64 possible vCPUs allocate and decrypt more pvclock pages (kvmclock_init_mem()).',
    }),
    bssDecryptedBytes: bytesField(
      2 * MiB,
      'SNP: the kernel image section .bss..decrypted (PMD-aligned, one PMD), made shared page by page over the MSR protocol in early boot (sme_postprocess_startup()). 0 leaves it out.',
    ),
    bssDecryptedUsedBytes: bytesField(
      12 * KiB,
      'SNP: the part of .bss..decrypted that stays shared (boot_ghcb_page, hv_clock_boot, wall_clock); mem_encrypt_free_decrypted_mem() converts the rest back to private.',
    ),
  })
  .strict()
  .meta({ description: 'kvmclock and the kernel decrypted section (SNP).' });
export type KvmclockConfig = z.infer<typeof KvmclockSchema>;

/** Pages kvmclock_init_mem() allocates and decrypts beyond the boot array (more than 64 vCPUs). */
export function kvmclockExtraBytes(vcpus: number): number {
  if (vcpus <= HVC_BOOT_ARRAY_SIZE) return 0;
  const bytes = (vcpus - HVC_BOOT_ARRAY_SIZE) * PVCLOCK_BYTES;
  return PAGE_SIZE * nextPowerOfTwo(Math.ceil(bytes / PAGE_SIZE));
}

/** .bss..decrypted (PMD-aligned, above the payload when it fits), shared over the MSR protocol. */
export function shareBssDecrypted(
  g: CocoGuest,
  kc: KvmclockConfig,
  map: GuestPhysMap,
  from: number,
): Range | null {
  if (kc.bssDecryptedBytes <= 0) return null;
  const size = alignUp(kc.bssDecryptedBytes, SZ_2M);
  const bss = reserve(map, map.firstFit(size, SZ_2M, from) ?? map.lastFit(size, SZ_2M), size);
  g.acceptAndShare(bss, 'msr');
  return bss;
}

export interface PerCpuLayout {
  readonly ghcb: Range[];
  readonly paravirt: Range[];
  /** The per-CPU first chunk: one block per NUMA node with CPUs (memblock placement only). */
  readonly chunks: Range[];
  /** Each CPU's unit, in CPU order (memblock placement only). */
  readonly units: Range[];
  /** SNP: each CPU's struct sev_es_runtime_data (memblock placement only). */
  readonly runtimeData: Range[];
}

/**
 * The per-CPU first chunk, as pcpu_embed_first_chunk() (mm/percpu.c) builds it for
 * setup_per_cpu_areas() (arch/x86/kernel/setup_percpu.c): pcpu_build_alloc_info() sizes the
 * units, then one top-down memblock block of the group's units per NUMA node (pcpu_fc_alloc():
 * memblock_alloc_try_nid(size, atom_size = PMD_SIZE, __pa(MAX_DMA_ADDRESS), ..., node)); units
 * with no CPU go back whole, and each used unit gives back its tail beyond the part in use
 * (pcpu_fc_free(ptr + size_sum, unit_size - size_sum)). Every vendor's kernel does this; the
 * memory stays private.
 */
export function placePerCpuChunk(
  g: CocoGuest,
  pc: PerCpuConfig,
  mb: Memblock,
): { chunks: Range[]; units: Range[] } {
  const nodes = mb.nodes;
  const groups: number[][] = [];
  for (let n = 0; n < nodes.count; n++) {
    const cpus = nodes.cpusOfNode(n);
    if (cpus.length > 0) groups.push(cpus);
  }
  const info = pcpuAllocInfo(
    pc.staticBytes,
    pc.reservedBytes,
    pc.dynamicBytes,
    PMD_SIZE,
    groups.map((c) => c.length),
  );
  const chunks: Range[] = [];
  const units: Range[] = new Array<Range>(g.spec.vcpus);
  const placed: Array<{ chunk: Range; cpus: number[] }> = [];
  for (let i = 0; i < groups.length; i++) {
    const cpus = groups[i]!;
    const size = info.groupUnits[i]! * info.unitBytes;
    const chunk = mb.alloc(size, PMD_SIZE, nodes.nodeOfCpu(cpus[0]!), MAX_DMA_ADDRESS);
    if (!chunk)
      throw new RangeError(`no room for the per-CPU first chunk (${size} B) in guest RAM`);
    chunks.push(chunk);
    placed.push({ chunk, cpus });
    g.accept(chunk.offset, chunk.size);
  }
  for (const { chunk, cpus } of placed) {
    for (let u = 0; u * info.unitBytes < chunk.size; u++) {
      const at = chunk.offset + u * info.unitBytes;
      const cpu = cpus[u];
      if (cpu === undefined) {
        mb.free(at, info.unitBytes);
        continue;
      }
      units[cpu] = { offset: at, size: info.unitBytes };
      mb.free(at + info.sizeSum, info.unitBytes - info.sizeSum);
    }
  }
  return { chunks, units };
}

/**
 * SNP, memblock placement: per CPU, sev_map_percpu_data() (arch/x86/kernel/kvm.c) decrypts the
 * page of each DEFINE_PER_CPU_DECRYPTED variable, inside the CPU's unit at the end of its static
 * area; then sev_es_init_vc_handling() (arch/x86/coco/sev/core.c, from trap_init()) allocates each
 * CPU's runtime data with memblock_alloc_node() on the CPU's node, top-down, and init_ghcb()
 * decrypts its GHCB page. All over the MSR protocol (early_set_memory_decrypted()).
 */
function sharePerCpuMemblock(
  g: CocoGuest,
  pc: PerCpuConfig,
  mb: Memblock,
  units: readonly Range[],
): { ghcb: Range[]; paravirt: Range[]; runtimeData: Range[] } {
  const ghcb: Range[] = [];
  const paravirt: Range[] = [];
  const runtimeData: Range[] = [];
  const pvPages = Math.min(pc.paravirtPagesPerVcpu, Math.floor(pc.staticBytes / PAGE_SIZE));
  for (let cpu = 0; cpu < g.spec.vcpus && pvPages > 0; cpu++) {
    const unit = units[cpu]!;
    const r = {
      offset: unit.offset + pc.staticBytes - pvPages * PAGE_SIZE,
      size: pvPages * PAGE_SIZE,
    };
    paravirt.push(r);
    for (let k = 0; k < pc.paravirtConversionsPerVcpu; k++)
      g.share(r.offset + (k % pvPages) * PAGE_SIZE, PAGE_SIZE, 'msr');
  }
  const ghcbPages = Math.min(pc.ghcbPagesPerVcpu, Math.floor(pc.runtimeDataBytes / PAGE_SIZE));
  if (ghcbPages === 0) return { ghcb, paravirt, runtimeData };
  for (let cpu = 0; cpu < g.spec.vcpus; cpu++) {
    const data = mb.alloc(pc.runtimeDataBytes, PAGE_SIZE, mb.nodes.nodeOfCpu(cpu));
    if (!data) throw new RangeError(`no room for the SNP runtime data of CPU ${cpu} in guest RAM`);
    runtimeData.push(data);
    g.accept(data.offset, data.size);
    const r = { offset: data.offset, size: ghcbPages * PAGE_SIZE };
    ghcb.push(r);
    g.share(r.offset, r.size, 'msr');
  }
  return { ghcb, paravirt, runtimeData };
}

/**
 * Per vCPU, the GHCB page(s) and the paravirt per-CPU page(s), shared over the MSR protocol:
 * memblock placement (the kernel's rules, above; `units` from placePerCpuChunk), scattered, each
 * at its own place drawn from `rng`, or packed in one run at the top of free RAM.
 */
export function sharePerCpuPages(
  g: CocoGuest,
  pc: PerCpuConfig,
  mb: Memblock,
  rng: Rng,
  units: readonly Range[] = [],
): { ghcb: Range[]; paravirt: Range[]; runtimeData: Range[] } {
  if (pc.placement === 'memblock') return sharePerCpuMemblock(g, pc, mb, units);
  const map = mb.map;
  const runtimeData: Range[] = [];
  const ghcb: Range[] = [];
  const paravirt: Range[] = [];
  const perVcpu = pc.ghcbPagesPerVcpu + pc.paravirtPagesPerVcpu;
  if (perVcpu === 0) return { ghcb, paravirt, runtimeData };
  let packedAt: number | null = null;
  if (pc.placement === 'packed') {
    const total = perVcpu * g.spec.vcpus * PAGE_SIZE;
    packedAt = map.lastFit(total, PAGE_SIZE);
    if (packedAt !== null) map.add(packedAt, packedAt + total);
  }
  let cursor = packedAt ?? 0;
  const place = (pages: number): Range | null => {
    if (pages === 0) return null;
    const size = pages * PAGE_SIZE;
    if (packedAt !== null) {
      const r = { offset: cursor, size };
      cursor += size;
      return r;
    }
    return reserve(map, map.random(size, PAGE_SIZE, rng), size);
  };
  for (let cpu = 0; cpu < g.spec.vcpus; cpu++) {
    // init_ghcb(): early_set_memory_decrypted() of the GHCB page.
    const gr = place(pc.ghcbPagesPerVcpu);
    if (gr) {
      ghcb.push(gr);
      g.acceptAndShare(gr, 'msr');
    }
    // sev_map_percpu_data(): one early_set_memory_decrypted() per variable.
    const pr = place(pc.paravirtPagesPerVcpu);
    if (pr) {
      paravirt.push(pr);
      g.accept(pr.offset, pr.size);
      const pages = pr.size / PAGE_SIZE;
      for (let k = 0; k < pc.paravirtConversionsPerVcpu; k++)
        g.share(pr.offset + (k % pages) * PAGE_SIZE, PAGE_SIZE, 'msr');
    }
  }
  return { ghcb, paravirt, runtimeData };
}

/** kvmclock_init_mem() (arch/x86/kernel/kvmclock.c): pvclock pages beyond the boot array (more
 * than 64 vCPUs), alloc_pages(GFP_KERNEL, order), then set_memory_decrypted(). */
export function shareKvmclockPages(g: CocoGuest, pages: GuestPageAllocator): Range | null {
  const extra = kvmclockExtraBytes(g.spec.vcpus);
  if (extra <= 0) return null;
  const order = Math.min(getOrder(extra), MAX_PAGE_ORDER);
  const at = pages.alloc(order);
  if (at === null) return null;
  const kvmclock = { offset: at, size: PAGE_SIZE << order };
  g.share(kvmclock.offset, kvmclock.size);
  return kvmclock;
}

/** mem_encrypt_free_decrypted_mem(): the unused part of .bss..decrypted back to private. */
export function freeUnusedDecrypted(g: CocoGuest, kc: KvmclockConfig, bss: Range | null): void {
  if (!bss) return;
  const used = Math.min(alignUp(kc.bssDecryptedUsedBytes, PAGE_SIZE), bss.size);
  if (used < bss.size) g.unshare(bss.offset + used, bss.size - used);
}
