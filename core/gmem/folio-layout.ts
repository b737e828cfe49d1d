// Folio layout of a guest_memfd file, per huge-aligned range: unallocated, one huge folio, or split.
// Kept per 2 MiB block (order of the folio covering the block, its node, its HVO state, packed in
// one 16-bit entry, so a split or merge reads and writes one entry where three tables would take
// three cache lines) plus a per-1 GiB summary. A 1 GiB range whose blocks all agree (one 1 GiB
// folio, what it was split into, or nothing) is held by the summary alone, so splitting or merging a 1 GiB folio touches a few
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
import { chargeStorage, releaseStorage } from '../storage-budget.js';
import { PagedBitmap } from './paged-bitmap.js';

/** Block holds no folio of order 9 or 18 (it may hold order-0 folios: see `allocated`). */
export const NO_HUGE = 0xff;
const MIXED_NODES = 0xfe;
/** gigOrder value of a 1 GiB range whose blocks differ: the per-block entries hold its state. */
const PER_BLOCK = 0xff;
/** A block's entry: bits 0-4 the order of its folio (0, 9 or 18), bit 5 its HVO state, bits 8-15
 * its node (at most 64 nodes, core/config.ts) or MIXED_NODES. An entry of 0 (order 0, no HVO,
 * node 0) is what a range's blocks read before they are first written. */
const ORDER_BITS = 0x1f;
const HVO_BIT = 0x20;
/** The folio's bits of an entry (order and HVO), below its node. */
const FOLIO_BITS = 0xff;
const NODE_SHIFT = 8;
/** Storage of one 1 GiB range's block entries (512 blocks of 16 bits), allocated when one of them
 * is first written with something other than 0 and freed when the range turns uniform. */
export const LAYOUT_CHUNK_BYTES = 512 * 2;

export class FolioLayout {
  /** Per 1 GiB range: the order every block of the range has (their HVO state in gigHvo, their
   * node in gigNode), or PER_BLOCK when the per-block arrays below hold the range's state. */
  private readonly gigOrder: Uint8Array;
  private readonly gigHvo: Uint8Array;
  private readonly gigNode: Uint8Array;
  /** Per 1 GiB range held per block: each 2 MiB block's entry (the order of the folio covering
   * it, 18, 9 or 0 for 4 KiB folios or none; its HVO state, huge folios only; its NUMA node,
   * MIXED_NODES when its 4 KiB folios sit on several nodes). Undefined: every entry reads 0. */
  private readonly blocks: (Uint16Array | undefined)[];
  private blockChunks = 0;
  readonly nrBlocks: number;
  /** Per 1 GiB range: blocks whose order is not 0 (0: the range holds only 4 KiB folios or none). */
  readonly hugeBlocks: Uint16Array;
  /** Per-page nodes of blocks whose 4 KiB folios sit on different nodes (rare: interleave at 4K). */
  private readonly mixedNodes = new Map<number, Uint8Array>();
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
    this.nrBlocks = nrBlocks;
    this.blocks = new Array<Uint16Array | undefined>(nrGigs).fill(undefined);
    this.hugeBlocks = new Uint16Array(nrGigs);
    this.allocated = new PagedBitmap(nrPages);
  }

  /** Bytes of typed arrays holding the layout (allocated bitmap included). */
  get storageBytes(): number {
    let n =
      this.gigOrder.byteLength +
      this.gigHvo.byteLength +
      this.gigNode.byteLength +
      // The array of chunk references (8 bytes a slot) and the chunks allocated.
      this.blocks.length * 8 +
      this.blockChunks * LAYOUT_CHUNK_BYTES +
      this.hugeBlocks.byteLength +
      this.allocated.storageBytes;
    for (const nodes of this.mixedNodes.values()) n += nodes.byteLength;
    return n;
  }

  /** Order of the folio covering 2 MiB block `b` (0 for 4 KiB folios and for no folio). */
  blockOrderOf(b: number): PageOrder {
    const order = this.gigOrder[gigOfBlock(b)]!;
    return (order !== PER_BLOCK ? order : this.entry(b) & ORDER_BITS) as PageOrder;
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
    const n = this.entry(b) >>> NODE_SHIFT;
    if (n !== MIXED_NODES) return n;
    return this.mixedNodes.get(b)![index & 511]!;
  }

  hvoAt(index: number): boolean {
    const g = gigOfPage(index);
    if (this.gigOrder[g] !== PER_BLOCK) return this.gigHvo[g] === 1;
    return (this.entry(blockOfPage(index)) & HVO_BIT) !== 0;
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
    this.setBlock(b, order, hvo, node);
    this.mixedNodes.delete(b);
    this.allocated.assignRange(index, index + 512, true);
    this.folios2m++;
  }

  /**
   * Record 512 new 2 MiB folios covering the whole 1 GiB range `g`, all on `node` with `hvo`: the
   * same state as addHugeFolio() of each of its blocks in turn (fallocate of a whole range), held by
   * the range's summary rather than 512 block entries. Every page of the range must be
   * unallocated.
   */
  addHugeFolios2M(g: number, node: number, hvo: boolean): void {
    if (this.mixedNodes.size > 0) for (let i = 0; i < 512; i++) this.mixedNodes.delete(g * 512 + i);
    this.setGig(g, ORDER_2M, hvo, node);
    this.allocated.assignRange(g * 262144, (g + 1) * 262144, true);
    this.folios2m += 512;
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
      this.setBlock(b, ORDER_4K, false, -1);
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
          if (j === i) this.setBlock(b, ORDER_4K, false, -1);
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
    const e = this.entry(b);
    const was = e >>> NODE_SHIFT;
    if (empty) {
      this.setEntry(b, (e & FOLIO_BITS) | (node << NODE_SHIFT));
      this.mixedNodes.delete(b);
    } else if (was !== MIXED_NODES && was !== node) {
      const nodes = new Uint8Array(512).fill(was);
      this.mixedNodes.set(b, nodes);
      this.setEntry(b, (e & FOLIO_BITS) | (MIXED_NODES << NODE_SHIFT));
    }
    if (this.entry(b) >>> NODE_SHIFT === MIXED_NODES) this.mixedNodes.get(b)![index & 511] = node;
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
    this.setBlock(b, ORDER_4K, false, -1);
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
    this.setBlock(b, toOrder, hvoAfter, -1);
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
    this.setBlock(b, toOrder, hvoAfter, -1);
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
      if ((this.entry(b) & ORDER_BITS) !== order) return b;
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
        // Blocks on different nodes: keep the range per block, each its node.
        const chunk = this.blocks[g] ?? this.allocateChunk(g);
        const bits = order | (hvo ? HVO_BIT : 0);
        for (let k = 0; k < 512; k++) chunk[k] = (chunk[k]! & ~FOLIO_BITS) | bits;
        return;
      }
    }
    if (this.gigOrder[g] === PER_BLOCK) {
      // Held by the summary from now on: the blocks' storage goes (perBlock() writes it anew).
      if (node < 0) node = this.entry(g * 512) >>> NODE_SHIFT;
      this.freeChunk(g);
    }
    this.gigOrder[g] = order;
    this.gigHvo[g] = hvo ? 1 : 0;
    if (node >= 0) this.gigNode[g] = node;
  }

  /** The node every block of range `g` (held per block) records, or -1 when they differ. */
  private commonNode(g: number): number {
    const chunk = this.blocks[g];
    if (chunk === undefined) return 0;
    const node = chunk[0]! >>> NODE_SHIFT;
    if (node === MIXED_NODES) return -1;
    for (let k = 1; k < 512; k++) if (chunk[k]! >>> NODE_SHIFT !== node) return -1;
    return node;
  }

  /** Write a uniform range `g` out to its blocks, which hold its state from now on. */
  private perBlock(g: number): void {
    const order = this.gigOrder[g]!;
    if (order === PER_BLOCK) return;
    const e = order | (this.gigHvo[g] === 1 ? HVO_BIT : 0) | (this.gigNode[g]! << NODE_SHIFT);
    // A uniform range holds no chunk (setGig() freed it); entries of 0 need none.
    if (e !== 0) (this.blocks[g] ?? this.allocateChunk(g)).fill(e);
    this.gigOrder[g] = PER_BLOCK;
  }

  /** Block `b` of a per-block range gets folio `order` and `hvo`, and `node` unless it is -1 (the
   * node stays), keeping `hugeBlocks` in step. */
  private setBlock(b: number, order: PageOrder, hvo: boolean, node: number): void {
    const e = this.entry(b);
    const was = (e & ORDER_BITS) !== ORDER_4K;
    const is = order !== ORDER_4K;
    if (was !== is) this.hugeBlocks[gigOfBlock(b)]! += is ? 1 : -1;
    const nodeBits = node < 0 ? e & ~FOLIO_BITS : node << NODE_SHIFT;
    this.setEntry(b, nodeBits | order | (hvo ? HVO_BIT : 0));
  }

  /** The entry of block `b` (0 when its range holds no chunk). */
  private entry(b: number): number {
    const chunk = this.blocks[gigOfBlock(b)];
    return chunk === undefined ? 0 : chunk[b & 511]!;
  }

  private setEntry(b: number, e: number): void {
    const g = gigOfBlock(b);
    let chunk = this.blocks[g];
    if (chunk === undefined) {
      if (e === 0) return;
      chunk = this.allocateChunk(g);
    }
    chunk[b & 511] = e;
  }

  private allocateChunk(g: number): Uint16Array {
    chargeStorage(LAYOUT_CHUNK_BYTES, 'per-2 MiB folio layout');
    const chunk = new Uint16Array(512);
    this.blocks[g] = chunk;
    this.blockChunks++;
    return chunk;
  }

  private freeChunk(g: number): void {
    if (this.blocks[g] === undefined) return;
    this.blocks[g] = undefined;
    this.blockChunks--;
    releaseStorage(LAYOUT_CHUNK_BYTES);
  }
}
