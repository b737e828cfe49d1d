import { describe, expect, it } from 'vitest';
import { PhaseEta, formatEta } from './eta.js';

describe('PhaseEta', () => {
  it('gives no estimate before the phase has run a second and moved', () => {
    const eta = new PhaseEta();
    expect(eta.update('boot', 0, 0)).toBeNull();
    expect(eta.update('boot', 0.1, 500)).toBeNull();
    expect(eta.update('boot', 0.1, 5000)).not.toBeNull();
  });

  it('at a steady rate, the time left is what remains over the rate', () => {
    const eta = new PhaseEta();
    for (let t = 0; t <= 4000; t += 100) eta.update('boot', t / 10_000, t);
    // 40 % in 4 s: 6 s left.
    expect(eta.update('boot', 0.41, 4100)).toBeCloseTo(5900, 0);
  });

  it('follows a change of rate within its window, and starts again with each phase', () => {
    const eta = new PhaseEta();
    // Fast first (10 %/s for 2 s), then slow (1 %/s for 20 s).
    let f = 0;
    let t = 0;
    for (; t < 2000; t += 100) eta.update('boot', (f += 0.01), t);
    for (; t < 22_000; t += 100) eta.update('boot', (f += 0.001), t);
    const left = eta.update('boot', f, t)!;
    // The last 10 s moved 10 %: what remains (about 58 %) takes about 58 s.
    expect(left / 1000).toBeGreaterThan(50);
    expect(left / 1000).toBeLessThan(65);
    expect(eta.update('runtime', 0.5, t + 100)).toBeNull();
  });

  it('formats durations for a progress line', () => {
    expect(formatEta(400)).toBe('1 s');
    expect(formatEta(12_300)).toBe('12 s');
    expect(formatEta(185_000)).toBe('3 min 5 s');
    expect(formatEta(7_440_000)).toBe('2 h 4 min');
  });
});
