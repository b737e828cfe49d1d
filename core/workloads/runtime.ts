// Run time of a confidential guest (domain.md section 5, "Run time"): transient shared DMA buffers
// arriving at a rate, with a size distribution, an exponential lifetime and some locality; an
// optional guest-side shared pool (buffers carved from 2 MiB-aligned pools converted once); and an
// optional poorly behaved guest that flips the same pages back and forth. Events run in simulated
// time from a queue ordered by (time, sequence number), so a seed gives one result.
import { z } from 'zod';
import type { Rng } from '../rng.js';
import { MiB, PAGE_SIZE, alignUp } from '../units.js';
import type { CocoGuest } from './coco-guest.js';
import { buddySpan, type GuestPhysMap, type Range } from './coco-placement.js';
import type { GuestDma } from './coco-dma-api.js';
import { runDevices, type DeviceRunCounters, type ProbedDevice } from './coco-devices.js';
import { EventQueue } from './event-queue.js';

const SZ_2M = 2 * MiB;

const BufferSizeSchema = z
  .object({
    bytes: z
      .number()
      .int()
      .min(1)
      .max(64 * MiB)
      .meta({ unit: 'bytes', description: 'Buffer size (rounded up to whole 4 KiB pages).' }),
    weight: z
      .number()
      .positive()
      .meta({ unit: 'ratio', description: 'Relative odds of this size.' }),
  })
  .strict();

const SharedPoolSchema = z
  .object({
    enabled: z.boolean().default(false).meta({
      description:
        'Guest-side shared pool: buffers are carved from 2 MiB-aligned pools converted to shared once and reused, so conversions (and splits) happen per pool, not per buffer.',
    }),
    poolBytes: z
      .number()
      .int()
      .min(SZ_2M)
      .max(1024 * MiB)
      .multipleOf(SZ_2M)
      .default(SZ_2M)
      .meta({ unit: 'bytes', description: 'Size of one pool (a multiple of 2 MiB).' }),
    maxPools: z.number().int().min(1).max(4096).default(64).meta({
      unit: 'count',
      description:
        'Pools the guest may create; beyond them, and for buffers larger than a pool, buffers are converted one by one.',
    }),
  })
  .strict()
  .meta({ description: 'Guest-side pool of shared memory.' });

const PoorlyBehavedSchema = z
  .object({
    enabled: z.boolean().default(false).meta({
      description: 'A poorly behaved guest flips the same pages between shared and private.',
    }),
    flipsPerSec: z.number().positive().max(10_000_000).default(10_000).meta({
      unit: 'count',
      description: 'Conversions per second of simulated time (each flip is one conversion).',
    }),
    bytes: z
      .number()
      .int()
      .min(PAGE_SIZE)
      .multipleOf(PAGE_SIZE)
      .max(64 * MiB)
      .default(PAGE_SIZE)
      .meta({ unit: 'bytes', description: 'Size of the range flipped.' }),
  })
  .strict()
  .meta({ description: 'A guest that flips the same pages back and forth.' });

export const RuntimeSchema = z
  .object({
    durationNs: z
      .number()
      .int()
      .nonnegative()
      .default(1_000_000_000)
      .meta({ unit: 'ns', description: 'Simulated run time after each boot; 0 skips the phase.' }),
    buffersPerSec: z.number().nonnegative().max(10_000_000).default(0).meta({
      unit: 'count',
      description:
        'Synthetic churn: transient shared buffers per second of simulated time (Poisson arrivals), each placed by the rules below (not by the guest page allocator) and converted to shared and back. Not a guest kernel mechanism: an assumption, for studying conversion rates; the devices in boot.devices model what a guest converts. 0 (default) turns it off; experiments that set it keep it.',
      assumption: true,
    }),
    swiotlbDynamic: z.boolean().default(false).meta({
      description:
        'CONFIG_SWIOTLB_DYNAMIC (v6.6+, off in the Kconfig default): when SWIOTLB is full, a device mapping gets a transient pool, decrypted for it and encrypted again when it is freed (swiotlb_find_slots() -> swiotlb_alloc_pool()); off: the request is retried after its service time.',
    }),
    sizes: z
      .array(BufferSizeSchema)
      .min(1)
      .max(32)
      .default([
        { bytes: 4096, weight: 0.5 },
        { bytes: 16384, weight: 0.3 },
        { bytes: 65536, weight: 0.15 },
        { bytes: 262144, weight: 0.05 },
      ])
      .meta({
        description:
          'Buffer size distribution. A buffer is a buddy allocation (next power-of-two pages, naturally aligned); only its own pages are converted. The default is an assumption.',
      }),
    lifetimeMeanNs: z.number().int().positive().default(5_000_000).meta({
      unit: 'ns',
      description: 'Synthetic churn: mean lifetime of a buffer (exponentially distributed).',
    }),
    region: z.enum(['accepted', 'all']).default('accepted').meta({
      description:
        'Where a buffer that is not near the previous one lands: accepted = in the memory the guest accepted while booting (the Linux page allocator accepts more only when free memory runs low), all = anywhere in RAM, accepting chunks on demand.',
    }),
    locality: z.number().min(0).max(1).default(0.8).meta({
      unit: 'ratio',
      description:
        'Odds that a buffer is placed near the previous one (within localityWindowBytes after its end) rather than anywhere in RAM.',
    }),
    localityWindowBytes: z
      .number()
      .int()
      .min(PAGE_SIZE)
      .multipleOf(PAGE_SIZE)
      .default(256 * 1024)
      .meta({
        unit: 'bytes',
        description: 'How far after the previous buffer a "near" buffer may start.',
      }),
    pin: z.boolean().default(true).meta({
      description:
        'The device pins a shared buffer while it uses it (VFIO / IOMMU mapping, vhost): an elevated refcount until the host unpins.',
    }),
    lateUnpinFraction: z.number().min(0).max(1).default(0.05).meta({
      unit: 'ratio',
      description:
        'Share of buffers the guest converts back while the host still holds the pin: the conversion fails with -EAGAIN, the VMM unpins after unpinDelayNs and retries.',
    }),
    unpinDelayNs: z
      .number()
      .int()
      .nonnegative()
      .default(50_000)
      .meta({ unit: 'ns', description: 'Time until the host drops a late pin and retries.' }),
    guestSharedPool: SharedPoolSchema.default(SharedPoolSchema.parse({})).meta({
      description: 'Guest-side pool of shared memory (2 MiB-aligned pools converted once).',
    }),
    poorlyBehaved: PoorlyBehavedSchema.default(PoorlyBehavedSchema.parse({})).meta({
      description: 'A guest that flips the same pages back and forth.',
    }),
  })
  .strict()
  .meta({
    description:
      'Run time between boots: the I/O of the devices (boot.devices), and optionally synthetic churn, a guest-side shared pool and a poorly behaved guest.',
  });
export type RuntimeConfig = z.infer<typeof RuntimeSchema>;

// -------------------------------------------------------------------------------------------------

/** Page ranges free inside one shared pool, first fit, coalesced on free. */
class SharedPool {
  private readonly free: Array<[number, number]>;
  constructor(readonly range: Range) {
    this.free = [[range.offset, range.offset + range.size]];
  }
  alloc(bytes: number): number | null {
    for (let i = 0; i < this.free.length; i++) {
      const [s, e] = this.free[i]!;
      if (e - s < bytes) continue;
      if (e - s === bytes) this.free.splice(i, 1);
      else this.free[i] = [s + bytes, e];
      return s;
    }
    return null;
  }
  release(offset: number, bytes: number): void {
    const end = offset + bytes;
    let i = 0;
    while (i < this.free.length && this.free[i]![0] < offset) i++;
    this.free.splice(i, 0, [offset, end]);
    // Coalesce with the neighbours.
    if (i + 1 < this.free.length && this.free[i]![1] === this.free[i + 1]![0]) {
      this.free[i] = [this.free[i]![0], this.free[i + 1]![1]];
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1]![1] === this.free[i]![0]) {
      this.free[i - 1] = [this.free[i - 1]![0], this.free[i]![1]];
      this.free.splice(i, 1);
    }
  }
}

interface DmaBuffer {
  readonly offset: number;
  /** Bytes converted and pinned (whole pages). */
  readonly bytes: number;
  /** Bytes reserved in the guest physical map (the buddy allocation). */
  readonly span: number;
  readonly pool: SharedPool | null;
  pinned: boolean;
}

/** What the run time leaves behind, so a reboot can release it. */
export interface RuntimeState {
  /** Buffers still shared when the phase ended (and the pins the host holds on them). */
  readonly live: ReadonlyArray<{
    readonly offset: number;
    readonly bytes: number;
    readonly pinned: boolean;
  }>;
  readonly pools: readonly Range[];
  /** Buffers whose conversion back to private failed for good (left shared). */
  readonly stuck: number;
  readonly buffers: number;
  /** The devices' requests, requeues and transient SWIOTLB pools (null without devices). */
  readonly io: DeviceRunCounters | null;
  /** Drop every pin still held (the VMM tears down device mappings, e.g. on reset). */
  releasePins(): void;
}

/**
 * Run `params.durationNs` of simulated time. Each buffer: placed (near the previous one with
 * `locality` odds, else anywhere), accepted if its memory was not yet, converted to shared through
 * the vendor path, pinned; at the end of its lifetime unpinned and converted back to private (with
 * `lateUnpinFraction` odds the host still holds the pin: -EAGAIN, then the VMM unpins and retries).
 * With the shared pool, buffers are carved out of pools converted once and never converted back.
 */
export function runRuntime(
  g: CocoGuest,
  params: RuntimeConfig,
  map: GuestPhysMap,
  rng: Rng,
  acceptedBytes: number = g.bytes,
  io: { readonly dma: GuestDma; readonly devices: readonly ProbedDevice[] } | null = null,
): RuntimeState {
  const ctx = g.ctx;
  const sim = g.sim;
  const start = sim.now;
  const end = start + params.durationNs;
  const queue = new EventQueue();
  const live = new Set<DmaBuffer>();
  const pools: SharedPool[] = [];
  const poolCfg = params.guestSharedPool;
  let stuck = 0;
  let buffers = 0;
  let prevEnd: number | null = null;

  const totalWeight = params.sizes.reduce((a, s) => a + s.weight, 0);
  const pickSize = (): number => {
    let x = rng.next() * totalWeight;
    for (const s of params.sizes) {
      x -= s.weight;
      if (x < 0) return s.bytes;
    }
    return params.sizes[params.sizes.length - 1]!.bytes;
  };
  const meanGapNs = params.buffersPerSec > 0 ? 1e9 / params.buffersPerSec : Infinity;

  const poolAlloc = (bytes: number): { pool: SharedPool; offset: number } | null => {
    for (const pool of pools) {
      const at = pool.alloc(bytes);
      if (at !== null) return { pool, offset: at };
    }
    if (pools.length >= poolCfg.maxPools) return null;
    const at =
      (params.region === 'accepted' && acceptedBytes > 0
        ? map.random(poolCfg.poolBytes, SZ_2M, rng, 0, Math.min(acceptedBytes, g.bytes))
        : null) ?? map.random(poolCfg.poolBytes, SZ_2M, rng);
    if (at === null) return null;
    map.add(at, at + poolCfg.poolBytes);
    g.accept(at, poolCfg.poolBytes, true);
    if (!g.share(at, poolCfg.poolBytes).ok) {
      map.remove(at, at + poolCfg.poolBytes);
      return null;
    }
    const pool = new SharedPool({ offset: at, size: poolCfg.poolBytes });
    pools.push(pool);
    const offset = pool.alloc(bytes);
    return offset === null ? null : { pool, offset };
  };

  const arrive = (now: number) => {
    const bytes = alignUp(pickSize(), PAGE_SIZE);
    let buf: DmaBuffer | null = null;
    if (poolCfg.enabled && bytes <= poolCfg.poolBytes) {
      const got = poolAlloc(bytes);
      if (got) buf = { offset: got.offset, bytes, span: bytes, pool: got.pool, pinned: false };
    }
    if (!buf) {
      const { span, align } = buddySpan(bytes);
      let at: number | null = null;
      if (prevEnd !== null && rng.chance(params.locality)) {
        const gap = rng.int(params.localityWindowBytes / PAGE_SIZE) * PAGE_SIZE;
        const from = alignUp(prevEnd + gap, align);
        at = map.firstFit(
          span,
          align,
          from,
          Math.min(g.bytes, from + span + params.localityWindowBytes),
        );
      }
      if (at === null && params.region === 'accepted' && acceptedBytes > 0)
        at = map.random(span, align, rng, 0, Math.min(acceptedBytes, g.bytes));
      if (at === null) at = map.random(span, align, rng);
      if (at === null) return; // guest RAM is full: the allocation fails.
      map.add(at, at + span);
      // The page allocator accepts unaccepted memory as it hands it out.
      g.accept(at, bytes, true);
      if (!g.share(at, bytes).ok) {
        map.remove(at, at + span);
        return;
      }
      buf = { offset: at, bytes, span, pool: null, pinned: false };
      prevEnd = at + span;
    }
    buffers++;
    if (params.pin && g.pin(buf.offset, buf.bytes).ok) buf.pinned = true;
    live.add(buf);
    const b = buf;
    queue.push(now + rng.exponential(params.lifetimeMeanNs), () => expire(sim.now, b));
  };

  const unpin = (buf: DmaBuffer) => {
    if (!buf.pinned) return;
    g.unpin(buf.offset, buf.bytes);
    buf.pinned = false;
  };

  const finish = (buf: DmaBuffer) => {
    live.delete(buf);
    map.remove(buf.offset, buf.offset + buf.span);
  };

  const expire = (now: number, buf: DmaBuffer) => {
    if (buf.pool) {
      unpin(buf);
      buf.pool.release(buf.offset, buf.bytes);
      live.delete(buf);
      return;
    }
    if (!(buf.pinned && rng.chance(params.lateUnpinFraction))) unpin(buf);
    const r = g.unshare(buf.offset, buf.bytes);
    if (r.ok) finish(buf);
    else if (r.errno === 'EAGAIN') queue.push(now + params.unpinDelayNs, () => retry(buf));
    else {
      // Refused or failed for good: the buffer stays shared (and the guest leaks it).
      unpin(buf);
      stuck++;
      live.delete(buf);
    }
  };

  const retry = (buf: DmaBuffer) => {
    unpin(buf);
    if (g.unshare(buf.offset, buf.bytes).ok) finish(buf);
    else {
      stuck++;
      live.delete(buf);
    }
  };

  // The poorly behaved guest's range.
  const pb = params.poorlyBehaved;
  let flipRange: Range | null = null;
  let flipShared = false;
  const flipPeriod = 1e9 / pb.flipsPerSec;
  const flip = (t: number): void => {
    const r = flipRange!;
    const out = flipShared ? g.unshare(r.offset, r.size) : g.share(r.offset, r.size);
    if (out.ok) flipShared = !flipShared;
    queue.push(t + flipPeriod, flip);
  };
  if (pb.enabled && g.confidential) {
    const at =
      (acceptedBytes > 0
        ? map.random(pb.bytes, PAGE_SIZE, rng, 0, Math.min(acceptedBytes, g.bytes))
        : null) ?? map.random(pb.bytes, PAGE_SIZE, rng);
    if (at !== null) {
      map.add(at, at + pb.bytes);
      flipRange = { offset: at, size: pb.bytes };
      g.accept(at, pb.bytes, true);
      queue.push(start + flipPeriod, flip);
    }
  }

  const arriveAndNext = (t: number): void => {
    arrive(sim.now);
    queue.push(t + rng.exponential(meanGapNs), arriveAndNext);
  };
  if (params.buffersPerSec > 0) queue.push(start + rng.exponential(meanGapNs), arriveAndNext);
  // The devices' I/O, on their own random streams (the churn above keeps its draws).
  const deviceCounters = io
    ? runDevices(io.dma, io.devices, queue, rng.fork(101), start, end, {
        swiotlbDynamic: params.swiotlbDynamic,
        vcpus: g.spec.vcpus,
      })
    : null;

  let handled = 0;
  for (let t = queue.peekTime(); t !== undefined && t <= end; t = queue.peekTime()) {
    const ev = queue.pop()!;
    if (ev.t > sim.now) sim.advanceTo(ev.t);
    ev.run(ev.t);
    if (++handled % 128 === 0) ctx.progress((sim.now - start) / Math.max(1, params.durationNs));
  }
  if (end > sim.now) sim.advanceTo(end);
  ctx.tick();
  ctx.progress(1);

  if (flipRange && flipShared)
    live.add({
      offset: flipRange.offset,
      bytes: flipRange.size,
      span: flipRange.size,
      pool: null,
      pinned: false,
    });
  const liveList = [...live];
  return {
    live: liveList.map((b) => ({ offset: b.offset, bytes: b.bytes, pinned: b.pinned })),
    pools: pools.map((p) => p.range),
    stuck,
    buffers,
    io: deviceCounters,
    releasePins() {
      for (const b of liveList) unpin(b);
    },
  };
}
