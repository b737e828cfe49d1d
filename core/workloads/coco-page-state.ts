// How a confidential guest tells the host it changes page state, as arithmetic the docs and tests
// quote: SNP page-state-change requests (GHCB protocol) and TDX MapGPA exits.
import { MiB, PAGE_SIZE, alignDown, alignUp } from '../units.js';

const SZ_2M = 2 * MiB;

/** One run of page-state-change entries of the same size, contiguous in guest memory. */
export interface PscRun {
  readonly offset: number;
  readonly size: number;
  /** 4 KiB or 2 MiB (RMP_PG_SIZE_4K / RMP_PG_SIZE_2M). */
  readonly entryBytes: number;
}

export function checkRange(offset: number, size: number): void {
  if (offset % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || offset < 0 || size < 0) {
    throw new RangeError(
      `range 0x${offset.toString(16)} + 0x${size.toString(16)} is not 4 KiB aligned`,
    );
  }
}

/**
 * The entries a Linux SNP guest puts in its page-state-change requests for [offset, offset + size)
 * (arch/x86/coco/sev/core.c, __set_pages_state()): walking the range, an entry is 2 MiB when the
 * address is 2 MiB-aligned and at least 2 MiB remain (direct-map memory; vmalloc'd memory always
 * uses 4 KiB), else 4 KiB. So: 4 KiB head entries up to the first 2 MiB boundary, 2 MiB entries for
 * the whole 2 MiB blocks, 4 KiB tail entries; a range with no whole aligned 2 MiB block is all 4 KiB.
 */
export function pscRuns(offset: number, size: number, largeEntries = true): PscRun[] {
  checkRange(offset, size);
  if (size === 0) return [];
  const end = offset + size;
  const aligned = alignUp(offset, SZ_2M);
  if (!largeEntries || aligned + SZ_2M > end) return [{ offset, size, entryBytes: PAGE_SIZE }];
  const midEnd = aligned + alignDown(end - aligned, SZ_2M);
  const runs: PscRun[] = [];
  if (aligned > offset) runs.push({ offset, size: aligned - offset, entryBytes: PAGE_SIZE });
  runs.push({ offset: aligned, size: midEnd - aligned, entryBytes: SZ_2M });
  if (end > midEnd) runs.push({ offset: midEnd, size: end - midEnd, entryBytes: PAGE_SIZE });
  return runs;
}

/** Entries of each size for [offset, offset + size) (see pscRuns). */
export function pscEntries(
  offset: number,
  size: number,
  largeEntries = true,
): { entries2m: number; entries4k: number; total: number } {
  let entries2m = 0;
  let entries4k = 0;
  for (const r of pscRuns(offset, size, largeEntries)) {
    if (r.entryBytes === SZ_2M) entries2m += r.size / SZ_2M;
    else entries4k += r.size / PAGE_SIZE;
  }
  return { entries2m, entries4k, total: entries2m + entries4k };
}

/**
 * SNP page-state-change requests (one VMGEXIT each) for [offset, offset + size): the entries of
 * pscRuns in order, at most `batchEntries` per request (VMGEXIT_PSC_MAX_ENTRY = 64 in the Linux
 * guest; set_pages_state() loops over __set_pages_state(), which fills one request at a time).
 * Examples: 64 MiB 2 MiB-aligned = 32 entries = 1 request; 1 MiB = 256 4 KiB entries = 4 requests.
 */
export function pscRequests(
  offset: number,
  size: number,
  batchEntries = 64,
  largeEntries = true,
): number {
  if (batchEntries < 1) throw new RangeError('batchEntries must be at least 1');
  return Math.ceil(pscEntries(offset, size, largeEntries).total / batchEntries);
}

/**
 * The requests themselves: each request lists its runs. KVM (snp_begin_psc() in
 * arch/x86/kvm/svm/sev.c) coalesces contiguous entries of the same size and operation into one
 * KVM_HC_MAP_GPA_RANGE exit to the VMM, so each run of a request becomes one conversion call.
 */
export function pscRequestPlan(
  offset: number,
  size: number,
  batchEntries = 64,
  largeEntries = true,
): PscRun[][] {
  if (batchEntries < 1) throw new RangeError('batchEntries must be at least 1');
  const requests: PscRun[][] = [];
  let current: PscRun[] = [];
  let room = batchEntries;
  for (const run of pscRuns(offset, size, largeEntries)) {
    let left = run.size / run.entryBytes;
    let at = run.offset;
    while (left > 0) {
      if (room === 0) {
        requests.push(current);
        current = [];
        room = batchEntries;
      }
      const n = Math.min(left, room);
      current.push({ offset: at, size: n * run.entryBytes, entryBytes: run.entryBytes });
      at += n * run.entryBytes;
      left -= n;
      room -= n;
    }
  }
  if (current.length > 0) requests.push(current);
  return requests;
}

/**
 * TDX MapGPA exits to userspace for a range of `bytes`: KVM handles a TDG.VP.VMCALL<MapGPA> (one
 * guest exit) in chunks of TDX_MAP_GPA_MAX_LEN (2 MiB) counted from the start of the range
 * (__tdx_map_gpa(), tdx_complete_vmcall_map_gpa(), arch/x86/kvm/vmx/tdx.c), one
 * KVM_HC_MAP_GPA_RANGE exit to the VMM per chunk: 64 MiB = 32 exits.
 */
export function mapGpaExits(bytes: number, chunkBytes = SZ_2M): number {
  if (chunkBytes <= 0) throw new RangeError('chunkBytes must be positive');
  return Math.ceil(bytes / chunkBytes);
}
