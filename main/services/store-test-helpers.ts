// Experiment documents and temporary folders for the store tests (real folders, no fs mocks).
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTempFileName } from './durable-write.js';
import { FORMAT_VERSION } from '../../core/experiment/schema.js';

const GiB = 1024 ** 3;

/** A small valid experiment document (as the workbench would send it). */
export function validDoc(
  name = 'Test experiment',
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    format: 'gmem-lab-experiment',
    version: FORMAT_VERSION,
    name,
    notes: 'a small experiment for the store tests',
    host: { nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7', hugetlb2m: 2048 }] },
    guest: { memoryBytes: 4 * GiB, vendor: 'snp', vcpus: 4 },
    workload: { kind: 'lifecycle', runtime: { durationNs: 200_000_000 }, teardown: false },
    variants: [
      { name: 'HugeTLB 2 MiB', pageSize: '2m', allocator: 'hugetlb' },
      { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
    ],
    ...overrides,
  };
}

/** A valid experiment of about `bytes` bytes as pretty JSON: saved results with long series
 * (notes are limited to 20,000 characters by the schema, so the bulk is in the results). */
export function largeDoc(name = 'Large experiment', bytes = 2_000_000): Record<string, unknown> {
  // Each number takes about 26 bytes in 2-space pretty JSON (own line, indented).
  const points = Math.ceil(bytes / 26 / 3);
  const timeNs = Array.from({ length: points }, (_, i) => i * 1_000_000);
  const series = (k: number) => Array.from({ length: points }, (_, i) => ((i * k) % 9973) / 7);
  return validDoc(name, {
    notes: 'x'.repeat(20_000),
    results: {
      engineVersion: 'test',
      configHash: '0000000000000000',
      createdAt: '2026-01-01T00:00:00.000Z',
      variants: [
        {
          name: 'HugeTLB 2 MiB',
          summary: { faults: 1 },
          series: { timeNs, values: { a: series(3), b: series(7) } },
        },
        { name: '4 KiB', summary: { faults: 2 }, series: { timeNs: [], values: {} } },
      ],
    },
  });
}

export async function makeTempDir(prefix = 'gmemlab-store-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Our temp files in `dir`. */
export async function tempFilesIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => isTempFileName(n));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The error a promise rejects with; fails when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a refusal, got ${JSON.stringify(value)?.slice(0, 200)}`);
    },
    (err: unknown) => err,
  );
}

/** Bytes and modification time, to show a file was left exactly as it was. */
export async function snapshot(
  path: string,
): Promise<{ bytes: Buffer; mtimeMs: number; ino: number }> {
  const [bytes, st] = await Promise.all([readFile(path), stat(path)]);
  return { bytes, mtimeMs: st.mtimeMs, ino: st.ino };
}
