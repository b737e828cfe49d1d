// The window's security options and the webContents hardening, exercised with fake objects; the
// renderer page's Content-Security-Policy; and the bootstrap's restatement of the options.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hardenWebContents, windowOptions, type HardenableWebContents } from './window-options.js';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

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

  it('opens no popups by middle-click, navigates on no drop, and keeps dialogs safe', () => {
    expect(prefs.disableBlinkFeatures).toContain('Auxclick');
    expect(prefs.navigateOnDragDrop).toBe(false);
    expect(prefs.safeDialogs).toBe(true);
  });

  it('is restated where the window is made (main/shell/index.ts), with the same values', () => {
    // Static scanners read the options at `new BrowserWindow(...)`; they must say what
    // window-options.ts says.
    const source = read('main/shell/index.ts');
    const call = source.slice(source.indexOf('new BrowserWindow('));
    const literal = call.slice(0, call.indexOf('\n  });') + 1);
    for (const key of [
      'sandbox',
      'contextIsolation',
      'nodeIntegration',
      'nodeIntegrationInWorker',
      'nodeIntegrationInSubFrames',
      'webSecurity',
      'allowRunningInsecureContent',
      'experimentalFeatures',
      'webviewTag',
    ] as const) {
      expect(literal, key).toContain(`${key}: ${String(prefs[key])},`);
    }
    expect(literal).toContain(`disableBlinkFeatures: '${prefs.disableBlinkFeatures}'`);
    expect(literal).toContain('preload: PRELOAD_FILE');
  });
});

/** The directives of the page's Content-Security-Policy meta tag. */
function csp(html: string): Map<string, string[]> {
  const meta = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/i.exec(html);
  expect(meta, 'the page has a CSP meta tag').not.toBeNull();
  return new Map(
    meta![1]!
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name!, values]),
  );
}

describe('the renderer page CSP', () => {
  const pages = [
    'renderer/index.html',
    ...(existsSync(new URL('../../out/renderer/index.html', import.meta.url))
      ? ['out/renderer/index.html']
      : []),
  ];

  it.each(pages)('%s: everything from the app itself by default, scripts only from it', (page) => {
    const d = csp(read(page));
    expect(d.get('default-src')).toEqual(["'self'"]);
    expect(d.get('script-src')).toEqual(["'self'"]);
  });

  it.each(pages)('%s: no eval, no inline scripts, no remote content', (page) => {
    const d = csp(read(page));
    const all = [...d.values()].flat();
    expect(all).not.toContain("'unsafe-eval'");
    expect(all).not.toContain("'wasm-unsafe-eval'");
    expect(d.get('script-src')).not.toContain("'unsafe-inline'");
    for (const [name, values] of d) {
      for (const v of values) {
        if (!/^[a-z][a-z0-9+.-]*:/i.test(v)) continue;
        // Schemes and hosts: only data:/blob: images, and the localhost bridge of `gmem-lab serve`
        // for connections; never a remote host.
        if (name === 'img-src') expect(['data:', 'blob:'], `${name} ${v}`).toContain(v);
        else if (name === 'connect-src')
          expect(v, `${name} ${v}`).toMatch(/^(ws|http):\/\/127\.0\.0\.1:\*$/);
        else expect.fail(`${name} allows ${v}`);
      }
    }
  });

  it('the page loads nothing from elsewhere (its own files, or inline data)', () => {
    const html = read('renderer/index.html');
    for (const m of html.matchAll(/\b(?:src|href)="([^"]+)"/g))
      expect(m[1]).toMatch(/^(\.?\/|data:)/);
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
