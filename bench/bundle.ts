// The bench's measurements run in child processes from one esbuild bundle of bench/child.ts, the
// way the CLI and its worker (npm run build:cli) and the desktop app (electron-vite) run the
// model: one module scope. Run through tsx instead, every module is transformed on its own and
// each imported constant or function is read through an export getter, a cost no user pays.
import { buildSync } from 'esbuild';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
let built: string | null = null;

/** Path of the bundled bench/child.ts, built on first use (a few hundred ms). */
export function bundledChild(): string {
  if (built) return built;
  const out = join(mkdtempSync(join(tmpdir(), 'gmemlab-bench-')), 'child.mjs');
  buildSync({
    absWorkingDir: ROOT,
    entryPoints: ['bench/child.ts'],
    outfile: out,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['bufferutil', 'utf-8-validate'],
    banner: {
      js: "import { createRequire as __benchCreateRequire } from 'node:module'; const require = __benchCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  built = out;
  return out;
}
