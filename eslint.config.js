import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import svelteConfig from './svelte.config.js';

// Node built-ins and Electron: neither the core (a worker, the CLI, the renderer) nor the contract
// (imported by the renderer) may use them.
const NODE_AND_ELECTRON = {
  group: ['node:*', 'electron', 'fs', 'path', 'os', 'worker_threads', 'child_process'],
  message: 'this code also runs in the renderer or a worker: no Node built-ins or Electron here.',
};
const MAIN = {
  group: ['**/main', '**/main/**'],
  message: 'main/ is the Node side: reach it only through the API contract (@contract/api).',
};
const RENDERER = {
  group: ['**/renderer', '**/renderer/**'],
  message: 'the renderer is untrusted UI code: nothing outside renderer/ imports it.',
};
const CONTRACT = {
  group: ['@contract', '@contract/*', '**/contract', '**/contract/**'],
  message: 'the core knows nothing of the API contract: the contract imports the core, not back.',
};

/** The import boundaries of one folder (one rule entry, so a later block does not lose a group). */
const boundaries = (...patterns) => ({
  'no-restricted-imports': ['error', { patterns }],
});

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', 'dist/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    // Svelte components and rune modules: TypeScript in <script lang="ts">, browser globals.
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: {
      globals: { ...globals.browser },
      parserOptions: {
        projectService: false,
        extraFileExtensions: ['.svelte'],
        parser: tseslint.parser,
        svelteConfig,
      },
    },
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.svelte'],
    languageOptions: { globals: { ...globals.browser } },
  },
  // Import boundaries. core/ imports nothing of the app; contract/ imports only core/; the renderer
  // imports the contract, the core and itself; main/ imports the core and the contract.
  {
    // The core runs unchanged in a worker, the CLI and the renderer.
    files: ['core/**/*.ts'],
    ignores: ['core/**/*.test.ts', 'core/sim/test-helpers.ts'],
    rules: boundaries(NODE_AND_ELECTRON, MAIN, RENDERER, CONTRACT),
  },
  {
    // The core's tests may use Node (files, child processes), never the app.
    files: ['core/**/*.test.ts', 'core/sim/test-helpers.ts'],
    rules: boundaries(MAIN, RENDERER, CONTRACT),
  },
  {
    // The contract is imported by the renderer: zod, types and the core only.
    files: ['contract/**/*.ts'],
    ignores: ['contract/**/*.test.ts'],
    rules: boundaries(NODE_AND_ELECTRON, MAIN, RENDERER),
  },
  {
    files: ['contract/**/*.test.ts'],
    rules: boundaries(MAIN, RENDERER),
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.svelte'],
    rules: boundaries(MAIN),
  },
  {
    files: ['main/**/*.ts'],
    rules: boundaries(RENDERER),
  },
);
