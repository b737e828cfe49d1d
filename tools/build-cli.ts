// `npm run build:cli`: the command line and its simulation worker as two plain ES modules in
// out/cli, so `gmem-lab` starts without transpiling TypeScript on every run (bin/gmem-lab.mjs
// prefers them while they are newer than every file they were built from, else it runs the
// sources through tsx). esbuild is tsx's own transpiler, so it is always installed.
//
//   out/cli/gmem-lab.mjs           main/cli/run.ts with everything it imports (commander, zod, ws)
//   out/cli/simulation-worker.mjs  main/worker/simulation-worker.ts, found by SimulationHost beside
//                                  the CLI bundle
//   out/cli/manifest.json          the source files of both, for bin/gmem-lab.mjs's freshness check
import { build, type Metafile } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'out', 'cli');

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const started = performance.now();
const result = await build({
  absWorkingDir: root,
  entryPoints: {
    'gmem-lab': 'main/cli/run.ts',
    'simulation-worker': 'main/worker/simulation-worker.ts',
  },
  outdir: outDir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // ws loads these optional native helpers inside try/catch.
  external: ['bufferutil', 'utf-8-validate'],
  // Bundled CommonJS (commander, ws) requires Node built-ins.
  banner: {
    js: "import { createRequire as __gmemlabCreateRequire } from 'node:module'; const require = __gmemlabCreateRequire(import.meta.url);",
  },
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

const inputs = Object.keys((result.metafile as Metafile).inputs)
  .filter((p) => !p.startsWith('node_modules/'))
  .sort();
writeFileSync(
  join(outDir, 'manifest.json'),
  JSON.stringify({ builtAt: new Date().toISOString(), inputs }, null, 2) + '\n',
);
console.log(
  `out/cli: gmem-lab.mjs and simulation-worker.mjs from ${inputs.length} source files in ${Math.round(performance.now() - started)} ms (${relative(root, outDir)})`,
);
