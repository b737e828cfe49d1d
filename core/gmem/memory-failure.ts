// Memory errors (hwpoison): the allocator takes the page out of service (a HugeTLB or CMA huge page
// as a whole, even when split) and guest_memfd zaps its mappings (kvm_gmem_error_folio in
// virt/kvm/guest_memfd.c); the range answers -EHWPOISON until it is punched (truncated).
import { ORDER_4K, PAGE_SIZE, type PageOrder } from '../units.js';
import { issueInvalidations } from './invalidation.js';
import { rebuildUnit } from './split-merge.js';
import type { Failure, GmemState } from './state.js';

export function memoryErrorOp(gmem: GmemState, offset: number): Failure | null {
  const [index] = gmem.pageRange(offset, PAGE_SIZE);
  if (!gmem.layout.isAllocated(index)) {
    return { errno: 'EINVAL', message: `no folio at offset 0x${offset.toString(16)}`, offset };
  }
  const unit = Math.floor(index / gmem.unitPages);
  const huge = gmem.isHugeAllocation(unit * gmem.unitPages);
  let order: PageOrder = gmem.layout.orderAt(index);
  let start = Math.floor(index / 2 ** order) * 2 ** order;
  if (huge) {
    // The allocator takes the whole huge page out of service; a split one is first put back
    // together as far as the accounting goes.
    start = unit * gmem.unitPages;
    order = gmem.hugeOrder;
    issueInvalidations(gmem, start, start + gmem.unitPages, 'memory_error');
    if (!gmem.isUnitHugeFolio(unit)) rebuildUnit(gmem, unit, true);
  } else {
    issueInvalidations(gmem, start, start + 2 ** order, 'memory_error');
  }
  const end = start + 2 ** order;
  gmem.deps.allocator.error(gmem.handle, gmem.folioAt(start, order));
  if (order === ORDER_4K) gmem.layout.removeBaseFolio(start);
  else gmem.layout.removeHugeFolio(start, order);
  gmem.punched.assignRange(start, end, false);
  gmem.pendingMerges.delete(unit);
  gmem.poisoned.assignRange(start, end, true);
  if (gmem.logging) gmem.log({ type: 'memory_error', offset: start * PAGE_SIZE, order });
  return null;
}
