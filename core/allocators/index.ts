// One place that maps an AllocatorKind from the configuration to its implementation. A new
// allocator is one new file plus one line here.
import type { AllocatorKind } from '../config.js';
import type { CostModel } from '../constants.js';
import type { Host } from '../host/host.js';
import type { Rng } from '../rng.js';
import type { Allocator } from './allocator.js';
import { createBuddy4kAllocator } from './buddy-4k.js';
import { createCmaAllocator } from './cma.js';
import { createHugetlbAllocator } from './hugetlb.js';
import { createThpAllocator } from './thp.js';

export type * from './allocator.js';
export { Buddy4kAllocator } from './buddy-4k.js';
export { CmaAllocator } from './cma.js';
export { HugetlbAllocator } from './hugetlb.js';
export { ThpAllocator } from './thp.js';

/**
 * The allocator for `kind` on `host`. `costs` is the variant's cost model (it may override the
 * host's); `rng` is the stream for the allocator's random draws (THP fragmentation, CMA transient
 * failures), so files on one host do not shift each other's numbers. HugeTLB and 4 KiB buddy
 * allocation draw nothing.
 */
export function createAllocator(
  kind: AllocatorKind,
  host: Host,
  costs: CostModel,
  rng: Rng,
): Allocator {
  switch (kind) {
    case 'hugetlb':
      return createHugetlbAllocator(host, costs);
    case 'hugetlb-cma':
      return createHugetlbAllocator(host, costs, 'hugetlb-cma');
    case 'cma-raw':
      return createCmaAllocator(host, costs, rng);
    case 'thp':
      return createThpAllocator(host, costs, rng);
    case 'buddy':
      return createBuddy4kAllocator(host, costs);
  }
}
