// The chart wrapper draws real pixels on a real canvas, and joins the shared crosshair and zoom.
import { describe, expect, it } from 'vitest';
import { render } from 'vitest-browser-svelte';
import MetricChart from './MetricChart.svelte';
import { ChartSync } from '../lib/charts/sync';

function series(label: string, color: string, scale: number) {
  const x = Float64Array.from({ length: 200 }, (_, i) => i * 1e6);
  const y = Float64Array.from(x, (_, i) => scale * Math.sin(i / 20) + scale);
  return { label, color, dash: [], x, y, metric: null };
}

function inkedPixels(canvas: HTMLCanvasElement): number {
  const ctx = canvas.getContext('2d')!;
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  let n = 0;
  for (let i = 0; i < data.length; i += 4)
    if (data[i]! < 200 || data[i + 1]! < 200 || data[i + 2]! < 200) n++;
  return n;
}

describe('MetricChart', () => {
  it('draws the series on an opaque background', async () => {
    const screen = await render(MetricChart, {
      title: 'memory',
      unit: 'bytes',
      series: [series('private', '#0072B2', 1024 ** 3)],
    });
    const canvas = screen.container.querySelector('canvas')!;
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    expect(canvas.width).toBeGreaterThan(100);
    expect(inkedPixels(canvas)).toBeGreaterThan(500);
    const corner = canvas.getContext('2d')!.getImageData(1, 1, 1, 1).data;
    expect(corner[3]).toBe(255);
    expect(canvas.getAttribute('aria-label')).toContain('private');
  });

  it('follows the shared zoom range', async () => {
    const sync = new ChartSync();
    const a = await render(MetricChart, {
      title: 'a',
      unit: 'count',
      series: [series('a', '#000', 10)],
      sync,
    });
    await render(MetricChart, {
      title: 'b',
      unit: 'count',
      series: [series('b', '#E69F00', 10)],
      sync,
    });
    sync.setRange({ min: 20e6, max: 80e6 });
    const chart = (a.component as unknown as { getChart(): import('chart.js').Chart }).getChart()!;
    expect(chart.scales['x']!.min).toBe(20e6);
    expect(chart.scales['x']!.max).toBe(80e6);
  });

  it('draws a logarithmic y axis when asked, and labels rates per second', async () => {
    const screen = await render(MetricChart, {
      title: 'splits per second',
      unit: 'count',
      series: [series('splits', '#0072B2', 1000)],
      logScale: true,
      perSecond: true,
    });
    const chart = (
      screen.component as unknown as { getChart(): import('chart.js').Chart }
    ).getChart()!;
    const y = chart.scales['y']!;
    expect(y.type).toBe('logarithmic');
    const labels = y.ticks.map((t) => String(t.label));
    expect(labels.length).toBeGreaterThan(1);
    expect(labels.every((l) => l.endsWith('/s'))).toBe(true);
  });

  it('draws a dashed line at each phase mark and names the phases', async () => {
    const flat = {
      label: 'flat',
      color: '#0072B2',
      dash: [],
      x: Float64Array.from({ length: 100 }, (_, i) => i * 1e6),
      y: new Float64Array(100).fill(5),
      metric: null,
    };
    const plain = await render(MetricChart, { title: 'p', unit: 'count', series: [flat] });
    const marked = await render(MetricChart, {
      title: 'm',
      unit: 'count',
      series: [flat],
      marks: [{ x: 50e6, label: 'runtime' }],
    });
    const chart = (
      marked.component as unknown as { getChart(): import('chart.js').Chart }
    ).getChart()!;
    const canvas = marked.container.querySelector('canvas')!;
    expect(canvas.getAttribute('aria-label')).toContain('phases marked: runtime');
    expect(inkedPixels(canvas)).toBeGreaterThan(
      inkedPixels(plain.container.querySelector('canvas')!),
    );
    // The mark's column of pixels is inked in the middle of the plot, where the flat series is not.
    const px = Math.round(chart.scales['x']!.getPixelForValue(50e6) * (canvas.width / chart.width));
    const mid = Math.round(
      ((chart.chartArea.top + chart.chartArea.bottom) / 2) * (canvas.height / chart.height),
    );
    const column = canvas.getContext('2d')!.getImageData(px - 1, mid - 20, 3, 40).data;
    let dark = 0;
    for (let i = 0; i < column.length; i += 4) if (column[i]! < 200) dark++;
    expect(dark).toBeGreaterThan(5);
  });
});
