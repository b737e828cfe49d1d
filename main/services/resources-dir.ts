// Where the bundled resources (presets/, traces/) are, wherever the code runs from:
//   - the packaged desktop app: electron-builder copies them beside app.asar, into
//     process.resourcesPath (electron-builder.yml, extraResources);
//   - the source tree (CLI through tsx, tests): <checkout>/resources, found by walking up from
//     this file (main/services/);
//   - the built bundle (out/main/index.js, `npm start`): the same folder, walking up from out/main/.
// No Node-only code beyond path and fs; no Electron (process.resourcesPath is read if present).
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ResourcesLookup {
  /** Electron's process.resourcesPath (undefined outside Electron). */
  readonly resourcesPath?: string | undefined;
  /** Where to start walking up from: a file URL or path; default this module. */
  readonly from?: string | URL;
  /** Whether a folder exists (tests pass a fake). */
  readonly isDir?: (path: string) => boolean;
}

/** The marker of a resources folder: its presets. */
const MARKER = 'presets';

/** The folder holding presets/ and traces/, or null when none is found. */
export function findResourcesDir(lookup: ResourcesLookup = {}): string | null {
  const isDir = lookup.isDir ?? isDirectory;
  const packaged =
    'resourcesPath' in lookup
      ? lookup.resourcesPath
      : (process as { resourcesPath?: string }).resourcesPath;
  // Electron always sets resourcesPath; outside a packaged app it is Electron's own folder,
  // which has no presets, and the walk below finds the checkout's.
  if (packaged && isDir(join(packaged, MARKER))) return packaged;
  let dir = dirname(startFile(lookup));
  for (;;) {
    const candidate = join(dir, 'resources');
    if (isDir(join(candidate, MARKER))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** findResourcesDir(), or the checkout's resources/ folder as computed from this file when nothing
 * is found (the messages that follow name that folder). */
export function resourcesDir(lookup: ResourcesLookup = {}): string {
  return findResourcesDir(lookup) ?? join(dirname(startFile(lookup)), '..', '..', 'resources');
}

function startFile(lookup: ResourcesLookup): string {
  const from = lookup.from ?? import.meta.url;
  if (from instanceof URL || from.startsWith('file:')) return fileURLToPath(from);
  return from;
}

function isDirectory(path: string): boolean {
  try {
    return existsSync(path) && statSync(path).isDirectory();
  } catch {
    return false;
  }
}
