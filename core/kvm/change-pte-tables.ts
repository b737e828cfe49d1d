// The page tables of the change_pte model: the host's (PMD and PTEs of the VMM's mapping of guest
// RAM) and KVM's (the memslot's SPTEs), per 2 MiB region. Only state and lookups live here; the
// fault paths that change it are change-pte-host-fault.ts and change-pte-kvm-fault.ts.
//
// Host and KVM state is kept per 2 MiB region in Maps, with a 512-entry Uint8Array only for regions
// mapped with 4 KiB entries, so a 1 TiB guest costs memory only for the regions it touches. The
// memslot and its host mapping are assumed 2 MiB aligned, gfn i backed by page i of the mapping.
import { PAGES_PER_2M } from '../units.js';

/** What the host PMD of a 2 MiB region holds. */
export type PmdState = 'none' | 'huge-zero' | 'thp' | 'hugetlb' | 'pte-table';

export const PTE_NONE = 0;
export const PTE_ZERO = 1; // read-only, my_zero_pfn()
export const PTE_ANON = 2; // private anonymous folio, writable

const SPTE_NONE = 0;
const SPTE_RO = 1;
const SPTE_W = 2;

export interface HostRegion {
  pmd: PmdState;
  /** For PMD-level mappings (THP, HugeTLB); the huge zero page is always read-only. */
  pmdWritable: boolean;
  /** Present when pmd === 'pte-table'. */
  ptes: Uint8Array | null;
}

interface KvmRegion {
  hugeSpte: number;
  sptes: Uint8Array | null;
}

export interface HostMapping {
  readonly present: boolean;
  readonly writable: boolean;
  readonly level: '4K' | '2M';
}

export interface SpteState {
  readonly level: '4K' | '2M';
  readonly writable: boolean;
}

export function regionOf(gfn: number): number {
  return Math.floor(gfn / PAGES_PER_2M);
}

export function indexInRegion(gfn: number): number {
  return gfn % PAGES_PER_2M;
}

/** The first gfn of the 2 MiB region after gfn's. */
function nextRegionStart(gfn: number): number {
  return (regionOf(gfn) + 1) * PAGES_PER_2M;
}

/** The host side: what follow_page would find for each page of the VMM's mapping. */
export class HostPageTables {
  private readonly regions = new Map<number, HostRegion>();

  /** The region's PMD and PTEs, made empty on first use (a fault is about to fill them). */
  region(r: number): HostRegion {
    let region = this.regions.get(r);
    if (!region) {
      region = { pmd: 'none', pmdWritable: false, ptes: null };
      this.regions.set(r, region);
    }
    return region;
  }

  /** Lookup only: regions never touched stay absent. */
  peek(r: number): HostRegion | undefined {
    return this.regions.get(r);
  }

  mapping(gfn: number): HostMapping {
    const region = this.regions.get(regionOf(gfn));
    if (!region || region.pmd === 'none') return { present: false, writable: false, level: '4K' };
    if (region.pmd !== 'pte-table')
      return { present: true, writable: region.pmdWritable, level: '2M' };
    const pte = region.ptes![indexInRegion(gfn)];
    return { present: pte !== PTE_NONE, writable: pte === PTE_ANON, level: '4K' };
  }

  /** A PTE table under the region's PMD (__pte_alloc), empty when the PMD held none. */
  ensurePteTable(region: HostRegion): Uint8Array {
    if (region.pmd !== 'pte-table') {
      region.pmd = 'pte-table';
      region.pmdWritable = false;
      region.ptes = new Uint8Array(PAGES_PER_2M);
    }
    return region.ptes!;
  }

  /** Walks a range one mapping at a time: a PMD mapping covers its whole region. */
  nextMapping(gfn: number): number {
    return this.mapping(gfn).level === '2M' ? nextRegionStart(gfn) : gfn + 1;
  }
}

/** KVM's side: the memslot's SPTEs, one huge SPTE or a table of 512 per region. */
export class SptePageTables {
  private readonly regions = new Map<number, KvmRegion>();

  present(gfn: number): boolean {
    return this.at(gfn) !== SPTE_NONE;
  }

  permits(gfn: number, write: boolean): boolean {
    const spte = this.at(gfn);
    return write ? spte === SPTE_W : spte !== SPTE_NONE;
  }

  state(gfn: number): SpteState {
    const region = this.regions.get(regionOf(gfn));
    const huge = region !== undefined && region.hugeSpte !== SPTE_NONE;
    return { level: huge ? '2M' : '4K', writable: this.at(gfn) === SPTE_W };
  }

  /** Install an SPTE at the given level; a huge SPTE in the way of a 4K one is replaced. */
  map(gfn: number, pfn: SpteState): void {
    const region = this.region(regionOf(gfn));
    const spte = pfn.writable ? SPTE_W : SPTE_RO;
    if (pfn.level === '2M') {
      region.hugeSpte = spte;
      region.sptes = null;
      return;
    }
    region.hugeSpte = SPTE_NONE;
    region.sptes ??= new Uint8Array(PAGES_PER_2M);
    region.sptes[indexInRegion(gfn)] = spte;
  }

  /** kvm_unmap_gfn_range: a huge SPTE touched by the range goes whole. */
  zap(firstGfn: number, nrPages: number): void {
    const end = firstGfn + nrPages;
    for (let r = regionOf(firstGfn); r * PAGES_PER_2M < end; r++) {
      const region = this.regions.get(r);
      if (!region) continue;
      region.hugeSpte = SPTE_NONE;
      if (!region.sptes) continue;
      const from = Math.max(firstGfn, r * PAGES_PER_2M) - r * PAGES_PER_2M;
      const to = Math.min(end, (r + 1) * PAGES_PER_2M) - r * PAGES_PER_2M;
      region.sptes.fill(SPTE_NONE, from, to);
    }
  }

  /** Walks a range one SPTE at a time: a present huge SPTE covers its whole region. */
  next(gfn: number): number {
    return this.state(gfn).level === '2M' && this.present(gfn) ? nextRegionStart(gfn) : gfn + 1;
  }

  /** Present SPTEs, as KVM's pages_4k / pages_2m stats count them. */
  counts(): { pages4k: number; pages2m: number } {
    let pages4k = 0;
    let pages2m = 0;
    for (const region of this.regions.values()) {
      if (region.hugeSpte !== SPTE_NONE) pages2m++;
      else if (region.sptes) for (const s of region.sptes) if (s !== SPTE_NONE) pages4k++;
    }
    return { pages4k, pages2m };
  }

  /**
   * KVM never maps more than the host does: an SPTE needs a present host mapping of at least its
   * size, a writable SPTE a writable one.
   */
  violations(host: HostPageTables): string[] {
    const errors: string[] = [];
    for (const [r, region] of this.regions) {
      if (region.hugeSpte !== SPTE_NONE) {
        const pmd = host.peek(r);
        if (!pmd || pmd.pmd === 'none' || pmd.pmd === 'pte-table')
          errors.push(`region ${r}: 2M SPTE without a host PMD mapping`);
        else if (region.hugeSpte === SPTE_W && !pmd.pmdWritable)
          errors.push(`region ${r}: writable 2M SPTE over a read-only PMD`);
        continue;
      }
      if (!region.sptes) continue;
      region.sptes.forEach((spte, i) => {
        if (spte === SPTE_NONE) return;
        const m = host.mapping(r * PAGES_PER_2M + i);
        if (!m.present) errors.push(`gfn ${r * PAGES_PER_2M + i}: SPTE without host page`);
        else if (spte === SPTE_W && !m.writable)
          errors.push(`gfn ${r * PAGES_PER_2M + i}: writable SPTE over a read-only PTE`);
      });
    }
    return errors;
  }

  private at(gfn: number): number {
    const region = this.regions.get(regionOf(gfn));
    if (!region) return SPTE_NONE;
    if (region.hugeSpte !== SPTE_NONE) return region.hugeSpte;
    return region.sptes ? (region.sptes[indexInRegion(gfn)] ?? SPTE_NONE) : SPTE_NONE;
  }

  private region(r: number): KvmRegion {
    let region = this.regions.get(r);
    if (!region) {
      region = { hugeSpte: SPTE_NONE, sptes: null };
      this.regions.set(r, region);
    }
    return region;
  }
}
