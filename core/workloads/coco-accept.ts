// Acceptance of guest memory (domain.md section 5, "lazy acceptance"): what the VMM pre-faults
// after launch, what the guest accepts while it boots, and the exits of lazy acceptance.
import { z } from 'zod';
import type { Vendor } from '../config.js';
import { MiB, PAGE_SIZE, alignUp } from '../units.js';
import { bytesField } from './coco-fields.js';
import type { CocoGuest } from './coco-guest.js';
import { pscRequests } from './coco-page-state.js';
import type { Range } from './coco-placement.js';

const SZ_2M = 2 * MiB;

export const AcceptSchema = z
  .object({
    mode: z.enum(['lazy', 'eager']).default('lazy').meta({
      description:
        'lazy: the guest accepts bootBytes chunk by chunk (page allocator path, one arch_accept_memory() per lazyAcceptChunkBytes) plus the chunks holding what it allocates; eager: accept_memory=eager, all RAM in one call at boot.',
    }),
    bootBytes: bytesField(
      256 * MiB,
      'RAM from offset 0 the guest touches (and so accepts) while it boots, besides the structures it places elsewhere. An assumption; clipped to RAM.',
    ),
    pageSize: z.enum(['2m', '4k']).default('2m').meta({
      description:
        'Page size of the guest accept: TDX TDG.MEM.PAGE.ACCEPT at 2 MiB where aligned (Linux tries the largest size first), or 4 KiB, which blocks 2 MiB mappings of that range one-way. No effect on SNP (PVALIDATE size is not modelled).',
    }),
    prefault: z.enum(['none', 'boot-range', 'all']).default('none').meta({
      description:
        'KVM_PRE_FAULT_MEMORY by the VMM after launch, before the guest runs: nothing, the boot range, or all RAM. Prefaulted pages cost no fault exit when accepted (SNP still issues its page-state-change requests).',
    }),
  })
  .strict()
  .meta({ description: 'Lazy acceptance of guest memory.' });
export type AcceptConfig = z.infer<typeof AcceptSchema>;

export interface LazyAcceptInput {
  /** Bytes accepted: a whole number of chunks, unmapped, all private, backed uniformly. */
  readonly bytes: number;
  readonly vendor: Vendor;
  /** Backing page size of the guest_memfd file. */
  readonly backingPageBytes: number;
  /** KVM_PRE_FAULT_MEMORY ran over the range first. */
  readonly prefault: boolean;
  readonly chunkBytes?: number;
  readonly batchEntries?: number;
  /** TDX accept size (4 KiB accepts block 2 MiB mappings). Default 2 MiB. */
  readonly acceptPageBytes?: number;
  /** TDX with the TDX huge-page series (policies.tdxHugePageSeries); mainline maps 4 KiB. */
  readonly tdxHugePageSeries?: boolean;
}

/**
 * Exits of lazily accepting `bytes` in chunks of `chunkBytes` (4 MiB, one arch_accept_memory()
 * each). Fault exits: touching each page faults it in, mapped at min(backing page, vendor limit) -
 * one exit per 4 KiB with 4 KiB backing, one per 2 MiB with 2 MiB or 1 GiB backing (SNP, CCA and
 * pKVM map private memory at most at 2 MiB; TDX at 4 KiB in mainline, 2 MiB with the TDX huge-page
 * series: core/kvm/mmu.ts vendorMaxLevel) - and none after prefault. SNP adds one page-state-change request
 * per chunk (snp_accept_memory() -> set_pages_state(): a 4 MiB chunk is two 2 MiB entries); TDX
 * TDG.MEM.PAGE.ACCEPT is a TDCALL into the TDX module, not an exit to KVM.
 */
export function lazyAcceptExits(input: LazyAcceptInput): {
  faultExits: number;
  pscExits: number;
  total: number;
} {
  const chunk = input.chunkBytes ?? 4 * MiB;
  const batch = input.batchEntries ?? 64;
  let mapBytes = input.backingPageBytes;
  if (
    input.vendor === 'snp' ||
    input.vendor === 'tdx' ||
    input.vendor === 'cca' ||
    input.vendor === 'pkvm'
  )
    mapBytes = Math.min(mapBytes, SZ_2M);
  if (input.vendor === 'tdx' && !input.tdxHugePageSeries) mapBytes = PAGE_SIZE;
  if (input.vendor === 'tdx' && (input.acceptPageBytes ?? SZ_2M) < SZ_2M) mapBytes = PAGE_SIZE;
  const faultExits = input.prefault ? 0 : Math.ceil(input.bytes / mapBytes);
  let pscExits = 0;
  if (input.vendor === 'snp') {
    for (let at = 0; at < input.bytes; at += chunk)
      pscExits += pscRequests(at, Math.min(chunk, input.bytes - at), batch);
  }
  return { faultExits, pscExits, total: faultExits + pscExits };
}

/** RAM from offset 0 the guest accepts while it boots: bootBytes in whole pages, clipped to RAM. */
export function bootAcceptBytes(acc: AcceptConfig, guestBytes: number): number {
  return Math.min(alignUp(acc.bootBytes, PAGE_SIZE), guestBytes);
}

/** KVM_PRE_FAULT_MEMORY by the VMM after launch, before the guest runs. */
export function prefaultAtLaunch(g: CocoGuest, acc: AcceptConfig): void {
  const bootBytes = bootAcceptBytes(acc, g.bytes);
  if (acc.prefault === 'all') g.prefault(0, g.bytes);
  else if (acc.prefault === 'boot-range' && bootBytes > 0) g.prefault(0, bootBytes);
}

/**
 * The guest runs from its payload (validated / accepted by the launch) and accepts RAM: all of it
 * when eager, else the boot range chunk by chunk. Returns the end of the accepted range.
 */
export function acceptAtBoot(g: CocoGuest, acc: AcceptConfig, payload: Range | null): number {
  const bootBytes = bootAcceptBytes(acc, g.bytes);
  if (payload) {
    g.markAccepted(payload.offset, payload.size);
    g.touchPrivate(payload.offset, payload.size);
  }
  if (acc.mode === 'eager') g.accept(0, g.bytes);
  else if (bootBytes > 0) g.accept(0, bootBytes, true);
  return acc.mode === 'eager' ? g.bytes : bootBytes;
}
