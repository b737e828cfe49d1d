// The experiment schema as JSON Schema (with each field's unit, description and default), for the
// setup form. Built once from the core schema: the form, the CLI and the docs share one source.
import { z } from 'zod';
import { ExperimentSchema } from '../../../../core/experiment/schema';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
  description?: string;
  unit?: string;
  assumption?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  $ref?: string;
  additionalProperties?: boolean | JsonSchema;
}

let cached: JsonSchema | null = null;

export function experimentJsonSchema(): JsonSchema {
  cached ??= z.toJSONSchema(ExperimentSchema, {
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  return cached;
}

export function deref(node: JsonSchema, root: JsonSchema = experimentJsonSchema()): JsonSchema {
  if (!node.$ref) return node;
  const name = node.$ref.replace(/^#\/(\$defs|definitions)\//, '');
  const defs = ((root as Record<string, unknown>)['$defs'] ?? {}) as Record<string, JsonSchema>;
  const { $ref: _ref, ...rest } = node;
  return { ...(defs[name] ?? {}), ...rest };
}

/** The branch of a discriminated union whose `kind` matches. */
export function unionBranch(node: JsonSchema, kind: string): JsonSchema | null {
  const alts = node.anyOf ?? node.oneOf;
  if (!alts) return null;
  for (const alt of alts) {
    const a = deref(alt);
    const k = a.properties?.['kind'];
    if (k && (k.const === kind || (Array.isArray(k.enum) && k.enum[0] === kind))) return a;
  }
  return null;
}

export function unionKinds(node: JsonSchema): string[] {
  const alts = node.anyOf ?? node.oneOf ?? [];
  return alts
    .map((a) => deref(a).properties?.['kind'])
    .map((k) => String(k?.const ?? k?.enum?.[0] ?? ''));
}

export function isNumberType(node: JsonSchema): boolean {
  return node.type === 'number' || node.type === 'integer';
}
