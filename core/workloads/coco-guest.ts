// The confidential guest's side of the boot and run time (domain.md section 5): conversions it
// requests, per vendor, the memory it accepts, and the VM exits it pays.
import type { Vendor } from '../config.js';
import type { Errno } from '../errors.js';
import type { OpResult, Shareability } from '../gmem/guest-memfd.js';
import type { Simulation } from '../sim/simulation.js';
import { PagedBitmap } from '../gmem/paged-bitmap.js';
import {
  MiB,
  ORDER_2M,
  ORDER_4K,
  PAGE_SIZE,
  alignDown,
  alignUp,
  type PageOrder,
} from '../units.js';
import { checkRange, pscRequestPlan, pscRequests } from './coco-page-state.js';
import type { Range } from './coco-placement.js';
import type { WorkloadContext } from './context.js';

const SZ_2M = 2 * MiB;

export interface GuestSpec {
  readonly memoryBytes: number;
  readonly vcpus: number;
  readonly vendor: Vendor;
}

export interface GuestOptions {
  readonly acceptPageSize: '2m' | '4k';
  readonly largePscEntries: boolean;
}

export type ConversionOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly errno: Errno;
      readonly offset: number;
      readonly message: string;
    };

const OK: ConversionOutcome = { ok: true };

/**
 * How a guest of one vendor changes page state, accepts memory and pays exits. Every simulation
 * operation is followed by `ctx.tick()`.
 *
 * Conversions, per vendor:
 *  - SNP, GHCB protocol: page-state-change requests of up to snpPscBatchEntries entries (one VM
 *    exit each, `psc_requests`); each run of same-size entries in a request is one conversion call
 *    (KVM coalesces it into one KVM_HC_MAP_GPA_RANGE exit to the VMM). SNP, MSR protocol (early
 *    boot, before per-CPU GHCBs: early_set_pages_state()): one exit and one conversion per 4 KiB.
 *    After a change to private the guest PVALIDATEs the range, touching every page (TDP faults).
 *  - TDX: one TDG.VP.VMCALL<MapGPA> for the range, one VM exit (`mapgpa_guest_exits`); KVM hands
 *    it to the VMM in tdxMapGpaChunkBytes chunks from its start, one exit to userspace and one
 *    conversion call each (`mapgpa_userspace_exits`); after a change to private the guest accepts the range
 *    (tdx_accept_memory(): 2 MiB where aligned, else 4 KiB).
 *  - CCA: RSI_IPA_STATE_SET for the range, one REC exit per call (an assumption: the RMM may stop
 *    early and make the guest call again); one conversion call.
 *  - pKVM: one MEM_SHARE / MEM_UNSHARE hypercall per 4 KiB page (one exit each), one conversion.
 *  - none: an ordinary VM converts nothing.
 */
export class CocoGuest {
  readonly sim: Simulation;
  readonly bytes: number;
  readonly chunkBytes: number;
  /** One bit per acceptance chunk (bitmap_accepted in the EFI unaccepted-memory table), kept
   * sparse: a 64 TiB guest has 16 Mi chunks of 4 MiB. */
  private readonly accepted: PagedBitmap;

  constructor(
    readonly ctx: WorkloadContext,
    readonly spec: GuestSpec,
    readonly options: GuestOptions,
  ) {
    this.sim = ctx.sim;
    const config = this.sim.gmem.config;
    if (spec.memoryBytes !== config.guestBytes) {
      throw new Error(
        `guest memory ${spec.memoryBytes} B differs from the guest_memfd size ${config.guestBytes} B`,
      );
    }
    if (spec.vendor !== config.vendor) {
      throw new Error(
        `guest vendor ${spec.vendor} differs from the variant vendor ${config.vendor}`,
      );
    }
    this.bytes = config.guestBytes;
    this.chunkBytes = Math.max(PAGE_SIZE, alignUp(this.sim.costs.lazyAcceptChunkBytes, PAGE_SIZE));
    this.accepted = new PagedBitmap(Math.ceil(this.bytes / this.chunkBytes));
  }

  get vendor(): Vendor {
    return this.spec.vendor;
  }

  /** A confidential guest (anything but an ordinary VM). */
  get confidential(): boolean {
    return this.spec.vendor !== 'none';
  }

  get pscBatch(): number {
    return Math.max(1, Math.floor(this.sim.costs.snpPscBatchEntries));
  }

  get mapGpaChunk(): number {
    return Math.max(PAGE_SIZE, alignUp(this.sim.costs.tdxMapGpaChunkBytes, PAGE_SIZE));
  }

  private done(r: OpResult): OpResult {
    this.ctx.tick();
    return r;
  }

  /** `n` VM exits the guest takes outside a simulation operation (hypercalls, PSC requests). */
  exits(n: number, metric?: 'psc_requests' | 'mapgpa_guest_exits'): void {
    if (n <= 0) return;
    const m = this.sim.metrics;
    const cycles = n * this.sim.costs.vmExitCycles;
    m.add('vm_exits', n);
    if (metric) m.add(metric, n);
    m.add('cycles_fault', cycles);
    m.add('cycles_total', cycles);
    this.sim.advanceBy(cycles / this.sim.costs.cpuGhz);
  }

  /** `n` exits from KVM_RUN to the VMM and back while the guest stays out (KVM_EXIT_HYPERCALL of
   * TDX MapGPA chunks): userspaceExitCycles each, no VM exit. */
  userspaceExits(n: number): void {
    if (n <= 0) return;
    const m = this.sim.metrics;
    const cycles = n * this.sim.costs.userspaceExitCycles;
    m.add('mapgpa_userspace_exits', n);
    m.add('cycles_fault', cycles);
    m.add('cycles_total', cycles);
    this.sim.advanceBy(cycles / this.sim.costs.cpuGhz);
  }

  // ----- VMM side

  fallocate(offset: number, size: number): OpResult {
    return this.done(this.sim.fallocate(offset, size));
  }

  prefault(offset: number, size: number): OpResult {
    return this.done(this.sim.prefault(offset, size));
  }

  /** The VMM writes [offset, offset + size) through its shared mmap of the file (host faults). */
  hostWrite(offset: number, size: number): void {
    const first = offset / PAGE_SIZE;
    const last = (offset + size) / PAGE_SIZE;
    for (let gfn = first; gfn < last; gfn++) this.done(this.sim.fault(gfn, 'host', 'write'));
  }

  /** A conversion ioctl by the VMM itself (no guest request, no exit). */
  vmmConvert(offset: number, size: number, to: Shareability): OpResult {
    return this.done(this.sim.convert(offset, size, to));
  }

  punchHole(offset: number, size: number): OpResult {
    return this.done(this.sim.punchHole(offset, size));
  }

  pin(offset: number, size: number): OpResult {
    return this.done(this.sim.pin(offset, size));
  }

  unpin(offset: number, size: number): OpResult {
    return this.done(this.sim.unpin(offset, size));
  }

  // ----- acceptance

  /** Forget what was accepted (a new boot of the guest). */
  resetAcceptance(): void {
    this.accepted.clear();
  }

  isAccepted(offset: number): boolean {
    return this.accepted.get(Math.floor(offset / this.chunkBytes));
  }

  /** Record chunks wholly inside [offset, offset + size) as accepted without touching them (memory
   * the launch populated: SNP LAUNCH_UPDATE pages are validated, TDX PAGE.ADD pages accepted). */
  markAccepted(offset: number, size: number): void {
    const end = offset + size;
    const k0 = Math.ceil(offset / this.chunkBytes);
    // The last chunk may be clipped at the end of RAM.
    const k1 = end >= this.bytes ? this.accepted.nrBits : Math.floor(end / this.chunkBytes);
    if (k1 > k0) this.accepted.assignRange(k0, k1, true);
  }

  /**
   * Accept the chunks of [offset, offset + size) not accepted yet. `perChunk`: one
   * arch_accept_memory() per chunk (the page allocator, try_to_accept_memory_one()); otherwise one
   * per contiguous run of unaccepted chunks (accept_memory() over a memblock allocation, or
   * accept_memory=eager). Exits taken are added to `accept_exits`.
   */
  accept(offset: number, size: number, perChunk = false): void {
    const c = this.chunkBytes;
    const first = Math.floor(offset / c);
    const last = Math.ceil(Math.min(offset + size, this.bytes) / c);
    // Runs of unaccepted chunks, found a word (or a whole 2 MiB of bits) at a time.
    for (let k = this.accepted.find(first, last, false); k < last;) {
      const runEnd = this.accepted.find(k, last, true);
      if (perChunk) {
        for (let j = k; j < runEnd; j++) if (!this.accepted.get(j)) this.acceptRun(j, j + 1);
      } else this.acceptRun(k, runEnd);
      k = this.accepted.find(runEnd, last, false);
    }
  }

  private acceptRun(k0: number, k1: number): void {
    const offset = k0 * this.chunkBytes;
    const end = Math.min(k1 * this.chunkBytes, this.bytes);
    const m = this.sim.metrics;
    const before = m.get('vm_exits');
    if (this.vendor === 'snp') {
      // snp_accept_memory() -> set_pages_state(SNP_PAGE_STATE_PRIVATE): PSC requests (the range
      // is already private in KVM, so the VMM's attribute update changes nothing), then PVALIDATE.
      this.exits(
        pscRequests(offset, end - offset, this.pscBatch, this.options.largePscEntries),
        'psc_requests',
      );
    }
    this.touchPrivate(offset, end - offset);
    this.accepted.assignRange(k0, k1, true);
    m.add('accept_exits', m.get('vm_exits') - before);
  }

  /** The guest touches [offset, offset + size) (PVALIDATE, TDG.MEM.PAGE.ACCEPT, or first use):
   * each unmapped page faults in. TDX accepts 2 MiB-aligned parts at 2 MiB when configured. */
  touchPrivate(offset: number, size: number): void {
    if (size <= 0) return;
    const end = offset + size;
    const touch = (s: number, e: number, level: PageOrder) => {
      if (e > s) this.done(this.sim.accept(s, e - s, level));
    };
    if (this.vendor === 'tdx' && this.options.acceptPageSize === '2m') {
      const a = alignUp(offset, SZ_2M);
      const b = alignDown(end, SZ_2M);
      if (a < b) {
        touch(offset, a, ORDER_4K);
        touch(a, b, ORDER_2M);
        touch(b, end, ORDER_4K);
        return;
      }
    }
    touch(offset, end, ORDER_4K);
  }

  // ----- conversions requested by the guest

  share(offset: number, size: number, path: 'ghcb' | 'msr' = 'ghcb'): ConversionOutcome {
    return this.convert(offset, size, 'shared', path);
  }

  unshare(offset: number, size: number, path: 'ghcb' | 'msr' = 'ghcb'): ConversionOutcome {
    return this.convert(offset, size, 'private', path);
  }

  /** Accept the chunks of `range`, then share it: memblock and the page allocator accept memory
   * before handing it out, so every structure is accepted before it is converted. */
  acceptAndShare(range: Range | null, path: 'ghcb' | 'msr' = 'ghcb'): void {
    if (!range) return;
    this.accept(range.offset, range.size);
    this.share(range.offset, range.size, path);
  }

  private convert(
    offset: number,
    size: number,
    to: Shareability,
    path: 'ghcb' | 'msr',
  ): ConversionOutcome {
    if (size <= 0 || !this.confidential) return OK;
    checkRange(offset, size);
    const end = offset + size;
    const call = (s: number, n: number): ConversionOutcome => {
      const r = this.done(this.sim.convert(s, n, to));
      return r.ok ? OK : { ok: false, errno: r.errno, offset: r.offset, message: r.message };
    };
    let outcome: ConversionOutcome = OK;
    switch (this.vendor) {
      case 'snp':
        if (path === 'msr') {
          for (let at = offset; at < end && outcome.ok; at += PAGE_SIZE) {
            this.exits(1, 'psc_requests');
            outcome = call(at, PAGE_SIZE);
          }
        } else {
          const plan = pscRequestPlan(offset, size, this.pscBatch, this.options.largePscEntries);
          for (const request of plan) {
            this.exits(1, 'psc_requests');
            for (const run of request) {
              outcome = call(run.offset, run.size);
              if (!outcome.ok) break;
            }
            if (!outcome.ok) break;
          }
        }
        break;
      case 'tdx': {
        // One TDG.VP.VMCALL<MapGPA>: the guest exits once. KVM hands the range to the VMM in
        // TDX_MAP_GPA_MAX_LEN chunks (__tdx_map_gpa(), one KVM_EXIT_HYPERCALL each) and goes on
        // from tdx_complete_vmcall_map_gpa() without re-entering the guest; it returns early on a
        // failed chunk, or with TDVMCALL_STATUS_RETRY on a pending event (not modelled: the model
        // has no interrupts), which would cost the guest another exit.
        this.exits(1, 'mapgpa_guest_exits');
        const chunk = this.mapGpaChunk;
        for (let at = offset; at < end && outcome.ok; at += chunk) {
          this.userspaceExits(1);
          outcome = call(at, Math.min(chunk, end - at));
        }
        break;
      }
      case 'cca':
        this.exits(1);
        outcome = call(offset, size);
        break;
      case 'pkvm':
        this.exits(size / PAGE_SIZE);
        outcome = call(offset, size);
        break;
      case 'none':
        break;
    }
    if (outcome.ok && to === 'private' && (this.vendor === 'snp' || this.vendor === 'tdx')) {
      // PVALIDATE (SNP) / TDG.MEM.PAGE.ACCEPT (TDX) of the pages that came back.
      this.touchPrivate(offset, size);
    }
    return outcome;
  }
}
