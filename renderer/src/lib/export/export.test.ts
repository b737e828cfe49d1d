// Chart exports draw what the compare view shows: the phase marks (dashed lines in the PNG, as
// on screen) and the y axis' scale.
import { describe, expect, it } from 'vitest';
import { chartPng, chartSvg, type ChartExportSpec } from './export';

const THEME = { background: '#ffffff', foreground: '#1d2330' };

function spec(extra: Partial<ChartExportSpec> = {}): ChartExportSpec {
  return {
    id: 'c',
    title: 'c',
    unit: 'count',
    series: [
      {
        label: 'flat',
        color: '#0072B2',
        dash: [],
        x: Float64Array.from({ length: 100 }, (_, i) => i * 1e6),
        y: Float64Array.from({ length: 100 }, (_, i) => 1 + i * i * 100),
        metric: null,
      },
    ],
    ...extra,
  };
}

/** Grey (foreground-coloured, not the blue series, not the white background) pixels of a PNG in
 * the column band `x0..x1` (fractions of its width). */
async function greyInBand(png: Uint8Array, x0: number, x1: number): Promise<number> {
  const bitmap = await createImageBitmap(new Blob([png as BlobPart], { type: 'image/png' }));
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  const from = Math.round(bitmap.width * x0);
  const { data } = ctx.getImageData(from, 0, Math.round(bitmap.width * x1) - from, bitmap.height);
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
    if (Math.max(r, g, b) < 220 && Math.max(r, g, b) - Math.min(r, g, b) < 40) n++;
  }
  return n;
}

describe('chart exports', () => {
  it('draw the phase marks in the PNG, where the series is not', async () => {
    const plain = await chartPng(spec(), THEME);
    const marked = await chartPng(spec({ marks: [{ x: 50e6, label: 'runtime' }] }), THEME);
    // The plot spans most of the width; 50 ms of 0..99 ms lies in its middle band.
    const band = [0.45, 0.65] as const;
    expect(await greyInBand(marked, ...band)).toBeGreaterThan(
      (await greyInBand(plain, ...band)) + 50,
    );
  });

  it('draw the y axis as the view does: log in decades, linear from 0', async () => {
    const log = chartSvg(spec({ yScale: 'log' }), THEME);
    const linear = chartSvg(spec(), THEME);
    expect(log).toMatch(/>100 k<\/text>/);
    expect(log).toMatch(/>10<\/text>/);
    expect(linear).toMatch(/>0<\/text>/);
    expect(await chartPng(spec({ yScale: 'log' }), THEME)).not.toEqual(
      await chartPng(spec(), THEME),
    );
    const marks = chartSvg(spec({ marks: [{ x: 50e6, label: 'runtime' }] }), THEME);
    expect(marks).toContain('<title>runtime</title>');
  });
});
