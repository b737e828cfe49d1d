// The unit of an experiment field named by a --param path (`guest.memoryBytes` is in bytes,
// `variants[0].policies.mergeDelayNs` in ns), read from the schema's own metadata, so that a swept
// value is shown as "guest.memoryBytes=64 GiB" rather than as a raw number.
import { z } from 'zod';
import { formatValue } from '../report/format.js';
import { parsePath } from './param-path.js';
import { ExperimentSchema } from './schema.js';

type Node = {
  properties?: Record<string, Node>;
  items?: Node;
  oneOf?: Node[];
  anyOf?: Node[];
  allOf?: Node[];
  unit?: string;
};

let root: Node | null = null;

/** The unit the schema gives the field at `path` ('bytes', 'ns', ...), or undefined. */
export function unitOfPath(path: string): string | undefined {
  root ??= z.toJSONSchema(ExperimentSchema, { io: 'input', unrepresentable: 'any' }) as Node;
  let nodes: Node[] = [root];
  for (const key of parsePath(path)) {
    const next: Node[] = [];
    const visit = (n: Node): void => {
      for (const alt of [...(n.oneOf ?? []), ...(n.anyOf ?? []), ...(n.allOf ?? [])]) visit(alt);
      const child = typeof key === 'number' ? n.items : n.properties?.[key];
      if (child) next.push(child);
    };
    nodes.forEach(visit);
    if (next.length === 0) return undefined;
    nodes = next;
  }
  const units = new Set<string>();
  const collect = (n: Node): void => {
    if (n.unit) units.add(n.unit);
    for (const alt of [...(n.oneOf ?? []), ...(n.anyOf ?? []), ...(n.allOf ?? [])]) collect(alt);
  };
  nodes.forEach(collect);
  return units.size === 1 ? [...units][0] : undefined;
}

/** `path=value`, the value in the field's unit when it has one (64 GiB, 100 ms). */
export function paramLabel(path: string, value: unknown): string {
  const unit = unitOfPath(path);
  if (typeof value === 'number' && (unit === 'bytes' || unit === 'ns'))
    return `${path}=${formatValue(value, unit)}`;
  return `${path}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
}
