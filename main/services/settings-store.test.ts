// The settings store on real temporary folders: defaults, persistence across instances, change
// listeners, a corrupt or invalid file kept aside (never overwritten), and the default folders.
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError, type Settings } from '@contract/api.js';
import {
  defaultConfigDir,
  defaultWorkspaceDir,
  SETTINGS_FILE,
  SettingsStore,
} from './settings-store.js';
import { makeTempDir, rejection, removeDir, tempFilesIn } from './store-test-helpers.js';

let dir: string;
let configDir: string;
const defaults = { workspaceDir: '/home/someone/Documents/gmem-lab' };

beforeEach(async () => {
  dir = await makeTempDir('gmemlab-settings-');
  configDir = join(dir, 'config', 'gmem-lab');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('settings store', () => {
  it('starts from the defaults without writing anything', async () => {
    const store = await SettingsStore.create(configDir, defaults);
    expect(store.get()).toEqual({
      theme: 'system',
      workspaceDir: defaults.workspaceDir,
      recentFiles: [],
      memoryBudgetBytes: null,
    });
    expect(store.problem).toBeUndefined();
    await expect(readdir(configDir)).rejects.toThrow(/ENOENT/);
  });

  it('keeps a memory budget, refuses one below 1 MiB, and null goes back to the default', async () => {
    const store = await SettingsStore.create(configDir, defaults);
    expect((await store.set({ memoryBudgetBytes: 8 * 2 ** 30 })).memoryBudgetBytes).toBe(
      8 * 2 ** 30,
    );
    expect((await SettingsStore.create(configDir, defaults)).get().memoryBudgetBytes).toBe(
      8 * 2 ** 30,
    );
    const refused = await rejection(store.set({ memoryBudgetBytes: 1000 }));
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).message).toMatch(/memoryBudgetBytes: must be at least 1 MiB/);
    expect(store.get().memoryBudgetBytes).toBe(8 * 2 ** 30);
    expect((await store.set({ memoryBudgetBytes: null })).memoryBudgetBytes).toBeNull();
  });

  it('persists changes across instances and tells listeners', async () => {
    const store = await SettingsStore.create(configDir, defaults);
    const heard: Settings[] = [];
    const stop = store.onChange((s) => heard.push(s));
    const next = await store.set({ theme: 'dark', workspaceDir: '/data/lab' });
    expect(next).toEqual({
      theme: 'dark',
      workspaceDir: '/data/lab',
      recentFiles: [],
      memoryBudgetBytes: null,
    });
    await store.set({ recentFiles: ['/data/lab/a.gmemlab.json', '/data/lab/a.gmemlab.json'] });
    // No change, no write, no event.
    await store.set({ theme: 'dark' });
    stop();
    await store.set({ theme: 'light' });
    expect(heard.map((s) => s.theme)).toEqual(['dark', 'dark']);
    expect(heard[1]?.recentFiles).toEqual(['/data/lab/a.gmemlab.json']);

    const text = await readFile(join(configDir, SETTINGS_FILE), 'utf8');
    expect(text.endsWith('}\n')).toBe(true);
    expect(JSON.parse(text)).toEqual({
      theme: 'light',
      workspaceDir: '/data/lab',
      recentFiles: ['/data/lab/a.gmemlab.json'],
      memoryBudgetBytes: null,
    });
    const again = await SettingsStore.create(configDir, defaults);
    expect(again.get()).toEqual(store.get());
    expect(again.problem).toBeUndefined();
    expect(await tempFilesIn(configDir)).toEqual([]);
  });

  it('applies concurrent changes in order', async () => {
    const store = await SettingsStore.create(configDir, defaults);
    const themes = ['dark', 'light', 'system', 'dark', 'light'] as const;
    await Promise.all(themes.map((theme) => store.set({ theme })));
    expect(store.get().theme).toBe('light');
    const again = await SettingsStore.create(configDir, defaults);
    expect(again.get().theme).toBe('light');
  });

  it('refuses invalid changes', async () => {
    const store = await SettingsStore.create(configDir, defaults);
    for (const patch of [
      { theme: 'pink' },
      { workspaceDir: 'relative/path' },
      { recentFiles: ['not absolute'] },
      { unknown: 1 },
    ]) {
      const err = await rejection(store.set(patch as never));
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('BAD_REQUEST');
    }
    expect(store.get().theme).toBe('system');
  });

  it('fills in fields missing from the file and keeps fields it does not know', async () => {
    await mkdir(configDir, { recursive: true });
    await writeFile(
      join(configDir, SETTINGS_FILE),
      JSON.stringify({ theme: 'dark', futureOption: { a: 1 } }),
    );
    const store = await SettingsStore.create(configDir, defaults);
    expect(store.get()).toEqual({
      ...defaults,
      theme: 'dark',
      recentFiles: [],
      memoryBudgetBytes: null,
    });
    await store.set({ theme: 'light' });
    expect(JSON.parse(await readFile(join(configDir, SETTINGS_FILE), 'utf8'))).toEqual({
      theme: 'light',
      workspaceDir: defaults.workspaceDir,
      recentFiles: [],
      memoryBudgetBytes: null,
      futureOption: { a: 1 },
    });
  });

  it('keeps the window state apart from the API settings, across instances and other changes', async () => {
    const store = await SettingsStore.create(configDir, defaults);
    expect(store.windowState()).toBeUndefined();
    const heard: Settings[] = [];
    store.onChange((s) => heard.push(s));
    const bounds = { x: 10, y: -20, width: 1200, height: 800, maximized: true };
    await store.setWindowState(bounds);
    await store.set({ theme: 'dark' });
    expect(store.get()).toEqual({
      ...defaults,
      theme: 'dark',
      recentFiles: [],
      memoryBudgetBytes: null,
    });
    expect(store.windowState()).toEqual(bounds);
    expect(heard.map((s) => Object.keys(s).sort())).toEqual([
      ['memoryBudgetBytes', 'recentFiles', 'theme', 'workspaceDir'],
    ]);
    const again = await SettingsStore.create(configDir, defaults);
    expect(again.windowState()).toEqual(bounds);
    expect(again.get()).not.toHaveProperty('window');
    expect(JSON.parse(await readFile(join(configDir, SETTINGS_FILE), 'utf8'))).toEqual({
      theme: 'dark',
      workspaceDir: defaults.workspaceDir,
      recentFiles: [],
      memoryBudgetBytes: null,
      window: bounds,
    });
    // settings.set never takes the window: it is not part of the patch.
    const err = await rejection(store.set({ window: bounds } as never));
    expect((err as ApiError).code).toBe('BAD_REQUEST');
    const bad = await rejection(store.setWindowState({ ...bounds, width: 0 }));
    expect((bad as ApiError).code).toBe('BAD_REQUEST');
  });

  it('drops a window state that does not validate and keeps the rest of the file', async () => {
    await mkdir(configDir, { recursive: true });
    await writeFile(
      join(configDir, SETTINGS_FILE),
      JSON.stringify({ theme: 'dark', window: { x: 'left', width: -1 } }),
    );
    const store = await SettingsStore.create(configDir, defaults);
    expect(store.problem).toBeUndefined();
    expect(store.get().theme).toBe('dark');
    expect(store.windowState()).toBeUndefined();
  });

  for (const [what, text] of [
    ['corrupt (not JSON)', '{"theme": "dark", "workspaceDir": '],
    ['invalid (wrong types)', JSON.stringify({ theme: 'pink', recentFiles: 'none' })],
    ['not an object', '[1, 2, 3]'],
  ] as const) {
    it(`keeps a ${what} settings file aside and uses the defaults`, async () => {
      await mkdir(configDir, { recursive: true });
      const path = join(configDir, SETTINGS_FILE);
      await writeFile(path, text);
      const store = await SettingsStore.create(configDir, defaults);
      expect(store.get()).toEqual({
        theme: 'system',
        ...defaults,
        recentFiles: [],
        memoryBudgetBytes: null,
      });
      const files = await readdir(configDir);
      expect(files).toHaveLength(1);
      const bad = files[0] ?? '';
      expect(bad).toMatch(/^settings\.json\.bad-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/);
      expect(await readFile(join(configDir, bad), 'utf8')).toBe(text);
      expect(store.problem).toContain(path);
      expect(store.problem).toContain('not valid');
      expect(store.problem).toContain(bad);

      // Later changes start a new file; the bad one stays as it was.
      await store.set({ theme: 'dark' });
      expect((await readdir(configDir)).sort()).toEqual([bad, SETTINGS_FILE].sort());
      expect(await readFile(join(configDir, bad), 'utf8')).toBe(text);
      const again = await SettingsStore.create(configDir, defaults);
      expect(again.get().theme).toBe('dark');
      expect(again.problem).toBeUndefined();
    });
  }

  it('removes temp files a crash left in the config folder', async () => {
    await mkdir(configDir, { recursive: true });
    const old = new Date(Date.now() - 120_000);
    const stale = `.${SETTINGS_FILE}.tmp-123-0123456789ab`;
    await writeFile(join(configDir, stale), '{"theme":');
    await utimes(join(configDir, stale), old, old);
    await SettingsStore.create(configDir, defaults);
    expect(await readdir(configDir)).toEqual([]);
  });
});

describe('default folders', () => {
  it('puts the workspace in the documents folder from user-dirs.dirs when present', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, '.config'), { recursive: true });
    const env = {};
    expect(defaultWorkspaceDir({ env, home, platform: 'linux' })).toBe(
      join(home, 'Documents', 'gmem-lab'),
    );
    await writeFile(
      join(home, '.config', 'user-dirs.dirs'),
      '# written by xdg-user-dirs-update\nXDG_DESKTOP_DIR="$HOME/Schreibtisch"\nXDG_DOCUMENTS_DIR="$HOME/Dokumente"\n',
    );
    expect(defaultWorkspaceDir({ env, home, platform: 'linux' })).toBe(
      join(home, 'Dokumente', 'gmem-lab'),
    );
    // XDG_CONFIG_HOME decides where user-dirs.dirs is.
    const xdgConfig = join(dir, 'xdg-config');
    await mkdir(xdgConfig);
    await writeFile(join(xdgConfig, 'user-dirs.dirs'), 'XDG_DOCUMENTS_DIR="/srv/docs"\n');
    expect(
      defaultWorkspaceDir({ env: { XDG_CONFIG_HOME: xdgConfig }, home, platform: 'linux' }),
    ).toBe('/srv/docs/gmem-lab');
    // Set to the home folder itself: "no documents folder".
    await writeFile(join(xdgConfig, 'user-dirs.dirs'), 'XDG_DOCUMENTS_DIR="$HOME/"\n');
    expect(
      defaultWorkspaceDir({ env: { XDG_CONFIG_HOME: xdgConfig }, home, platform: 'linux' }),
    ).toBe(join(home, 'Documents', 'gmem-lab'));
    // macOS and Windows: ~/Documents.
    expect(defaultWorkspaceDir({ env, home: '/Users/ann', platform: 'darwin' })).toBe(
      '/Users/ann/Documents/gmem-lab',
    );
    expect(defaultWorkspaceDir({ env, home: 'C:\\Users\\ann', platform: 'win32' })).toBe(
      'C:\\Users\\ann\\Documents\\gmem-lab',
    );
  });

  it('puts settings in the platform config folder', () => {
    expect(defaultConfigDir({ env: {}, home: '/home/ann', platform: 'linux' })).toBe(
      '/home/ann/.config/gmem-lab',
    );
    expect(
      defaultConfigDir({ env: { XDG_CONFIG_HOME: '/cfg' }, home: '/home/ann', platform: 'linux' }),
    ).toBe('/cfg/gmem-lab');
    expect(
      defaultConfigDir({
        env: { XDG_CONFIG_HOME: 'relative' },
        home: '/home/ann',
        platform: 'linux',
      }),
    ).toBe('/home/ann/.config/gmem-lab');
    expect(defaultConfigDir({ env: {}, home: '/Users/ann', platform: 'darwin' })).toBe(
      '/Users/ann/Library/Application Support/gmem-lab',
    );
    expect(
      defaultConfigDir({
        env: { APPDATA: 'C:\\Users\\ann\\AppData\\Roaming' },
        home: 'C:\\Users\\ann',
        platform: 'win32',
      }),
    ).toBe('C:\\Users\\ann\\AppData\\Roaming\\gmem-lab');
  });
});
