// Before the end-to-end suite: build the renderer when out/renderer is missing or older than its
// sources, so the bridge serves what the tree holds.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumMissing } from './chromium';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILT = join(ROOT, 'out/renderer/index.html');

/** What the renderer bundle is made of: its own sources, the core and the contract (API, codec, bridge client) it imports, the build
 * configuration. Tests and screenshots are left out. */
const SOURCES = [
  'renderer',
  'core',
  'contract',
  'electron.vite.config.ts',
  'svelte.config.js',
  'package-lock.json',
];

function newestMtimeMs(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return /\.test\.ts$/.test(path) ? 0 : st.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) {
    if (entry === '__screenshots__' || entry === 'node_modules') continue;
    newest = Math.max(newest, newestMtimeMs(join(path, entry)));
  }
  return newest;
}

function rendererIsStale(): boolean {
  if (!existsSync(BUILT)) return true;
  const built = statSync(BUILT).mtimeMs;
  return SOURCES.some((s) => newestMtimeMs(join(ROOT, s)) > built);
}

export default function setup(): void {
  if (chromiumMissing) return; // the suite skips itself and says why
  if (!rendererIsStale()) return;
  const started = Date.now();
  try {
    execFileSync('npx', ['electron-vite', 'build'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; message: string };
    throw new Error(
      `e2e: building the renderer failed (npx electron-vite build): ${e.message}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`,
      { cause: err },
    );
  }
  process.stdout.write(`e2e: built the renderer in ${Date.now() - started} ms\n`);
}
