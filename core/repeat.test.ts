import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addRepeated } from './repeat.js';

function oneByOne(value: number, delta: number, times: number): number {
  for (let i = 0; i < times; i++) value += delta;
  return value;
}

describe('addRepeated', () => {
  it('ends where adding one at a time ends, to the last bit', () => {
    const num = fc.oneof(
      fc.integer({ min: -1e6, max: 1e9 }),
      fc.double({ min: -1e6, max: 1e9, noNaN: true }),
      fc.constantFrom(0.1, 1 / 64, 250 / 2.4, 2 ** 52, 2 ** 53 - 1),
    );
    fc.assert(
      fc.property(num, num, fc.integer({ min: 0, max: 5000 }), (value, delta, times) => {
        expect(Object.is(addRepeated(value, delta, times), oneByOne(value, delta, times))).toBe(
          true,
        );
      }),
      { numRuns: 500 },
    );
  });
});
