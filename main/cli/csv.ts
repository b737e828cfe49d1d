// CSV of a run's series: one row per sample, time first, then every metric and each node's bytes,
// at full resolution.
import type { PackedResult } from '../worker/protocol.js';

export function seriesCsv(result: PackedResult): string {
  const { timeNs, names, values, nodeBytes } = result.series;
  const header = ['time_ns', ...names, ...nodeBytes.map((_, n) => `node${n}_bytes`)];
  const lines = [header.join(',')];
  for (let i = 0; i < timeNs.length; i++) {
    const row = [timeNs[i]!, ...values.map((v) => v[i]!), ...nodeBytes.map((v) => v[i]!)];
    lines.push(row.map((x) => (Number.isInteger(x) ? String(x) : x.toPrecision(12))).join(','));
  }
  return lines.join('\n') + '\n';
}

/** A variant name as a file name: letters, digits, dot, dash and underscore only. */
export function safeFileName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return cleaned.slice(0, 80) || 'variant';
}
