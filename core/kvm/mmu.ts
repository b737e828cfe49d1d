// KVM's TDP (EPT/NPT) mappings of one guest_memfd-backed memslot: leaf SPTEs at 4 KiB, 2 MiB and
// 1 GiB, the per-level counters KVM exports as pages_4k / pages_2m / pages_1g (arch/x86/kvm/mmu),
// and the page-table pages the mappings need. Kept per 1 GiB range and per 2 MiB block, plus a
// bitmap for 4 KiB SPTEs.
import {
  blockOfPage,
  gigOfBlock,
  gigOfPage,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  type PageOrder,
} from '../units.js';
import { BlockTable } from '../gmem/block-table.js';
import { PagedBitmap } from '../gmem/paged-bitmap.js';
import type { Vendor } from '../config.js';

export const NOT_MAPPED = -1;

export class TdpMmu {
  private readonly gigMapped: Uint8Array;
  private readonly blockMapped: BlockTable;
  private readonly mapped4k: PagedBitmap;
  /** Per 1 GiB range: blocks mapped at 2 MiB plus blocks that need a 4 KiB page table. */
  private readonly gigLower: Uint16Array;
  /** Per 512 GiB: 1 GiB ranges with any mapping (the PUD table page is needed). */
  private readonly pudUse: Uint16Array;
  private nr1g = 0;
  private nr2m = 0;
  private nrPtPages = 0;
  private nrPmdPages = 0;
  private nrPudPages = 0;

  constructor(readonly nrPages: number) {
    const nrBlocks = Math.ceil(nrPages / 512);
    const nrGigs = Math.ceil(nrPages / 262144);
    this.gigMapped = new Uint8Array(nrGigs);
    this.blockMapped = new BlockTable(nrBlocks);
    this.mapped4k = new PagedBitmap(nrPages);
    this.gigLower = new Uint16Array(nrGigs);
    this.pudUse = new Uint16Array(Math.ceil(nrGigs / 512));
  }

  /** Bytes of typed arrays holding the mapping state. */
  get storageBytes(): number {
    return (
      this.gigMapped.byteLength +
      this.blockMapped.storageBytes +
      this.mapped4k.storageBytes +
      this.gigLower.byteLength +
      this.pudUse.byteLength
    );
  }

  get pages4k(): number {
    return this.mapped4k.total;
  }
  get pages2m(): number {
    return this.nr2m;
  }
  get pages1g(): number {
    return this.nr1g;
  }

  /** Page-table pages below the root: PUD tables, PMD tables and PTE tables (plus the root). */
  get pageTablePages(): number {
    return this.nrPtPages + this.nrPmdPages + this.nrPudPages + 1;
  }

  /** Level of the leaf SPTE mapping `index`, or NOT_MAPPED. */
  levelAt(index: number): number {
    if (this.gigMapped[gigOfPage(index)]) return ORDER_1G;
    if (this.blockMapped.get(blockOfPage(index))) return ORDER_2M;
    return this.mapped4k.get(index) ? ORDER_4K : NOT_MAPPED;
  }

  /** First index of [start, end) with a 4 KiB SPTE, or `end`. */
  next4kMapped(start: number, end: number): number {
    return this.mapped4k.find(start, end, true);
  }

  /** 4 KiB SPTEs installed in the 2 MiB block `b`. */
  mapped4kInBlock(b: number): number {
    return this.mapped4k.blockCount(b);
  }

  /** Install a leaf SPTE of `level` covering `index` (aligned down). Replaces nothing: the caller
   * zaps a smaller mapping before installing a larger one, as KVM does when it recovers a huge page. */
  map(index: number, level: PageOrder): void {
    if (this.levelAt(index) !== NOT_MAPPED) throw new Error(`index ${index} is already mapped`);
    const g = gigOfPage(index);
    const b = blockOfPage(index);
    if (level === ORDER_1G) {
      if (this.gigLower[g] !== 0) throw new Error(`1 GiB SPTE over smaller mappings at gig ${g}`);
      this.gigMapped[g] = 1;
      this.nr1g++;
      this.gigUsed(g, +1);
    } else if (level === ORDER_2M) {
      if (this.mapped4k.blockCount(b) !== 0)
        throw new Error(`2 MiB SPTE over 4 KiB mappings at block ${b}`);
      this.blockMapped.set(b, 1);
      this.nr2m++;
      this.lowerChanged(g, +1);
    } else {
      const hadTable = this.mapped4k.blockCount(b) !== 0;
      this.mapped4k.assign(index, true);
      if (!hadTable) {
        this.nrPtPages++;
        this.lowerChanged(g, +1);
      }
    }
  }

  /** map(i, ORDER_4K) for every i of [start, end), one 2 MiB block, none of them mapped. */
  mapBaseRun(start: number, end: number): void {
    const b = blockOfPage(start);
    if (end <= start || blockOfPage(end - 1) !== b)
      throw new Error(`[${start}, ${end}) is not in one block`);
    if (
      this.gigMapped[gigOfPage(start)] ||
      this.blockMapped.get(b) ||
      this.mapped4k.find(start, end, true) < end
    )
      throw new Error(`[${start}, ${end}) is already mapped in part`);
    const hadTable = this.mapped4k.blockCount(b) !== 0;
    this.mapped4k.assignRange(start, end, true);
    if (!hadTable) {
      this.nrPtPages++;
      this.lowerChanged(gigOfPage(start), +1);
    }
  }

  /** zapRange(i, i + 1), answered at once when the 1 GiB range holding `i` has no mapping at all
   * (no 1 GiB SPTE, no block mapped at 2 MiB or holding 4 KiB SPTEs: gigLower is 0). */
  zapPage(i: number): number {
    const g = gigOfPage(i);
    if (this.gigMapped[g] === 0 && this.gigLower[g] === 0) return 0;
    return this.zapRange(i, i + 1);
  }

  /** Zap every leaf SPTE overlapping [start, end); a huge SPTE goes as a whole. Returns the number
   * of SPTEs zapped. */
  zapRange(start: number, end: number): number {
    let zapped = 0;
    const firstGig = gigOfPage(start);
    const lastGig = gigOfPage(end - 1);
    for (let g = firstGig; g <= lastGig; g++) {
      if (this.gigMapped[g]) {
        this.gigMapped[g] = 0;
        this.nr1g--;
        this.gigUsed(g, -1);
        zapped++;
        continue;
      }
      if (this.gigLower[g] === 0) continue;
      const bStart = blockOfPage(Math.max(start, g * 262144));
      const bEnd = blockOfPage(Math.min(end, (g + 1) * 262144) - 1) + 1;
      for (let b = bStart; b < bEnd; b++) {
        if (this.blockMapped.get(b)) {
          this.blockMapped.set(b, 0);
          this.nr2m--;
          this.lowerChanged(g, -1);
          zapped++;
        } else if (this.mapped4k.blockCount(b) !== 0) {
          const s = Math.max(start, b * 512);
          const e = Math.min(end, (b + 1) * 512);
          zapped += this.mapped4k.assignRange(s, e, false);
          if (this.mapped4k.blockCount(b) === 0) {
            this.nrPtPages--;
            this.lowerChanged(g, -1);
          }
        }
      }
    }
    return zapped;
  }

  private lowerChanged(g: number, delta: number): void {
    const before = this.gigLower[g]!;
    this.gigLower[g] = before + delta;
    if (before === 0 && delta > 0) {
      this.nrPmdPages++;
      this.gigUsed(g, +1);
    } else if (before + delta === 0) {
      this.nrPmdPages--;
      this.gigUsed(g, -1);
    }
  }

  private gigUsed(g: number, delta: number): void {
    const p = gigOfBlock(g);
    const before = this.pudUse[p]!;
    this.pudUse[p] = before + delta;
    if (before === 0 && delta > 0) this.nrPudPages++;
    else if (before + delta === 0) this.nrPudPages--;
  }
}

/**
 * Largest mapping KVM's vendor code allows for private memory (x86 ops private_max_mapping_level
 * and the Arm equivalents), before the per-page limits:
 *  - SNP: at most 2 MiB (RMP entries are 4 KiB or 2 MiB); the level of the RMP entry behind each
 *    page is applied on top (sev_private_max_mapping_level(), core/kvm/rmp.ts).
 *  - TDX: mainline maps private memory at 4 KiB only (arch/x86/kvm/vmx/tdx.c:
 *    tdx_gmem_private_max_mapping_level() returns PG_LEVEL_4K). With Yan Zhao's "KVM: TDX huge
 *    page support for private memory" RFC (kvm list, April 2025; patch 09/21 "KVM: TDX: Enable 2MB
 *    mapping size after TD is RUNNABLE"), policies.tdxHugePageSeries: 4 KiB while the TD is built
 *    (TDH.MEM.PAGE.ADD), 2 MiB once it runs.
 *  - CCA: realm_map_protected() (the Arm CCA KVM series, arch/arm64/kvm) maps PAGE_SIZE or the
 *    level-2 block (2 MiB), never a 1 GiB block.
 *  - pKVM: 2 MiB stage-2 blocks. 'none' is an ordinary VM.
 */
export function vendorMaxLevel(
  vendor: Vendor,
  phase: 'build' | 'runtime',
  tdxHugePageSeries = false,
): PageOrder {
  switch (vendor) {
    case 'snp':
      return ORDER_2M;
    case 'tdx':
      return tdxHugePageSeries && phase === 'runtime' ? ORDER_2M : ORDER_4K;
    case 'cca':
      return ORDER_2M;
    case 'pkvm':
      return ORDER_2M;
    case 'none':
      return ORDER_1G;
  }
}

export interface MappingLimits {
  readonly folioOrder: PageOrder;
  /** KVM's lpage_info mixed flag at 2 MiB / 1 GiB: private and shared pages in the aligned range. */
  readonly mixed2m: boolean;
  readonly mixed1g: boolean;
  /** Memslot GPA and file offset congruent modulo the level size. */
  readonly aligned2m: boolean;
  readonly aligned1g: boolean;
  readonly vendorMax: PageOrder;
  /** TDX: the guest accepted a 4 KiB page in this 2 MiB range, which blocks 2 MiB one-way. */
  readonly accepted4kInBlock: boolean;
}

/** kvm_mmu_max_mapping_level(): the smallest of every limit. */
export function maxMappingLevel(l: MappingLimits): PageOrder {
  let level: PageOrder = l.folioOrder;
  if (l.vendorMax < level) level = l.vendorMax;
  if (level === ORDER_1G && (l.mixed1g || !l.aligned1g)) level = ORDER_2M;
  if (level === ORDER_2M && (l.mixed2m || !l.aligned2m || l.accepted4kInBlock)) level = ORDER_4K;
  return level;
}
