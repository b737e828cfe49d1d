// The worker's warm-up must really run: one that fails leaves every worker cold without a word
// to the user (a warm-up experiment written in an older file format did, and the first run in
// the pool took 150 ms instead of 40).
import { describe, expect, it } from 'vitest';
import { warmUp, warmUpRuns } from './warm-up.js';

describe('warmUp', () => {
  it('runs every variant of its experiment to a result', () => {
    const report = warmUp(1);
    expect(report.error).toBeUndefined();
    expect(report.runs).toBe(warmUpRuns(1));
    expect(report.runs).toBeGreaterThanOrEqual(6);
  });
});
