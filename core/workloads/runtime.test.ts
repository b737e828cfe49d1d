// Run time of a confidential guest: transient shared DMA buffers with and without the guest-side
// shared pool, late unpins (-EAGAIN and retry), and the poorly behaved guest.
import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { simOf } from '../sim/test-helpers.js';
import { MiB, PAGE_SIZE } from '../units.js';
import { BootSchema, bootGuest } from './coco-boot.js';
import { CocoGuest } from './coco-guest.js';
import { GuestPhysMap } from './coco-placement.js';
import { WorkloadContext } from './context.js';
import { RuntimeSchema, runRuntime } from './runtime.js';

const GUEST = 512 * MiB;

/** An SNP guest on 2 MiB HugeTLB pages, booted with the defaults; then `runtime` runs. */
function bootThenRun(runtime: object) {
  const sim = simOf(
    { hugetlb2m: GUEST / (2 * MiB) + 8 },
    { allocator: 'hugetlb', pageSize: '2m', vendor: 'snp', guestBytes: GUEST },
  );
  const ctx = new WorkloadContext(sim, new Rng(1), { sampleIntervalNs: 1e6 });
  const guest = new CocoGuest(
    ctx,
    { memoryBytes: GUEST, vcpus: 4, vendor: 'snp' },
    { acceptPageSize: '2m', largePscEntries: true },
  );
  const map = new GuestPhysMap(GUEST);
  const layout = bootGuest(guest, BootSchema.parse({}), new Rng(2), map);
  const boot = {
    splits: sim.metrics.get('splits_2m'),
    merges: sim.metrics.get('merges_2m'),
    toShared: sim.metrics.get('conversions_to_shared'),
    toPrivate: sim.metrics.get('conversions_to_private'),
    sharedPages: sim.gmem.shared.total,
  };
  const state = runRuntime(
    guest,
    RuntimeSchema.parse(runtime),
    map,
    new Rng(3),
    layout.acceptedBytes,
  );
  return { sim, boot, state };
}

// Synthetic churn (runtime.buffersPerSec, an assumption, off by default) is asked for explicitly.
const CHURN = { buffersPerSec: 2000 };

describe('runtime synthetic DMA buffers', () => {
  it('converts each buffer to shared and back; the shared pool splits far less', () => {
    // 200 ms at 2000 buffers/s: about 400 buffers of 4-256 KiB living 5 ms on average. Converted
    // one by one, nearly every buffer splits the 2 MiB folio it lands in and merges it back when it
    // goes private again (eager merge). With the pool, buffers are carved from one 2 MiB pool
    // converted once: one split for the whole run (a second pool only if ~10 live buffers ever
    // need more than 2 MiB).
    const direct = bootThenRun({ ...CHURN, durationNs: 200_000_000 });
    const pooled = bootThenRun({
      ...CHURN,
      durationNs: 200_000_000,
      guestSharedPool: { enabled: true },
    });
    expect(direct.state.buffers).toBeGreaterThan(300);
    expect(pooled.state.buffers).toBeGreaterThan(300);
    const directSplits = direct.sim.metrics.get('splits_2m') - direct.boot.splits;
    const pooledSplits = pooled.sim.metrics.get('splits_2m') - pooled.boot.splits;
    expect(directSplits).toBeGreaterThan(50);
    expect(pooledSplits).toBeLessThanOrEqual(2);
    expect(pooledSplits * 10).toBeLessThan(directSplits);
    expect(pooled.sim.metrics.get('merges_2m') - pooled.boot.merges).toBe(0);
    expect(pooled.state.pools.length).toBe(pooledSplits);
    for (const run of [direct, pooled]) expect(run.sim.checkInvariants()).toEqual([]);
  });

  it('leaves shared only the boot structures, the live buffers and the pools', () => {
    const run = bootThenRun({ ...CHURN, durationNs: 100_000_000 });
    expect(run.state.stuck).toBe(0);
    const livePages = run.state.live.reduce((a, b) => a + b.bytes / PAGE_SIZE, 0);
    expect(run.sim.gmem.shared.total).toBe(run.boot.sharedPages + livePages);
    // Every live buffer is pinned by its device; releasing the pins leaves none.
    expect(run.sim.gmem.pinned.total).toBe(livePages);
    run.state.releasePins();
    expect(run.sim.gmem.pinned.total).toBe(0);
  });

  it('a late unpin fails the conversion with -EAGAIN; the VMM unpins and retries', () => {
    const run = bootThenRun({ ...CHURN, durationNs: 50_000_000, lateUnpinFraction: 1 });
    const expired = run.state.buffers - run.state.live.length;
    expect(expired).toBeGreaterThan(50);
    // Each expired buffer failed once (buffers still waiting for their retry are live: at most
    // the ones expiring in the last unpinDelayNs).
    expect(run.sim.metrics.get('eagain_failures')).toBeGreaterThanOrEqual(expired);
    expect(run.state.stuck).toBe(0);
    const livePages = run.state.live.reduce((a, b) => a + b.bytes / PAGE_SIZE, 0);
    expect(run.sim.gmem.shared.total).toBe(run.boot.sharedPages + livePages);
    expect(run.sim.checkInvariants()).toEqual([]);
  });

  it('a poorly behaved guest flips its range at the given rate', () => {
    // 10.05 ms at 10 000 flips/s: flips at 0.1, 0.2, ... 10.0 ms = 100 flips, alternately to
    // shared and back (one 4 KiB PSC entry each: one request, one conversion call). Each flip
    // splits the 2 MiB folio and the next merges it (eager merge).
    const run = bootThenRun({
      durationNs: 10_050_000,
      buffersPerSec: 0,
      poorlyBehaved: { enabled: true, flipsPerSec: 10_000, bytes: PAGE_SIZE },
    });
    expect(run.sim.metrics.get('conversions_to_shared') - run.boot.toShared).toBe(50);
    expect(run.sim.metrics.get('conversions_to_private') - run.boot.toPrivate).toBe(50);
    expect(run.sim.metrics.get('splits_2m') - run.boot.splits).toBe(50);
    expect(run.sim.metrics.get('merges_2m') - run.boot.merges).toBe(50);
    expect(run.sim.gmem.shared.total).toBe(run.boot.sharedPages);
  });
});
