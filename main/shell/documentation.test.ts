import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DOCUMENTS,
  documentFile,
  isAllowedWebUrl,
  openDocument,
  type DocumentId,
} from './documentation.js';

const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url));

function fakeShell(problem = '') {
  const calls: string[] = [];
  return {
    calls,
    shell: {
      openPath: async (p: string) => {
        calls.push(`path ${p}`);
        return problem;
      },
      openExternal: async (u: string) => {
        calls.push(`url ${u}`);
      },
    },
  };
}

describe('documentation', () => {
  it('every local document exists in the checkout', () => {
    for (const target of Object.values(DOCUMENTS)) {
      if (target.kind !== 'file') continue;
      const path = documentFile(target.name, { checkoutDir: CHECKOUT });
      expect(existsSync(path), path).toBe(true);
    }
  });

  it('every web page is https on an allowed host; nothing else is', () => {
    for (const target of Object.values(DOCUMENTS))
      if (target.kind === 'web') expect(isAllowedWebUrl(target.url)).toBe(true);
    for (const url of [
      'http://docs.kernel.org/virt/kvm/api.html',
      'https://docs.kernel.org.evil.example/',
      'https://user@docs.kernel.org/',
      'https://docs.kernel.org:8443/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'not a url',
    ])
      expect(isAllowedWebUrl(url), url).toBe(false);
  });

  it('opens local documents from the checkout or the packaged docs folder', async () => {
    const { shell, calls } = fakeShell();
    expect(await openDocument('guide', shell, { checkoutDir: '/src/g' })).toBe('');
    expect(
      await openDocument('experiment-format', shell, {
        checkoutDir: '/src/g',
        packagedDocsDir: '/opt/g/resources/docs',
      }),
    ).toBe('');
    await openDocument('trace-format', shell, { checkoutDir: '/src/g' });
    await openDocument('kvm-api', shell, { checkoutDir: '/src/g' });
    expect(calls).toEqual([
      'path /src/g/README.md',
      'path /opt/g/resources/docs/experiment-format.md',
      'path /src/g/docs/trace-format.md',
      'url https://docs.kernel.org/virt/kvm/api.html',
    ]);
  });

  it('reports what went wrong, and refuses ids outside the table', async () => {
    const { shell } = fakeShell('No application knows .md');
    expect(await openDocument('guide', shell, { checkoutDir: '/g' })).toMatch(
      /cannot open \/g\/README.md: No application/,
    );
    expect(await openDocument('../../etc' as DocumentId, shell, { checkoutDir: '/g' })).toMatch(
      /unknown document/,
    );
  });
});
