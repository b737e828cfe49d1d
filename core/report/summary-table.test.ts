// The summary table's comparison with a baseline: differences and ratios, better or worse by the
// metric's direction, failed variants never compared, and the CSV that carries it all.
import { describe, expect, it } from 'vitest';
import { metricDef } from '../metrics/definitions.js';
import {
  compareWithBaseline,
  formatDelta,
  formatRatio,
  summaryRows,
  summaryTableCsv,
  summaryTableText,
  type VariantSummary,
} from './summary-table.js';

const variants: VariantSummary[] = [
  {
    name: 'HugeTLB 1 GiB',
    metrics: { splits_1g: 4, mapped_1g_ratio: 0.5, host_total_bytes: 2 ** 30 },
  },
  {
    name: 'CMA, "raw"',
    metrics: { splits_1g: 6, mapped_1g_ratio: 0.25, host_total_bytes: 2 ** 30 },
  },
  { name: 'failed one', metrics: {}, failed: 'ENOMEM: no 1 GiB pages' },
];

describe('compareWithBaseline', () => {
  it('says better or worse by the direction of the metric', () => {
    // Fewer splits are better; a higher share of 1 GiB mappings is better.
    expect(compareWithBaseline(metricDef('splits_1g'), 6, 4)).toEqual({
      delta: 2,
      ratio: 1.5,
      verdict: 'worse',
    });
    expect(compareWithBaseline(metricDef('splits_1g'), 2, 4).verdict).toBe('better');
    expect(compareWithBaseline(metricDef('mapped_1g_ratio'), 0.25, 0.5).verdict).toBe('worse');
    expect(compareWithBaseline(metricDef('splits_1g'), 4, 4).verdict).toBe('same');
    // Conversion counts have no better: a difference, no verdict.
    expect(compareWithBaseline(metricDef('conversions_to_shared'), 5, 4).verdict).toBeNull();
  });

  it('gives a ratio of 1 for two zeros, "new" where only the baseline is 0, nothing for a failure', () => {
    expect(compareWithBaseline(metricDef('splits_1g'), 0, 0).ratio).toBe(1);
    expect(formatRatio(compareWithBaseline(metricDef('splits_1g'), 3, 0).ratio)).toBe('new');
    expect(compareWithBaseline(metricDef('splits_1g'), NaN, 4)).toEqual({
      delta: NaN,
      ratio: NaN,
      verdict: null,
    });
  });

  it('formats differences in the unit, signed, and ratio metrics in percentage points', () => {
    expect(formatDelta(2 * 2 ** 20, metricDef('host_total_bytes'))).toBe('+2 MiB');
    expect(formatDelta(-3, metricDef('splits_1g'))).toBe('-3');
    expect(formatDelta(-0.25, metricDef('mapped_1g_ratio'))).toBe('-25 pp');
    expect(formatRatio(1.0312)).toBe('x1.031');
  });
});

describe('summary rows and tables with a baseline', () => {
  it('compares every other variant with the baseline, the baseline with nothing', () => {
    const row = summaryRows(variants, { baseline: 0 }).find((r) => r.key === 'splits_1g')!;
    expect(row.vsBaseline![0]).toBeNull();
    expect(row.vsBaseline![1]).toMatchObject({ delta: 2, verdict: 'worse' });
    expect(row.vsBaseline![2]!.verdict).toBeNull();
    expect(summaryRows(variants).find((r) => r.key === 'splits_1g')!.vsBaseline).toBeUndefined();
  });

  it('adds a difference and a ratio column per other variant to the text table', () => {
    const text = summaryTableText(variants, { baseline: 1, hideZero: true });
    const header = text.split('\n')[0]!;
    expect(header).toMatch(/Δ HugeTLB 1 GiB\s+× HugeTLB 1 GiB\s+Δ failed one\s+× failed one$/);
    const splits = text.split('\n').find((l) => l.startsWith('splits_1g'))!;
    expect(splits).toMatch(/-2\s+x0\.667\s+failed\s+failed$/);
    expect(text).toContain('against the baseline, CMA, "raw"');
  });

  it('writes the CSV with raw numbers, quoted names and empty cells for a failure', () => {
    const csv = summaryTableCsv(variants, { baseline: 0, hideZero: true }).trimEnd().split('\n');
    expect(csv[0]).toBe(
      'metric,unit,HugeTLB 1 GiB,"CMA, ""raw""",failed one,' +
        '"delta CMA, ""raw"" vs HugeTLB 1 GiB","ratio CMA, ""raw"" vs HugeTLB 1 GiB",' +
        'delta failed one vs HugeTLB 1 GiB,ratio failed one vs HugeTLB 1 GiB',
    );
    expect(csv.find((l) => l.startsWith('splits_1g,'))).toBe('splits_1g,count,4,6,,2,1.5,,');
    expect(csv.at(-1)).toBe('failed,,,,ENOMEM: no 1 GiB pages,,,,');
  });
});
