// The preload with Electron replaced by fakes: what it exposes, which channels it invokes, how it
// turns envelopes into values and errors, and how it fans out events.
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { GmemLabApi } from '@contract/api.js';
import { ApiError } from '@contract/api.js';
import { withApiErrors } from '@contract/api-client.js';

const exposed = new Map<string, unknown>();
const invoke = vi.fn<(channel: string, args: unknown) => Promise<unknown>>();
const rendererListeners = new Map<string, (event: unknown, message: unknown) => void>();

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, api: unknown) => exposed.set(key, api) },
  ipcRenderer: {
    invoke: (channel: string, args: unknown) => invoke(channel, args),
    on: (channel: string, l: (event: unknown, message: unknown) => void) =>
      rendererListeners.set(channel, l),
  },
}));

await import('./preload.js');
const api = exposed.get('gmemlab') as GmemLabApi;

beforeEach(() => invoke.mockReset());

describe('preload', () => {
  it('exposes only window.gmemlab with call and on', () => {
    expect([...exposed.keys()]).toEqual(['gmemlab']);
    expect(Object.keys(api).sort()).toEqual(['call', 'on']);
    expect([...rendererListeners.keys()]).toEqual(['gmemlab:event']);
  });

  it('invokes gmemlab:<method> and resolves to the value of an ok envelope', async () => {
    invoke.mockResolvedValue({ ok: true, value: { runIds: [1, 2] } });
    await expect(api.call('runs.start', { experiment: {} })).resolves.toEqual({ runIds: [1, 2] });
    expect(invoke).toHaveBeenCalledWith('gmemlab:runs.start', { experiment: {} });
  });

  it('never invokes a channel for a name that is not an API method', async () => {
    for (const bad of ['event', 'runs', '__proto__', 'constructor', 'settings.get\0', 42]) {
      await expect(api.call(bad as 'app.info', {})).rejects.toMatchObject({
        code: 'UNKNOWN_METHOD',
      });
    }
    expect(invoke).not.toHaveBeenCalled();
  });

  it('rejects with the error of an error envelope, code and details kept', async () => {
    const error = {
      code: 'INVALID_EXPERIMENT',
      message: 'bad',
      details: [{ path: 'x', message: 'y' }],
    };
    invoke.mockResolvedValue({ ok: false, error });
    await expect(api.call('experiments.open', { path: '/a' })).rejects.toEqual({
      name: 'ApiError',
      ...error,
    });
    // ... and the renderer's wrapper rebuilds the ApiError class from it.
    const err = await withApiErrors(api)
      .call('experiments.open', { path: '/a' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject(error);
  });

  it('rejects a malformed answer as INTERNAL', async () => {
    invoke.mockResolvedValue('nonsense');
    await expect(api.call('app.info', {})).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('delivers events to the listeners of that event until they unsubscribe', () => {
    const got: unknown[] = [];
    const off = api.on('store.changed', (p) => got.push(p));
    api.on('settings.changed', () => got.push('wrong event'));
    const send = rendererListeners.get('gmemlab:event')!;
    send({}, { event: 'store.changed', payload: { paths: ['/w/a'] } });
    send({}, 'not a message');
    off();
    send({}, { event: 'store.changed', payload: { paths: ['/w/b'] } });
    expect(got).toEqual([{ paths: ['/w/a'] }]);
  });

  it('refuses unknown events and non-function listeners', () => {
    expect(() => api.on('bogus' as 'run.done', () => {})).toThrow(/unknown API event/);
    expect(() => api.on('run.done', 'x' as never)).toThrow(/function/);
  });
});
