// Finding the bundled presets and traces from the source tree, the built bundle (out/main) and the
// packaged app (process.resourcesPath), on fake and on real folders.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { PRESETS_DIR } from './run-preparation.js';
import { findResourcesDir, resourcesDir } from './resources-dir.js';
import { makeTempDir, removeDir } from './store-test-helpers.js';

const REPO = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const fakeDirs = (...dirs: string[]) => {
  const set = new Set(dirs.map((d) => resolve(d)));
  return (p: string) => set.has(resolve(p));
};

const temps: string[] = [];
afterEach(async () => {
  for (const d of temps.splice(0)) await removeDir(d);
});

describe('findResourcesDir', () => {
  it('uses the packaged app resources folder when it holds the presets', () => {
    const found = findResourcesDir({
      resourcesPath: '/opt/gmem-lab/resources',
      from: 'file:///opt/gmem-lab/resources/app.asar/out/main/index.js',
      isDir: fakeDirs('/opt/gmem-lab/resources/presets'),
    });
    expect(found).toBe('/opt/gmem-lab/resources');
  });

  it("walks up from the built bundle when resourcesPath is Electron's own folder (npm start)", () => {
    const found = findResourcesDir({
      resourcesPath: '/src/gmem-lab/node_modules/electron/dist/resources',
      from: 'file:///src/gmem-lab/out/main/index.js',
      isDir: fakeDirs('/src/gmem-lab/resources/presets'),
    });
    expect(found).toBe('/src/gmem-lab/resources');
  });

  it('walks up from the source tree outside Electron (CLI, tests)', () => {
    const found = findResourcesDir({
      resourcesPath: undefined,
      from: '/src/gmem-lab/main/services/run-preparation.ts',
      isDir: fakeDirs('/src/gmem-lab/resources/presets'),
    });
    expect(found).toBe('/src/gmem-lab/resources');
  });

  it('answers null when there is none, and resourcesDir then names the checkout folder', () => {
    const lookup = {
      resourcesPath: undefined,
      from: '/x/main/services/resources-dir.ts',
      isDir: () => false,
    };
    expect(findResourcesDir(lookup)).toBeNull();
    expect(resourcesDir(lookup)).toBe('/x/resources');
  });

  it('finds this checkout from the source file and from out/main on the real disk', async () => {
    expect(findResourcesDir({ resourcesPath: undefined })).toBe(join(REPO, 'resources'));
    const fromBundle = pathToFileURL(join(REPO, 'out', 'main', 'index.js'));
    expect(findResourcesDir({ resourcesPath: undefined, from: fromBundle })).toBe(
      join(REPO, 'resources'),
    );
    expect(PRESETS_DIR).toBe(join(REPO, 'resources', 'presets'));
    expect((await readdir(PRESETS_DIR)).some((n) => n.endsWith('.gmemlab.json'))).toBe(true);
  });

  it('finds a packaged layout on the real disk (presets beside app.asar)', async () => {
    const root = await makeTempDir('gmemlab-resources-');
    temps.push(root);
    const resources = join(root, 'gmem-lab', 'resources');
    await mkdir(join(resources, 'presets'), { recursive: true });
    await mkdir(join(resources, 'traces'), { recursive: true });
    await writeFile(join(resources, 'presets', 'a.gmemlab.json'), '{}');
    const found = findResourcesDir({
      resourcesPath: resources,
      from: pathToFileURL(join(resources, 'app.asar', 'out', 'main', 'index.js')),
    });
    expect(found).toBe(resources);
  });
});
