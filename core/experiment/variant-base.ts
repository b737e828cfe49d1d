// Variants written as differences from another variant (format version 2). A variant may name a
// `base`: every field it does not set is the base's (objects such as `policies` and `costs` field
// by field, lists and `workloadOverrides` whole). In memory every variant is complete and keeps
// its `base` as a link, so the rest of the product reads variants as before; the file keeps only
// the differences, so a field changed on the base carries to every variant that inherits it.

import type { LoadProblem } from './load.js';

/** Fields replaced whole rather than merged key by key: a record of workload parameter paths
 * whose order matters (effectiveWorkload() applies them in order). */
const REPLACED_WHOLE = new Set(['workloadOverrides']);

/** Fields of a variant that are its own, never inherited. */
const OWN = new Set(['name', 'base']);

type Json = Record<string, unknown>;

/** Experiment documents are plain JSON: a JSON round trip is a deep copy. */
function clone<T>(x: T): T {
  return x === undefined ? x : (JSON.parse(JSON.stringify(x)) as T);
}

function isPlainObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** `over` laid on `base`: plain objects merged key by key (except REPLACED_WHOLE at the top),
 * everything else taken from `over` where it has the key. */
export function layOver(base: Json, over: Json, top = true): Json {
  const out: Json = clone(base);
  for (const [key, value] of Object.entries(over)) {
    const below = out[key];
    out[key] =
      isPlainObject(value) && isPlainObject(below) && !(top && REPLACED_WHOLE.has(key))
        ? layOver(below, value, false)
        : clone(value);
  }
  return out;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((x, i) => deepEqual(x, b[i]))
    );
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const ka = Object.keys(a).filter((k) => a[k] !== undefined);
  const kb = Object.keys(b).filter((k) => b[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
}

/** What `variant` sets differently from `base`, as layOver() reads it back; undefined when a
 * field of the base is missing from the variant (a difference layOver() cannot express). */
export function differences(base: Json, variant: Json, top = true): Json | undefined {
  for (const key of Object.keys(base)) {
    if (top && OWN.has(key)) continue;
    if (base[key] !== undefined && variant[key] === undefined) return undefined;
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(variant)) {
    if (value === undefined || (top && OWN.has(key))) continue;
    const below = base[key];
    if (deepEqual(value, below)) continue;
    if (isPlainObject(value) && isPlainObject(below) && !(top && REPLACED_WHOLE.has(key))) {
      const inner = differences(below, value, false);
      if (inner === undefined) return undefined;
      out[key] = inner;
    } else {
      out[key] = clone(value);
    }
  }
  return out;
}

/** Problems of the `base` links of raw variants: a base that names no variant, names the variant
 * itself, or a chain of bases that comes back to where it started. */
export function baseProblems(variants: readonly unknown[]): LoadProblem[] {
  const names = variants.map((v) => (isPlainObject(v) ? v['name'] : undefined));
  const indexOf = (name: unknown): number => names.indexOf(name);
  const problems: LoadProblem[] = [];
  variants.forEach((v, i) => {
    if (!isPlainObject(v) || typeof v['base'] !== 'string') return;
    const path = `variants[${i}].base`;
    const base = v['base'];
    if (base === names[i]) {
      problems.push({
        path,
        message: `a variant cannot be its own base: name another variant, or remove "base"`,
      });
      return;
    }
    if (indexOf(base) < 0) {
      const known = names.filter((n, j) => j !== i && typeof n === 'string') as string[];
      problems.push({
        path,
        message: `"${base}" names no variant of this experiment: use one of ${known.map((n) => `"${n}"`).join(', ') || '(none)'}, or remove "base"`,
      });
      return;
    }
    const chain = [String(names[i])];
    let at = indexOf(base);
    while (at >= 0) {
      const name = String(names[at]);
      if (chain.includes(name)) {
        problems.push({
          path,
          message: `bases go round in a loop (${[...chain, name].join(' → ')}): one of these variants must stand on its own`,
        });
        return;
      }
      chain.push(name);
      const next = variants[at];
      at = isPlainObject(next) && typeof next['base'] === 'string' ? indexOf(next['base']) : -1;
    }
  });
  return problems;
}

/** The document with every variant that names a base completed from it (bases first, however
 * the list is ordered). Links are checked first; a document with bad links comes back with its
 * problems and unchanged. */
export function resolveVariantBases(doc: Json): { doc: Json; problems: LoadProblem[] } {
  const variants = doc['variants'];
  if (!Array.isArray(variants) || !variants.some((v) => isPlainObject(v) && 'base' in v))
    return { doc, problems: [] };
  const problems = baseProblems(variants);
  if (problems.length > 0) return { doc, problems };
  const names = variants.map((v) => (isPlainObject(v) ? v['name'] : undefined));
  const done = new Map<number, unknown>();
  const resolve = (i: number): unknown => {
    const cached = done.get(i);
    if (cached !== undefined) return cached;
    const v = variants[i];
    let out: unknown = v;
    if (isPlainObject(v) && typeof v['base'] === 'string') {
      const base = resolve(names.indexOf(v['base']));
      if (isPlainObject(base)) {
        const { name: _n, base: _b, ...inherited } = base;
        out = { name: v['name'], base: v['base'], ...layOver(inherited, stripOwn(v)) };
      }
    }
    done.set(i, out);
    return out;
  };
  return { doc: { ...doc, variants: variants.map((_, i) => resolve(i)) }, problems: [] };
}

function stripOwn(v: Json): Json {
  const { name: _n, base: _b, ...rest } = v;
  return rest;
}

/** The experiment as its file keeps it: a variant with a base holds its name, its base and what
 * it changes; one whose differences cannot be expressed (it lacks a field its base sets) is
 * written whole, without the link. */
export function compactVariants<T extends { variants: readonly object[] }>(experiment: T): T {
  const variants = experiment.variants as readonly Json[];
  if (!variants.some((v) => typeof v['base'] === 'string')) return experiment;
  const byName = new Map(variants.map((v) => [v['name'], v]));
  const compact = variants.map((v) => {
    const base = typeof v['base'] === 'string' ? byName.get(v['base']) : undefined;
    if (!base) return v;
    const changed = differences(base, v);
    if (changed === undefined) {
      const { base: _b, ...whole } = v;
      return whole;
    }
    return { name: v['name'], base: v['base'], ...changed };
  });
  return { ...experiment, variants: compact };
}

/** Leaf paths under `base` (relative, dotted) whose value `before` and `after` differ, for a
 * variant's edit to carry to the variants that inherit the changed fields. */
export function changedLeaves(before: Json, after: Json, prefix = ''): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    if (prefix === '' && OWN.has(key)) continue;
    const a = before[key];
    const b = after[key];
    if (deepEqual(a, b)) continue;
    const path = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(a) && isPlainObject(b) && !(prefix === '' && REPLACED_WHOLE.has(key)))
      out.push(...changedLeaves(a, b, path));
    else out.push(path);
  }
  return out;
}

/**
 * Carry a change of variant `before` → `after` to `derived`, which names it as its base: every
 * changed field that `derived` still inherited (its value equal to the base's old value) takes the
 * new value; fields `derived` had changed itself stay. Returns the paths it carried.
 */
export function followBase(before: Json, after: Json, derived: Json): string[] {
  const carried: string[] = [];
  for (const path of changedLeaves(before, after)) {
    const keys = path.split('.');
    const old = getIn(before, keys);
    if (!deepEqual(getIn(derived, keys), old)) continue;
    setIn(derived, keys, clone(getIn(after, keys)));
    carried.push(path);
  }
  return carried;
}

function getIn(root: Json, keys: readonly string[]): unknown {
  let node: unknown = root;
  for (const k of keys) {
    if (!isPlainObject(node)) return undefined;
    node = node[k];
  }
  return node;
}

function setIn(root: Json, keys: readonly string[], value: unknown): void {
  let node = root;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(node[k])) node[k] = {};
    node = node[k] as Json;
  }
  const last = keys.at(-1)!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}
