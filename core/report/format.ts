// Formatting metric values for people: binary units for bytes, SI prefixes for cycles and counts,
// percentages for ratios. Shared by the CLI tables, the workbench and the text export.
import type { MetricUnit } from '../metrics/definitions.js';

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const sign = bytes < 0 ? '-' : '';
  let v = Math.abs(bytes);
  let i = 0;
  while (v >= 1024 && i < BINARY.length - 1) {
    v /= 1024;
    i++;
  }
  return `${sign}${i === 0 ? v : trim(v)} ${BINARY[i]}`;
}

function formatSi(value: number, unit = ''): string {
  if (!Number.isFinite(value)) return String(value);
  const sign = value < 0 ? '-' : '';
  let v = Math.abs(value);
  if (v < 10_000) return `${sign}${Number.isInteger(v) ? v : trim(v)}${unit ? ` ${unit}` : ''}`;
  let i = 0;
  while (v >= 1000 && i < SI.length - 1) {
    v /= 1000;
    i++;
  }
  return `${sign}${trim(v)} ${SI[i]}${unit}`;
}

function formatNs(ns: number): string {
  if (ns < 1000) return `${trim(ns)} ns`;
  if (ns < 1e6) return `${trim(ns / 1e3)} us`;
  if (ns < 1e9) return `${trim(ns / 1e6)} ms`;
  return `${trim(ns / 1e9)} s`;
}

export function formatValue(value: number, unit: MetricUnit): string {
  switch (unit) {
    case 'bytes':
      return formatBytes(value);
    case 'cycles':
      return formatSi(value, 'cycles');
    case 'ns':
      return formatNs(value);
    case 'ratio':
      return `${trim(value * 100)} %`;
    case 'pages':
      return formatSi(value, 'pages');
    case 'count':
      return formatSi(value);
  }
}

function trim(v: number): string {
  const digits = v >= 100 ? 1 : v >= 10 ? 2 : 3;
  return String(Number(v.toFixed(digits)));
}
