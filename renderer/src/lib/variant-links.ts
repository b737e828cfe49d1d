// Variants edited as differences from a base (core/experiment/variant-base.ts) in the setup form:
// the document holds every variant whole, so an edit of a base is carried here to the fields its
// variants still inherit, a renamed base keeps its variants, and a removed one leaves them whole.
import { followBase } from '../../../core/experiment/variant-base';

type Json = Record<string, unknown>;

function baseName(v: Json): string | undefined {
  return typeof v['base'] === 'string' ? v['base'] : undefined;
}

/** The variant `v` names as its base, if it is in the list. */
export function baseOf(variants: readonly Json[], v: Json): Json | undefined {
  const name = baseName(v);
  return name === undefined ? undefined : variants.find((x) => x['name'] === name);
}

/** Names variant `i` may take as its base: every other variant whose own chain of bases does not
 * lead back to `i`. */
export function baseChoices(variants: readonly Json[], i: number): string[] {
  const self = variants[i]?.['name'];
  return variants
    .filter((v, j) => {
      if (j === i) return false;
      const seen = new Set<unknown>();
      for (let at: Json | undefined = v; at; at = baseOf(variants, at)) {
        if (at['name'] === self) return false;
        if (seen.has(at['name'])) break;
        seen.add(at['name']);
      }
      return true;
    })
    .map((v) => String(v['name']));
}

/**
 * Carry the edits between `before` (a snapshot of the variants) and `live` (the document's
 * variants, changed in place) to the variants that inherit them: a base renamed at the same place
 * keeps its variants linked; a changed field of a base goes to every variant (and its variants
 * in turn) that still had the base's old value. Lists of different lengths (a variant added or
 * removed) carry nothing. Returns the `name: path` of every carried field.
 */
export function carryBaseEdits(before: readonly Json[], live: Json[]): string[] {
  if (before.length !== live.length) return [];
  const carried: string[] = [];
  before.forEach((old, i) => {
    const now = live[i]!;
    if (old['name'] === now['name']) return;
    for (const v of live) if (v !== now && v['base'] === old['name']) v['base'] = now['name'];
  });
  // From each changed variant down its tree of dependants, each compared with its own snapshot.
  const queue = live.map((_, i) => i).filter((i) => changed(before[i]!, live[i]!));
  const done = new Set<number>();
  while (queue.length > 0) {
    const i = queue.shift()!;
    if (done.has(i)) continue;
    done.add(i);
    const base = live[i]!;
    live.forEach((v, j) => {
      if (j === i || v['base'] !== base['name']) return;
      for (const path of followBase(before[i]!, base, v))
        carried.push(`${String(v['name'])}: ${path}`);
      if (changed(before[j]!, v)) queue.push(j);
    });
  }
  return carried;
}

function changed(a: Json, b: Json): boolean {
  return JSON.stringify(a) !== JSON.stringify(b);
}

/** Before variant `removed` leaves the list: its variants take its base instead (or stand on
 * their own); their fields are whole already, so no value changes. */
export function unlinkRemoved(variants: Json[], removed: Json): void {
  for (const v of variants) {
    if (v === removed || v['base'] !== removed['name']) continue;
    const next = baseName(removed);
    if (next === undefined) delete v['base'];
    else v['base'] = next;
  }
}
