// The bootstrap (main/shell/index.ts) with Electron replaced at its module boundary: a fake 'electron'
// module records what the bootstrap asks of it, and the rest is real (settings and workspace in
// a temporary home, the worker pool, the IPC handlers, the menu). Checked: a handler for every API
// method, the window's security options, the menu built from its one definition and its commands
// reaching the page, the window title, the close prompt, files handed over by the system, the
// window's bounds saved, the system's recent documents.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MenuItemConstructorOptions } from 'electron';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { API_METHODS } from '@contract/api.js';
import { IPC_EVENT_CHANNEL } from '@contract/api-names.js';
import { buildMenuTemplate, isShown, MENU, walkMenu } from './menu.js';
import { SimulationHost } from '../services/simulation-host.js';
import { makeTempDir, removeDir } from '../services/store-test-helpers.js';

const fake = vi.hoisted(() => {
  type Listener = (...args: unknown[]) => unknown;
  class Emitter {
    readonly listeners = new Map<string, Listener[]>();
    on(event: string, fn: Listener) {
      this.listeners.set(event, [...(this.listeners.get(event) ?? []), fn]);
      return this;
    }
    once(event: string, fn: Listener) {
      return this.on(event, fn);
    }
    emit(event: string, ...args: unknown[]) {
      for (const fn of this.listeners.get(event) ?? []) fn(...args);
    }
  }
  const preventable = () => {
    const e = { prevented: false, preventDefault: () => (e.prevented = true) };
    return e;
  };

  const log: string[] = [];
  const sent: Array<[string, unknown]> = [];
  const windows: FakeWindow[] = [];
  let nextId = 1;

  class FakeWebContents extends Emitter {
    readonly id = nextId++;
    readonly session = {
      setPermissionRequestHandler: () => {},
      setPermissionCheckHandler: () => {},
    };
    send(channel: string, message: unknown) {
      sent.push([channel, message]);
    }
    setWindowOpenHandler() {}
  }

  class FakeWindow extends Emitter {
    readonly webContents = new FakeWebContents();
    title = '';
    destroyed = false;
    maximized = false;
    bounds = { x: 40, y: 30, width: 1300, height: 850 };
    constructor(readonly options: Record<string, unknown>) {
      super();
      windows.push(this);
    }
    static getAllWindows() {
      return windows.filter((w) => !w.destroyed);
    }
    loadFile(path: string) {
      log.push(`loadFile ${path}`);
      return Promise.resolve();
    }
    loadURL(url: string) {
      log.push(`loadURL ${url}`);
      return Promise.resolve();
    }
    setTitle(title: string) {
      this.title = title;
    }
    getTitle() {
      return this.title;
    }
    setDocumentEdited() {}
    show() {}
    maximize() {
      this.maximized = true;
    }
    isMaximized() {
      return this.maximized;
    }
    isMinimized() {
      return false;
    }
    restore() {}
    focus() {
      log.push('focus');
    }
    isDestroyed() {
      return this.destroyed;
    }
    getNormalBounds() {
      return this.bounds;
    }
    close() {
      const e = preventable();
      this.emit('close', e);
      if (e.prevented) return;
      this.destroyed = true;
      this.emit('closed');
    }
  }

  const app = Object.assign(new Emitter(), {
    isPackaged: false,
    requestSingleInstanceLock: () => true,
    whenReady: () => Promise.resolve(),
    quit: () => log.push('quit'),
    exit: (code: number) => log.push(`exit ${code}`),
    getVersion: () => '0.1.0-test',
    getAppPath: () => '/src/gmem-lab',
    setAboutPanelOptions: () => {},
    showAboutPanel: () => log.push('about'),
    addRecentDocument: (path: string) => log.push(`recent ${path}`),
  });

  const handlers = new Map<string, Listener>();
  const menus: MenuItemConstructorOptions[][] = [];
  const messageBoxes: Array<Record<string, unknown>> = [];
  const answers: number[] = [];
  /** Each message box's answer as the bootstrap receives it. */
  const boxAnswers: Array<Promise<unknown>> = [];

  const module = {
    app,
    BrowserWindow: FakeWindow,
    ipcMain: {
      handle: (channel: string, fn: Listener) => handlers.set(channel, fn),
      removeHandler: (channel: string) => handlers.delete(channel),
    },
    Menu: {
      buildFromTemplate: (template: MenuItemConstructorOptions[]) => ({ template }),
      setApplicationMenu: (menu: { template: MenuItemConstructorOptions[] }) =>
        menus.push(menu.template),
    },
    dialog: {
      showMessageBox: async (...args: unknown[]) => {
        const options = args.at(-1) as Record<string, unknown>;
        messageBoxes.push(options);
        const answer = Promise.resolve({ response: answers.shift() ?? 2, checkboxChecked: false });
        boxAnswers.push(answer);
        return answer;
      },
      showOpenDialog: async () => ({ canceled: true, filePaths: [] }),
      showSaveDialog: async () => ({ canceled: true }),
      showErrorBox: (title: string, text: string) => log.push(`error ${title}: ${text}`),
    },
    screen: { getAllDisplays: () => [{ workArea: { x: 0, y: 0, width: 1920, height: 1080 } }] },
    shell: {
      trashItem: async () => {},
      openPath: async (p: string) => {
        log.push(`openPath ${p}`);
        return '';
      },
      openExternal: async (u: string) => {
        log.push(`openExternal ${u}`);
      },
    },
  };
  return {
    module,
    log,
    sent,
    windows,
    handlers,
    menus,
    messageBoxes,
    answers,
    boxAnswers,
    app,
    preventable,
    FakeWebContents,
  };
});

vi.mock('electron', () => ({ ...fake.module, default: fake.module }));
// electron-vite's worker import: the worker's TypeScript entry (started through tsx under test).
vi.mock('../worker/simulation-worker?modulePath', () => ({
  default: new URL('../worker/simulation-worker.ts', import.meta.url).pathname,
}));

const APP_URL = pathToFileURL(join(__dirname, '../renderer/index.html')).href;
let tmp: string;
let home: string;
const saved = { ...process.env };

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const win = () => fake.windows.at(-1)!;

/** Call an API method as the window's page would, through the registered IPC handler. */
async function invoke(method: string, args: unknown): Promise<{ ok: boolean; value?: unknown }> {
  const handler = fake.handlers.get(`gmemlab:${method}`);
  if (!handler) throw new Error(`no handler for ${method}`);
  const event = {
    sender: { id: win().webContents.id },
    senderFrame: { url: APP_URL, parent: null },
  };
  return (await handler(event, args)) as { ok: boolean; value?: unknown };
}

const commands = (): Array<{ command: string; path?: string }> =>
  fake.sent
    .filter(
      ([channel, m]) =>
        channel === IPC_EVENT_CHANNEL && (m as { event: string }).event === 'menu.command',
    )
    .map(([, m]) => (m as { payload: { command: string; path?: string } }).payload);

async function settingsFile(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(home, '.config/gmem-lab/settings.json'), 'utf8'));
}

function menuItems(template: readonly MenuItemConstructorOptions[]) {
  const out = new Map<string, MenuItemConstructorOptions>();
  const walk = (items: readonly MenuItemConstructorOptions[]) => {
    for (const item of items) {
      out.set(item.id!, item);
      if (Array.isArray(item.submenu)) walk(item.submenu);
    }
  };
  walk(template);
  return out;
}

beforeAll(async () => {
  tmp = await makeTempDir('gmemlab-bootstrap-');
  home = join(tmp, 'home');
  await mkdir(home, { recursive: true });
  process.env['HOME'] = home;
  process.env['XDG_CONFIG_HOME'] = join(home, '.config');
  // The workspace from the settings: os.homedir() in a worker thread still names the real home.
  await mkdir(join(home, '.config', 'gmem-lab'), { recursive: true });
  await writeFile(
    join(home, '.config', 'gmem-lab', 'settings.json'),
    JSON.stringify({ workspaceDir: join(home, 'Documents', 'gmem-lab') }),
  );
  Reflect.deleteProperty(process.env, 'ELECTRON_RENDERER_URL');
  // macOS may hand over a file before the app is ready.
  await import('./index.js');
  fake.app.emit('open-file', fake.preventable(), join(home, 'early.gmemlab.json'));
  await until('the window', () => fake.windows.length === 1);
}, 60_000);

/** The worker pool's close, to wait on when the app quits. */
const hostClose = vi.spyOn(SimulationHost.prototype, 'close');

/** Let every promise continuation already queued run (the next macrotask comes after them). */
const settle = () => new Promise((r) => setImmediate(r));

afterAll(async () => {
  // As Electron does: will-quit, held while the window's bounds are written, then app.quit()
  // and will-quit again, which closes the worker pool.
  const quits = () => fake.log.filter((l) => l === 'quit').length;
  const before = quits();
  const quit = fake.preventable();
  fake.app.emit('will-quit', quit);
  if (quit.prevented) {
    await until('the pending writes', () => quits() > before);
    fake.app.emit('will-quit', fake.preventable());
  }
  await until('the worker pool closing', () => hostClose.mock.results.length > 0);
  await hostClose.mock.results[0]!.value;
  process.env = saved;
  if (tmp) await removeDir(tmp);
});

describe('the bootstrap', () => {
  it('registers one IPC handler per API method', () => {
    expect([...fake.handlers.keys()].sort()).toEqual(
      Object.keys(API_METHODS)
        .map((m) => `gmemlab:${m}`)
        .sort(),
    );
  });

  it('makes a sandboxed window with the preload, at the remembered or default size', () => {
    const options = win().options as {
      width: number;
      webPreferences: Record<string, unknown>;
    };
    expect(options.webPreferences).toMatchObject({
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      preload: expect.stringMatching(/preload[\\/]index\.cjs$/),
    });
    expect(options.width).toBe(1400);
    expect(fake.log).toContain(`loadFile ${join(__dirname, '../renderer/index.html')}`);
    expect(win().title).toBe('gmem-lab');
  });

  it('installs the menu of the one definition', () => {
    const template = fake.menus.at(-1)!;
    const built = menuItems(template);
    const context = {
      platform: process.platform,
      isDev: true,
      recentFiles: [],
      theme: 'system' as const,
    };
    const expected = menuItems(
      buildMenuTemplate(
        MENU,
        { command() {}, openRecent() {}, setTheme() {}, openDocument() {}, about() {} },
        context,
      ),
    );
    expect([...built.keys()]).toEqual([...expected.keys()]);
    for (const { item } of walkMenu(MENU)) {
      if (!isShown(item, context) || !built.has(item.id)) continue;
      expect(built.get(item.id)!.accelerator, item.id).toBe(item.accelerator);
    }
  });

  it('holds files handed over until the page reports, then sends them as open commands', async () => {
    expect(commands()).toEqual([]);
    const r = await invoke('app.setDocumentState', { dirty: false, title: 'SNP boot' });
    expect(r.ok).toBe(true);
    expect(commands()).toEqual([{ command: 'open', path: join(home, 'early.gmemlab.json') }]);
    expect(win().title).toBe('SNP boot — gmem-lab');

    // A second start with a file on its command line opens it here.
    fake.app.emit(
      'second-instance',
      fake.preventable(),
      ['/opt/gmem-lab/gmem-lab', 'lab/b.gmemlab.json'],
      home,
    );
    expect(commands().at(-1)).toEqual({
      command: 'open',
      path: join(home, 'lab', 'b.gmemlab.json'),
    });
    // What the system handed over is granted to the store: it looks for the file (there is
    // none) instead of refusing a path outside the workspace.
    const opened = await invoke('experiments.open', { path: join(home, 'lab', 'b.gmemlab.json') });
    expect(opened).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const other = await invoke('experiments.open', { path: join(home, 'lab', 'c.gmemlab.json') });
    expect(other).toMatchObject({ ok: false, error: { code: 'FORBIDDEN_PATH' } });
  });

  it('answers a file that is not an experiment with a message', async () => {
    fake.app.emit('open-file', fake.preventable(), join(home, 'data.json'));
    await until('the message', () => fake.messageBoxes.length > 0);
    expect(fake.messageBoxes.at(-1)).toMatchObject({
      message: 'data.json is not a gmem-lab experiment file',
    });
    expect(commands().some((c) => (c as { path?: string }).path?.endsWith('data.json'))).toBe(
      false,
    );
  });

  it('sends menu commands to the page and handles the main-process items', async () => {
    const items = menuItems(fake.menus.at(-1)!);
    (items.get('file.save')!.click as () => void)();
    (items.get('file.export')!.click as () => void)();
    expect(commands().slice(-2)).toEqual([{ command: 'save' }, { command: 'export' }]);

    (items.get('help.kvm')!.click as () => void)();
    await until('the browser', () => fake.log.some((l) => l.startsWith('openExternal')));
    expect(fake.log).toContain('openExternal https://docs.kernel.org/virt/kvm/api.html');

    const before = fake.menus.length;
    (items.get('view.theme.dark')!.click as () => void)();
    await until('the menu rebuilt', () => fake.menus.length > before);
    expect(menuItems(fake.menus.at(-1)!).get('view.theme.dark')).toMatchObject({ checked: true });
    const settings = JSON.parse(
      await readFile(join(home, '.config/gmem-lab/settings.json'), 'utf8'),
    );
    expect(settings.theme).toBe('dark');
  });

  it('adds saved files to Open Recent and to the system recent documents', async () => {
    const preset = await invoke('presets.load', { id: 'merge-policies' });
    const r = await invoke('experiments.save', {
      experiment: (preset.value as { experiment: unknown }).experiment,
      fileName: 'mine',
    });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    expect((r.value as { path: string }).path.startsWith(home)).toBe(true);
    const path = (r.value as { path: string }).path;
    await until('the recent document', () => fake.log.includes(`recent ${path}`));
    expect(menuItems(fake.menus.at(-1)!).get('file.recent.0')).toMatchObject({ toolTip: path });
  });

  it('asks before closing with unsaved changes: Cancel keeps the window', async () => {
    await invoke('app.setDocumentState', { dirty: true, title: 'mine.gmemlab.json' });
    expect(win().title).toBe('● mine.gmemlab.json — gmem-lab');
    fake.answers.push(2);
    const boxes = fake.messageBoxes.length;
    win().close();
    await until('the question', () => fake.messageBoxes.length > boxes);
    expect(fake.messageBoxes.at(-1)).toMatchObject({ buttons: ['Save', 'Discard', 'Cancel'] });
    // The answer, and what the close guard does with it (promise continuations only, no I/O).
    await fake.boxAnswers.at(-1);
    await settle();
    expect(win().isDestroyed()).toBe(false);
  });

  it('Save asks the page to save, and the window closes when it reports no changes', async () => {
    fake.answers.push(0);
    win().bounds = { x: 100, y: 80, width: 1200, height: 700 };
    win().close();
    await until('the save request', () => commands().at(-1)?.command === 'save-then-close');
    expect(win().isDestroyed()).toBe(false);
    // The page keeps beforeunload for browsers; the app overrides it once the user decided.
    const unload = fake.preventable();
    win().webContents.emit('will-prevent-unload', unload);
    expect(unload.prevented).toBe(true);
    await invoke('app.setDocumentState', { dirty: false, title: 'mine.gmemlab.json' });
    expect(win().isDestroyed()).toBe(true);
    // The bounds reach the settings file; the API's settings do not show them.
    const bounds = { x: 100, y: 80, width: 1200, height: 700, maximized: false };
    await vi.waitFor(async () => expect((await settingsFile())['window']).toEqual(bounds), {
      timeout: 10_000,
    });
    fake.app.emit('activate');
    await until('a new window', () => fake.windows.length === 2);
    expect((await invoke('settings.get', {})).value).not.toHaveProperty('window');
  });

  it('opens the next window where the last one was', () => {
    expect(win().options).toMatchObject({ x: 100, y: 80, width: 1200, height: 700 });
    expect(win().title).toBe('gmem-lab');
  });

  it('hardens every webContents and quits when the last window closes', () => {
    const contents = new fake.FakeWebContents();
    fake.app.emit('web-contents-created', fake.preventable(), contents);
    const nav = fake.preventable();
    contents.emit('will-navigate', nav, 'https://example.com/');
    expect(nav.prevented).toBe(true);
    fake.app.emit('window-all-closed');
    if (process.platform !== 'darwin') expect(fake.log).toContain('quit');
  });
});
