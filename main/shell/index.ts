// Electron bootstrap: kept thin on purpose. Everything it wires up lives in transport-free modules
// that are tested without Electron (no Electron binary exists on the build machines): the window's
// security options (window-options.ts), the IPC transport (ipc.ts), the dialogs
// (native-dialogs.ts), the menu (menu.ts), the title and close prompt (document-window.ts), the
// window's size and place (window-state.ts), files handed over by the system (open-requests.ts),
// the Help documents (documentation.ts) and the workbench services (services/).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, Menu, screen, shell } from 'electron';
// electron-vite bundles the worker entry as its own file next to index.js and gives its path.
import workerPath from '../worker/simulation-worker?modulePath';
import type { DocumentState, MenuCommand } from '@contract/api.js';
import { unpackedPath } from './asar-path.js';
import { APP_NAME, CloseGuard, windowTitle } from './document-window.js';
import { openDocument, type DocumentLocations } from './documentation.js';
import { forwardEvents, registerIpc, trustedSender } from './ipc.js';
import { buildMenuTemplate, MENU, type MenuHandlers } from './menu.js';
import { createNativeDialogs, createSavePrompt, showNotAnExperiment } from './native-dialogs.js';
import { experimentPathsFromArgv, isExperimentPath, OpenQueue } from './open-requests.js';
import { createDispatcher, EventHub } from '../services/dispatch.js';
import { ExperimentStore } from '../services/experiment-store.js';
import {
  defaultConfigDir,
  defaultWorkspaceDir,
  SettingsStore,
} from '../services/settings-store.js';
import { SimulationHost } from '../services/simulation-host.js';
import { createWorkbench, type Workbench } from '../services/workbench.js';
import { hardenWebContents, windowOptions } from './window-options.js';
import { captureWindow, restoreWindow } from './window-state.js';

const RENDERER_URL = process.env['ELECTRON_RENDERER_URL'];
const RENDERER_FILE = join(__dirname, '../renderer/index.html');
const APP_URL = RENDERER_URL ?? pathToFileURL(RENDERER_FILE).href;
const PRELOAD_FILE = join(__dirname, '../preload/index.cjs');

interface Services {
  readonly settings: SettingsStore;
  readonly store: ExperimentStore;
  readonly host: SimulationHost;
  readonly hub: EventHub;
  readonly workbench: Workbench;
}

let services: Services | null = null;
let mainWindow: BrowserWindow | null = null;
/** Files to open once the workbench page is ready for commands. */
const opens = new OpenQueue();
/** Files the system handed over before the services existed (macOS 'open-file'). */
const earlyOpens: string[] = [];
/** Settings writes to finish before the app exits (the window's bounds). */
const pendingWrites = new Set<Promise<unknown>>();

const warn = (what: string) => (err: unknown) =>
  console.warn(`gmem-lab: ${what}: ${(err as Error)?.message ?? String(err)}`);

function track(write: Promise<unknown>): void {
  const settled = write.catch(warn('could not save the window size')).finally(() => {
    pendingWrites.delete(settled);
  });
  pendingWrites.add(settled);
}

/** Send a command to the workbench page ('menu.command'). */
function sendCommand(command: MenuCommand, path?: string): void {
  services?.hub.emit('menu.command', path === undefined ? { command } : { command, path });
}

function createWindow(s: Services): BrowserWindow {
  const options = windowOptions(PRELOAD_FILE);
  const restored = restoreWindow(
    s.settings.windowState(),
    screen.getAllDisplays().map((d) => d.workArea),
    {
      width: options.width ?? 1400,
      height: options.height ?? 900,
      minWidth: options.minWidth ?? 800,
      minHeight: options.minHeight ?? 560,
    },
  );
  // The security options are restated here so that static scanners (Electronegativity) see them
  // where the window is made; window-options.ts is the tested source of the same values.
  const win = new BrowserWindow({
    ...options,
    ...restored.bounds,
    webPreferences: {
      ...options.webPreferences,
      preload: PRELOAD_FILE,
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      disableBlinkFeatures: 'Auxclick',
    },
  });
  win.once('ready-to-show', () => {
    if (restored.maximized) win.maximize();
    win.show();
  });

  // The title is the document's (document-window.ts), not the page's <title>.
  win.on('page-title-updated', (event) => event.preventDefault());
  win.setTitle(windowTitle(null));
  const guard = new CloseGuard({
    askToSave: createSavePrompt(dialog, () => (win.isDestroyed() ? null : win)),
    requestSave: () => sendCommand('save-then-close'),
    close: () => {
      if (!win.isDestroyed()) win.close();
    },
    showState: (state: DocumentState) => {
      if (win.isDestroyed()) return;
      win.setTitle(windowTitle(state));
      if (process.platform === 'darwin') win.setDocumentEdited(state.dirty);
    },
  });
  // The page's first report says it is subscribed to 'menu.command': files waiting to be opened
  // go out then.
  const stopReports = s.workbench.onDocumentState((state) => {
    guard.onDocumentState(state);
    opens.ready((path) => sendCommand('open', path));
  });
  win.on('close', (event) => {
    guard.onClose(event);
    if (guard.closing) track(s.settings.setWindowState(captureWindow(win)));
  });
  // The close guard asks about unsaved changes; the page's own beforeunload handler (which, in a
  // browser, makes the browser ask) would otherwise cancel the close silently.
  win.webContents.on('will-prevent-unload', (event) => event.preventDefault());
  win.webContents.on('did-start-loading', () => opens.notReady());
  win.webContents.on('render-process-gone', () => opens.notReady());
  win.on('closed', () => {
    stopReports();
    opens.notReady();
    if (mainWindow === win) mainWindow = null;
  });

  if (RENDERER_URL) void win.loadURL(RENDERER_URL);
  else void win.loadFile(RENDERER_FILE);
  return win;
}

function showMainWindow(): void {
  if (!services) return;
  if (!mainWindow) {
    mainWindow = createWindow(services);
    return;
  }
  if (mainWindow.isMinimized()) mainWindow.restore();
  mainWindow.focus();
}

/** A file from the command line, the file manager, macOS or Open Recent. */
function requestOpen(path: string): void {
  if (!services) {
    earlyOpens.push(path);
    return;
  }
  if (!isExperimentPath(path)) {
    void showNotAnExperiment(dialog, mainWindow, path).catch(warn('could not show a message'));
    return;
  }
  // The user chose this file (in the system, or in the menu): the store may read it.
  services.store.grant(path);
  opens.push(path);
  showMainWindow();
}

function installMenu(s: Services): void {
  const docs: DocumentLocations = app.isPackaged
    ? { packagedDocsDir: join(process.resourcesPath, 'docs'), checkoutDir: app.getAppPath() }
    : { checkoutDir: app.getAppPath() };
  const handlers: MenuHandlers = {
    command: (command) => {
      if (!mainWindow) showMainWindow();
      else sendCommand(command);
    },
    openRecent: (path) => requestOpen(path),
    setTheme: (theme) => void s.settings.set({ theme }).catch(warn('could not change the theme')),
    openDocument: (id) =>
      void openDocument(id, shell, docs).then((problem) => {
        if (problem) dialog.showErrorBox(APP_NAME, problem);
      }),
    about: () => app.showAboutPanel(),
  };
  const build = () =>
    Menu.setApplicationMenu(
      Menu.buildFromTemplate(
        buildMenuTemplate(MENU, handlers, {
          platform: process.platform,
          isDev: !app.isPackaged,
          recentFiles: s.settings.get().recentFiles,
          theme: s.settings.get().theme,
        }),
      ),
    );
  build();
  let newest = s.settings.get().recentFiles[0];
  s.settings.onChange((settings) => {
    build();
    // The system's recent documents too (macOS Dock, Windows jump list).
    const first = settings.recentFiles[0];
    if (first !== undefined && first !== newest) app.addRecentDocument(first);
    newest = first;
  });
}

async function start(): Promise<void> {
  const settings = await SettingsStore.create(defaultConfigDir(), {
    workspaceDir: defaultWorkspaceDir(),
  });
  if (settings.problem) console.warn(`gmem-lab: ${settings.problem}`);
  const store = await ExperimentStore.create({
    workspaceDir: settings.get().workspaceDir,
    settings,
    trashItem: (path) => shell.trashItem(path),
  });
  // In the packaged app the worker bundle is unpacked from app.asar (electron-builder.yml).
  // Workers warm up before the first run, so the first comparison is as quick as later ones.
  const host = new SimulationHost({
    workerEntry: pathToFileURL(unpackedPath(workerPath)),
    warmUp: true,
  });
  const hub = new EventHub();
  const workbench: Workbench = createWorkbench({
    store,
    settings,
    host,
    events: hub,
    dialogs: createNativeDialogs(
      dialog,
      () => mainWindow,
      () => store.workspaceDir,
    ),
    transport: 'electron',
    version: app.getVersion(),
    // Recorded event logs live in the app's data folder until their runs are dropped.
    eventLogDir: join(defaultConfigDir(), 'event-logs'),
  });
  const s: Services = { settings, store, host, hub, workbench };
  services = s;
  const dispatch = createDispatcher(workbench, (err) => console.error('gmem-lab:', err));
  registerIpc(
    ipcMain,
    dispatch,
    trustedSender({
      isAppWebContents: (id) => mainWindow !== null && mainWindow.webContents.id === id,
      appUrl: APP_URL,
    }),
  );
  forwardEvents(hub, (channel, message) => {
    if (mainWindow && !mainWindow.isDestroyed()) mainWindow.webContents.send(channel, message);
  });
  app.setAboutPanelOptions({
    applicationName: APP_NAME,
    applicationVersion: app.getVersion(),
    copyright: 'GPL-2.0-only',
  });
  installMenu(s);

  let flushed = false;
  app.on('will-quit', (event) => {
    if (!flushed && pendingWrites.size > 0) {
      // Let the window's bounds reach the settings file first.
      event.preventDefault();
      void Promise.allSettled([...pendingWrites]).then(() => {
        flushed = true;
        app.quit();
      });
      return;
    }
    workbench.dispose();
    void host.close();
  });
  mainWindow = createWindow(s);
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) showMainWindow();
  });
  for (const path of [
    ...experimentPathsFromArgv(process.argv, process.cwd()),
    ...earlyOpens.splice(0),
  ])
    requestOpen(path);
}

if (!app.requestSingleInstanceLock()) {
  // Another gmem-lab is running: it gets focused (second-instance) and opens the files named on
  // this command line; this one leaves.
  app.quit();
} else {
  app.on('second-instance', (_event, argv, workingDirectory) => {
    showMainWindow();
    for (const path of experimentPathsFromArgv(argv, workingDirectory)) requestOpen(path);
  });
  // macOS: files opened from the Finder or the Dock, possibly before the app is ready.
  app.on('open-file', (event, path) => {
    event.preventDefault();
    requestOpen(path);
  });
  // Every webContents, including any the app did not mean to create, gets the same limits.
  app.on('web-contents-created', (_event, contents) =>
    hardenWebContents(contents, (what) => console.warn(`gmem-lab: refused ${what}`)),
  );
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app
    .whenReady()
    .then(start)
    .catch((err: unknown) => {
      console.error('gmem-lab: could not start:', err);
      app.exit(1);
    });
}
