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

  it('gives every field a description', () => {
    const rows = experimentFormatMarkdown()
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) => line.split(/(?<!\\)\|/));
    expect(rows.length).toBeGreaterThan(100);
    const missing = rows
      .filter((cells) => (cells[6] ?? '').trim() === '')
      .map((cells) => cells[1]!.trim());
    expect(missing).toEqual([]);
  });
});
