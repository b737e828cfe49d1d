// Units of --param paths come from the schema's metadata; labels show values in them.
import { describe, expect, it } from 'vitest';
import { paramLabel, unitOfPath } from './param-unit.js';

describe('unitOfPath', () => {
  it('finds the unit of a field through objects, variant lists and workload kinds', () => {
    expect(unitOfPath('guest.memoryBytes')).toBe('bytes');
    expect(unitOfPath('variants[1].policies.mergeDelayNs')).toBe('ns');
    expect(unitOfPath('workload.runtime.durationNs')).toBe('ns');
    expect(unitOfPath('variants[0].allocator')).toBeUndefined();
    expect(unitOfPath('no.such.field')).toBeUndefined();
  });

  it('labels a value path=value in its unit, other values as given', () => {
    expect(paramLabel('guest.memoryBytes', 64 * 2 ** 30)).toBe('guest.memoryBytes=64 GiB');
    expect(paramLabel('variants[0].policies.mergeDelayNs', 100_000_000)).toBe(
      'variants[0].policies.mergeDelayNs=100 ms',
    );
    expect(paramLabel('variants[0].policies.merge', 'never')).toBe(
      'variants[0].policies.merge=never',
    );
    expect(paramLabel('seed', 3)).toBe('seed=3');
  });
});
