// Writing exports: a run's series as CSV (the workbench's runs.csv and the CLI's --csv), and any
// export (PNG, SVG, CSV, JSON, text) to the path the user chose, with the same durable atomic
// write as experiment files: an existing file at that path is replaced whole or not at all.
import { mkdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ApiError } from '@contract/api.js';
import type { RunResult } from '../../core/metrics/result.js';
import { writeFileDurable } from './durable-write.js';
import { isPathText } from './path-policy.js';

/** CSV of a run's series: one row per sample, time first, then every metric and each node's
 * bytes, at full resolution. */
export function seriesCsv(result: RunResult): string {
  const { timeNs, names, values, nodeBytes } = result.series;
  const header = ['time_ns', ...names, ...nodeBytes.map((_, n) => `node${n}_bytes`)];
  const lines = [header.join(',')];
  for (let i = 0; i < timeNs.length; i++) {
    const row = [timeNs[i]!, ...values.map((v) => v[i]!), ...nodeBytes.map((v) => v[i]!)];
    lines.push(row.map((x) => (Number.isInteger(x) ? String(x) : x.toPrecision(12))).join(','));
  }
  return lines.join('\n') + '\n';
}

/** A variant name as a file name: letters, digits, dot, dash and underscore only. */
function safeFileName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return cleaned.slice(0, 80) || 'variant';
}

/** One `<variant>.csv` per result in `dir` (created when missing); the paths written. */
export async function writeSeriesCsvFiles(
  dir: string,
  results: readonly RunResult[],
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const result of results) {
    const path = join(dir, `${safeFileName(result.name)}.csv`);
    await writeExport(path, seriesCsv(result));
    paths.push(path);
  }
  return paths;
}

export async function writeExport(path: string, data: string | Uint8Array): Promise<void> {
  if (!isPathText(path) || !isAbsolute(path))
    throw new ApiError(
      'FORBIDDEN_PATH',
      `exports need an absolute path, not ${JSON.stringify(path)}`,
    );
  try {
    await writeFileDurable(path, data);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message = `cannot write the export ${path}: ${(err as Error).message}`;
    if (code === 'ENOENT') throw new ApiError('NOT_FOUND', message);
    throw new ApiError('IO_ERROR', message);
  }
}
