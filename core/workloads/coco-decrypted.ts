// Decrypted (shared) kernel data of an SNP guest (domain.md section 5, "CoCo boot"): the
// .bss..decrypted section and the per-CPU GHCB and paravirt pages, shared page by page over the
// MSR protocol in early boot; kvmclock pages beyond the boot array; and the unused part of
// .bss..decrypted going back to private once the boot is done.
import { z } from 'zod';
import type { Rng } from '../rng.js';
import { KiB, MiB, PAGE_SIZE, alignUp } from '../units.js';
import { bytesField } from './coco-fields.js';
import type { CocoGuest } from './coco-guest.js';
import {
  buddySpan,
  nextPowerOfTwo,
  placeScattered,
  reserve,
  type GuestPhysMap,
  type Placer,
  type Range,
} from './coco-placement.js';

const SZ_2M = 2 * MiB;

/** arch/x86/kernel/kvmclock.c: HVC_BOOT_ARRAY_SIZE entries of 64 B live in .bss..decrypted. */
const HVC_BOOT_ARRAY_SIZE = PAGE_SIZE / 64;
const PVCLOCK_BYTES = 64;

export const PerCpuSchema = z
  .object({
    placement: z.enum(['scattered', 'packed']).default('scattered').meta({
      description:
        'scattered: each per-CPU page lands at its own place in RAM (per-node memblock and per-CPU chunk allocations, drawn from the seed); packed: all of them in one contiguous run at the top of free RAM (the best case).',
    }),
    ghcbPagesPerVcpu: z.number().int().min(0).max(16).default(1).meta({
      unit: 'count',
      description:
        'SNP: shared GHCB pages per possible vCPU (struct sev_es_runtime_data.ghcb_page, init_ghcb() -> early_set_memory_decrypted(): one GHCB MSR-protocol page-state change per page).',
    }),
    paravirtPagesPerVcpu: z.number().int().min(0).max(16).default(1).meta({
      unit: 'count',
      description:
        'SNP: pages of DEFINE_PER_CPU_DECRYPTED data per vCPU (apf_reason, steal_time, kvm_apic_eoi share the page-aligned .data..percpu..decrypted section).',
    }),
    paravirtConversionsPerVcpu: z.number().int().min(0).max(16).default(3).meta({
      unit: 'count',
      description:
        'SNP: early_set_memory_decrypted() calls per vCPU in sev_map_percpu_data() (one per variable; each is one MSR-protocol exit, repeats hit a page already shared).',
    }),
  })
  .strict()
  .meta({ description: 'Per-CPU shared pages (SNP): GHCBs and paravirt data.' });
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

/**
 * Per vCPU, the GHCB page(s) and the paravirt per-CPU page(s), shared over the MSR protocol:
 * scattered, each at its own place drawn from `rng`, or packed in one run at the top of free RAM.
 */
export function sharePerCpuPages(
  g: CocoGuest,
  pc: PerCpuConfig,
  map: GuestPhysMap,
  rng: Rng,
): { ghcb: Range[]; paravirt: Range[] } {
  const ghcb: Range[] = [];
  const paravirt: Range[] = [];
  const perVcpu = pc.ghcbPagesPerVcpu + pc.paravirtPagesPerVcpu;
  if (perVcpu === 0) return { ghcb, paravirt };
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
  return { ghcb, paravirt };
}

/** kvmclock_init_mem(): pvclock pages beyond the boot array (more than 64 vCPUs), one buddy
 * allocation, decrypted. */
export function shareKvmclockPages(g: CocoGuest, placer: Placer): Range | null {
  const extra = kvmclockExtraBytes(g.spec.vcpus);
  if (extra <= 0) return null;
  const { span, align } = buddySpan(extra);
  const kvmclock = reserve(placer.map, placeScattered(placer, span, align), span);
  g.acceptAndShare(kvmclock);
  return kvmclock;
}

/** mem_encrypt_free_decrypted_mem(): the unused part of .bss..decrypted back to private. */
export function freeUnusedDecrypted(g: CocoGuest, kc: KvmclockConfig, bss: Range | null): void {
  if (!bss) return;
  const used = Math.min(alignUp(kc.bssDecryptedUsedBytes, PAGE_SIZE), bss.size);
  if (used < bss.size) g.unshare(bss.offset + used, bss.size - used);
}
