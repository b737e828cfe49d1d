// A line chart as standalone SVG: axes with ticks in the metric's unit, one polyline per series,
// a legend. Vector export of the compare view's charts (Chart.js draws to a canvas only).
import type { MetricUnit } from '../metrics/definitions.js';
import { formatValue } from './format.js';

interface SvgSeries {
  readonly label: string;
  readonly color: string;
  readonly dash?: readonly number[];
  readonly values: ArrayLike<number>;
}

export interface SvgChartSpec {
  readonly title: string;
  readonly unit: MetricUnit;
  /** x values in ns of simulated time. */
  readonly x: ArrayLike<number>;
  readonly series: readonly SvgSeries[];
  readonly width?: number;
  readonly height?: number;
  readonly background?: string;
  readonly foreground?: string;
  /** Stack the series as filled areas (parts of a whole), as the workbench draws them. */
  readonly stacked?: boolean;
  /** Another x axis than simulated time: its title, and a labelled tick at each given x (a
   * sweep's values); each point is also marked with a dot. */
  readonly xAxis?: {
    readonly title: string;
    readonly ticks: readonly { readonly x: number; readonly label: string }[];
  };
  /** A logarithmic y axis, as the workbench's toggle draws it: values of 0 and below are left
   * out, and stacked bands start at the axis' floor. */
  readonly logY?: boolean;
  /** Moments marked with a dashed, labelled line (when each phase of the workload began). */
  readonly marks?: readonly { readonly x: number; readonly label: string }[];
}

export function svgLineChart(spec: SvgChartSpec): string {
  const width = spec.width ?? 800;
  const height = spec.height ?? 400;
  const fg = spec.foreground ?? '#1d2330';
  const bg = spec.background ?? '#ffffff';
  const m = { left: 90, right: 20, top: 36, bottom: 48 + 18 * Math.ceil(spec.series.length / 3) };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const xs = Array.from(spec.x);
  // Stacked: each series is drawn at the running sum of the ones before it.
  const drawn: Array<ArrayLike<number>> = [];
  if (spec.stacked) {
    const base = new Float64Array(xs.length);
    for (const s of spec.series) {
      const top = new Float64Array(xs.length);
      for (let i = 0; i < xs.length; i++)
        top[i] = base[i]! + (Number.isFinite(s.values[i]!) ? s.values[i]! : 0);
      drawn.push(top);
      base.set(top);
    }
  } else {
    for (const s of spec.series) drawn.push(s.values);
  }
  const xMin = xs.length ? Math.min(...xs) : 0;
  const xMax = xs.length ? Math.max(...xs) : 1;
  const log = !!spec.logY;
  const shown = (v: number) => Number.isFinite(v) && (!log || v > 0);
  let yMin = log ? Infinity : 0;
  let yMax = log ? -Infinity : 0;
  for (const values of drawn) {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (shown(v)) {
        yMin = Math.min(yMin, v);
        yMax = Math.max(yMax, v);
      }
    }
  }
  if (log) {
    // Whole decades around the data, as Chart.js's logarithmic scale.
    if (!Number.isFinite(yMin)) [yMin, yMax] = [1, 10];
    yMin = 10 ** Math.floor(Math.log10(yMin));
    yMax = 10 ** Math.ceil(Math.log10(yMax));
    if (yMax <= yMin) yMax = yMin * 10;
  } else if (yMax === yMin) yMax = yMin + 1;
  const sx = (x: number) => m.left + ((x - xMin) / (xMax - xMin || 1)) * pw;
  const sy = log
    ? (y: number) =>
        m.top + ph - ((Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax / yMin) || 1)) * ph
    : (y: number) => m.top + ph - ((y - yMin) / (yMax - yMin)) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="${esc(bg)}"/>`,
    `<text x="${m.left}" y="22" font-size="15" font-weight="600" fill="${esc(fg)}">${esc(spec.title)}</text>`,
  );
  // Axes and ticks.
  parts.push(`<g stroke="${esc(fg)}" stroke-opacity="0.25">`);
  const yTicks = log ? decadeTicks(yMin, yMax) : niceTicks(yMin, yMax, 5);
  for (const t of yTicks)
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${f(sy(t))}" y2="${f(sy(t))}"/>`);
  parts.push('</g>');
  parts.push(`<g fill="${esc(fg)}" text-anchor="end">`);
  for (const t of yTicks)
    parts.push(
      `<text x="${m.left - 6}" y="${f(sy(t) + 4)}">${esc(formatValue(t, spec.unit))}</text>`,
    );
  parts.push('</g>');
  parts.push(`<g fill="${esc(fg)}" text-anchor="middle">`);
  const xTicks = spec.xAxis
    ? spec.xAxis.ticks
    : niceTicks(xMin, xMax, 6).map((x) => ({ x, label: formatValue(x, 'ns') }));
  for (const t of xTicks)
    parts.push(`<text x="${f(sx(t.x))}" y="${m.top + ph + 18}">${esc(t.label)}</text>`);
  parts.push(
    `<text x="${m.left + pw / 2}" y="${m.top + ph + 34}">${esc(spec.xAxis?.title ?? 'simulated time')}</text>`,
  );
  parts.push('</g>');
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="${esc(fg)}" stroke-opacity="0.6"/>`,
  );
  // Series (stacked: filled bands between each running sum and the one below, topmost last).
  spec.series.forEach((s, k) => {
    const values = drawn[k]!;
    const points: string[] = [];
    const n = Math.min(xs.length, values.length);
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (shown(v)) points.push(`${f(sx(xs[i]!))},${f(sy(v))}`);
    }
    if (spec.stacked && n > 0) {
      const below = k > 0 ? drawn[k - 1]! : null;
      const lower: string[] = [];
      for (let i = n - 1; i >= 0; i--)
        lower.push(
          `${f(sx(xs[i]!))},${f(sy(Math.max(below ? below[i]! : 0, log ? yMin : -Infinity)))}`,
        );
      parts.push(
        `<polygon fill="${esc(s.color)}" fill-opacity="0.33" stroke="none" points="${[...points, ...lower].join(' ')}"/>`,
      );
    }
    const dash = s.dash && s.dash.length ? ` stroke-dasharray="${s.dash.join(' ')}"` : '';
    parts.push(
      `<polyline fill="none" stroke="${esc(s.color)}" stroke-width="1.6"${dash} points="${points.join(' ')}"><title>${esc(s.label)}</title></polyline>`,
    );
    if (spec.xAxis)
      for (const p of points) {
        const [cx, cy] = p.split(',');
        parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${esc(s.color)}"/>`);
      }
  });
  // Phase marks: a dashed line each, labelled where the label does not run into the last one.
  if (spec.marks && spec.marks.length > 0) {
    parts.push(`<g class="marks" stroke="${esc(fg)}" stroke-opacity="0.6" fill="${esc(fg)}">`);
    let labelEnd = -Infinity;
    for (const mark of spec.marks) {
      if (mark.x < xMin || mark.x > xMax) continue;
      const px = sx(mark.x);
      parts.push(
        `<line x1="${f(px)}" x2="${f(px)}" y1="${m.top}" y2="${m.top + ph}" stroke-dasharray="4 3"><title>${esc(mark.label)}</title></line>`,
      );
      // About 6 px a character at font size 10.
      const labelWidth = mark.label.length * 6;
      if (px + 2 >= labelEnd && px + 2 + labelWidth <= m.left + pw) {
        parts.push(
          `<text x="${f(px + 3)}" y="${m.top + 11}" font-size="10" stroke="none">${esc(mark.label)}</text>`,
        );
        labelEnd = px + 2 + labelWidth + 6;
      }
    }
    parts.push('</g>');
  }
  // Legend.
  spec.series.forEach((s, i) => {
    const lx = m.left + (i % 3) * (pw / 3);
    const ly = height - m.bottom + 52 + Math.floor(i / 3) * 18;
    const dash = s.dash && s.dash.length ? ` stroke-dasharray="${s.dash.join(' ')}"` : '';
    parts.push(
      `<line x1="${f(lx)}" x2="${f(lx + 22)}" y1="${ly - 4}" y2="${ly - 4}" stroke="${esc(s.color)}" stroke-width="2"${dash}/>`,
      `<text x="${f(lx + 28)}" y="${ly}" fill="${esc(fg)}">${esc(s.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** 1, 10, 100, ... from min to max (both powers of ten). */
function decadeTicks(min: number, max: number): number[] {
  const out: number[] = [];
  for (let e = Math.round(Math.log10(min)); e <= Math.round(Math.log10(max)); e++)
    out.push(10 ** e);
  return out;
}

function niceTicks(min: number, max: number, count: number): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step)
    out.push(Number(t.toPrecision(12)));
  return out;
}

function f(n: number): string {
  return Number.isFinite(n) ? String(Math.round(n * 10) / 10) : '0';
}

function esc(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
