// Parameter paths like `variants[1].policies.merge` or `runtime.guestSharedPool.enabled`: how
// sweeps and per-variant workload overrides name a field of the experiment.

export type PathKey = string | number;

export function parsePath(path: string): PathKey[] {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\[\d+\]|\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(path)) {
    throw new SyntaxError(
      `"${path}" is not a parameter path (expected names joined by dots, with [n] for list items, e.g. variants[0].policies.merge)`,
    );
  }
  const keys: PathKey[] = [];
  for (const m of path.matchAll(/([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) {
    keys.push(m[1] !== undefined ? m[1] : Number(m[2]));
  }
  return keys;
}

export function getPath(root: unknown, path: string): unknown {
  let node: unknown = root;
  for (const key of parsePath(path)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PathKey, unknown>)[key];
  }
  return node;
}

/** A copy of `root` with the field at `path` set to `value`; objects along the way are created.
 * Refuses to create list items past the end, and keys that would reach the prototype. */
export function withPath<T>(root: T, path: string, value: unknown): T {
  const keys = parsePath(path);
  // Experiment documents are plain JSON: a JSON round trip is a deep copy.
  const copy = (root === undefined ? undefined : JSON.parse(JSON.stringify(root))) as unknown;
  let node = copy as Record<PathKey, unknown>;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      throw new SyntaxError(`"${path}": "${String(key)}" cannot be set`);
    }
    if (typeof key === 'number') {
      if (!Array.isArray(node))
        throw new TypeError(`"${path}": [${key}] indexes something that is not a list`);
      if (key >= node.length)
        throw new RangeError(
          `"${path}": item [${key}] does not exist (the list has ${node.length})`,
        );
    } else if (Array.isArray(node)) {
      throw new TypeError(`"${path}": ".${key}" names a field of a list`);
    }
    if (i === keys.length - 1) {
      node[key] = value;
    } else {
      const next = node[key];
      if (next === undefined || next === null)
        node[key] = typeof keys[i + 1] === 'number' ? [] : {};
      else if (typeof next !== 'object')
        throw new TypeError(`"${path}": "${String(key)}" is a ${typeof next}, not an object`);
      node = node[key] as Record<PathKey, unknown>;
    }
  }
  return copy as T;
}

/** A command-line value: JSON when it parses as JSON (numbers, booleans, quoted strings, objects),
 * otherwise the plain string (so `merge=eager` needs no quotes). */
export function parseParamValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
