// Bulk charges: what n identical faults or invalidations add to the counters and cycle metrics, in
// one step when every partial sum is an exact integer and one charge at a time otherwise, so a bulk
// path ends with exactly the figures the per-page path would.
import {
  M_CYCLES_TOTAL,
  M_INVALIDATIONS,
  M_TDP_FAULTS,
  M_VM_EXITS,
  C_ALLOCATION,
  C_ZEROING,
  C_FAULT,
  L_NONE,
} from './slots.js';
import type { GmemState } from './state.js';

/** Whether `n` additions of `delta` to `now` are exact at every step (safe integers throughout), so
 * that one addition of `delta * n` gives the same number. */
function exactAfter(now: number, delta: number, n: number): boolean {
  return (
    Number.isSafeInteger(now) &&
    Number.isSafeInteger(delta) &&
    Number.isSafeInteger(delta * n) &&
    Number.isSafeInteger(now + delta * n)
  );
}

/** What `n` guest faults charge: the exit (if `exit`) and the TDP fault (if `fault`), then,
 * when `allocCycles` >= 0, the allocation of a 4 KiB folio and its zeroing; the same sums as n
 * rounds of those charge() calls. With `fault`, each fault is its own operation, its cycles summed
 * apart (see timedGuestFault in fault.ts). Returns what one of them charges: its latency. */
export function chargeFaults(
  gmem: GmemState,
  n: number,
  exit: boolean,
  allocCycles: number,
  fault = true,
): number {
  const costs = gmem.costs;
  const m = gmem.metrics;
  const allocating = allocCycles >= 0;
  if (exit) m.addRepeatedAt(M_VM_EXITS, 1, n);
  if (fault) m.addRepeatedAt(M_TDP_FAULTS, 1, n);
  // charge() skips amounts <= 0.
  const fault1 = exit && costs.vmExitCycles > 0 ? costs.vmExitCycles : 0;
  const fault2 = fault && costs.tdpFaultCycles > 0 ? costs.tdpFaultCycles : 0;
  const alloc = allocating && allocCycles > 0 ? allocCycles : 0;
  const zero = allocating && costs.zeroPage4KCycles > 0 ? costs.zeroPage4KCycles : 0;
  const perPage = fault1 + fault2 + alloc + zero;
  if (
    Number.isSafeInteger(fault1) &&
    Number.isSafeInteger(fault2) &&
    exactAfter(m.getAt(C_FAULT), fault1 + fault2, n) &&
    exactAfter(m.getAt(C_ALLOCATION), alloc, n) &&
    exactAfter(m.getAt(C_ZEROING), zero, n) &&
    exactAfter(m.getAt(M_CYCLES_TOTAL), perPage, n) &&
    exactAfter(gmem.opCycles, perPage, n)
  ) {
    // Integer costs: every partial sum is exact, so n pages add up the same in one step.
    m.addRepeatedAt(C_FAULT, fault1 + fault2, n);
    m.addRepeatedAt(C_ALLOCATION, alloc, n);
    m.addRepeatedAt(C_ZEROING, zero, n);
    m.addRepeatedAt(M_CYCLES_TOTAL, perPage, n);
    gmem.opCycles += perPage * n;
    return perPage;
  }
  for (let p = 0; p < n; p++) {
    // A fault's cycles are summed apart, then added (as timedGuestFault() does), so the
    // operation's total rounds as the per-page path's.
    const outer = fault ? gmem.beginSample() : 0;
    if (exit) gmem.charge(C_FAULT, costs.vmExitCycles);
    if (fault) gmem.charge(C_FAULT, costs.tdpFaultCycles);
    if (allocating) {
      gmem.charge(C_ALLOCATION, allocCycles);
      gmem.charge(C_ZEROING, costs.zeroPage4KCycles);
    }
    // The caller records the n samples at once.
    if (fault) gmem.endSample(L_NONE, outer);
  }
  return perPage;
}

/** What `n` huge folio allocations of `unitPages` pages charge, each `allocCycles` (no migration)
 * and the zeroing of its pages, as n rounds of allocateUnit()'s charge() calls would: in one step
 * when every partial sum is an exact integer, one charge at a time otherwise. */
export function chargeHugeAllocations(
  gmem: GmemState,
  n: number,
  allocCycles: number,
  unitPages: number,
): void {
  const m = gmem.metrics;
  // charge() skips amounts <= 0.
  const alloc = allocCycles > 0 ? allocCycles : 0;
  const zeroCycles = gmem.costs.zeroPage4KCycles * unitPages;
  const zero = zeroCycles > 0 ? zeroCycles : 0;
  const each = alloc + zero;
  if (
    exactAfter(m.getAt(C_ALLOCATION), alloc, n) &&
    exactAfter(m.getAt(C_ZEROING), zero, n) &&
    exactAfter(m.getAt(M_CYCLES_TOTAL), each, n) &&
    exactAfter(gmem.opCycles, each, n)
  ) {
    m.addRepeatedAt(C_ALLOCATION, alloc, n);
    m.addRepeatedAt(C_ZEROING, zero, n);
    m.addRepeatedAt(M_CYCLES_TOTAL, each, n);
    gmem.opCycles += each * n;
    return;
  }
  for (let k = 0; k < n; k++) {
    gmem.charge(C_ALLOCATION, allocCycles);
    gmem.charge(C_ZEROING, zeroCycles);
  }
}

/** `n` invalidations: the counter and charge() of each, in one step when exact. */
export function chargeInvalidations(gmem: GmemState, n: number): void {
  const m = gmem.metrics;
  m.addRepeatedAt(M_INVALIDATIONS, 1, n);
  const c = gmem.costs.invalidateCycles;
  if (c <= 0) return;
  const total = c * n;
  if (
    Number.isSafeInteger(c) &&
    Number.isSafeInteger(total) &&
    Number.isSafeInteger(m.getAt(C_FAULT) + total) &&
    Number.isSafeInteger(m.getAt(C_FAULT)) &&
    Number.isSafeInteger(m.getAt(M_CYCLES_TOTAL)) &&
    Number.isSafeInteger(m.getAt(M_CYCLES_TOTAL) + total) &&
    Number.isSafeInteger(gmem.opCycles) &&
    Number.isSafeInteger(gmem.opCycles + total)
  ) {
    m.addAt(C_FAULT, total);
    m.addAt(M_CYCLES_TOTAL, total);
    gmem.opCycles += total;
    return;
  }
  for (let k = 0; k < n; k++) gmem.charge(C_FAULT, c);
}
