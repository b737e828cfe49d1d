import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['core/**/*.test.ts', 'main/**/*.test.ts'],
    environment: 'node',
    reporters: ['default', './tools/summary-reporter.ts'],
    pool: 'threads',
    testTimeout: 60_000,
  },
});
