// The security baseline of the workbench window (docs: shared/spec/architecture.md, "Security
// baseline"; the posture of Element Desktop): a sandboxed renderer with context isolation and no
// Node, web security on, no popups, no navigation away from the app, no webviews, no permission
// ever granted. Electron comes in only as types, so all of it is tested without an Electron binary.
import type { BrowserWindowConstructorOptions } from 'electron';

export function windowOptions(preloadPath: string): BrowserWindowConstructorOptions {
  return {
    width: 1400,
    height: 900,
    minWidth: 800,
    minHeight: 560,
    show: false,
    title: 'gmem-lab',
    webPreferences: {
      preload: preloadPath,
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      // Middle-click opening new windows; Electronegativity's AUXCLICK check.
      disableBlinkFeatures: 'Auxclick',
      spellcheck: false,
    },
  };
}

/** What hardenWebContents touches of a webContents (Electron's WebContents fits). */
export interface HardenableWebContents {
  on(event: 'will-navigate', listener: (event: PreventableEvent, url: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: PreventableEvent) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
  readonly session: HardenableSession;
}

interface HardenableSession {
  setPermissionRequestHandler(
    handler: (contents: unknown, permission: string, callback: (granted: boolean) => void) => void,
  ): void;
  setPermissionCheckHandler(handler: () => boolean): void;
}

interface PreventableEvent {
  preventDefault(): void;
}

/** Deny navigation, new windows, webviews and permissions for one webContents (and its
 * session). Called for every webContents the app creates (app 'web-contents-created').
 * `onDenied` hears what was refused, for the log. */
export function hardenWebContents(
  contents: HardenableWebContents,
  onDenied: (what: string) => void = () => {},
): void {
  // The workbench is one page: every view is in-page. Loading happens through loadURL/loadFile
  // in main, which does not raise will-navigate; a link or a script trying to leave is stopped.
  contents.on('will-navigate', (event, url) => {
    event.preventDefault();
    onDenied(`navigation to ${url}`);
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    onDenied('a webview');
  });
  contents.setWindowOpenHandler(({ url }) => {
    onDenied(`a new window for ${url}`);
    return { action: 'deny' };
  });
  // Camera, microphone, notifications, geolocation, clipboard read...: the workbench needs none.
  contents.session.setPermissionRequestHandler((_contents, permission, callback) => {
    onDenied(`the permission ${permission}`);
    callback(false);
  });
  contents.session.setPermissionCheckHandler(() => false);
}
