// The window's security options and the webContents hardening, exercised with fake objects.
import { describe, expect, it } from 'vitest';
import { hardenWebContents, windowOptions, type HardenableWebContents } from './window-options.js';

describe('windowOptions', () => {
  const prefs = windowOptions('/app/out/preload/index.cjs').webPreferences!;

  it('sandboxes the renderer with context isolation, no Node and web security', () => {
    expect(prefs.sandbox).toBe(true);
    expect(prefs.contextIsolation).toBe(true);
    expect(prefs.nodeIntegration).toBe(false);
    expect(prefs.nodeIntegrationInWorker).toBe(false);
    expect(prefs.nodeIntegrationInSubFrames).toBe(false);
    expect(prefs.webSecurity).toBe(true);
    expect(prefs.allowRunningInsecureContent).toBe(false);
    expect(prefs.webviewTag).toBe(false);
    expect(prefs.experimentalFeatures).toBe(false);
    expect(prefs.enableBlinkFeatures).toBeUndefined();
    expect(prefs.preload).toBe('/app/out/preload/index.cjs');
  });
});

function fakeContents() {
  const listeners = new Map<string, (event: { preventDefault(): void }, url?: string) => void>();
  const handlers: {
    windowOpen?: (details: { url: string }) => { action: string };
    permissionRequest?: (c: unknown, p: string, cb: (granted: boolean) => void) => void;
    permissionCheck?: () => boolean;
  } = {};
  const contents: HardenableWebContents = {
    on: ((event: string, listener: (event: { preventDefault(): void }, url?: string) => void) => {
      listeners.set(event, listener);
      return contents;
    }) as HardenableWebContents['on'],
    setWindowOpenHandler: (h) => (handlers.windowOpen = h),
    session: {
      setPermissionRequestHandler: (h) => (handlers.permissionRequest = h),
      setPermissionCheckHandler: (h) => (handlers.permissionCheck = h),
    },
  };
  return { contents, listeners, handlers };
}

function fakeEvent() {
  const event = { prevented: false, preventDefault: () => (event.prevented = true) };
  return event;
}

describe('hardenWebContents', () => {
  it('blocks navigation and webviews', () => {
    const { contents, listeners } = fakeContents();
    const denied: string[] = [];
    hardenWebContents(contents, (what) => denied.push(what));
    const nav = fakeEvent();
    listeners.get('will-navigate')!(nav, 'https://evil.example/');
    expect(nav.prevented).toBe(true);
    const webview = fakeEvent();
    listeners.get('will-attach-webview')!(webview);
    expect(webview.prevented).toBe(true);
    expect(denied).toEqual(['navigation to https://evil.example/', 'a webview']);
  });

  it('denies every new window', () => {
    const { contents, handlers } = fakeContents();
    hardenWebContents(contents);
    expect(handlers.windowOpen!({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
    expect(handlers.windowOpen!({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
  });

  it('denies every permission request and check', () => {
    const { contents, handlers } = fakeContents();
    hardenWebContents(contents);
    for (const permission of ['media', 'notifications', 'geolocation', 'clipboard-read']) {
      let granted: boolean | undefined;
      handlers.permissionRequest!({}, permission, (g) => (granted = g));
      expect(granted).toBe(false);
    }
    expect(handlers.permissionCheck!()).toBe(false);
  });
});
