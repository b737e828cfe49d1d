// Exports of the compare view: charts as PNG (opaque, 2x) and SVG, every series as CSV and JSON,
// the summary as a plain-text table fit for a mailing-list post, the experiment file, and all of
// it at once as a zip.
import { Chart } from 'chart.js';
import { LINE_CHART_PARTS } from '../charts/line-parts';
import { strToU8, zipSync } from 'fflate';
import type { GmemLabApi, RunResultView } from '@contract/api';
import { METRICS } from '../../../../core/metrics/definitions';
import { formatValue } from '../../../../core/report/format';
import {
  summaryTableCsv,
  summaryTableText,
  type VariantSummary,
} from '../../../../core/report/summary-table';
import { svgLineChart } from '../../../../core/report/svg-chart';
import type { SeriesSpec } from '../charts/datasets';
import { backgroundPlugin, timeMarksPlugin, type TimeMark } from '../charts/sync';
import type { MetricUnit } from '../../../../core/metrics/definitions';

Chart.register(...LINE_CHART_PARTS);

export interface ChartExportSpec {
  readonly id: string;
  readonly title: string;
  readonly unit: MetricUnit;
  readonly series: readonly SeriesSpec[];
  readonly stacked?: boolean;
  /** When each phase of the workload began: dashed, labelled lines, as on screen. */
  readonly marks?: readonly TimeMark[];
  /** The y axis as the view draws it. */
  readonly yScale?: 'linear' | 'log';
}

export interface Theme {
  readonly background: string;
  readonly foreground: string;
}

/** A PNG of the chart at 2x, on an opaque background, as bytes. */
export async function chartPng(
  spec: ChartExportSpec,
  theme: Theme,
  width = 900,
  height = 420,
): Promise<Uint8Array> {
  const canvas = document.createElement('canvas');
  canvas.width = width * 2;
  canvas.height = height * 2;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const holder = document.createElement('div');
  holder.style.cssText = `position:fixed;left:-10000px;top:0;width:${width}px;height:${height}px`;
  holder.appendChild(canvas);
  document.body.appendChild(holder);
  try {
    const chart = new Chart(canvas, {
      type: 'line',
      data: {
        datasets: spec.series.map((s) => ({
          label: s.label,
          data: Array.from(s.x, (x, i) => ({ x, y: s.y[i]! })),
          borderColor: s.color,
          backgroundColor: spec.stacked ? s.color + '55' : s.color,
          borderDash: [...s.dash],
          borderWidth: 1.5,
          pointRadius: 0,
          fill: spec.stacked ? 'stack' : false,
        })),
      },
      options: {
        animation: false,
        responsive: false,
        devicePixelRatio: 2,
        parsing: false,
        plugins: {
          legend: { labels: { color: theme.foreground } },
          title: { display: true, text: spec.title, color: theme.foreground },
        },
        scales: {
          x: {
            type: 'linear',
            ticks: { color: theme.foreground, callback: (v) => formatValue(Number(v), 'ns') },
          },
          y: {
            ...(spec.yScale === 'log' ? { type: 'logarithmic' as const } : { beginAtZero: true }),
            stacked: !!spec.stacked,
            ticks: { color: theme.foreground, callback: (v) => formatValue(Number(v), spec.unit) },
          },
        },
      },
      plugins: [
        backgroundPlugin(theme.background),
        timeMarksPlugin(() => spec.marks ?? [], theme.foreground + '99'),
      ],
    });
    chart.resize(width, height);
    const url = chart.toBase64Image('image/png', 1);
    chart.destroy();
    return base64ToBytes(url.slice(url.indexOf(',') + 1));
  } finally {
    holder.remove();
  }
}

export function chartSvg(spec: ChartExportSpec, theme: Theme): string {
  return svgLineChart({
    marks: spec.marks ?? [],
    logY: spec.yScale === 'log',
    title: spec.title,
    unit: spec.unit,
    x: spec.series[0]?.x ?? [],
    series: spec.series.map((s) => ({ label: s.label, color: s.color, dash: s.dash, values: s.y })),
    background: theme.background,
    foreground: theme.foreground,
    stacked: !!spec.stacked,
  });
}

/** An SVG drawn to a PNG at 2x (opaque: the SVG paints its background). */
export async function svgPng(svg: string, width = 800, height = 400): Promise<Uint8Array> {
  const img = new Image();
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  try {
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = width * 2;
    canvas.height = height * 2;
    const ctx = canvas.getContext('2d')!;
    ctx.scale(2, 2);
    ctx.drawImage(img, 0, 0, width, height);
    const dataUrl = canvas.toDataURL('image/png');
    return base64ToBytes(dataUrl.slice(dataUrl.indexOf(',') + 1));
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Every series of one variant, one row per sample (what the workbench holds: downsampled). */
export function resultCsv(result: RunResultView): string {
  const { timeNs, names, values, nodeBytes = [] } = result.series;
  const header = ['time_ns', ...names, ...nodeBytes.map((_, n) => `node${n}_bytes`)];
  const lines = [header.join(',')];
  for (let i = 0; i < timeNs.length; i++) {
    lines.push(
      [timeNs[i]!, ...values.map((v) => v[i]!), ...nodeBytes.map((v) => v[i]!)]
        .map((x) => String(x))
        .join(','),
    );
  }
  return lines.join('\n') + '\n';
}

export function resultsJson(results: readonly RunResultView[]): string {
  return (
    JSON.stringify(
      results.map((r) => ({
        variant: r.name,
        summary: r.summary,
        series: {
          timeNs: Array.from(r.series.timeNs),
          values: Object.fromEntries(
            r.series.names.map((n, i) => [n, Array.from(r.series.values[i]!)]),
          ),
          ...(r.series.nodeBytes
            ? { nodeBytes: r.series.nodeBytes.map((a) => Array.from(a)) }
            : {}),
        },
      })),
      null,
      2,
    ) + '\n'
  );
}

/** A variant that ran and failed (or was cancelled): its summary column says so. */
export interface FailedVariant {
  readonly name: string;
  readonly variantIndex: number;
  readonly reason: string;
}

/** The runs that ended without a result, with their reasons. */
export function failedVariants(
  runs: readonly {
    variantIndex: number;
    name: string;
    status: string;
    message?: string;
    result?: unknown;
  }[],
): FailedVariant[] {
  return runs
    .filter((r) => !r.result && (r.status === 'failed' || r.status === 'cancelled'))
    .map((r) => ({ name: r.name, variantIndex: r.variantIndex, reason: r.message ?? r.status }));
}

/** What the summary compares: every variant in its place, a failure as a column that says so,
 * and the baseline column (-1 for none). */
export interface SummaryChoice {
  readonly failed?: readonly FailedVariant[];
  readonly baseline?: number;
}

function summaryColumns(
  results: readonly RunResultView[],
  failed: readonly FailedVariant[] = [],
): VariantSummary[] {
  return [
    ...results.map((r) => ({
      index: r.variantIndex,
      v: {
        name: r.name,
        metrics: r.summary.metrics,
        latencyNs: r.summary.latencyNs,
        ...(r.summary.phases ? { phases: r.summary.phases } : {}),
      } as VariantSummary,
    })),
    ...failed.map((f) => ({
      index: f.variantIndex,
      v: { name: f.name, metrics: {}, failed: f.reason } as VariantSummary,
    })),
  ]
    .sort((a, b) => a.index - b.index)
    .map((c) => c.v);
}

function tableOptions(choice: SummaryChoice) {
  const b = choice.baseline ?? 0;
  return { hideZero: true, ...(b >= 0 ? { baseline: b } : {}) };
}

/** The summary table as plain text for a mailing-list post, with the differences and ratios
 * against the baseline. */
export function summaryText(
  title: string,
  results: readonly RunResultView[],
  choice: SummaryChoice = {},
): string {
  const table = summaryTableText(summaryColumns(results, choice.failed), tableOptions(choice));
  return `${title}\n\n${table}\nUnits: ${[...new Set(METRICS.map((m) => m.unit))].join(', ')}. Produced with gmem-lab.\n`;
}

/** The summary table as CSV: raw values, and the differences and ratios against the baseline. */
export function summaryCsv(results: readonly RunResultView[], choice: SummaryChoice = {}): string {
  return summaryTableCsv(summaryColumns(results, choice.failed), tableOptions(choice));
}

export function safeName(name: string): string {
  return (
    name
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^[._]+/, '')
      .slice(0, 80) || 'export'
  );
}

export interface ExportBundle {
  readonly title: string;
  readonly experimentJson: string;
  readonly charts: readonly ChartExportSpec[];
  readonly results: readonly RunResultView[];
  /** Full-resolution CSV per variant when the Node side still has it. */
  readonly fullCsv?: ReadonlyMap<string, string>;
  /** Failures and baseline of the summary table. */
  readonly summary?: SummaryChoice;
}

/** The whole comparison as one zip: every chart as PNG and SVG, every series as CSV and JSON, the
 * summary table as text and CSV, and the experiment file. */
export async function comparisonZip(bundle: ExportBundle, theme: Theme): Promise<Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  const base = safeName(bundle.title);
  for (const chart of bundle.charts) {
    files[`${base}/charts/${chart.id}.png`] = await chartPng(chart, theme);
    files[`${base}/charts/${chart.id}.svg`] = strToU8(chartSvg(chart, theme));
  }
  for (const r of bundle.results) {
    const csv = bundle.fullCsv?.get(r.name) ?? resultCsv(r);
    files[`${base}/series/${safeName(r.name)}.csv`] = strToU8(csv);
  }
  files[`${base}/series.json`] = strToU8(resultsJson(bundle.results));
  files[`${base}/summary.txt`] = strToU8(summaryText(bundle.title, bundle.results, bundle.summary));
  files[`${base}/summary.csv`] = strToU8(summaryCsv(bundle.results, bundle.summary));
  files[`${base}/experiment.gmemlab.json`] = strToU8(bundle.experimentJson);
  return zipSync(files, { level: 6 });
}

/** Hand a file to the user: a save dialog in the desktop app, a download in a browser. */
export async function deliver(
  api: GmemLabApi,
  nativeDialogs: boolean,
  name: string,
  data: string | Uint8Array,
  kind: 'png' | 'svg' | 'csv' | 'json' | 'jsonl' | 'txt' | 'zip',
): Promise<void> {
  if (nativeDialogs) {
    const payload =
      typeof data === 'string'
        ? { data, encoding: 'utf8' as const }
        : { data: bytesToBase64(data), encoding: 'base64' as const };
    await api.call('exports.write', { suggestedName: name, kind, ...payload });
    return;
  }
  const mime: Record<typeof kind, string> = {
    png: 'image/png',
    svg: 'image/svg+xml',
    csv: 'text/csv',
    json: 'application/json',
    jsonl: 'application/jsonl',
    txt: 'text/plain',
    zip: 'application/zip',
  };
  const blob = new Blob([typeof data === 'string' ? data : (data as Uint8Array<ArrayBuffer>)], {
    type: mime[kind],
  });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}
