// Wall time of the whole CLI process on the 16 GiB SNP boot preset: `node bin/gmem-lab.mjs run
// preset:snp-boot-16g-backings`, as a user types it (default workers), with the built CLI
// (out/cli, npm run build:cli) and with the TypeScript sources through tsx (GMEMLAB_CLI=source).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Figure } from './figures.js';
import { builtCliFresh } from './pool.js';

const ROOT = join(import.meta.dirname, '..');

function wallMs(env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'bin', 'gmem-lab.mjs'), 'run', 'preset:snp-boot-16g-backings', '--no-progress'],
    { cwd: ROOT, env, encoding: 'utf8' },
  );
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`gmem-lab run failed (${r.status}): ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function benchCli(figures: Figure[]): void {
  const runs = 5;
  if (builtCliFresh()) {
    const built = Array.from({ length: runs }, () => wallMs({ ...process.env }));
    figures.push({
      name: 'CLI: gmem-lab run preset:snp-boot-16g-backings (built, out/cli)',
      value: Math.round(median(built)),
      unit: 'ms',
      target: '< 1000',
      note: `median of ${runs}, fastest ${Math.round(Math.min(...built))} ms`,
    });
  } else {
    figures.push({
      name: 'CLI: gmem-lab run preset:snp-boot-16g-backings (built, out/cli)',
      value: NaN,
      unit: 'ms',
      target: '< 1000',
      note: 'skipped: out/cli missing or older than its sources (npm run build:cli)',
    });
  }
  const source = Array.from({ length: 3 }, () => wallMs({ ...process.env, GMEMLAB_CLI: 'source' }));
  figures.push({
    name: 'CLI: gmem-lab run preset:snp-boot-16g-backings (sources through tsx)',
    value: Math.round(median(source)),
    unit: 'ms',
    note: `median of ${source.length}`,
  });
}
