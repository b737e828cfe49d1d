// Shared by the CLI tests: a small valid experiment and temporary folders.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GiB = 1024 ** 3;

/** Two HugeTLB variants of a 2 GiB SNP guest: quick to run, with splits in both. */
export function smallExperiment(name = 'small'): Record<string, unknown> {
  return {
    format: 'gmem-lab-experiment',
    version: 1,
    name,
    host: { nodes: [{ memoryBytes: 32 * GiB, cpus: '0-7', hugetlb2m: 1024, hugetlb1g: 2 }] },
    guest: { memoryBytes: 2 * GiB, vendor: 'snp', vcpus: 2 },
    workload: { kind: 'lifecycle', runtime: { durationNs: 50_000_000 }, teardown: false },
    variants: [
      { name: 'HugeTLB 2 MiB', pageSize: '2m', allocator: 'hugetlb' },
      { name: 'HugeTLB 1 GiB', pageSize: '1g', allocator: 'hugetlb' },
    ],
  };
}

export function tempDir(prefix = 'gmem-lab-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
