import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// Non-default folders: each of main, preload and renderer gets an explicit input, and the renderer
// its root (see ../shared/spec/toolchain.md). The preload is CommonJS because the renderer is
// sandboxed.
//
// Main: zod is bundled rather than imported from node_modules, so the simulation worker bundle
// (main/worker/simulation-worker.ts?modulePath, out/main/chunks/simulation-worker-*.mjs) imports
// nothing but Node built-ins. The packaged app keeps that file outside app.asar (asarUnpack in
// electron-builder.yml), where it must load on its own; the .mjs name makes it an ES module there
// without a package.json beside it.
//
// `@contract/*` is the API contract's folder (contract/), the alias of tsconfig.json's `paths`,
// for all three bundles.
const resolveContract = { alias: { '@contract': resolve(__dirname, 'contract') } };

export default defineConfig({
  main: {
    resolve: resolveContract,
    build: {
      externalizeDeps: { exclude: ['zod'] },
      rollupOptions: {
        input: { index: resolve(__dirname, 'main/shell/index.ts') },
        output: { chunkFileNames: 'chunks/[name]-[hash].mjs' },
      },
    },
  },
  preload: {
    resolve: resolveContract,
    build: {
      rollupOptions: {
        input: { index: resolve(__dirname, 'main/shell/preload.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: 'renderer',
    resolve: resolveContract,
    build: {
      rollupOptions: { input: { index: resolve(__dirname, 'renderer/index.html') } },
    },
    plugins: [svelte({ configFile: resolve(__dirname, 'svelte.config.js') })],
  },
});
