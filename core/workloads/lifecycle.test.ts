// The lifecycle workload end to end: schema defaults and descriptions, full SNP and TDX boots with
// the invariants of domain.md section 8, determinism, reboots that reuse the file, and teardown.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { GmemVariantInput, Vendor } from '../config.js';
import { Rng } from '../rng.js';
import { simOf } from '../sim/test-helpers.js';
import { GiB, MiB, PAGE_SIZE } from '../units.js';
import { WorkloadContext, type ProgressReport } from './context.js';
import {
  LifecycleSchema,
  lazyAcceptExits,
  mapGpaExits,
  pscRequests,
  runLifecycle,
  swiotlbBytes,
  type LifecycleConfig,
} from './lifecycle.js';

function run(
  vendor: Vendor,
  input: object,
  opts: { guestBytes?: number; seed?: number; variant?: Partial<GmemVariantInput> } = {},
) {
  const guestBytes = opts.guestBytes ?? 1 * GiB;
  const sim = simOf(
    { hugetlb2m: guestBytes / (2 * MiB) + 8 },
    { allocator: 'hugetlb', pageSize: '2m', vendor, guestBytes, ...(opts.variant ?? {}) },
  );
  const phases: Array<{ phase: string; merges: number; freed: number }> = [];
  const onProgress = (r: ProgressReport) => {
    if (r.fraction === 0 && phases.at(-1)?.phase !== r.phase)
      phases.push({
        phase: r.phase,
        merges: sim.metrics.get('merges_2m'),
        freed: sim.metrics.get('freed_bytes'),
      });
  };
  const ctx = new WorkloadContext(sim, new Rng(opts.seed ?? 1), {
    sampleIntervalNs: 1e6,
    onProgress,
  });
  const params: LifecycleConfig = LifecycleSchema.parse({ kind: 'lifecycle', ...input });
  runLifecycle(ctx, params, { memoryBytes: guestBytes, vcpus: 4, vendor });
  return { sim, phases };
}

describe('LifecycleSchema', () => {
  it('fills every default', () => {
    const p = LifecycleSchema.parse({ kind: 'lifecycle' });
    expect(p.reboots).toBe(0);
    expect(p.teardown).toBe(true);
    expect(p.boot.swiotlb).toMatchObject({
      fraction: 0.06,
      minBytes: 64 * MiB,
      maxBytes: 1 * GiB,
      placement: 'high',
      alignBytes: PAGE_SIZE,
      rounding: 'kernel',
    });
    expect(p.boot.kernelVersion).toBe('6.12');
    expect(p.boot.perCpu.placement).toBe('memblock');
    expect(p.boot.accept).toEqual({
      mode: 'lazy',
      bootBytes: 256 * MiB,
      pageSize: '2m',
      prefault: 'none',
    });
    expect(p.boot.virtio.devices).toEqual([]);
    expect(
      p.boot.devices.map((d) => [d.kind, d.queues, d.queueSize, d.load.requestsPerSec]),
    ).toEqual([
      ['virtio-net', 1, 256, 0],
      ['virtio-blk', 1, 256, 0],
    ]);
    expect(p.runtime.buffersPerSec).toBe(0);
    expect(p.runtime.durationNs).toBe(1_000_000_000);
    expect(p.runtime.guestSharedPool.enabled).toBe(false);
  });

  it('rejects unknown and malformed fields', () => {
    expect(LifecycleSchema.safeParse({ kind: 'lifecycle', bogus: 1 }).success).toBe(false);
    expect(
      LifecycleSchema.safeParse({ kind: 'lifecycle', boot: { swiotlb: { bogus: 1 } } }).success,
    ).toBe(false);
    expect(
      LifecycleSchema.safeParse({ kind: 'lifecycle', boot: { swiotlb: { skewBytes: 100 } } })
        .success,
    ).toBe(false);
    expect(
      LifecycleSchema.safeParse({
        kind: 'lifecycle',
        boot: { virtio: { devices: [{ name: 'x', queues: 1, queueSize: 100 }] } },
      }).success,
    ).toBe(false);
  });

  it('describes every field, nested ones included', () => {
    const missing: string[] = [];
    const walk = (shape: Record<string, z.ZodType>, path: string) => {
      for (const [key, field] of Object.entries(shape)) {
        if (typeof z.globalRegistry.get(field)?.description !== 'string') missing.push(path + key);
        let inner: z.ZodType = field;
        while (inner instanceof z.ZodDefault) inner = inner.def.innerType as z.ZodType;
        if (inner instanceof z.ZodObject) walk(inner.shape, `${path}${key}.`);
        if (inner instanceof z.ZodArray && inner.element instanceof z.ZodObject)
          walk(inner.element.shape, `${path}${key}[].`);
      }
    };
    walk(LifecycleSchema.shape, '');
    expect(missing).toEqual([]);
  });

  it('re-exports the helpers the docs quote', () => {
    expect(swiotlbBytes(512 * MiB)).toBe(64 * MiB);
    expect(pscRequests(0, 64 * MiB)).toBe(1);
    expect(mapGpaExits(64 * MiB)).toBe(32);
    expect(
      lazyAcceptExits({ bytes: 4 * MiB, vendor: 'snp', backingPageBytes: 2 * MiB, prefault: true })
        .total,
    ).toBe(1);
  });
});

describe('runLifecycle', () => {
  for (const vendor of ['snp', 'tdx', 'cca', 'pkvm', 'none'] as const) {
    it(`boots a 1 GiB ${vendor} guest and runs it with the invariants holding`, () => {
      const { sim, phases } = run(vendor, { teardown: false, runtime: { durationNs: 20_000_000 } });
      expect(phases.map((p) => p.phase)).toEqual(['boot', 'runtime']);
      expect(sim.checkInvariants()).toEqual([]);
      const m = sim.summary().metrics;
      if (vendor === 'none') {
        expect(m.conversions_to_shared).toBe(0);
      } else {
        // At least the 64 MiB SWIOTLB is shared.
        expect(m.shared_bytes).toBeGreaterThanOrEqual(64 * MiB);
      }
      if (vendor === 'snp') expect(m.psc_requests).toBeGreaterThan(0);
      if (vendor === 'tdx') expect(m.mapgpa_userspace_exits).toBeGreaterThanOrEqual(39);
    });
  }

  it('gives the same summary for the same seed, and another for another seed', () => {
    // The seed drives the run-time draws (here synthetic churn); the boot's placement is the
    // kernel's own rules and draws nothing.
    const input = { reboots: 1, runtime: { durationNs: 30_000_000, buffersPerSec: 2000 } };
    const a = run('snp', input, { guestBytes: 512 * MiB, seed: 7 });
    const b = run('snp', input, { guestBytes: 512 * MiB, seed: 7 });
    const c = run('snp', input, { guestBytes: 512 * MiB, seed: 8 });
    expect(JSON.stringify(a.sim.summary())).toBe(JSON.stringify(b.sim.summary()));
    expect(a.sim.now).toBe(b.sim.now);
    expect(JSON.stringify(a.sim.summary())).not.toBe(JSON.stringify(c.sim.summary()));
  });

  it('without synthetic churn or device load, the run does not depend on the seed', () => {
    const input = { runtime: { durationNs: 10_000_000 } };
    const a = run('snp', input, { guestBytes: 512 * MiB, seed: 7 });
    const c = run('snp', input, { guestBytes: 512 * MiB, seed: 8 });
    expect(JSON.stringify(a.sim.summary())).toBe(JSON.stringify(c.sim.summary()));
  });

  it('reboots on the same file: attributes reset to private (merges), folios reused, then teardown frees all', () => {
    const { sim, phases } = run(
      'snp',
      { reboots: 1, runtime: { durationNs: 20_000_000 } },
      { guestBytes: 512 * MiB },
    );
    expect(phases.map((p) => p.phase)).toEqual([
      'boot',
      'runtime',
      'reboot',
      'boot',
      'runtime',
      'teardown',
    ]);
    const reboot = phases[2]!;
    const secondBoot = phases[3]!;
    // Resetting to private merges at least the 32 blocks of the 64 MiB SWIOTLB back to 2 MiB.
    expect(secondBoot.merges - reboot.merges).toBeGreaterThanOrEqual(32);
    // Nothing is freed before teardown: the guest_memfd and its folios are reused.
    expect(secondBoot.freed).toBe(0);
    // Teardown returns everything.
    const m = sim.summary().metrics;
    expect(m.private_bytes + m.shared_bytes).toBe(0);
    expect(m.folios_2m + m.folios_4k).toBe(0);
    expect(m.freed_bytes).toBeGreaterThan(0);
  });

  it('a reboot that punches the file frees the memory and the second boot allocates it again', () => {
    const { sim, phases } = run(
      'tdx',
      {
        reboots: 1,
        teardown: false,
        runtime: { durationNs: 0 },
        boot: { reboot: { punch: true } },
      },
      { guestBytes: 512 * MiB },
    );
    expect(phases.map((p) => p.phase)).toEqual(['boot', 'reboot', 'boot']);
    expect(phases[2]!.freed).toBeGreaterThan(0);
    expect(sim.checkInvariants()).toEqual([]);
  });
});
