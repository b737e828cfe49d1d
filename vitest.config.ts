import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM, CHROMIUM_ARGS } from './e2e/chromium';

// Debian's Chromium (installed by .ci/run when missing); never a downloaded browser.

// `@contract/*` is the API contract's folder (contract/), the alias of tsconfig.json's `paths`;
// every project resolves it.
const resolveContract = {
  alias: { '@contract': new URL('./contract', import.meta.url).pathname },
};

export default defineConfig({
  test: {
    reporters: ['default', './tools/summary-reporter.ts'],
    testTimeout: 60_000,
    projects: [
      {
        resolve: resolveContract,
        test: {
          name: 'node',
          // The Electron smoke test skips itself (and says why) where no Electron binary exists.
          include: [
            'core/**/*.test.ts',
            'contract/**/*.test.ts',
            'main/**/*.test.ts',
            'tools/**/*.test.ts',
            'e2e/electron.smoke.test.ts',
          ],
          environment: 'node',
          pool: 'threads',
          testTimeout: 60_000,
        },
      },
      {
        // Component tests in real Chromium: Chart.js needs a real canvas.
        resolve: resolveContract,
        plugins: [svelte({ configFile: new URL('./svelte.config.js', import.meta.url).pathname })],
        test: {
          name: 'browser',
          include: ['renderer/**/*.test.ts'],
          // Attachments (a failed test's screenshot among them) go with the other test output in
          // test-results/, never into the source tree.
          attachmentsDir: 'test-results/vitest-attachments',
          testTimeout: 60_000,
          browser: {
            enabled: true,
            headless: true,
            // A failed test's screenshot is kept for reading, outside the source tree.
            screenshotDirectory: 'test-results/screenshots',
            provider: playwright({
              launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS },
            }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
      {
        resolve: resolveContract,
        // End to end: the built renderer in Debian's Chromium (playwright-core) against the real
        // services of `gmem-lab serve`. One file, one worker, after the other projects (it starts
        // a server with worker threads and a browser: it wants the cores to itself).
        test: {
          name: 'e2e',
          include: ['e2e/**/*.e2e.test.ts'],
          environment: 'node',
          globalSetup: ['e2e/global-setup.ts'],
          testTimeout: 90_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
