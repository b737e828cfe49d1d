#!/usr/bin/env node
// The gmem-lab command. Runs the built CLI (out/cli, `npm run build:cli`) while it is newer than
// every source file it was built from; otherwise the TypeScript sources through tsx, so a checkout
// needs no build step. GMEMLAB_CLI=source always runs the sources.
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../out/cli/gmem-lab.mjs', import.meta.url);

function builtIsFresh() {
  try {
    const builtAt = statSync(built).mtimeMs;
    const manifest = JSON.parse(
      readFileSync(new URL('../out/cli/manifest.json', import.meta.url), 'utf8'),
    );
    if (!Array.isArray(manifest.inputs) || manifest.inputs.length === 0) return false;
    for (const input of manifest.inputs) {
      if (statSync(new URL(`../${input}`, import.meta.url)).mtimeMs > builtAt) return false;
    }
    statSync(new URL('../out/cli/simulation-worker.mjs', import.meta.url));
    return true;
  } catch {
    // Not built, or a source it was built from is gone.
    return false;
  }
}

if (process.env.GMEMLAB_CLI !== 'source' && builtIsFresh()) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  // The checkout's tsconfig.json, wherever the command runs from: its `paths` map @contract/*.
  register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
  await import('../main/cli/run.ts');
}
