// Random operation sequences for the property tests (invariants.test.ts, convert-page.test.ts):
// the backings, policies and operations they draw from, the simulation they run on and how each
// operation is applied. Test support only: nothing in the product imports it.
import fc from 'fast-check';
import type { GmemVariantInput } from '../config.js';
import type { GmemState } from '../gmem/state.js';
import { LATENCY_OPS } from '../metrics/definitions.js';
import { GiB, KiB, MiB } from '../units.js';
import { Simulation } from './simulation.js';
import { hostOf } from './test-helpers.js';

export type Backing = {
  allocator: 'buddy' | 'thp' | 'hugetlb' | 'hugetlb-cma' | 'cma-raw';
  pageSize: '4k' | '2m' | '1g';
};

export const BACKINGS: Backing[] = [
  { allocator: 'buddy', pageSize: '4k' },
  { allocator: 'thp', pageSize: '2m' },
  { allocator: 'hugetlb', pageSize: '2m' },
  { allocator: 'hugetlb', pageSize: '1g' },
  { allocator: 'hugetlb-cma', pageSize: '1g' },
  { allocator: 'cma-raw', pageSize: '2m' },
  { allocator: 'cma-raw', pageSize: '1g' },
];

export function guestBytesOf(b: Backing): number {
  return b.pageSize === '1g' ? 2 * GiB : 16 * MiB;
}

export const policiesArb = fc.record({
  split: fc.constantFrom('to-4k', 'staged', 'always-split'),
  sharedPages: fc.constantFrom('split-to-4k', 'disallow-split', 'disallow-split-and-reconstruct'),
  structPageless: fc.boolean(),
  deferredPunch: fc.boolean(),
  mergeDelayNs: fc.constantFrom(0, 1_000, 10_000_000),
});

/** An operation on a guest of `pages` 4 KiB pages; ranges are biased towards small, aligned ones. */
export function opArb(pages: number) {
  const range = fc
    .tuple(fc.integer({ min: 0, max: pages - 1 }), fc.constantFrom(1, 1, 2, 16, 512, 513, 1024))
    .map(([start, len]) => [start, Math.min(len, pages - start)] as const);
  return fc.oneof(
    fc.record({
      op: fc.constant('convert' as const),
      range,
      to: fc.constantFrom('shared' as const, 'private' as const),
    }),
    fc.record({ op: fc.constant('flip' as const), range }),
    fc.record({ op: fc.constant('flipTwice' as const), range }),
    fc.record({ op: fc.constant('dma' as const), range }),
    fc.record({ op: fc.constant('partialBack' as const), range }),
    fc.record({ op: fc.constant('fallocate' as const), range }),
    fc.record({ op: fc.constant('punch' as const), range }),
    fc.record({ op: fc.constant('pin' as const), range }),
    fc.record({ op: fc.constant('unpin' as const), range }),
    fc.record({
      op: fc.constant('guestFault' as const),
      page: fc.integer({ min: 0, max: pages - 1 }),
    }),
    fc.record({
      op: fc.constant('hostFault' as const),
      page: fc.integer({ min: 0, max: pages - 1 }),
    }),
    fc.record({ op: fc.constant('prefault' as const), range }),
    fc.record({ op: fc.constant('advance' as const), ns: fc.constantFrom(500, 20_000_000) }),
    fc.record({
      op: fc.constant('memoryError' as const),
      page: fc.integer({ min: 0, max: pages - 1 }),
    }),
  );
}

export type Op = ReturnType<typeof opArb> extends fc.Arbitrary<infer T> ? T : never;

export function build(
  backing: Backing,
  model: 'in-place' | 'legacy',
  merge: string,
  policies: object,
  seed: number,
  vendor: GmemVariantInput['vendor'] = 'snp',
) {
  const variant: GmemVariantInput = {
    name: 'prop',
    guestBytes: guestBytesOf(backing),
    ...backing,
    conversionModel: model,
    sharedBackend: model === 'legacy' ? 'hugetlbfs-2m' : 'anon-4k',
    policies: { ...policies, merge } as GmemVariantInput['policies'],
    vendor,
  };
  return new Simulation({
    host: hostOf({
      hugetlb2m: 16,
      hugetlb1g: 2,
      cma: { sizeBytes: 4 * GiB, movableOccupiedFraction: 0.2 },
      thpFragmentation: 0.3,
    }),
    variant,
    seed,
    recordEvents: true,
  });
}

export function apply(sim: Simulation, op: Op): void {
  const P = 4 * KiB;
  switch (op.op) {
    case 'convert':
      sim.convert(op.range[0] * P, op.range[1] * P, op.to);
      break;
    case 'flip':
      // A poorly behaved guest: the same pages shared and straight back to private.
      sim.convert(op.range[0] * P, op.range[1] * P, 'shared');
      sim.convert(op.range[0] * P, op.range[1] * P, 'private');
      break;
    case 'dma': {
      // A device buffer: shared, faulted by the host, pinned; converting it back while pinned
      // fails with -EAGAIN until the pin is dropped.
      const [start, len] = op.range;
      sim.convert(start * P, len * P, 'shared');
      sim.fault(start, 'host', 'write');
      const pinned = sim.pin(start * P, P).ok;
      sim.convert(start * P, len * P, 'private');
      if (pinned) sim.unpin(start * P, P);
      sim.convert(start * P, len * P, 'private');
      break;
    }
    case 'partialBack': {
      // Shared as one range, then only its first half back: the disallow-split policy refuses it.
      const [start, len] = op.range;
      sim.convert(start * P, len * P, 'shared');
      if (len > 1) sim.convert(start * P, Math.floor(len / 2) * P, 'private');
      break;
    }
    case 'flipTwice':
      // ...and again before a deferred merge of the range has run (it is cancelled).
      for (let k = 0; k < 2; k++) {
        sim.convert(op.range[0] * P, op.range[1] * P, 'shared');
        sim.convert(op.range[0] * P, op.range[1] * P, 'private');
      }
      break;
    case 'fallocate':
      sim.fallocate(op.range[0] * P, op.range[1] * P);
      break;
    case 'punch':
      sim.punchHole(op.range[0] * P, op.range[1] * P);
      break;
    case 'pin':
      sim.pin(op.range[0] * P, Math.min(op.range[1], 4) * P);
      break;
    case 'unpin':
      sim.unpin(op.range[0] * P, Math.min(op.range[1], 4) * P);
      break;
    case 'guestFault':
      sim.fault(op.page, 'guest', 'write');
      break;
    case 'hostFault':
      sim.fault(op.page, 'host', 'write');
      break;
    case 'prefault':
      sim.prefault(op.range[0] * P, op.range[1] * P);
      break;
    case 'advance':
      sim.advanceBy(op.ns);
      break;
    case 'memoryError':
      sim.memoryError(op.page * P);
      break;
  }
}

/** The whole model state of `sim`, every counter, latency distribution and summary included, for
 * tests that run the same operations two ways and compare. */
export function stateOf(sim: Simulation): unknown {
  const g = (sim.gmem as unknown as { gmem: GmemState }).gmem;
  const { layout, mmu } = g;
  const blocks: number[] = [];
  const words: number[] = [];
  for (let b = 0; b < layout.nrBlocks; b++) {
    const i = b * 512;
    const counts = [
      layout.allocated.blockCount(b),
      g.shared.blockCount(b),
      g.punched.blockCount(b),
      g.pinned.blockCount(b),
      g.poisoned.blockCount(b),
      g.backend?.blockCount(b) ?? -1,
      mmu.mapped4kInBlock(b),
    ];
    blocks.push(layout.blockOrderOf(b), layout.nodeAt(i), layout.hvoAt(i) ? 1 : 0, ...counts);
    blocks.push(mmu.levelAt(i), g.rmp ? g.rmp.levelAt(i) : -2, g.accepted4k.get(b) ? 1 : 0);
    // The words of every block that is neither empty nor full in some bitmap.
    if (counts.some((n) => n !== 0 && n !== 512)) {
      for (let w = b * 16; w < b * 16 + 16; w++) {
        words.push(layout.allocated.word(w), g.shared.word(w), g.punched.word(w));
        words.push(g.pinned.word(w), g.poisoned.word(w), g.backend?.word(w) ?? 0);
        for (let k = 0; k < 32; k++) {
          const p = w * 32 + k;
          if (mmu.levelAt(p) === 0) words.push(p);
          if (g.rmp && g.rmp.levelAt(p) === 0) words.push(-p);
        }
      }
    }
  }
  return {
    now: sim.now,
    blocks,
    words,
    folios: [layout.folios4k, layout.folios2m, layout.folios1g],
    mappings: [mmu.pages4k, mmu.pages2m, mmu.pages1g, mmu.pageTablePages],
    classes: g.classes.classes,
    pendingMerges: [...g.pendingMerges],
    queue: [g.mergeQueue.slice(g.mergeQueueHead), g.mergeQueueDue.slice(g.mergeQueueHead)],
    noReconstruct: g.noReconstruct.total,
    sharedUnits: [...g.sharedUnits],
    pins: [...g.extraPins, ...g.truncatedPins],
    allocator: sim.allocator.stats(),
    host: sim.host.allCounters(),
    latency: LATENCY_OPS.map((op) => sim.metrics.latencyBuckets(op)),
    summary: sim.summary(),
    events: sim.log.length,
  };
}
