// Folio layout of a guest_memfd file, per huge-aligned range: unallocated, one huge folio, or split.
// Kept per 2 MiB block (order of the folio covering the block, its node, its HVO state) plus a
// per-1 GiB summary. A 1 GiB range whose blocks all agree (one 1 GiB folio, what it was split into,
// or nothing) is held by the summary alone, so splitting or merging a 1 GiB folio touches a few
// bytes, never its 512 blocks or 262144 pages; the blocks are written out when they start to
// differ. Which 4 KiB indexes are allocated is the `allocated` bitmap (the file's page cache).
import {
  blockOfPage,
  gigOfBlock,
  gigOfPage,
  ORDER_1G,
  ORDER_2M,
  ORDER_4K,
  type PageOrder,
} from '../units.js';
import { BlockTable } from './block-table.js';
import { PagedBitmap } from './paged-bitmap.js';

/** Block holds no folio of order 9 or 18 (it may hold order-0 folios: see `allocated`). */
export const NO_HUGE = 0xff;
const MIXED_NODES = 0xfe;
/** gigOrder value of a 1 GiB range whose blocks differ: the per-block arrays hold its state. */
const PER_BLOCK = 0xff;

export class FolioLayout {
  /** Per 1 GiB range: the order every block of the range has (their HVO state in gigHvo, their
   * node in gigNode), or PER_BLOCK when the per-block arrays below hold the range's state. */
  private readonly gigOrder: Uint8Array;
  private readonly gigHvo: Uint8Array;
  private readonly gigNode: Uint8Array;
  /** Order of the folio covering each 2 MiB block: 18, 9, or 0 (4 KiB folios / none). Only for
   * blocks of PER_BLOCK ranges. */
  private readonly blockOrder: BlockTable;
  /** Per 1 GiB range: blocks whose order is not 0 (0: the range holds only 4 KiB folios or none). */
  readonly hugeBlocks: Uint16Array;
  /** NUMA node of the block's folio; MIXED_NODES when its 4 KiB folios sit on several nodes. */
  private readonly blockNode: BlockTable;
  /** Per-page nodes of blocks whose 4 KiB folios sit on different nodes (rare: interleave at 4K). */
  private readonly mixedNodes = new Map<number, Uint8Array>();
  /** HVO state of the block's folio (huge folios only). */
  private readonly blockHvo: BlockTable;
  /** Pages allocated in the file. */
  readonly allocated: PagedBitmap;
  folios4k = 0;
  folios2m = 0;
  folios1g = 0;

  constructor(readonly nrPages: number) {
    const nrBlocks = Math.ceil(nrPages / 512);
    const nrGigs = Math.ceil(nrBlocks / 512);
    // Every range starts uniform: order 0, no HVO, node 0 (what the block arrays hold too).
    this.gigOrder = new Uint8Array(nrGigs).fill(ORDER_4K);
    this.gigHvo = new Uint8Array(nrGigs);
    this.gigNode = new Uint8Array(nrGigs);
    this.blockOrder = new BlockTable(nrBlocks);
    this.hugeBlocks = new Uint16Array(nrGigs);
    this.blockNode = new BlockTable(nrBlocks);
    this.blockHvo = new BlockTable(nrBlocks);
    this.allocated = new PagedBitmap(nrPages);
  }

  /** Bytes of typed arrays holding the layout (allocated bitmap included). */
  get storageBytes(): number {
    let n =
      this.gigOrder.byteLength +
      this.gigHvo.byteLength +
      this.gigNode.byteLength +
      this.blockOrder.storageBytes +
      this.hugeBlocks.byteLength +
      this.blockNode.storageBytes +
      this.blockHvo.storageBytes +
      this.allocated.storageBytes;
    for (const nodes of this.mixedNodes.values()) n += nodes.byteLength;
    return n;
  }

  get nrBlocks(): number {
    return this.blockOrder.length;
  }

  /** Order of the folio covering 2 MiB block `b` (0 for 4 KiB folios and for no folio). */
  blockOrderOf(b: number): PageOrder {
    const order = this.gigOrder[gigOfBlock(b)]!;
    return (order !== PER_BLOCK ? order : this.blockOrder.get(b)) as PageOrder;
  }

  /** Order of the folio holding `index` (0 for 4 KiB folios and for unallocated pages). */
  orderAt(index: number): PageOrder {
    return this.blockOrderOf(blockOfPage(index));
  }

  isAllocated(index: number): boolean {
    return this.allocated.get(index);
  }

  nodeAt(index: number): number {
    const g = gigOfPage(index);
    if (this.gigOrder[g] !== PER_BLOCK) return this.gigNode[g]!;
    const b = blockOfPage(index);
    const n = this.blockNode.get(b);
    if (n !== MIXED_NODES) return n;
    return this.mixedNodes.get(b)![index & 511]!;
  }

  hvoAt(index: number): boolean {
    const g = gigOfPage(index);
    if (this.gigOrder[g] !== PER_BLOCK) return this.gigHvo[g] === 1;
    return this.blockHvo.get(blockOfPage(index)) === 1;
  }

  /** Record a new huge folio of `order` at `index` (aligned). */
  addHugeFolio(index: number, order: PageOrder, node: number, hvo: boolean): void {
    const b = blockOfPage(index);
    if (order === ORDER_1G) {
      if (this.mixedNodes.size > 0) for (let i = 0; i < 512; i++) this.mixedNodes.delete(b + i);
      this.setGig(gigOfBlock(b), ORDER_1G, hvo, node);
      this.allocated.assignRange(index, index + 262144, true);
      this.folios1g++;
      return;
    }
    this.perBlock(gigOfBlock(b));
    this.setBlockOrder(b, order);
    this.blockNode.set(b, node);
    this.blockHvo.set(b, hvo ? 1 : 0);
    this.mixedNodes.delete(b);
    this.allocated.assignRange(index, index + 512, true);
    this.folios2m++;
  }

  /** Record a new 4 KiB folio at `index`. */
  addBaseFolio(index: number, node: number): void {
    const b = blockOfPage(index);
    const g = gigOfBlock(b);
    if (this.gigOrder[g] !== ORDER_4K || this.gigHvo[g] !== 0 || this.gigNode[g] !== node) {
      // The range stays uniform when the page lands where its blocks already say (order 0, no
      // HVO, this node); anything else goes per block.
      this.perBlock(g);
    }
    if (this.gigOrder[g] === PER_BLOCK) {
      this.markBaseNode(b, index, node, this.allocated.blockCount(b) === 0);
      this.setBlockOrder(b, ORDER_4K);
      this.blockHvo.set(b, 0);
    }
    if (this.allocated.assign(index, true)) this.folios4k++;
  }

  /**
   * Record 4 KiB folios at every index of [start, end), all on `node`: the same as addBaseFolio()
   * for each, in order. Every index must be unallocated. Returns the number of folios added.
   */
  addBaseFolios(start: number, end: number, node: number): number {
    for (let i = start; i < end;) {
      const b = blockOfPage(i);
      const blockEnd = Math.min(end, (b + 1) * 512);
      const g = gigOfBlock(b);
      if (this.gigOrder[g] !== ORDER_4K || this.gigHvo[g] !== 0 || this.gigNode[g] !== node)
        this.perBlock(g);
      if (this.gigOrder[g] === PER_BLOCK) {
        // The first page decides the block's node; the others follow addBaseFolio's rules.
        for (let j = i; j < blockEnd; j++) {
          this.markBaseNode(b, j, node, this.allocated.blockCount(b) === 0 && j === i);
          if (j === i) {
            this.setBlockOrder(b, ORDER_4K);
            this.blockHvo.set(b, 0);
          }
        }
      }
      i = blockEnd;
    }
    const added = this.allocated.assignRange(start, end, true);
    this.folios4k += added;
    return added;
  }

  /** The node of a new 4 KiB page at `index` of block `b`: the block's when it was `empty`,
   * else one node per page once the block's pages lie on more than one. */
  private markBaseNode(b: number, index: number, node: number, empty: boolean): void {
    if (empty) {
      this.blockNode.set(b, node);
      this.mixedNodes.delete(b);
    } else if (this.blockNode.get(b) !== MIXED_NODES && this.blockNode.get(b) !== node) {
      const nodes = new Uint8Array(512).fill(this.blockNode.get(b));
      this.mixedNodes.set(b, nodes);
      this.blockNode.set(b, MIXED_NODES);
    }
    if (this.blockNode.get(b) === MIXED_NODES) this.mixedNodes.get(b)![index & 511] = node;
  }

  /** Drop a 4 KiB folio. */
  removeBaseFolio(index: number): void {
    if (this.allocated.assign(index, false)) this.folios4k--;
  }

  /** Drop the huge folio of `order` at `index`. */
  removeHugeFolio(index: number, order: PageOrder): void {
    const b = blockOfPage(index);
    if (order === ORDER_1G) {
      this.setGig(gigOfBlock(b), ORDER_4K, false, -1);
      this.allocated.assignRange(index, index + 262144, false);
      this.folios1g--;
      return;
    }
    this.perBlock(gigOfBlock(b));
    this.setBlockOrder(b, ORDER_4K);
    this.blockHvo.set(b, 0);
    this.allocated.assignRange(index, index + 512, false);
    this.folios2m--;
  }

  /** The huge folio at aligned `index` becomes folios of `toOrder` (all pages stay allocated). */
  split(index: number, fromOrder: PageOrder, toOrder: PageOrder, hvoAfter: boolean): void {
    const b = blockOfPage(index);
    if (fromOrder === ORDER_1G) {
      this.setGig(gigOfBlock(b), toOrder, hvoAfter, -1);
      this.folios1g--;
      if (toOrder === ORDER_2M) this.folios2m += 512;
      else this.folios4k += 512 * 512;
      return;
    }
    this.perBlock(gigOfBlock(b));
    this.setBlockOrder(b, toOrder);
    this.blockHvo.set(b, hvoAfter ? 1 : 0);
    this.folios2m--;
    if (toOrder === ORDER_2M) this.folios2m += 1;
    else this.folios4k += 512;
  }

  /** Folios of `fromOrder` covering the aligned range at `index` become one folio of `toOrder`. */
  merge(index: number, fromOrder: PageOrder, toOrder: PageOrder, hvoAfter: boolean): void {
    const b = blockOfPage(index);
    if (toOrder === ORDER_1G) {
      this.setGig(gigOfBlock(b), ORDER_1G, hvoAfter, -1);
      if (fromOrder === ORDER_2M) this.folios2m -= 512;
      else this.folios4k -= 512 * 512;
      this.folios1g++;
      return;
    }
    this.perBlock(gigOfBlock(b));
    this.setBlockOrder(b, toOrder);
    this.blockHvo.set(b, hvoAfter ? 1 : 0);
    if (fromOrder === ORDER_2M) this.folios2m -= 1;
    else this.folios4k -= 512;
    this.folios2m++;
  }

  /** The first block of [b, bEnd) whose order is not `order`, or bEnd. */
  blockRunEnd(b: number, bEnd: number, order: number): number {
    while (b < bEnd) {
      const g = gigOfBlock(b);
      const uniform = this.gigOrder[g]!;
      if (uniform !== PER_BLOCK) {
        if (uniform !== order) return b;
        b = Math.min(bEnd, (g + 1) * 512);
        continue;
      }
      if (this.blockOrder.get(b) !== order) return b;
      b++;
    }
    return bEnd;
  }

  /** True when every block of the 1 GiB range at `gig` is covered by one 1 GiB folio. */
  isGigFolio(gig: number): boolean {
    return this.blockOrderOf(gig * 512) === ORDER_1G;
  }

  /**
   * Every block of the whole 1 GiB range `g` gets `order` and `hvo`, and `node` unless it is -1
   * (nodes stay). The range is held uniform when its blocks then agree on their node too.
   */
  private setGig(g: number, order: PageOrder, hvo: boolean, node: number): void {
    this.hugeBlocks[g] = order === ORDER_4K ? 0 : 512;
    if (node < 0 && this.gigOrder[g] === PER_BLOCK) {
      node = this.commonNode(g);
      if (node < 0) {
        // Blocks on different nodes: keep the range per block.
        const b0 = g * 512;
        this.blockOrder.fill(order, b0, b0 + 512);
        this.blockHvo.fill(hvo ? 1 : 0, b0, b0 + 512);
        return;
      }
    }
    if (this.gigOrder[g] === PER_BLOCK) {
      // Held by the summary from now on: the blocks' storage goes (perBlock() writes it anew).
      const b0 = g * 512;
      const b1 = Math.min(this.blockOrder.length, b0 + 512);
      if (node < 0) node = this.blockNode.get(b0);
      this.blockOrder.fill(ORDER_4K, b0, b1);
      this.blockHvo.fill(0, b0, b1);
      this.blockNode.fill(0, b0, b1);
    }
    this.gigOrder[g] = order;
    this.gigHvo[g] = hvo ? 1 : 0;
    if (node >= 0) this.gigNode[g] = node;
  }

  /** The node every block of range `g` (held per block) records, or -1 when they differ. */
  private commonNode(g: number): number {
    const b0 = g * 512;
    const node = this.blockNode.get(b0);
    if (node === MIXED_NODES) return -1;
    for (let b = b0 + 1; b < b0 + 512; b++) if (this.blockNode.get(b) !== node) return -1;
    return node;
  }

  /** Write a uniform range `g` out to its blocks, which hold its state from now on. */
  private perBlock(g: number): void {
    const order = this.gigOrder[g]!;
    if (order === PER_BLOCK) return;
    const b0 = g * 512;
    const b1 = Math.min(this.blockOrder.length, b0 + 512);
    this.blockOrder.fill(order, b0, b1);
    this.blockHvo.fill(this.gigHvo[g]!, b0, b1);
    this.blockNode.fill(this.gigNode[g]!, b0, b1);
    this.gigOrder[g] = PER_BLOCK;
  }

  /** Set the order of block `b` of a per-block range, keeping `hugeBlocks` in step. */
  private setBlockOrder(b: number, order: PageOrder): void {
    const was = this.blockOrder.get(b) !== ORDER_4K;
    const is = order !== ORDER_4K;
    if (was !== is) this.hugeBlocks[gigOfBlock(b)]! += is ? 1 : -1;
    this.blockOrder.set(b, order);
  }
}
