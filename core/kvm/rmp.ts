// The SEV-SNP Reverse Map Table entries of one guest_memfd file's memory, as KVM manages them in
// arch/x86/kvm/svm/sev.c: an RMP entry is 4 KiB or 2 MiB (RMPUPDATE with the page-size bit), and
// sev_private_max_mapping_level() returns the level of the entry backing the PFN, so the NPT can
// map private memory at 2 MiB only where a 2 MiB entry exists.
//
//  - sev_gmem_prepare() assigns a private page that has no entry yet: one 2 MiB entry when the
//    folio is 2 MiB or larger and the whole 2 MiB range is unassigned (is_large_rmp_possible()),
//    else a 4 KiB entry for the page.
//  - sev_gmem_invalidate() returns pages to the hypervisor (shared): a 2 MiB entry covered whole is
//    updated at 2 MiB; a 4 KiB page inside one is first PSMASHed into 512 4 KiB entries.
//  - sev_handle_rmp_fault(): an NPT mapping smaller than the 2 MiB entry behind it (or a smaller
//    PVALIDATE) faults, and KVM PSMASHes the entry and zaps the 2 MiB range.
//  - Nothing in KVM collapses 4 KiB entries back into a 2 MiB one: a range that was PSMASHed keeps
//    4 KiB entries after its folio is merged again, so it maps at 4 KiB. Promoting merged ranges
//    back is a policy (policies.snpPromoteAfterMerge), off by default: the discussion of Ackerley
//    Tng's "1G page support for guest_memfd" RFC v2 (kvm/linux-mm lists, 2025) names such ranges
//    as ones KVM could promote back up, not as something it does.
//
// Kept as two sparse bitmaps: 2 MiB entries per block, 4 KiB entries per page.
import { blockOfPage, ORDER_2M, ORDER_4K, type PageOrder } from '../units.js';
import { PagedBitmap } from '../gmem/paged-bitmap.js';

export class RmpTable {
  /** Blocks covered by one assigned 2 MiB RMP entry. */
  private readonly entries2m: PagedBitmap;
  /** Pages with an assigned 4 KiB RMP entry. */
  private readonly entries4k: PagedBitmap;
  constructor(
    readonly nrPages: number,
    /** Called on each PSMASH (the rmp_psmashes counter). */
    private readonly onPsmash: () => void = () => {},
  ) {
    this.entries2m = new PagedBitmap(Math.ceil(nrPages / 512));
    this.entries4k = new PagedBitmap(nrPages);
  }

  get storageBytes(): number {
    return this.entries2m.storageBytes + this.entries4k.storageBytes;
  }

  /** Level of the RMP entry behind `index`: ORDER_2M, ORDER_4K, or -1 when unassigned. */
  levelAt(index: number): number {
    if (this.entries2m.get(blockOfPage(index))) return ORDER_2M;
    return this.entries4k.get(index) ? ORDER_4K : -1;
  }

  /** sev_private_max_mapping_level(): the entry's level; an unassigned PFN maps at 4 KiB. */
  maxMappingLevel(index: number): PageOrder {
    return this.entries2m.get(blockOfPage(index)) ? ORDER_2M : ORDER_4K;
  }

  /** Blocks covered by a 2 MiB entry. */
  get entries2mCount(): number {
    return this.entries2m.total;
  }

  /** sev_gmem_prepare() for the private page `index` backed by a folio of `folioOrder`. */
  prepare(index: number, folioOrder: PageOrder): void {
    const b = blockOfPage(index);
    if (this.entries2m.get(b) || this.entries4k.get(index)) return; // already assigned
    // is_large_rmp_possible(): a large folio and no assigned entry in the whole 2 MiB range.
    if (folioOrder >= ORDER_2M && this.entries4k.blockCount(b) === 0)
      this.entries2m.assign(b, true);
    else this.entries4k.assign(index, true);
  }

  /** sev_gmem_prepare() for each page of [start, end), all in one block, backed by 4 KiB folios
   * and mapped at 4 KiB: a 2 MiB entry there would RMP-fault and be PSMASHed. */
  prepareBaseRun(start: number, end: number): void {
    this.psmash(blockOfPage(start));
    this.entries4k.assignRange(start, end, true);
  }

  /** sev_gmem_invalidate() of [start, end): the pages go back to the hypervisor (shared). */
  makeShared(start: number, end: number): void {
    // No assigned entry at all (no private page faulted in yet): nothing to reclaim.
    if (end <= start || (this.entries2m.total === 0 && this.entries4k.total === 0)) return;
    for (let b = blockOfPage(start); b <= blockOfPage(end - 1); b++) {
      if (!this.entries2m.get(b)) continue;
      const bs = b * 512;
      if (start <= bs && end >= bs + 512) {
        this.entries2m.assign(b, false); // rmp_make_shared(pfn, PG_LEVEL_2M)
      } else {
        this.psmash(b); // then each page of the range at 4 KiB
      }
    }
    this.entries4k.assignRange(start, end, false);
  }

  /** PSMASH: the 2 MiB entry of block `b` becomes 512 assigned 4 KiB entries. */
  psmash(b: number): void {
    if (!this.entries2m.get(b)) return;
    this.entries2m.assign(b, false);
    const bs = b * 512;
    this.entries4k.assignRange(bs, Math.min(bs + 512, this.nrPages), true);
    this.onPsmash();
  }

  /** Policy snpPromoteAfterMerge: block `b`, all private again, is covered by one 2 MiB entry. */
  promote(b: number): void {
    if (this.entries2m.get(b)) return;
    const bs = b * 512;
    this.entries4k.assignRange(bs, Math.min(bs + 512, this.nrPages), false);
    this.entries2m.assign(b, true);
  }

  /** A new launch of the guest (reboot): every entry is reclaimed. */
  clear(): void {
    this.entries2m.clear();
    this.entries4k.clear();
  }
}
