// Small builders for tests: a host and a variant with the defaults a scenario needs.
import type { GmemVariantInput } from '../config.js';
import { GiB, MiB } from '../units.js';
import { Simulation } from './simulation.js';

export interface HostSpec {
  memoryBytes?: number;
  hugetlb2m?: number;
  hugetlb1g?: number;
  cma?: {
    sizeBytes: number;
    unmovableRanges?: number[];
    movableOccupiedFraction?: number;
    transientFailureRate?: number;
  };
  nodes?: number;
  hvo?: boolean;
  hvoBatched?: boolean;
  cmaHvo?: boolean;
  thpFragmentation?: number;
}

export function hostOf(spec: HostSpec = {}) {
  const nodes = spec.nodes ?? 1;
  return {
    hvo: spec.hvo ?? true,
    hvoBatched: spec.hvoBatched ?? true,
    cmaHvo: spec.cmaHvo ?? false,
    thpFragmentation: spec.thpFragmentation ?? 0,
    nodes: Array.from({ length: nodes }, (_, i) => ({
      memoryBytes: spec.memoryBytes ?? 16 * GiB,
      cpus: `${i * 8}-${i * 8 + 7}`,
      hostReservedBytes: 256 * MiB,
      hugetlb2m: spec.hugetlb2m ?? 0,
      hugetlb1g: spec.hugetlb1g ?? 0,
      ...(spec.cma ? { cma: spec.cma } : {}),
    })),
  };
}

export function simOf(
  host: HostSpec,
  variant: Partial<GmemVariantInput> & Pick<GmemVariantInput, 'pageSize' | 'allocator'>,
  seed = 1,
) {
  return new Simulation({
    host: hostOf(host),
    variant: { name: 'test', guestBytes: 1 * GiB, ...variant },
    seed,
    recordEvents: true,
  });
}
