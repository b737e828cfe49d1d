import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { experimentFormatMarkdown } from './doc.js';

describe('docs/experiment-format.md', () => {
  it('matches the schema (regenerate with `npm run docs`)', () => {
    const committed = readFileSync(
      new URL('../../docs/experiment-format.md', import.meta.url),
      'utf8',
    );
    expect(committed).toBe(experimentFormatMarkdown());
  });

  it('documents every variant field with a description', () => {
    const md = experimentFormatMarkdown();
    for (const field of [
      'variants[].allocator',
      'variants[].pageSize',
      'variants[].policies.merge',
      'guest.memoryBytes',
      'host.nodes[].hugetlb1g',
    ]) {
      const line = md.split('\n').find((l) => l.startsWith(`| \`${field}\``));
      expect(line, field).toBeDefined();
      expect(line!.split('|')[6]!.trim().length, `${field} has a description`).toBeGreaterThan(10);
    }
  });
});
