// The browser-side bridge client against the real server, from Node: Node 20 has no global
// WebSocket, so the `ws` class is injected (with the Origin a browser would send).
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ApiError } from '@contract/api.js';
import { EventHub } from '../services/dispatch.js';
import {
  BridgeClient,
  type ConnectionState,
  type WebSocketConstructorLike,
} from '@contract/bridge-client.js';
import { startBridge, type Bridge } from './server.js';
import { sampleResult, smallDispatcher, waitFor } from './test-helpers.js';

/** The `ws` class as a browser page on `origin` would use it. */
function wsFrom(origin: string): WebSocketConstructorLike {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { origin });
    }
  };
}

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  options: { dispatch?: ReturnType<typeof smallDispatcher>; port?: number; token?: string } = {},
): Promise<{ bridge: Bridge; hub: EventHub; client: BridgeClient; url: string }> {
  const hub = new EventHub();
  const bridge = await startBridge({
    dispatch: options.dispatch ?? smallDispatcher(),
    hub,
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.token !== undefined ? { token: options.token } : {}),
  });
  cleanups.push(() => bridge.close());
  const url = `ws://127.0.0.1:${bridge.port}/ws?token=${bridge.token}`;
  const client = new BridgeClient({
    url,
    WebSocket: wsFrom(bridge.origin),
    reconnectDelayMs: 20,
    maxReconnectDelayMs: 100,
  });
  cleanups.push(() => client.close());
  await client.ready();
  return { bridge, hub, client, url };
}

describe('bridge client (GmemLabApi over the real server)', () => {
  it('calls a method and gets its typed result', async () => {
    const { client } = await setup();
    expect(client.state).toBe('open');
    const info = await client.call('app.info', {});
    expect(info.transport).toBe('bridge');
    expect(await client.call('runs.cancel', { runId: 1 })).toEqual({ cancelled: true });
    // Many calls at once come back to their own callers.
    const many = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.call('runs.cancel', { runId: i + 1 })),
    );
    expect(many.map((r) => r.cancelled)).toEqual(Array.from({ length: 50 }, (_, i) => i === 0));
  });

  it('rebuilds ApiError from error envelopes', async () => {
    const { client } = await setup();
    const bad = await client.call('runs.cancel', { runId: -3 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ApiError);
    expect((bad as ApiError).code).toBe('BAD_REQUEST');
    const missing = await client.call('runs.csv', { runId: 9 }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ApiError);
    expect(missing).toMatchObject({
      code: 'NOT_FOUND',
      message: 'no run 9',
      details: { runId: 9 },
    });
  });

  it('receives results and events with Float64Arrays intact', async () => {
    const { client, hub, bridge, url } = await setup();
    const opened = await client.call('presets.load', { id: 'p' });
    expect(opened.experiment['series']).toBeInstanceOf(Float64Array);

    const done: unknown[] = [];
    const changed: unknown[] = [];
    const offDone = client.on('run.done', (p) => done.push(p));
    client.on('store.changed', (p) => changed.push(p));
    hub.emit('store.changed', { paths: ['a'] });
    hub.emit('run.done', { runId: 4, variantIndex: 0, status: 'done', result: sampleResult(100) });
    await waitFor(() => (done.length === 1 && changed.length === 1 ? true : undefined), 'events');
    const payload = done[0] as { result: ReturnType<typeof sampleResult> };
    expect(payload.result.series.timeNs).toBeInstanceOf(Float64Array);
    expect(payload.result.series.values[0]![99]).toBe(99);
    expect(changed).toEqual([{ paths: ['a'] }]);

    // Unsubscribed listeners hear nothing more; a throwing listener does not stop the others.
    offDone();
    const errors: unknown[] = [];
    const client2 = new BridgeClient({
      url,
      WebSocket: wsFrom(bridge.origin),
      onListenerError: (e) => errors.push(e),
    });
    cleanups.push(() => client2.close());
    await client2.ready();
    const heard: unknown[] = [];
    client2.on('store.changed', () => {
      throw new Error('listener bug');
    });
    client2.on('store.changed', (p) => heard.push(p));
    hub.emit('store.changed', { paths: ['b'] });
    hub.emit('run.done', { runId: 5, variantIndex: 0, status: 'done', result: sampleResult(2) });
    await waitFor(() => (heard.length === 1 ? true : undefined), 'the second listener');
    expect(errors).toHaveLength(1);
    expect(done).toHaveLength(1);
  });

  it('rejects pending calls when the connection drops, then reconnects', async () => {
    let release: () => void = () => {};
    let arrived: () => void = () => {};
    const atServer = new Promise<void>((r) => (arrived = r));
    const dispatch = smallDispatcher({
      'runs.cancel': ({ runId }) =>
        new Promise((resolve) => {
          release = () => resolve({ cancelled: runId === 1 });
          arrived();
        }),
    });
    const { bridge, client } = await setup({ dispatch });
    const port = bridge.port;
    const token = bridge.token;
    const states: ConnectionState[] = [];
    client.onConnectionChange((s) => states.push(s));

    const hanging = client.call('runs.cancel', { runId: 1 }).catch((e: unknown) => e);
    await atServer;
    await bridge.close();
    release();
    const err = await hanging;
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('IO_ERROR');
    expect((err as ApiError).message).toMatch(/connection to the gmem-lab server was lost/);
    expect(states[0]).toBe('reconnecting');

    // While the server is down, a call waits for the next attempt and fails with it.
    const whileDown = await client.call('app.info', {}).catch((e: unknown) => e);
    expect(whileDown).toBeInstanceOf(ApiError);
    expect((whileDown as ApiError).message).toMatch(/cannot connect/);
    expect((whileDown as ApiError).message).not.toContain(token);

    // The server comes back on the same port with the same token: the client reconnects.
    const again = await startBridge({
      dispatch: smallDispatcher(),
      hub: new EventHub(),
      port,
      token,
    });
    cleanups.push(() => again.close());
    await waitFor(() => (client.state === 'open' ? true : undefined), 'the reconnect');
    expect(states).toContain('open');
    expect((await client.call('app.info', {})).transport).toBe('bridge');
  });

  it('queues a call made while connecting and sends it once open', async () => {
    const hub = new EventHub();
    const bridge = await startBridge({ dispatch: smallDispatcher(), hub });
    cleanups.push(() => bridge.close());
    const client = new BridgeClient({
      url: `ws://127.0.0.1:${bridge.port}/ws?token=${bridge.token}`,
      WebSocket: wsFrom(bridge.origin),
    });
    cleanups.push(() => client.close());
    expect(client.state).toBe('connecting');
    expect((await client.call('app.info', {})).version).toBe('0.0.0-test');
  });

  it('fails to connect with a wrong token or a foreign origin, and says how to fix it', async () => {
    const hub = new EventHub();
    const bridge = await startBridge({ dispatch: smallDispatcher(), hub });
    cleanups.push(() => bridge.close());
    for (const [url, origin] of [
      [`ws://127.0.0.1:${bridge.port}/ws?token=${'0'.repeat(64)}`, bridge.origin],
      [`ws://127.0.0.1:${bridge.port}/ws?token=${bridge.token}`, 'http://evil.example'],
    ] as const) {
      const client = new BridgeClient({ url, WebSocket: wsFrom(origin), reconnect: false });
      cleanups.push(() => client.close());
      const err = await client.ready().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).message).toMatch(/gmem-lab serve/);
      expect(client.state).toBe('closed');
      await expect(client.call('app.info', {})).rejects.toThrow(/closed/);
    }
  });

  it('can be closed while still connecting', async () => {
    const hub = new EventHub();
    const bridge = await startBridge({ dispatch: smallDispatcher(), hub });
    cleanups.push(() => bridge.close());
    const client = new BridgeClient({
      url: `ws://127.0.0.1:${bridge.port}/ws?token=${bridge.token}`,
      WebSocket: wsFrom(bridge.origin),
    });
    const ready = client.ready().catch((e: unknown) => e);
    const early = client.call('app.info', {}).catch((e: unknown) => e);
    client.close();
    expect(((await ready) as ApiError).code).toBe('IO_ERROR');
    expect(((await early) as ApiError).code).toBe('IO_ERROR');
    expect(client.state).toBe('closed');
    await waitFor(() => (bridge.clientCount() === 0 ? true : undefined), 'the server to notice');
  });

  it('refuses a call over the size limit before sending it', async () => {
    const { client } = await setup();
    const err = await client
      .call('experiments.import', {
        fileName: 'a.gmemlab.json',
        text: 'x'.repeat(33 * 1024 * 1024),
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('TOO_LARGE');
    // The connection is still fine.
    expect(client.state).toBe('open');
    expect((await client.call('app.info', {})).transport).toBe('bridge');
  });

  it('close() rejects pending calls and stops for good', async () => {
    let arrived: () => void = () => {};
    const atServer = new Promise<void>((r) => (arrived = r));
    const dispatch = smallDispatcher({
      'runs.cancel': () => {
        arrived();
        return new Promise(() => {});
      },
    });
    const { client, bridge } = await setup({ dispatch });
    const pending = client.call('runs.cancel', { runId: 1 }).catch((e: unknown) => e);
    await atServer;
    client.close();
    expect(((await pending) as ApiError).code).toBe('IO_ERROR');
    expect(client.state).toBe('closed');
    await waitFor(() => (bridge.clientCount() === 0 ? true : undefined), 'the server to notice');
  });
});
