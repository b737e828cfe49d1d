// FolioLayout keeps uniform 1 GiB ranges in a per-range summary and the others per block: it must
// answer exactly as a plain per-block layout would, whatever the sequence of operations.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ORDER_1G, ORDER_2M, ORDER_4K, type PageOrder } from '../units.js';
import { storageInUse, withStorageBudget } from '../storage-budget.js';
import { FolioLayout, LAYOUT_CHUNK_BYTES } from './folio-layout.js';

const MIXED = 0xfe;

/** The per-block layout, every block held on its own (the model FolioLayout must match). */
class BlockLayout {
  readonly order: Uint8Array;
  readonly node: Uint8Array;
  readonly hvo: Uint8Array;
  readonly mixed = new Map<number, Uint8Array>();
  readonly allocated: Uint8Array;
  folios4k = 0;
  folios2m = 0;
  folios1g = 0;
  constructor(readonly nrPages: number) {
    const blocks = Math.ceil(nrPages / 512);
    this.order = new Uint8Array(blocks);
    this.node = new Uint8Array(blocks);
    this.hvo = new Uint8Array(blocks);
    this.allocated = new Uint8Array(nrPages);
  }
  nodeAt(i: number): number {
    const n = this.node[i >>> 9]!;
    return n === MIXED ? this.mixed.get(i >>> 9)![i & 511]! : n;
  }
  addHugeFolio(index: number, order: PageOrder, node: number, hvo: boolean): void {
    const n = order === ORDER_1G ? 512 : 1;
    const b = index >>> 9;
    this.order.fill(order, b, b + n);
    this.node.fill(node, b, b + n);
    this.hvo.fill(hvo ? 1 : 0, b, b + n);
    for (let k = 0; k < n; k++) this.mixed.delete(b + k);
    this.allocated.fill(1, index, index + n * 512);
    if (order === ORDER_1G) this.folios1g++;
    else this.folios2m++;
  }
  addBaseFolio(index: number, node: number): void {
    const b = index >>> 9;
    let used = 0;
    for (let i = b * 512; i < Math.min(this.nrPages, b * 512 + 512); i++)
      used += this.allocated[i]!;
    if (used === 0) {
      this.node[b] = node;
      this.mixed.delete(b);
    } else if (this.node[b] !== MIXED && this.node[b] !== node) {
      this.mixed.set(b, new Uint8Array(512).fill(this.node[b]!));
      this.node[b] = MIXED;
    }
    if (this.node[b] === MIXED) this.mixed.get(b)![index & 511] = node;
    this.order[b] = ORDER_4K;
    this.hvo[b] = 0;
    if (!this.allocated[index]) this.folios4k++;
    this.allocated[index] = 1;
  }
  removeBaseFolio(index: number): void {
    if (this.allocated[index]) this.folios4k--;
    this.allocated[index] = 0;
  }
  removeHugeFolio(index: number, order: PageOrder): void {
    const n = order === ORDER_1G ? 512 : 1;
    const b = index >>> 9;
    this.order.fill(ORDER_4K, b, b + n);
    this.hvo.fill(0, b, b + n);
    this.allocated.fill(0, index, index + n * 512);
    if (order === ORDER_1G) this.folios1g--;
    else this.folios2m--;
  }
  split(index: number, from: PageOrder, to: PageOrder, hvo: boolean): void {
    const n = from === ORDER_1G ? 512 : 1;
    const b = index >>> 9;
    this.order.fill(to, b, b + n);
    this.hvo.fill(hvo ? 1 : 0, b, b + n);
    if (from === ORDER_1G) this.folios1g--;
    else this.folios2m--;
    if (to === ORDER_2M) this.folios2m += n;
    else this.folios4k += n * 512;
  }
  merge(index: number, from: PageOrder, to: PageOrder, hvo: boolean): void {
    const n = to === ORDER_1G ? 512 : 1;
    const b = index >>> 9;
    this.order.fill(to, b, b + n);
    this.hvo.fill(hvo ? 1 : 0, b, b + n);
    if (from === ORDER_2M) this.folios2m -= n;
    else this.folios4k -= n * 512;
    if (to === ORDER_1G) this.folios1g++;
    else this.folios2m++;
  }
}

const PAGES = 2 * 262144 + 256 * 512; // two whole 1 GiB ranges and half of a third
const BLOCKS = PAGES / 512;

/** Pages given 4 KiB folios one by one (their nodes are checked page by page). */
const basePages = new Set<number>();

/** One step on both layouts: a valid operation picked from `choice` given the current state. */
function step(real: FolioLayout, ref: BlockLayout, choice: number[]): void {
  const [kind, at, node, hvo, len] = choice as [number, number, number, number, number];
  const b = at % BLOCKS;
  const g = b >>> 9;
  const wholeGig = (g + 1) * 512 <= BLOCKS;
  const gigBlocks = Array.from({ length: 512 }, (_, k) => g * 512 + k);
  const blockFree = (x: number) => ref.allocated.subarray(x * 512, x * 512 + 512).every((v) => !v);
  const h = hvo === 1;
  switch (kind % 8) {
    case 7: // a free 1 GiB range filled with 2 MiB folios, on one node or on several
      if (wholeGig && gigBlocks.every(blockFree)) {
        for (const x of gigBlocks) {
          const n = len % 2 ? x % 3 : node;
          real.addHugeFolio(x * 512, ORDER_2M, n, h);
          ref.addHugeFolio(x * 512, ORDER_2M, n, h);
        }
      }
      return;
    case 0: // a new 1 GiB folio on a free range, or a new 2 MiB folio on a free block
      if (wholeGig && gigBlocks.every(blockFree)) {
        real.addHugeFolio(g * 262144, ORDER_1G, node, h);
        ref.addHugeFolio(g * 262144, ORDER_1G, node, h);
      } else if (blockFree(b)) {
        real.addHugeFolio(b * 512, ORDER_2M, node, h);
        ref.addHugeFolio(b * 512, ORDER_2M, node, h);
      }
      return;
    case 1: // 4 KiB folios on free pages of one block, one by one or as a run
      if (ref.order[b] !== ORDER_4K) return;
      if (len % 2 === 0) {
        const i = b * 512 + (len % 512);
        if (!ref.allocated[i]) {
          real.addBaseFolio(i, node);
          ref.addBaseFolio(i, node);
          basePages.add(i);
        }
      } else {
        const s = b * 512 + (len % 256);
        let e = s;
        while (e < b * 512 + 512 && e < s + (len % 300) && !ref.allocated[e]) e++;
        if (e > s) {
          expect(real.addBaseFolios(s, e, node)).toBe(e - s);
          for (let i = s; i < e; i++) {
            ref.addBaseFolio(i, node);
            basePages.add(i);
          }
        }
      }
      return;
    case 2: {
      // drop a 4 KiB folio
      const i = b * 512 + (len % 512);
      if (ref.order[b] === ORDER_4K && ref.allocated[i]) {
        real.removeBaseFolio(i);
        ref.removeBaseFolio(i);
      }
      return;
    }
    case 3: // split a 1 GiB folio (to 2 MiB or 4 KiB) or a 2 MiB folio
      if (ref.order[g * 512] === ORDER_1G) {
        const to = len % 2 ? ORDER_2M : ORDER_4K;
        real.split(g * 262144, ORDER_1G, to, h);
        ref.split(g * 262144, ORDER_1G, to, h);
      } else if (ref.order[b] === ORDER_2M) {
        real.split(b * 512, ORDER_2M, ORDER_4K, h);
        ref.split(b * 512, ORDER_2M, ORDER_4K, h);
      }
      return;
    case 4: // merge 4 KiB folios of a full block into 2 MiB, or a range into 1 GiB
      if (
        wholeGig &&
        len % 2 === 0 &&
        ref.allocated.subarray(g * 262144, g * 262144 + 262144).every((v) => v) &&
        (gigBlocks.every((x) => ref.order[x] === ORDER_2M) ||
          gigBlocks.every((x) => ref.order[x] === ORDER_4K))
      ) {
        const from = ref.order[g * 512] as PageOrder;
        real.merge(g * 262144, from, ORDER_1G, h);
        ref.merge(g * 262144, from, ORDER_1G, h);
      } else if (
        ref.order[b] === ORDER_4K &&
        ref.allocated.subarray(b * 512, b * 512 + 512).every((v) => v)
      ) {
        real.merge(b * 512, ORDER_4K, ORDER_2M, h);
        ref.merge(b * 512, ORDER_4K, ORDER_2M, h);
      }
      return;
    case 5: // free a huge folio
      if (ref.order[g * 512] === ORDER_1G) {
        real.removeHugeFolio(g * 262144, ORDER_1G);
        ref.removeHugeFolio(g * 262144, ORDER_1G);
      } else if (ref.order[b] === ORDER_2M) {
        real.removeHugeFolio(b * 512, ORDER_2M);
        ref.removeHugeFolio(b * 512, ORDER_2M);
      }
      return;
    default: // free every 4 KiB folio of a block
      if (ref.order[b] !== ORDER_4K) return;
      for (let i = b * 512; i < b * 512 + 512; i++) {
        if (ref.allocated[i]) {
          real.removeBaseFolio(i);
          ref.removeBaseFolio(i);
        }
      }
  }
}

function expectSame(real: FolioLayout, ref: BlockLayout): void {
  expect([real.folios4k, real.folios2m, real.folios1g]).toEqual([
    ref.folios4k,
    ref.folios2m,
    ref.folios1g,
  ]);
  for (const i of basePages) {
    if (ref.allocated[i]) expect(real.nodeAt(i), `node of page ${i}`).toBe(ref.nodeAt(i));
  }
  for (let b = 0; b < BLOCKS; b++) {
    expect(real.blockOrderOf(b), `order of block ${b}`).toBe(ref.order[b]);
    if (ref.allocated[b * 512]) expect(real.nodeAt(b * 512)).toBe(ref.nodeAt(b * 512));
    const i = b * 512 + ((b * 37) % 512);
    expect(real.hvoAt(i), `hvo of block ${b}`).toBe(ref.hvo[b] === 1);
    if (ref.allocated[i]) expect(real.nodeAt(i), `node of page ${i}`).toBe(ref.nodeAt(i));
    expect(real.isAllocated(i)).toBe(ref.allocated[i] === 1);
  }
  for (let g = 0; g * 512 < BLOCKS; g++) {
    let huge = 0;
    for (let b = g * 512; b < Math.min(BLOCKS, g * 512 + 512); b++) if (ref.order[b]) huge++;
    expect(real.hugeBlocks[g], `huge blocks of range ${g}`).toBe(huge);
    for (const order of [ORDER_4K, ORDER_2M, ORDER_1G]) {
      let end = g * 512;
      while (end < BLOCKS && ref.order[end] === order) end++;
      expect(real.blockRunEnd(g * 512, BLOCKS, order)).toBe(end);
    }
  }
}

describe('FolioLayout', () => {
  it('answers as a plain per-block layout under random folio operations', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(7), fc.nat(BLOCKS - 1), fc.nat(2), fc.nat(1), fc.nat(1000)), {
          minLength: 1,
          maxLength: 60,
        }),
        (steps) => {
          const real = new FolioLayout(PAGES);
          const ref = new BlockLayout(PAGES);
          basePages.clear();
          for (const s of steps) step(real, ref, s);
          expectSame(real, ref);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('holds a 1 GiB range per block only while its blocks differ: one 16-bit entry each, charged and freed', () => {
    withStorageBudget(64 * 1024 * 1024, () => {
      const layout = new FolioLayout(4 * 262144);
      // The layout's own tables, the allocated-page bitmap left out.
      const own = () => layout.storageBytes - layout.allocated.storageBytes;
      const empty = own();
      layout.addHugeFolio(262144, ORDER_1G, 3, true);
      // A whole 1 GiB folio is the range's summary alone.
      expect(own()).toBe(empty);
      const charged = storageInUse();
      layout.split(262144, ORDER_1G, ORDER_2M, true);
      layout.split(262144 + 512, ORDER_2M, ORDER_4K, false);
      // Its blocks now differ: one chunk of 512 entries, whatever the blocks hold.
      expect(own() - empty).toBe(LAYOUT_CHUNK_BYTES);
      expect(storageInUse() - charged).toBe(LAYOUT_CHUNK_BYTES);
      expect([layout.blockOrderOf(512), layout.blockOrderOf(513)]).toEqual([ORDER_2M, ORDER_4K]);
      expect([layout.hvoAt(262144), layout.hvoAt(262144 + 512)]).toEqual([true, false]);
      expect([layout.nodeAt(262144), layout.nodeAt(262144 + 512 + 7)]).toEqual([3, 3]);
      layout.merge(262144 + 512, ORDER_4K, ORDER_2M, true);
      layout.merge(262144, ORDER_2M, ORDER_1G, true);
      // Uniform again: the chunk goes back, and the summary keeps the node.
      expect(own()).toBe(empty);
      expect(storageInUse()).toBe(charged);
      expect([layout.nodeAt(262144 + 9999), layout.hvoAt(262144)]).toEqual([3, true]);
    });
  });
});
