// Guests up to the schema's 64 TiB: 4 KiB page indexes pass 2^31 at 8 TiB and 2^32 at 16 TiB, so
// any index that goes through a 32-bit operator wraps there. The rule checked: the same operations
// give the same results wherever they land in the file. Every allocator and page size runs one
// sequence of operations at an offset X and again at X + 8 TiB and X + 48 TiB (a shift by whole
// 1 GiB ranges keeps every huge page's alignment), in a 64 TiB file, with and without the event
// log (the per-page and the bulk paths), and every counter and gauge must come out equal. The
// windows are chosen to straddle 8 TiB - 4 KiB / 8 TiB / 8 TiB + 4 KiB, 16 TiB and the top.
import { describe, expect, it } from 'vitest';
import type { GmemVariantInput } from '../config.js';
import { Rng } from '../rng.js';
import { Simulation } from '../sim/simulation.js';
import { GiB, MiB } from '../units.js';

const KiB = 1024;
const TiB = 1024 * GiB;
const GUEST = 64 * TiB;

const BACKINGS: readonly Pick<GmemVariantInput, 'pageSize' | 'allocator'>[] = [
  { pageSize: '4k', allocator: 'buddy' },
  { pageSize: '2m', allocator: 'thp' },
  { pageSize: '2m', allocator: 'hugetlb' },
  { pageSize: '1g', allocator: 'hugetlb' },
  { pageSize: '2m', allocator: 'cma-raw' },
  { pageSize: '1g', allocator: 'cma-raw' },
];

/** A host that can back the whole 64 TiB file with the variant's page size (HugeTLB reserves the
 * whole file when it is created; CMA needs an area as large). */
function simulation(backing: (typeof BACKINGS)[number], recordEvents: boolean): Simulation {
  const hugetlb = backing.allocator === 'hugetlb';
  return new Simulation({
    host: {
      hvo: true,
      hvoBatched: true,
      cmaHvo: false,
      thpFragmentation: 0,
      nodes: [
        {
          memoryBytes: GUEST + 16 * TiB,
          cpus: '0-7',
          hostReservedBytes: 256 * MiB,
          hugetlb2m: hugetlb && backing.pageSize === '2m' ? GUEST / (2 * MiB) : 0,
          hugetlb1g: hugetlb && backing.pageSize === '1g' ? GUEST / GiB : 0,
          ...(backing.allocator === 'cma-raw' ? { cma: { sizeBytes: GUEST } } : {}),
        },
      ],
    },
    variant: { name: 'scale', guestBytes: GUEST, vendor: 'snp', ...backing },
    seed: 1,
    recordEvents,
  });
}

type Op = (sim: Simulation, base: number) => void;

/** A seeded sequence of operations on the window [base, base + 4 GiB): allocations, faults by
 * the guest and the host, conversions both ways, pins, acceptance, prefault and punched holes. */
function operations(seed: number, count: number): Op[] {
  const rng = new Rng(seed);
  const window = 4 * GiB;
  const ops: Op[] = [];
  const range = () => {
    const pages = 1 + rng.int(1024);
    const at = rng.int(window / (4 * KiB) - pages) * 4 * KiB;
    return [at, pages * 4 * KiB] as const;
  };
  for (let k = 0; k < count; k++) {
    const [at, size] = range();
    switch (rng.int(9)) {
      case 0:
        ops.push((sim, base) => void sim.fallocate(base + at, size));
        break;
      case 1:
        ops.push((sim, base) => void sim.fault((base + at) / (4 * KiB), 'guest', 'write'));
        break;
      case 2:
        ops.push((sim, base) => void sim.convert(base + at, size, 'shared'));
        break;
      case 3:
        ops.push((sim, base) => void sim.convert(base + at, size, 'private'));
        break;
      case 4:
        ops.push((sim, base) => void sim.fault((base + at) / (4 * KiB), 'host', 'read'));
        break;
      case 5:
        ops.push((sim, base) => {
          if (sim.pin(base + at, size).ok) sim.unpin(base + at, size);
        });
        break;
      case 6:
        ops.push((sim, base) => void sim.accept(base + at, size));
        break;
      case 7:
        ops.push((sim, base) => void sim.prefault(base + at, size));
        break;
      default:
        ops.push((sim, base) => void sim.punchHole(base + at, size));
    }
  }
  return ops;
}

function outcome(backing: (typeof BACKINGS)[number], ops: Op[], base: number, events: boolean) {
  const sim = simulation(backing, events);
  sim.gmem.phase = 'runtime';
  for (const op of ops) op(sim, base);
  sim.advanceBy(1e9);
  sim.sample();
  const { metrics, nodeBytes, latencyNs } = sim.summary();
  return { metrics, nodeBytes, latencyNs, now: sim.now };
}

// Windows of 4 GiB at X: across 8 TiB (2^31 pages) at X, across 16 TiB (2^32 pages) at X + 8 TiB;
// at X + 48 TiB, near the top of the file.
const WINDOWS = [
  { name: 'the first 4 GiB', x: 0 },
  { name: 'across 8 TiB - 4 KiB / 8 TiB / 8 TiB + 4 KiB', x: 8 * TiB - 2 * GiB },
  { name: 'the last 4 GiB below 16 TiB', x: 16 * TiB - 4 * GiB },
];

describe('the same operations give the same results anywhere in a 64 TiB file', () => {
  for (const backing of BACKINGS) {
    const label = `${backing.allocator} ${backing.pageSize}`;
    for (const { name, x } of WINDOWS) {
      it(`${label}: ${name}, moved by 8 TiB and by 48 TiB`, () => {
        const ops = operations(x / GiB + 7, 120);
        const at = outcome(backing, ops, x, false);
        // The sequence did real work: memory was allocated and some of it converted.
        expect(at.metrics.tdp_faults).toBeGreaterThan(0);
        expect(at.metrics.conversions_to_shared).toBeGreaterThan(0);
        expect(outcome(backing, ops, x + 8 * TiB, false)).toEqual(at);
        expect(outcome(backing, ops, x + 48 * TiB, false)).toEqual(at);
        // The per-page path (taken with the event log) agrees with the bulk one.
        expect(outcome(backing, ops, x + 48 * TiB, true)).toEqual(at);
      });
    }

    it(`${label}: the last page of the file and the pages around 8 and 16 TiB`, () => {
      const sim = simulation(backing, false);
      sim.gmem.phase = 'runtime';
      const pages = [8 * TiB - 4 * KiB, 8 * TiB, 8 * TiB + 4 * KiB, 16 * TiB, GUEST - 4 * KiB];
      for (const offset of pages) {
        expect(sim.fault(offset / (4 * KiB), 'guest', 'write').ok, `fault at ${offset}`).toBe(true);
        expect(sim.convert(offset, 4 * KiB, 'shared').ok, `convert at ${offset}`).toBe(true);
      }
      // Each page is shared on its own: no neighbour changed with it.
      for (const offset of pages) {
        const i = offset / (4 * KiB);
        expect(sim.gmem.shared.get(i)).toBe(true);
        if (offset + 4 * KiB < GUEST && !pages.includes(offset + 4 * KiB))
          expect(sim.gmem.shared.get(i + 1)).toBe(false);
        if (!pages.includes(offset - 4 * KiB)) expect(sim.gmem.shared.get(i - 1)).toBe(false);
      }
      expect(sim.gmem.shared.total).toBe(pages.length);
      sim.sample();
      const s = sim.summary().metrics;
      expect(s.guest_bytes).toBe(GUEST);
      expect(s.shared_bytes).toBe(pages.length * 4 * KiB);
      // A 64 TiB file that touched a few ranges costs the model megabytes, not gigabytes.
      expect(sim.gmem.modelStorageBytes()).toBeLessThan(64 * MiB);
    });
  }
});
