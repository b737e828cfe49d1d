// Electron bootstrap: kept thin on purpose. Everything it wires up lives in transport-free modules
// that are tested without Electron (no Electron binary exists on the build machines): the window's
// security options (window-options.ts), the IPC transport (ipc.ts), the dialogs
// (native-dialogs.ts) and the workbench services (services/).
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, shell } from 'electron';
// electron-vite bundles the worker entry as its own file next to index.js and gives its path.
import workerPath from './worker/simulation-worker?modulePath';
import { forwardEvents, registerIpc, trustedSender } from './ipc.js';
import { createNativeDialogs } from './native-dialogs.js';
import { createDispatcher, EventHub } from './services/dispatch.js';
import { ExperimentStore } from './services/experiment-store.js';
import { defaultConfigDir, defaultWorkspaceDir, SettingsStore } from './services/settings-store.js';
import { SimulationHost } from './services/simulation-host.js';
import { createWorkbench, type Workbench } from './services/workbench.js';
import { hardenWebContents, windowOptions } from './window-options.js';

const RENDERER_URL = process.env['ELECTRON_RENDERER_URL'];
const APP_URL = RENDERER_URL ?? pathToFileURL(join(__dirname, '../renderer/index.html')).href;

let mainWindow: BrowserWindow | null = null;

function createWindow(): BrowserWindow {
  const options = windowOptions(join(__dirname, '../preload/index.cjs'));
  // The security options are restated here so that static scanners (Electronegativity) see them
  // where the window is made; window-options.ts is the tested source of the same values.
  const win = new BrowserWindow({
    ...options,
    webPreferences: {
      ...options.webPreferences,
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });
  win.once('ready-to-show', () => win.show());
  win.on('closed', () => {
    if (mainWindow === win) mainWindow = null;
  });
  if (RENDERER_URL) void win.loadURL(RENDERER_URL);
  else void win.loadFile(join(__dirname, '../renderer/index.html'));
  return win;
}

function focusMainWindow(): void {
  if (!mainWindow) return;
  if (mainWindow.isMinimized()) mainWindow.restore();
  mainWindow.focus();
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
  const host = new SimulationHost({ workerEntry: pathToFileURL(workerPath) });
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
  });
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

  app.on('will-quit', () => {
    workbench.dispose();
    void host.close();
  });
  mainWindow = createWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow();
  });
}

if (!app.requestSingleInstanceLock()) {
  // Another gmem-lab is running: it gets focused (second-instance) and this one leaves.
  app.quit();
} else {
  app.on('second-instance', focusMainWindow);
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
