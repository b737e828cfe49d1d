import { describe, expect, it } from 'vitest';
import { AllocatorKindSchema, HostSchema } from '../config.js';
import { DEFAULT_COSTS } from '../constants.js';
import { Host } from '../host/host.js';
import { Rng } from '../rng.js';
import { GiB, ORDER_1G, ORDER_2M, ORDER_4K, type PageOrder } from '../units.js';
import {
  Buddy4kAllocator,
  CmaAllocator,
  HugetlbAllocator,
  ThpAllocator,
  createAllocator,
} from './index.js';

const host = () =>
  new Host(
    HostSchema.parse({
      nodes: [{ memoryBytes: 8 * GiB, cpus: '0', hugetlb1g: 2, cma: { sizeBytes: 2 * GiB } }],
    }),
    DEFAULT_COSTS,
    new Rng(1),
  );

describe('createAllocator', () => {
  it('builds one allocator per kind', () => {
    const classes = {
      hugetlb: HugetlbAllocator,
      'hugetlb-cma': HugetlbAllocator,
      'cma-raw': CmaAllocator,
      thp: ThpAllocator,
      buddy: Buddy4kAllocator,
    };
    for (const kind of AllocatorKindSchema.options) {
      const allocator = createAllocator(kind, host(), DEFAULT_COSTS, new Rng(2));
      expect(allocator.kind).toBe(kind);
      expect(allocator).toBeInstanceOf(classes[kind]);
    }
  });

  it('every allocator runs the same reserve / allocate / free cycle', () => {
    const orders: Record<string, PageOrder> = {
      hugetlb: ORDER_1G,
      'hugetlb-cma': ORDER_1G,
      'cma-raw': ORDER_1G,
      thp: ORDER_2M,
      buddy: ORDER_4K,
    };
    for (const kind of AllocatorKindSchema.options) {
      const allocator = createAllocator(kind, host(), DEFAULT_COSTS, new Rng(2));
      const order = orders[kind] ?? ORDER_4K;
      const nodes = { nodes: [0], strict: true };
      const reserved = allocator.reserve({ order, count: 1, nodes });
      if (!reserved.ok) throw new Error(reserved.message);
      const got = allocator.allocate(reserved.handle, nodes, order);
      if (!got.ok) throw new Error(got.message);
      expect(allocator.free(reserved.handle, got.folio).ok).toBe(true);
      allocator.unreserve(reserved.handle);
      expect(allocator.stats()).toMatchObject({
        allocations: 1,
        frees: 1,
        allocatedBytesByNode: [0],
      });
    }
  });
});
