// Shared by the CLI tests: the CLI run in process, a small valid experiment and temporary folders.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type CliIo } from './index.js';

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

/** Run the CLI in process; its exit code and everything it printed. */
export async function cli(
  args: string[],
  cwd = process.cwd(),
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    stderrIsTty: false,
    cwd,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** Write `doc` (JSON, or text as it is) as `name` in `dir`; its path. */
export function writeExperiment(dir: string, doc: unknown, name = 'exp.gmemlab.json'): string {
  const path = join(dir, name);
  writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  return path;
}
