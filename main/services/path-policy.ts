// The one rule for "is this path inside that folder", used wherever a path that came from a file
// or a request is read: the traces an experiment names (CLI, workbench, bridge), the experiment
// store's workspace, and the bridge's static files.
//
// The semantics:
// - A path is a non-empty string without NUL bytes; anything else is refused as NOT_A_PATH.
// - A relative path is resolved against a base folder (for a trace: the experiment file's
//   folder); an absolute one stands as it is. Resolving is lexical, so `a/../b` is `b`.
// - "Inside" a root means the root itself or anything below it. A name that merely starts with
//   two dots (`..data/x`) is below the root; a `..` segment that climbs above it is not.
// - The lexical result must be inside a root (as given, or its real path): else OUTSIDE, which
//   refuses `..` escapes and absolute paths elsewhere before anything is looked at.
// - Then symlinks: the real path (fs.realpath of the target, or of its nearest existing folder
//   when the target does not exist yet) must be inside the real path of a root: else
//   LINK_OUTSIDE. A link inside the root that points out of it is refused; a link that stays
//   inside is followed.
// - Whether the target exists is not the policy's business: reading it reports that.
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';

export type PathRefusal = 'NOT_A_PATH' | 'OUTSIDE' | 'LINK_OUTSIDE';

export class PathPolicyError extends Error {
  constructor(
    readonly reason: PathRefusal,
    /** The path as it was asked for. */
    readonly requested: string,
    /** Lexically resolved (OUTSIDE), or where the symlinks lead (LINK_OUTSIDE). */
    readonly resolved: string,
    message: string,
  ) {
    super(message);
    this.name = 'PathPolicyError';
  }
}

export interface ContainedPath {
  /** Absolute, lexically resolved: what messages show. */
  readonly path: string;
  /** With every symlink resolved; equal to `path`'s real folder + name when it does not exist. */
  readonly real: string;
  readonly exists: boolean;
}

/** Whether `path` is `root` or below it, lexically (both resolved first). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(resolve(root), resolve(path));
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !/^\.\.[\\/]/.test(rel));
}

/** A usable path argument: a non-empty string without NUL bytes. */
export function isPathText(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && !value.includes('\0');
}

/** `requested` resolved against `base` and checked against `roots` as described above; throws
 * PathPolicyError when the policy refuses it. */
export async function resolveContained(
  requested: string,
  scope: { readonly base: string; readonly roots: readonly string[] },
): Promise<ContainedPath> {
  if (!isPathText(requested))
    throw new PathPolicyError(
      'NOT_A_PATH',
      String(requested),
      '',
      `${JSON.stringify(requested)} is not a usable path (empty, or with a NUL byte)`,
    );
  const path = resolve(scope.base, requested);
  const roots = scope.roots.map((r) => resolve(r));
  const realRoots = await Promise.all(roots.map((r) => realpath(r).catch(() => r)));
  const places = `${[...new Set(roots)].join(', ')}`;
  if (![...roots, ...realRoots].some((root) => isInside(root, path)))
    throw new PathPolicyError('OUTSIDE', requested, path, `${path} is outside ${places}`);
  const { real, exists } = await realOf(path);
  if (!realRoots.some((root) => isInside(root, real)))
    throw new PathPolicyError(
      'LINK_OUTSIDE',
      requested,
      real,
      `${path} is a link to ${real}, outside ${places}`,
    );
  return { path, real, exists };
}

/** The real path of `path`, or of its nearest existing folder joined with the rest. */
async function realOf(path: string): Promise<{ real: string; exists: boolean }> {
  try {
    return { real: await realpath(path), exists: true };
  } catch {
    const parent = dirname(path);
    if (parent === path) return { real: path, exists: false };
    const { real } = await realOf(parent);
    return { real: join(real, basename(path)), exists: false };
  }
}
