// Folio layout of a guest_memfd file, per huge-aligned range: unallocated, one huge folio, or split.
// Kept per 2 MiB block (order of the folio covering the block, its node, its HVO state) plus a
// per-1 GiB summary, so splitting or merging a 1 GiB folio touches 512 bytes, never 262144 pages.
// Which 4 KiB indexes are allocated is the `allocated` bitmap (the file's page cache).
import { ORDER_1G, ORDER_2M, ORDER_4K, type PageOrder } from '../units.js';
import { PagedBitmap } from './paged-bitmap.js';

/** Block holds no folio of order 9 or 18 (it may hold order-0 folios: see `allocated`). */
export const NO_HUGE = 0xff;
const MIXED_NODES = 0xfe;

export class FolioLayout {
  /** Order of the folio covering each 2 MiB block: 18, 9, or 0 (4 KiB folios / none). */
  readonly blockOrder: Uint8Array;
  /** NUMA node of the block's folio; MIXED_NODES when its 4 KiB folios sit on several nodes. */
  private readonly blockNode: Uint8Array;
  /** Per-page nodes of blocks whose 4 KiB folios sit on different nodes (rare: interleave at 4K). */
  private readonly mixedNodes = new Map<number, Uint8Array>();
  /** HVO state of the block's folio (huge folios only). */
  readonly blockHvo: Uint8Array;
  /** Pages allocated in the file. */
  readonly allocated: PagedBitmap;
  folios4k = 0;
  folios2m = 0;
  folios1g = 0;

  constructor(readonly nrPages: number) {
    const nrBlocks = Math.ceil(nrPages / 512);
    this.blockOrder = new Uint8Array(nrBlocks).fill(ORDER_4K);
    this.blockNode = new Uint8Array(nrBlocks);
    this.blockHvo = new Uint8Array(nrBlocks);
    this.allocated = new PagedBitmap(nrPages);
  }

  /** Bytes of typed arrays holding the layout (allocated bitmap included). */
  get storageBytes(): number {
    let n =
      this.blockOrder.byteLength +
      this.blockNode.byteLength +
      this.blockHvo.byteLength +
      this.allocated.storageBytes;
    for (const nodes of this.mixedNodes.values()) n += nodes.byteLength;
    return n;
  }

  get nrBlocks(): number {
    return this.blockOrder.length;
  }

  /** Order of the folio holding `index` (0 for 4 KiB folios and for unallocated pages). */
  orderAt(index: number): PageOrder {
    return this.blockOrder[index >>> 9] as PageOrder;
  }

  isAllocated(index: number): boolean {
    return this.allocated.get(index);
  }

  nodeAt(index: number): number {
    const b = index >>> 9;
    const n = this.blockNode[b]!;
    if (n !== MIXED_NODES) return n;
    return this.mixedNodes.get(b)![index & 511]!;
  }

  hvoAt(index: number): boolean {
    return this.blockHvo[index >>> 9] === 1;
  }

  /** Record a new huge folio of `order` at `index` (aligned). */
  addHugeFolio(index: number, order: PageOrder, node: number, hvo: boolean): void {
    const nrBlocks = order === ORDER_1G ? 512 : 1;
    const b = index >>> 9;
    this.blockOrder.fill(order, b, b + nrBlocks);
    this.blockNode.fill(node, b, b + nrBlocks);
    this.blockHvo.fill(hvo ? 1 : 0, b, b + nrBlocks);
    for (let i = 0; i < nrBlocks; i++) this.mixedNodes.delete(b + i);
    this.allocated.assignRange(index, index + nrBlocks * 512, true);
    if (order === ORDER_1G) this.folios1g++;
    else this.folios2m++;
  }

  /** Record a new 4 KiB folio at `index`. */
  addBaseFolio(index: number, node: number): void {
    const b = index >>> 9;
    if (this.allocated.perBlock[b] === 0) {
      this.blockNode[b] = node;
      this.mixedNodes.delete(b);
    } else if (this.blockNode[b] !== MIXED_NODES && this.blockNode[b] !== node) {
      const nodes = new Uint8Array(512).fill(this.blockNode[b]!);
      this.mixedNodes.set(b, nodes);
      this.blockNode[b] = MIXED_NODES;
    }
    if (this.blockNode[b] === MIXED_NODES) this.mixedNodes.get(b)![index & 511] = node;
    this.blockOrder[b] = ORDER_4K;
    this.blockHvo[b] = 0;
    if (this.allocated.assign(index, true)) this.folios4k++;
  }

  /** Drop a 4 KiB folio. */
  removeBaseFolio(index: number): void {
    if (this.allocated.assign(index, false)) this.folios4k--;
  }

  /** Drop the huge folio of `order` at `index`. */
  removeHugeFolio(index: number, order: PageOrder): void {
    const nrBlocks = order === ORDER_1G ? 512 : 1;
    const b = index >>> 9;
    this.blockOrder.fill(ORDER_4K, b, b + nrBlocks);
    this.blockHvo.fill(0, b, b + nrBlocks);
    this.allocated.assignRange(index, index + nrBlocks * 512, false);
    if (order === ORDER_1G) this.folios1g--;
    else this.folios2m--;
  }

  /** The huge folio at aligned `index` becomes folios of `toOrder` (all pages stay allocated). */
  split(index: number, fromOrder: PageOrder, toOrder: PageOrder, hvoAfter: boolean): void {
    const fromBlocks = fromOrder === ORDER_1G ? 512 : 1;
    const b = index >>> 9;
    this.blockOrder.fill(toOrder, b, b + fromBlocks);
    this.blockHvo.fill(hvoAfter ? 1 : 0, b, b + fromBlocks);
    if (fromOrder === ORDER_1G) this.folios1g--;
    else this.folios2m--;
    if (toOrder === ORDER_2M) this.folios2m += fromBlocks;
    else this.folios4k += fromBlocks * 512;
  }

  /** Folios of `fromOrder` covering the aligned range at `index` become one folio of `toOrder`. */
  merge(index: number, fromOrder: PageOrder, toOrder: PageOrder, hvoAfter: boolean): void {
    const toBlocks = toOrder === ORDER_1G ? 512 : 1;
    const b = index >>> 9;
    this.blockOrder.fill(toOrder, b, b + toBlocks);
    this.blockHvo.fill(hvoAfter ? 1 : 0, b, b + toBlocks);
    if (fromOrder === ORDER_2M) this.folios2m -= toBlocks;
    else this.folios4k -= toBlocks * 512;
    if (toOrder === ORDER_1G) this.folios1g++;
    else this.folios2m++;
  }

  /** True when every block of the 1 GiB range at `gig` is covered by one 1 GiB folio. */
  isGigFolio(gig: number): boolean {
    return this.blockOrder[gig * 512] === ORDER_1G;
  }
}
