import { describe, expect, it } from 'vitest';
import { getPath, parseParamValue, parsePath, withPath } from './param-path.js';

describe('parameter paths', () => {
  it('parses names and list indexes', () => {
    expect(parsePath('variants[1].policies.merge')).toEqual(['variants', 1, 'policies', 'merge']);
    expect(() => parsePath('variants.[1]')).toThrow(/not a parameter path/);
    expect(() => parsePath('')).toThrow(/not a parameter path/);
  });

  it('sets a field in a copy and leaves the original alone', () => {
    const doc = { variants: [{ policies: { merge: 'eager' } }, { policies: { merge: 'eager' } }] };
    const next = withPath(doc, 'variants[1].policies.merge', 'never');
    expect(getPath(next, 'variants[1].policies.merge')).toBe('never');
    expect(doc.variants[1]!.policies.merge).toBe('eager');
  });

  it('creates missing objects but not list items past the end', () => {
    expect(withPath({}, 'runtime.pool.enabled', true)).toEqual({
      runtime: { pool: { enabled: true } },
    });
    expect(() => withPath({ v: [1] }, 'v[3]', 2)).toThrow(/does not exist/);
    expect(() => withPath({ a: 1 }, 'a.b', 2)).toThrow(/not an object/);
    expect(() => withPath({}, '__proto__.x', 1)).toThrow(/cannot be set/);
  });

  it('reads values as JSON when they are JSON, else as strings', () => {
    expect(parseParamValue('42')).toBe(42);
    expect(parseParamValue('true')).toBe(true);
    expect(parseParamValue('eager')).toBe('eager');
    expect(parseParamValue('"4k"')).toBe('4k');
  });
});
