// The packaging configuration (electron-builder.yml), checked two ways without an Electron binary:
//  1. statically: the settings the app relies on (id, name, targets, file associations, icons);
//  2. by packaging for real: electron-builder packs the Linux `dir` target of a fresh
//     `electron-vite build` around a stand-in for the Electron binary (a script with the fuse wire
//     Electron carries). Then the packaged layout is checked (app.asar, the unpacked worker, the
//     presets, traces and docs beside it, the fuses), and the packaged worker runs a preset found
//     the way the packaged app finds it.
// What cannot be checked here: the AppImage, deb, dmg and NSIS targets themselves (their tools are
// downloaded at packaging time) and starting the real binary.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, open, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createRequire, isBuiltin } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Configuration } from 'electron-builder';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackedPath } from './asar-path.js';
import { EventHub } from '../services/dispatch.js';
import { findResourcesDir } from '../services/resources-dir.js';
import { SimulationHost } from '../services/simulation-host.js';
import { makeTempDir, removeDir } from '../services/store-test-helpers.js';
import { createWorkbench } from '../services/workbench.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
// app-builder-lib as electron-builder itself resolves it (it is electron-builder's dependency).
const builderRequire = createRequire(
  createRequire(import.meta.url).resolve('electron-builder/package.json'),
);

interface LoadedConfig extends Configuration {
  readonly linux: NonNullable<Configuration['linux']>;
  readonly mac: NonNullable<Configuration['mac']>;
  readonly win: NonNullable<Configuration['win']>;
}

async function loadConfig(): Promise<LoadedConfig> {
  const { getConfig, validateConfiguration } = builderRequire(
    'app-builder-lib/out/util/config/config.js',
  ) as {
    getConfig(projectDir: string, configPath: string | null): Promise<Configuration>;
    validateConfiguration(config: Configuration, log: unknown): Promise<void>;
  };
  const config = await getConfig(REPO, join(REPO, 'electron-builder.yml'));
  // electron-builder's own schema: misspelled or misplaced options fail here.
  await validateConfiguration(config, { isEnabled: false, add() {} });
  return config as LoadedConfig;
}

/** A path matcher with electron-builder's own semantics (FileMatcher, as for files/asarUnpack). */
function matcher(patterns: string[]): (relative: string) => boolean {
  const { FileMatcher } = builderRequire('app-builder-lib/out/fileMatcher.js') as {
    FileMatcher: new (
      from: string,
      to: string,
      expand: (s: string) => string,
      patterns: string[],
    ) => { createFilter(): (file: string, stat: { isDirectory(): boolean }) => boolean };
  };
  const filter = new FileMatcher(REPO, REPO, (s) => s, patterns).createFilter();
  return (relative) => filter(join(REPO, relative), { isDirectory: () => false });
}

const asArray = <T>(v: T | readonly T[] | null | undefined): T[] =>
  v === null || v === undefined ? [] : Array.isArray(v) ? [...v] : [v as T];

/** The patterns of a files-like option (electron-builder turns strings into one FileSet). */
function patternsOf(option: unknown): string[] {
  return asArray(option as unknown[]).flatMap((entry) =>
    typeof entry === 'string' ? [entry] : asArray((entry as { filter?: string[] }).filter),
  );
}

describe('electron-builder.yml', () => {
  let config: LoadedConfig;
  beforeAll(async () => {
    config = await loadConfig();
  });

  it('names the app and targets AppImage and deb, dmg, NSIS', () => {
    expect(config.appId).toBe('org.gmemlab.workbench');
    expect(config.productName).toBe('gmem-lab');
    expect(asArray(config.linux.target)).toEqual(['AppImage', 'deb']);
    expect(asArray(config.mac.target)).toEqual(['dmg']);
    expect(asArray(config.win.target)).toEqual(['nsis']);
    expect(config.linux.executableName).toBe('gmem-lab');
  });

  it('associates *.gmemlab.json where the system can, never taking over every .json', () => {
    expect(asArray(config.fileAssociations)).toEqual([]);
    expect(asArray(config.win.fileAssociations)).toEqual([]);
    expect(asArray(config.linux.fileAssociations)).toEqual([
      expect.objectContaining({ ext: 'gmemlab.json', mimeType: 'application/x-gmemlab+json' }),
    ]);
    expect(asArray(config.mac.fileAssociations)).toEqual([
      expect.objectContaining({ ext: 'json', role: 'Editor', rank: 'Alternate' }),
    ]);
  });

  it('packs the bundles, not the sources or node_modules, and unpacks the worker bundle', () => {
    const files = matcher(patternsOf(config.files));
    for (const f of [
      'package.json',
      'out/main/index.js',
      'out/main/chunks/simulation-worker-0123abcd.mjs',
      'out/preload/index.cjs',
      'out/renderer/index.html',
      'out/renderer/assets/index-abc.js',
    ])
      expect(files(f), f).toBe(true);
    for (const f of [
      'out/main/index.js.map',
      'node_modules/zod/index.js',
      'main/shell/index.ts',
      'core/sim/simulation.ts',
      'resources/presets/merge-policies.gmemlab.json',
    ])
      expect(files(f), f).toBe(false);
    const unpack = matcher(patternsOf(config.asarUnpack));
    expect(unpack('out/main/chunks/simulation-worker-0123abcd.mjs')).toBe(true);
    expect(unpack('out/main/index.js')).toBe(false);
  });

  it('puts presets, traces and docs beside app.asar', () => {
    const extra = asArray(config.extraResources) as Array<{ from: string; to: string }>;
    expect(extra.map((e) => [e.from, e.to])).toEqual([
      ['resources/presets', 'presets'],
      ['resources/traces', 'traces'],
      ['docs', 'docs'],
      ['README.md', 'docs/README.md'],
    ]);
  });

  it('has a 512x512 RGBA PNG icon drawn from icon.svg, for every platform', () => {
    for (const icon of [config.icon, config.linux.icon, config.mac.icon, config.win.icon]) {
      expect(icon).toBe('resources/icons/icon.png');
    }
    const png = readFileSync(join(REPO, 'resources/icons/icon.png'));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
    expect(png.toString('latin1', 12, 16)).toBe('IHDR');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([512, 512]);
    expect(png[25]).toBe(6); // colour type 6: RGBA
    expect(readFileSync(join(REPO, 'resources/icons/icon.svg'), 'utf8')).toMatch(/<svg[^>]*512/);
  });

  it('package.json has the dist scripts and a main the packaged app starts from', () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      main: string;
      scripts: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(pkg.main).toBe('out/main/index.js');
    expect(pkg.scripts['dist']).toBe('electron-vite build && electron-builder');
    for (const [script, flag] of [
      ['dist:linux', '--linux'],
      ['dist:mac', '--mac'],
      ['dist:win', '--win'],
    ] as const)
      expect(pkg.scripts[script]).toBe(`electron-vite build && electron-builder ${flag}`);
    expect(pkg.devDependencies['electron-builder']).toMatch(/^\^?26\./);
  });
});

// ---------------------------------------------------------------------------------------------

/** The file tree of an asar archive, read from its header (path -> unpacked or not). */
async function asarFiles(archive: string): Promise<Map<string, { unpacked: boolean }>> {
  const handle = await open(archive, 'r');
  try {
    const head = Buffer.alloc(16);
    await handle.read(head, 0, 16, 0);
    const headerSize = head.readUInt32LE(4);
    const header = Buffer.alloc(headerSize);
    await handle.read(header, 0, headerSize, 8);
    const json = header.toString('utf8', 8, 8 + header.readUInt32LE(4));
    type Node = { files?: Record<string, Node>; unpacked?: boolean };
    const out = new Map<string, { unpacked: boolean }>();
    const walk = (node: Node, prefix: string) => {
      for (const [name, child] of Object.entries(node.files ?? {})) {
        if (child.files) walk(child, `${prefix}${name}/`);
        else out.set(`${prefix}${name}`, { unpacked: child.unpacked === true });
      }
    };
    walk(JSON.parse(json) as Node, '');
    return out;
  } finally {
    await handle.close();
  }
}

/** Bare module names a bundle imports (static and dynamic imports, requires). The simulation
 * host's eval stub for a .ts worker entry (development from source, never the packaged app, whose
 * entry is the .mjs bundle) imports tsx; that string is left out. */
function bareImports(code: string): string[] {
  code = code.replace(/`import\('tsx\/esm\/api'\)[^`]*`/g, '``');
  const names = new Set<string>();
  const patterns = [
    /^\s*import\s[^'"]*?\sfrom\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /^\s*export\s[^'"]*?\sfrom\s*["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns)
    for (const m of code.matchAll(re)) if (!m[1]!.startsWith('.')) names.add(m[1]!);
  return [...names].sort();
}

/** A stand-in for the Electron binary: a script carrying Electron's fuse wire (version 1, eight
 * fuses at Electron's defaults), which electron-builder flips (electronFuses). */
const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
const FUSE_DEFAULTS = '10110001';

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: '1' } });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

describe('the packaged app (electron-builder --linux dir, stand-in Electron binary)', () => {
  let tmp: string;
  let appDir: string;
  let resources: string;
  let asar: Map<string, { unpacked: boolean }>;

  beforeAll(async () => {
    tmp = await makeTempDir('gmemlab-packaging-');
    const project = join(tmp, 'project');
    await mkdir(project);
    for (const f of ['package.json', 'electron-builder.yml', 'README.md'])
      await cp(join(REPO, f), join(project, f));
    for (const d of ['docs', 'resources'])
      await cp(join(REPO, d), join(project, d), { recursive: true });
    await symlink(join(REPO, 'node_modules'), join(project, 'node_modules'), 'dir');
    // A fresh build of this checkout, into the project copy.
    run(
      process.execPath,
      [
        join(REPO, 'node_modules/electron-vite/bin/electron-vite.js'),
        'build',
        '--outDir',
        join(project, 'out'),
      ],
      REPO,
    );
    const electronDist = join(tmp, 'electron-dist');
    await mkdir(join(electronDist, 'resources'), { recursive: true });
    await writeFile(
      join(electronDist, 'electron'),
      `#!/bin/sh\necho "a stand-in for Electron"\nexit 1\n# ${FUSE_SENTINEL}\x01\x08${FUSE_DEFAULTS}\n`,
      { mode: 0o755 },
    );
    await writeFile(join(electronDist, 'LICENSE'), 'stand-in\n');
    await writeFile(join(electronDist, 'version'), '45.3.4');
    run(
      process.execPath,
      [
        builderRequire.resolve('electron-builder/cli.js'),
        '--linux',
        'dir',
        '--publish',
        'never',
        '--projectDir',
        project,
        `-c.electronDist=${electronDist}`,
        `-c.directories.output=${join(tmp, 'dist')}`,
      ],
      project,
    );
    appDir = join(tmp, 'dist', 'linux-unpacked');
    resources = join(appDir, 'resources');
    asar = await asarFiles(join(resources, 'app.asar'));
  }, 180_000);

  afterAll(async () => {
    if (tmp) await removeDir(tmp);
  });

  it('app.asar holds package.json and the bundles, and no sources, maps or node_modules', () => {
    const names = [...asar.keys()];
    for (const f of [
      'package.json',
      'out/main/index.js',
      'out/preload/index.cjs',
      'out/renderer/index.html',
    ])
      expect(names, f).toContain(f);
    expect(names.filter((n) => n.startsWith('node_modules/'))).toEqual([]);
    expect(names.filter((n) => n.endsWith('.map') || n.endsWith('.ts'))).toEqual([]);
    expect(names.filter((n) => /^(main|core|renderer|e2e|tools)\//.test(n))).toEqual([]);
  });

  it('keeps the worker bundle outside the archive, where main/shell/index.ts loads it', async () => {
    const workers = [...asar].filter(([n]) =>
      /^out\/main\/chunks\/simulation-worker-[0-9a-f]+\.mjs$/.test(n),
    );
    expect(workers).toHaveLength(1);
    const [name, entry] = workers[0]!;
    expect(entry.unpacked).toBe(true);
    const inAsar = join(resources, 'app.asar', name);
    const unpacked = unpackedPath(inAsar);
    expect(unpacked).toBe(join(resources, 'app.asar.unpacked', name));
    await expect(readFile(unpacked, 'utf8')).resolves.toMatch(/node:worker_threads/);
    // The main bundle names exactly this file next to itself.
    const main = await readFile(join(tmp, 'project', 'out/main/index.js'), 'utf8');
    expect(main).toContain(name.slice('out/main/'.length));
  });

  it('the bundles import nothing from node_modules (none is shipped)', async () => {
    const project = join(tmp, 'project', 'out');
    const main = await readFile(join(project, 'main/index.js'), 'utf8');
    const chunks = await readdir(join(project, 'main/chunks'));
    const worker = await readFile(join(project, 'main/chunks', chunks[0]!), 'utf8');
    const preload = await readFile(join(project, 'preload/index.cjs'), 'utf8');
    expect(bareImports(main).filter((m) => !isBuiltin(m))).toEqual(['electron']);
    expect(bareImports(worker).filter((m) => !isBuiltin(m))).toEqual([]);
    expect(bareImports(preload).filter((m) => !isBuiltin(m))).toEqual(['electron']);
  });

  it('has every preset, the traces and the Help documents in the resources folder', async () => {
    const presets = (await readdir(join(REPO, 'resources/presets'))).filter((n) =>
      n.endsWith('.gmemlab.json'),
    );
    expect((await readdir(join(resources, 'presets'))).sort()).toEqual(presets.sort());
    expect((await readdir(join(resources, 'traces'))).sort()).toEqual(
      (await readdir(join(REPO, 'resources/traces'))).sort(),
    );
    expect((await readdir(join(resources, 'docs'))).sort()).toEqual(
      ['README.md', 'experiment-format.md', 'guest-model.md', 'trace-format.md'].sort(),
    );
  });

  it('flips the fuses: no run-as-node, no NODE_OPTIONS, no inspector flags, app only from asar', async () => {
    const binary = await readFile(join(appDir, 'gmem-lab'));
    const at = binary.indexOf(FUSE_SENTINEL) + FUSE_SENTINEL.length;
    const wire = binary.toString('latin1', at + 2, at + 2 + FUSE_DEFAULTS.length);
    expect(wire[0]).toBe('0'); // RunAsNode
    expect(wire[2]).toBe('0'); // EnableNodeOptionsEnvironmentVariable
    expect(wire[3]).toBe('0'); // EnableNodeCliInspectArguments
    expect(wire[5]).toBe('1'); // OnlyLoadAppFromAsar
  });

  it('the packaged worker runs a trace preset found where the packaged app looks', async () => {
    // What main/shell/index.ts and resources-dir.ts do inside the packaged app.
    const mainFile = join(resources, 'app.asar', 'out', 'main', 'index.js');
    const found = findResourcesDir({ resourcesPath: resources, from: pathToFileURL(mainFile) });
    expect(found).toBe(resources);
    const [name] = [...asar.keys()].filter((n) => n.includes('simulation-worker-'));
    const host = new SimulationHost({
      size: 1,
      workerEntry: pathToFileURL(unpackedPath(join(resources, 'app.asar', name!))),
    });
    const workspace = join(tmp, 'workspace');
    await mkdir(workspace);
    const hub = new EventHub();
    let ended: (payload: unknown) => void = () => {};
    const end = new Promise<unknown>((r) => (ended = r));
    hub.subscribe((event, payload) => {
      if (event === 'run.done' || event === 'run.failed') ended(payload);
    });
    const workbench = createWorkbench({
      store: {
        workspaceDir: workspace,
        watch: () => () => {},
      } as never,
      settings: { onChange: () => () => {}, get: () => ({ memoryBudgetBytes: null }) } as never,
      host,
      events: hub,
      transport: 'bridge',
      version: 'test',
      presetsDir: join(found!, 'presets'),
    });
    try {
      const presets = await workbench['presets.list']({});
      expect(presets.map((p) => p.id)).toContain('trace-replay');
      const opened = await workbench['presets.load']({ id: 'trace-replay' });
      const { runIds } = await workbench['runs.start']({
        experiment: opened.experiment,
        path: opened.path,
        variantIndexes: [0],
      });
      expect(runIds).toHaveLength(1);
      // The run's end, done or failed (the test's own timeout bounds the wait).
      expect(await end).toEqual(expect.objectContaining({ status: 'done' }));
    } finally {
      workbench.dispose();
      await host.close();
    }
  }, 90_000);
});
