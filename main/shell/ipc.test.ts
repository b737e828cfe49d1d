// The IPC transport with a fake ipcMain that records handlers: one handler per method on its own
// channel, the sender check, envelopes on every path, events forwarded on one channel.
import { describe, expect, it } from 'vitest';
import { API_METHODS, type ApiEnvelope } from '@contract/api.js';
import { IPC_EVENT_CHANNEL } from '@contract/api-names.js';
import {
  forwardEvents,
  registerIpc,
  trustedSender,
  type IpcMainLike,
  type IpcSender,
} from './ipc.js';
import { createDispatcher, EventHub, type Dispatcher } from '../services/dispatch.js';

type Handler = (event: IpcSender, ...args: unknown[]) => Promise<ApiEnvelope<unknown>>;

function fakeIpcMain() {
  const handlers = new Map<string, Handler>();
  const ipcMain = {
    handle(channel: string, listener: Handler) {
      if (handlers.has(channel)) throw new Error(`second handler for ${channel}`);
      handlers.set(channel, listener);
    },
    removeHandler(channel: string) {
      handlers.delete(channel);
    },
  };
  return { handlers, ipcMain: ipcMain as unknown as IpcMainLike };
}

const APP_URL = 'file:///opt/gmem-lab/resources/app.asar/out/renderer/index.html';
const OUR_ID = 7;

function event(overrides: Partial<{ id: number; url: string; parent: unknown }> = {}): IpcSender {
  return {
    sender: { id: overrides.id ?? OUR_ID },
    senderFrame: { url: overrides.url ?? APP_URL, parent: overrides.parent ?? null },
  };
}

const check = trustedSender({ isAppWebContents: (id) => id === OUR_ID, appUrl: APP_URL });

/** A dispatcher that records its calls and echoes them. */
function echo(): { dispatch: Dispatcher; calls: Array<[string, unknown]> } {
  const calls: Array<[string, unknown]> = [];
  return {
    calls,
    dispatch: async (method, args) => {
      calls.push([method, args]);
      return { ok: true, value: { method, args } };
    },
  };
}

describe('registerIpc', () => {
  it('registers exactly one handler per API method, on gmemlab:<method>', () => {
    const { handlers, ipcMain } = fakeIpcMain();
    registerIpc(ipcMain, echo().dispatch, check);
    expect([...handlers.keys()].sort()).toEqual(
      Object.keys(API_METHODS)
        .map((m) => `gmemlab:${m}`)
        .sort(),
    );
  });

  it('dispatches a trusted call with its method and arguments', async () => {
    const { handlers, ipcMain } = fakeIpcMain();
    const { dispatch, calls } = echo();
    registerIpc(ipcMain, dispatch, check);
    const envelope = await handlers.get('gmemlab:runs.cancel')!(event(), { runId: 3 });
    expect(envelope).toEqual({ ok: true, value: { method: 'runs.cancel', args: { runId: 3 } } });
    expect(calls).toEqual([['runs.cancel', { runId: 3 }]]);
  });

  it.each([
    ['another webContents', event({ id: 99 })],
    ['a sub-frame of our window', event({ parent: { url: APP_URL } })],
    ['our window navigated elsewhere', event({ url: 'https://example.com/' })],
    ['another local file', event({ url: 'file:///tmp/evil.html' })],
    ['a destroyed frame', { sender: { id: OUR_ID }, senderFrame: null }],
  ])('refuses a call from %s with an envelope, without dispatching', async (_what, e) => {
    const { handlers, ipcMain } = fakeIpcMain();
    const { dispatch, calls } = echo();
    registerIpc(ipcMain, dispatch, check);
    const envelope = await handlers.get('gmemlab:settings.get')!(e, {});
    expect(envelope).toEqual({
      ok: false,
      error: { code: 'BAD_REQUEST', message: expect.stringMatching(/refused/) },
    });
    expect(calls).toEqual([]);
  });

  it('accepts the dev server page by origin, with any path or hash', () => {
    const dev = trustedSender({ isAppWebContents: () => true, appUrl: 'http://localhost:5173/' });
    expect(dev(event({ url: 'http://localhost:5173/#/compare' }))).toBe(true);
    expect(dev(event({ url: 'http://localhost:5174/' }))).toBe(false);
    expect(dev(event({ url: 'not a url' }))).toBe(false);
  });

  it('a sender check that throws refuses', async () => {
    const { handlers, ipcMain } = fakeIpcMain();
    registerIpc(ipcMain, echo().dispatch, () => {
      throw new Error('boom');
    });
    const envelope = await handlers.get('gmemlab:app.info')!(event(), {});
    expect(envelope.ok).toBe(false);
  });

  it('a real dispatcher answers a bad payload with a BAD_REQUEST envelope through IPC', async () => {
    const { handlers, ipcMain } = fakeIpcMain();
    const dispatch = createDispatcher({} as never);
    registerIpc(ipcMain, dispatch, check);
    const envelope = await handlers.get('gmemlab:runs.csv')!(event(), { runId: 'one' });
    expect(envelope).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('removes every handler it registered', () => {
    const { handlers, ipcMain } = fakeIpcMain();
    const unregister = registerIpc(ipcMain, echo().dispatch, check);
    unregister();
    expect(handlers.size).toBe(0);
  });
});

describe('forwardEvents', () => {
  it('sends each hub event on gmemlab:event as { event, payload } until unsubscribed', () => {
    const hub = new EventHub();
    const sent: Array<[string, unknown]> = [];
    const stop = forwardEvents(hub, (channel, message) => sent.push([channel, message]));
    hub.emit('store.changed', { paths: ['/w/a.gmemlab.json'] });
    stop();
    hub.emit('store.changed', { paths: [] });
    expect(sent).toEqual([
      [IPC_EVENT_CHANNEL, { event: 'store.changed', payload: { paths: ['/w/a.gmemlab.json'] } }],
    ]);
  });
});
