// hugetlb_cma= (mm/hugetlb_cma.c: hugetlb_cma_reserve(), hugetlb_cma_alloc_folio()): gigantic
// HugeTLB pages taken from a CMA area. Once in the pool they are HugeTLB folios: a guest_memfd file
// reserves them in its subpool and a fault dequeues one, HVO applied (with the 2025 hugetlb/CMA
// bootmem work the pages are allocated at boot and optimised like other boot-time pages). The raw
// CMA allocator of the LPC 2024 discussion (cma-raw) is the other way: a runtime cma_alloc() per
// folio that migrates movable pages out, no HVO, ENOMEM when it fails.
import { describe, expect, it } from 'vitest';
import { HostSchema } from '../config.js';
import { DEFAULT_COSTS } from '../constants.js';
import { Host } from '../host/host.js';
import { Rng } from '../rng.js';
import { GiB, ORDER_1G, ORDER_2M } from '../units.js';
import { createAllocator } from './index.js';

const C = DEFAULT_COSTS;

function hostWithCma(movable = 0.5) {
  return new Host(
    HostSchema.parse({
      nodes: [
        {
          memoryBytes: 16 * GiB,
          cpus: '0',
          cma: { sizeBytes: 4 * GiB, unmovableRanges: [3], movableOccupiedFraction: movable },
        },
      ],
    }),
    C,
    new Rng(1),
  );
}
const on0 = { nodes: [0], strict: true };

describe('hugetlb_cma_alloc_folio', () => {
  it('hugetlb-cma: the CMA area backs the 1 GiB pool; a fault dequeues a HVO page, no migration', () => {
    const host = hostWithCma();
    const alloc = createAllocator('hugetlb-cma', host, C, new Rng(2));
    // Three usable 1 GiB ranges (range 3 holds an unmovable page): a file of 4 pages is refused.
    expect(alloc.reserve({ order: ORDER_1G, count: 4, nodes: on0 })).toMatchObject({
      ok: false,
      errno: 'ENOMEM',
    });
    const r = alloc.reserve({ order: ORDER_1G, count: 3, nodes: on0 });
    if (!r.ok) throw new Error(r.message);
    expect(host.cma(0)!.counters()).toMatchObject({ allocated1GRanges: 3, free1GRanges: 0 });
    const got = alloc.allocate(r.handle, on0, ORDER_1G);
    expect(got).toMatchObject({
      ok: true,
      cycles: C.hugetlbSubpoolGetCycles + C.hugetlbDequeueCycles,
      migrationCycles: 0,
      folio: { hvo: true },
    });
    // hugetlb_cma= serves gigantic pages only.
    expect(alloc.reserve({ order: ORDER_2M, count: 1, nodes: on0 })).toMatchObject({
      ok: false,
      errno: 'EINVAL',
    });
  });

  it('cma-raw: each folio is a runtime cma_alloc() that migrates movable pages, no HVO', () => {
    const host = hostWithCma();
    const alloc = createAllocator('cma-raw', host, C, new Rng(2));
    const r = alloc.reserve({ order: ORDER_1G, count: 3, nodes: on0 });
    if (!r.ok) throw new Error(r.message);
    // Nothing is taken from the area until a folio is allocated.
    expect(host.cma(0)!.counters()).toMatchObject({ allocated1GRanges: 0, free1GRanges: 3 });
    const got = alloc.allocate(r.handle, on0, ORDER_1G);
    expect(got.ok).toBe(true);
    if (!got.ok) return;
    expect(got.folio.hvo).toBe(false);
    expect(got.migrationCycles).toBeGreaterThan(0);
    expect(got.cycles).toBeGreaterThan(C.hugetlbSubpoolGetCycles + C.hugetlbDequeueCycles);
    // Once the three usable ranges are taken, cma_alloc() fails: ENOMEM.
    alloc.allocate(r.handle, on0, ORDER_1G);
    alloc.allocate(r.handle, on0, ORDER_1G);
    expect(alloc.allocate(r.handle, on0, ORDER_1G)).toMatchObject({ ok: false, errno: 'ENOMEM' });
  });
});
