// The import boundaries of eslint.config.js, shown on in-memory files: ESLint's Node API lints each
// snippet as if it lived at the given path of this checkout (the file need not exist).
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: ROOT });
});

/** The rule ids ESLint reports for `code` placed at `filePath`. */
async function ruleIds(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  expect(result!.fatalErrorCount, JSON.stringify(result!.messages)).toBe(0);
  return result!.messages.map((m) => m.ruleId ?? 'parse');
}

const use = (name: string) => `\nexport const used = ${name};\n`;

describe('import boundaries', () => {
  const cases: Array<[string, string, string, boolean]> = [
    // [file, import, what it shows, forbidden]
    ['core/gmem/x.ts', "import { ApiError } from '@contract/api.js';", 'core -> contract', true],
    [
      'core/gmem/x.ts',
      "import { ApiError } from '../../contract/api.js';",
      'core -> contract',
      true,
    ],
    [
      'core/gmem/x.ts',
      "import { ApiError } from '../../main/services/x.js';",
      'core -> main',
      true,
    ],
    [
      'core/gmem/x.ts',
      "import { ApiError } from '../../renderer/src/x.js';",
      'core -> renderer',
      true,
    ],
    ['core/gmem/x.ts', "import { ApiError } from 'node:fs';", 'core -> Node', true],
    ['core/gmem/x.ts', "import { ApiError } from '../metrics/x.js';", 'core -> core', false],
    [
      'contract/x.ts',
      "import { ApiError } from '../core/metrics/x.js';",
      'contract -> core',
      false,
    ],
    [
      'contract/x.ts',
      "import { ApiError } from '../main/services/x.js';",
      'contract -> main',
      true,
    ],
    ['contract/x.ts', "import { ApiError } from 'node:path';", 'contract -> Node', true],
    [
      'renderer/src/x.ts',
      "import { ApiError } from '@contract/api';",
      'renderer -> contract',
      false,
    ],
    ['renderer/src/x.ts', "import { ApiError } from '../../core/x.js';", 'renderer -> core', false],
    ['renderer/src/x.ts', "import { ApiError } from '../../main/api';", 'renderer -> main', true],
    [
      'main/services/x.ts',
      "import { ApiError } from '@contract/api.js';",
      'main -> contract',
      false,
    ],
    ['main/services/x.ts', "import { ApiError } from '../../core/x.js';", 'main -> core', false],
    [
      'main/services/x.ts',
      "import { ApiError } from '../../renderer/src/x';",
      'main -> renderer',
      true,
    ],
  ];
  it.each(cases)('%s: %s (%s)', async (file, line, _what, forbidden) => {
    const ids = await ruleIds(file, `${line}${use('ApiError')}`);
    if (forbidden) expect(ids).toContain('no-restricted-imports');
    else expect(ids).not.toContain('no-restricted-imports');
  });
});

describe('.svelte files', () => {
  it('are linted: a forbidden import and a loose comparison in a component are reported', async () => {
    const component = `<script lang="ts">
  import { ApiError } from '../../main/api';
  let { count }: { count: number } = $props();
  const same = count == 1;
</script>

<p>{same} {ApiError.name}</p>
`;
    const ids = await ruleIds('renderer/src/views/X.svelte', component);
    expect(ids).toContain('no-restricted-imports');
    expect(ids).toContain('eqeqeq');
  });

  it('a clean component reports nothing', async () => {
    const component = `<script lang="ts">
  import { THEMES } from '@contract/api';
  let { count }: { count: number } = $props();
</script>

<p>{count} {THEMES.length}</p>
`;
    expect(await ruleIds('renderer/src/views/X.svelte', component)).toEqual([]);
  });
});
