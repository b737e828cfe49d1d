// Workload: the life of one confidential VM on one guest_memfd file (domain.md section 5): boot
// (vendor-specific: payload, SWIOTLB, GHCB and per-CPU pages, kvmclock, DMA pools, virtio rings,
// lazy acceptance), run time (transient shared DMA buffers, optional guest-side shared pool,
// optional poorly behaved guest), reboots that reuse the memory file, and teardown. The boot lives
// in coco-boot.ts and the run time in runtime.ts; this file wires the phases together.
//
// Reboot: the VMM keeps the guest_memfd (it is reused, not recreated). QEMU resets the memory
// attributes of the whole file to private (or, with boot.reboot.resetTo = 'initial', to the file's
// initial state); a rebooted confidential guest runs in a new VM instance whose TDP starts empty,
// so every mapping goes, and the guest accepts its memory again. Folios stay allocated (unless
// boot.reboot.punch), so a second boot shows reuse and the merges the reset allowed. Not modelled:
// the TDX "4 KiB accept blocks 2 MiB" state of the old TD, which the model keeps across a reboot.
import { z } from 'zod';
import { BootSchema, bootGuest, type RebootConfig } from './coco-boot.js';
import { CocoGuest, type GuestSpec } from './coco-guest.js';
import { GuestPhysMap } from './coco-placement.js';
import type { WorkloadContext } from './context.js';
import { RuntimeSchema, runRuntime, type RuntimeState } from './runtime.js';

export { lazyAcceptExits } from './coco-accept.js';
export { kvmclockExtraBytes } from './coco-decrypted.js';
export { dmaAtomicPoolBytes, vringBytes } from './coco-dma.js';
export {
  mapGpaExits,
  pscEntries,
  pscRequestPlan,
  pscRequests,
  pscRuns,
} from './coco-page-state.js';
export { buddySpan } from './coco-placement.js';
export { swiotlbBytes } from './coco-swiotlb.js';

export const LifecycleSchema = z
  .object({
    kind: z.literal('lifecycle').meta({
      description: 'VM lifecycle: boot, run time, reboots reusing the memory file, teardown.',
    }),
    boot: BootSchema.default(BootSchema.parse({})).meta({
      description: 'Guest boot (vendor-specific), run again after each reboot.',
    }),
    runtime: RuntimeSchema.default(RuntimeSchema.parse({})).meta({
      description:
        "Run time after each boot: the devices' I/O, optional synthetic churn; durationNs 0 skips it.",
    }),
    reboots: z.number().int().min(0).max(100).default(0).meta({
      unit: 'count',
      description:
        'Guest reboots after the first run time; each resets the memory attributes (boot.reboot), boots again and runs again, on the same guest_memfd.',
    }),
    teardown: z.boolean().default(true).meta({
      description: 'Destroy the VM at the end: the guest_memfd is closed and its memory freed.',
    }),
  })
  .strict();
export type LifecycleConfig = z.infer<typeof LifecycleSchema>;

/** Run the lifecycle workload on `ctx.sim`, whose guest_memfd is the guest's RAM. */
export function runLifecycle(
  ctx: WorkloadContext,
  params: LifecycleConfig,
  guest: GuestSpec,
): void {
  const g = new CocoGuest(ctx, guest, {
    acceptPageSize: params.boot.accept.pageSize,
    largePscEntries: params.boot.largePscEntries,
  });
  let state: RuntimeState | null = null;
  for (let round = 0; round <= params.reboots; round++) {
    // Independent streams per boot and run time, so changing one phase leaves the others' draws.
    const roundRng = ctx.rng.fork(round + 1);
    const bootRng = roundRng.fork(1);
    const runRng = roundRng.fork(2);
    if (round > 0) {
      ctx.beginPhase('reboot');
      reboot(g, params.boot.reboot, state);
      ctx.progress(1);
    }
    ctx.beginPhase('boot');
    const map = new GuestPhysMap(g.bytes);
    const layout = bootGuest(g, params.boot, bootRng, map);
    ctx.progress(1);
    state = null;
    if (params.runtime.durationNs > 0) {
      ctx.beginPhase('runtime');
      state = runRuntime(g, params.runtime, map, runRng, layout.acceptedBytes, layout);
    }
  }
  if (params.teardown) {
    ctx.beginPhase('teardown');
    ctx.sim.teardown();
    ctx.tick();
    ctx.progress(1);
  }
}

function reboot(g: CocoGuest, cfg: RebootConfig, state: RuntimeState | null): void {
  const sim = g.sim;
  // Device mappings are torn down on reset: the host drops its pins.
  state?.releasePins();
  if (g.confidential) {
    const to = cfg.resetTo === 'initial' && !sim.gmem.config.initPrivate ? 'shared' : 'private';
    g.vmmConvert(0, g.bytes, to);
  }
  if (cfg.punch) g.punchHole(0, g.bytes);
  // The new VM instance starts with an empty TDP (the old one's page tables were freed with it).
  sim.rebootGuest();
  g.resetAcceptance();
}
