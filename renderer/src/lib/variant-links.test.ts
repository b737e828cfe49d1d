// The setup form's variant links: an edit of a base carries to the fields its variants still
// inherit (and down a chain), a renamed base keeps its variants, a removed one leaves them whole,
// and a base is never offered where it would make a loop.
import { describe, expect, it } from 'vitest';
import { baseChoices, baseOf, carryBaseEdits, unlinkRemoved } from './variant-links';

type Json = Record<string, unknown>;

function variants(): Json[] {
  return [
    {
      name: 'a',
      pageSize: '2m',
      allocator: 'hugetlb',
      policies: { merge: 'eager', split: 'to-4k' },
    },
    {
      name: 'b',
      base: 'a',
      pageSize: '2m',
      allocator: 'cma-raw',
      policies: { merge: 'eager', split: 'to-4k' },
    },
    {
      name: 'c',
      base: 'b',
      pageSize: '2m',
      allocator: 'cma-raw',
      policies: { merge: 'never', split: 'to-4k' },
    },
    {
      name: 'd',
      pageSize: '1g',
      allocator: 'hugetlb',
      policies: { merge: 'eager', split: 'to-4k' },
    },
  ];
}

describe('variant links in the setup form', () => {
  it('carries an edit of a base down the chain to the fields still inherited', () => {
    const live = variants();
    const before = structuredClone(live);
    live[0]!['pageSize'] = '1g';
    (live[0]!['policies'] as Json)['merge'] = 'deferred';
    (live[0]!['policies'] as Json)['split'] = 'staged';
    const carried = carryBaseEdits(before, live);
    expect(live[1]!['pageSize']).toBe('1g');
    expect(live[2]!['pageSize']).toBe('1g');
    expect((live[1]!['policies'] as Json)['merge']).toBe('deferred');
    // c changed its merge policy itself: it keeps it, and takes the split it still inherited.
    expect(live[2]!['policies']).toEqual({ merge: 'never', split: 'staged' });
    // b changed its allocator: the base's allocator is not its.
    expect(live[1]!['allocator']).toBe('cma-raw');
    // d has no base: untouched.
    expect(live[3]).toEqual(variants()[3]);
    expect(carried).toContain('b: pageSize');
    expect(carried).toContain('c: policies.split');
    expect(carried).not.toContain('c: policies.merge');
  });

  it('keeps variants linked when their base is renamed, and carries nothing when one is added or removed', () => {
    const live = variants();
    const before = structuredClone(live);
    live[0]!['name'] = 'HugeTLB';
    carryBaseEdits(before, live);
    expect(live[1]!['base']).toBe('HugeTLB');
    expect(baseOf(live, live[1]!)).toBe(live[0]);
    const grown = [...live, { name: 'e', base: 'HugeTLB', pageSize: '4k' }];
    grown[0]!['pageSize'] = '4k';
    expect(carryBaseEdits(structuredClone(live), grown)).toEqual([]);
  });

  it("gives a removed base's variants its own base, or none", () => {
    const live = variants();
    unlinkRemoved(live, live[1]!);
    live.splice(1, 1);
    expect(live[1]!['name']).toBe('c');
    expect(live[1]!['base']).toBe('a');
    unlinkRemoved(live, live[0]!);
    live.splice(0, 1);
    expect(live[0]!['name']).toBe('c');
    expect(live[0]).not.toHaveProperty('base');
    // Its fields were whole all along: nothing else moved.
    expect(live[0]!['allocator']).toBe('cma-raw');
  });

  it('offers as a base every other variant whose chain does not lead back', () => {
    const live = variants();
    expect(baseChoices(live, 0)).toEqual(['d']); // b and c stand on a
    expect(baseChoices(live, 1)).toEqual(['a', 'd']);
    expect(baseChoices(live, 3)).toEqual(['a', 'b', 'c']);
  });
});
