// docs/experiment-format.md, generated from the experiment schema: every field with its type,
// default, unit and description. A test checks the committed file against this output, so the
// document cannot drift from the schema (regenerate with `npm run docs`).
import { z } from 'zod';
import { CONSTANTS } from '../constants.js';
import { ExperimentSchema, FORMAT_NAME, FORMAT_VERSION } from './schema.js';

type Json = Record<string, unknown>;

interface Row {
  readonly path: string;
  readonly type: string;
  readonly required: boolean;
  readonly def: string;
  readonly unit: string;
  readonly description: string;
}

export function experimentFormatMarkdown(): string {
  const schema = z.toJSONSchema(ExperimentSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  const rows: Row[] = [];
  walk(schema, '', true, rows, schema);
  const lines = [
    '# Experiment file format',
    '',
    `<!-- Generated from core/experiment/schema.ts by \`npm run docs\`; do not edit by hand. -->`,
    '',
    `An experiment is one JSON document, usually saved as \`NAME.gmemlab.json\`. It names its format`,
    `(\`"format": "${FORMAT_NAME}"\`) and version (\`"version": ${FORMAT_VERSION}\`): files from a newer version are`,
    'refused with a message that says so, and older versions are migrated when they are loaded.',
    '',
    'Unknown fields are errors (so a misspelt field is never ignored silently), and every error names',
    'the field path, for example `variants[1].policies.merge`. Fields with a default may be left out.',
    'Sizes are in bytes and times in nanoseconds of simulated time.',
    '',
    'The `workload` is one of several kinds, chosen by its `kind` field; the table lists the fields',
    'of each kind under `workload (kind=...)`.',
    '',
    '## Variants as differences from a base',
    '',
    'A variant may name another as its `base` and set only what differs; every field it leaves out',
    "is the base's. Objects (`policies`, `costs`, `mempolicy`, `faultPath`) are merged field by field;",
    'lists and `workloadOverrides` are taken whole. Bases may chain, in any order of the list; a base',
    'that names no variant, the variant itself, or a loop is refused at `variants[N].base`.',
    '',
    '```json',
    '"variants": [',
    '  { "name": "HugeTLB 1 GiB", "pageSize": "1g", "allocator": "hugetlb" },',
    '  { "name": "CMA 1 GiB", "base": "HugeTLB 1 GiB", "allocator": "cma-raw" }',
    ']',
    '```',
    '',
    'gmem-lab writes such a variant as its name, its base and its differences, so a change to the',
    'base (in the file, in the setup form, or by a sweep of one of its fields) carries to every',
    'variant that inherits the field. A variant that drops a field its base sets cannot be written',
    'as differences; it is then written whole, without `base`.',
    '',
    '## Older versions',
    '',
    'Version 1 (gmem-lab 0.1) had no `base`: its variants are whole, and load unchanged. Its',
    'allocator name `cma` is read as `cma-raw` (run-time `cma_alloc()`, no HVO). The workbench says',
    'when a file was migrated; saving writes version 2, which version 1 builds refuse with a message.',
    '',
    '| field | type | required | default | unit | description |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| \`${r.path}\` | ${r.type} | ${r.required ? 'yes' : 'no'} | ${r.def} | ${r.unit} | ${escape(r.description)} |`,
    ),
    '',
    '## Model constants (`variants[].costs`)',
    '',
    'Each variant may override any model constant; the ones marked as assumptions have no public',
    'measurement behind them.',
    '',
    '| constant | default | unit | assumption | description | source |',
    '|---|---|---|---|---|---|',
    ...CONSTANTS.map(
      (c) =>
        `| \`${c.key}\` | ${c.value} | ${c.unit} | ${c.assumption ? 'yes' : 'no'} | ${escape(c.description)} | ${escape(c.source)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

function walk(node: Json, path: string, required: boolean, rows: Row[], root: Json): void {
  const n = deref(node, root);
  const alternatives = (n['anyOf'] ?? n['oneOf']) as Json[] | undefined;
  if (
    alternatives &&
    alternatives.every((a) => isObject(deref(a, root)) && kindOf(deref(a, root)))
  ) {
    if (path) rows.push(row(path, n, 'object', required));
    for (const alt of alternatives) {
      const a = deref(alt, root);
      walkObject(a, `${path} (kind=${kindOf(a)})`, rows, root);
    }
    return;
  }
  if (isObject(n)) {
    if (path) rows.push(row(path, n, 'object', required));
    walkObject(n, path, rows, root);
    return;
  }
  if (n['type'] === 'array') {
    rows.push(
      row(path, n, `list of ${typeName(deref((n['items'] as Json) ?? {}, root))}`, required),
    );
    const items = deref((n['items'] as Json) ?? {}, root);
    if (isObject(items)) walkObject(items, `${path}[]`, rows, root);
    return;
  }
  rows.push(row(path, n, typeName(n), required));
}

function walkObject(n: Json, path: string, rows: Row[], root: Json): void {
  const props = (n['properties'] ?? {}) as Record<string, Json>;
  const req = new Set((n['required'] as string[] | undefined) ?? []);
  for (const [key, child] of Object.entries(props)) {
    walk(child, path ? `${path}.${key}` : key, req.has(key), rows, root);
  }
}

function row(path: string, n: Json, type: string, required: boolean): Row {
  const def = n['default'];
  const unit = typeof n['unit'] === 'string' ? (n['unit'] as string) : '';
  const description = typeof n['description'] === 'string' ? (n['description'] as string) : '';
  const assumption = n['assumption'] === true ? ' (assumption)' : '';
  return {
    path,
    type,
    required: required && def === undefined,
    def: def === undefined ? '' : `\`${JSON.stringify(def).slice(0, 60)}\``,
    unit,
    description: description + assumption,
  };
}

function typeName(n: Json): string {
  if (Array.isArray(n['enum']))
    return (n['enum'] as unknown[]).map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (n['const'] !== undefined) return `\`${JSON.stringify(n['const'])}\``;
  const t = n['type'];
  if (t === 'integer') return 'integer';
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return t.join(' \\| ');
  const alts = (n['anyOf'] ?? n['oneOf']) as Json[] | undefined;
  if (alts) return alts.map((a) => typeName(a)).join(' \\| ');
  if (Object.keys(n).length === 0 || n['description'] !== undefined) return 'any JSON value';
  return 'value';
}

function isObject(n: Json): boolean {
  return n['type'] === 'object' && n['properties'] !== undefined;
}

function kindOf(n: Json): string | null {
  const kind = ((n['properties'] ?? {}) as Record<string, Json>)['kind'];
  if (!kind) return null;
  if (kind['const'] !== undefined) return String(kind['const']);
  if (Array.isArray(kind['enum']) && kind['enum'].length === 1) return String(kind['enum'][0]);
  return null;
}

function deref(n: Json, root: Json): Json {
  const ref = n['$ref'];
  if (typeof ref !== 'string') return n;
  const name = ref.replace(/^#\/(\$defs|definitions)\//, '');
  const defs = (root['$defs'] ?? root['definitions'] ?? {}) as Record<string, Json>;
  return {
    ...(defs[name] ?? {}),
    ...Object.fromEntries(Object.entries(n).filter(([k]) => k !== '$ref')),
  };
}

function escape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
