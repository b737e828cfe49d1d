// The compare view's chart rows: counters can be shown per second of simulated time, gauges
// never are, and the rate is the growth over each sample interval.
import { describe, expect, it } from 'vitest';
import type { RunResultView } from '@contract/api';
import { CHARTS } from './chart-defs';
import { chartRows, isCounterChart, ratePerSecond } from './panels';

function result(): RunResultView {
  const timeNs = new Float64Array([0, 1e9, 2e9, 4e9]);
  const names = ['splits_1g', 'splits_2m', 'merges_1g', 'merges_2m', 'host_total_bytes'];
  const values = [
    new Float64Array([0, 2, 2, 6]),
    new Float64Array([0, 0, 10, 10]),
    new Float64Array(4),
    new Float64Array(4),
    new Float64Array([1, 2, 3, 4]),
  ];
  return {
    runId: 1,
    name: 'v',
    variantIndex: 0,
    summary: {
      metrics: {},
      nodeBytes: [],
      phaseMarks: [
        { name: 'boot', startNs: 0 },
        { name: 'runtime', startNs: 2e9 },
      ],
    },
    endNs: 4e9,
    series: { timeNs, names, values, nodeBytes: [], fullLength: 4 },
  };
}

describe('chart rows per second', () => {
  it("divides each interval's growth by its length, in seconds", () => {
    const r = ratePerSecond({
      label: 's',
      color: '#000',
      dash: [],
      metric: null,
      x: new Float64Array([0, 1e9, 2e9, 4e9]),
      y: new Float64Array([0, 2, 2, 6]),
    });
    expect(Number.isNaN(r.y[0])).toBe(true);
    expect([...r.y.slice(1)]).toEqual([2, 0, 2]);
  });

  it('turns counter charts into rates and leaves gauge charts as they are', () => {
    expect(isCounterChart(CHARTS.find((c) => c.id === 'splits')!)).toBe(true);
    expect(isCounterChart(CHARTS.find((c) => c.id === 'memory')!)).toBe(false);
    const plain = chartRows([result()], 'side-by-side');
    const rates = chartRows([result()], 'side-by-side', { perSecond: true });
    const splits = rates.find((r) => r.id === 'splits')!;
    expect(splits.title).toBe('Splits and merges per second');
    expect(splits.panels[0]!.perSecond).toBe(true);
    const s1g = splits.panels[0]!.series.find((s) => s.metric === 'splits_1g')!;
    expect([...s1g.y.slice(1)]).toEqual([2, 0, 2]);
    // splits_2m grew by 10 in the second second: the row's largest rate.
    expect(splits.yMax).toBe(10);
    const memory = rates.find((r) => r.id === 'memory')!;
    expect(memory.title).toBe(plain.find((r) => r.id === 'memory')!.title);
    expect(memory.panels[0]!.perSecond).toBe(false);
  });
});

describe('phase marks', () => {
  it("marks each panel with its run's phases, and an overlay only with phases the runs share", () => {
    const a = result();
    const side = chartRows([a], 'side-by-side');
    expect(side[0]!.panels[0]!.marks).toEqual([
      { x: 0, label: 'boot' },
      { x: 2e9, label: 'runtime' },
    ]);
    const b = {
      ...a,
      name: 'w',
      summary: { ...a.summary, phaseMarks: [{ name: 'boot', startNs: 0 }] },
    };
    expect(chartRows([a, a], 'overlay')[0]!.panels[0]!.marks).toHaveLength(2);
    expect(chartRows([a, b], 'overlay')[0]!.panels[0]!.marks).toEqual([]);
  });
});
