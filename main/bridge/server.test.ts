// The localhost bridge over a real server on 127.0.0.1, with real HTTP (Node fetch and raw
// requests) and real WebSocket clients (ws).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { EventHub } from '../services/dispatch.js';
import { startBridge, type Bridge } from './server.js';
import {
  SECRET,
  collect,
  openWs,
  rawRequest,
  sampleResult,
  smallDispatcher,
  staticFixture,
  waitFor,
} from './test-helpers.js';

const WRONG = 'f'.repeat(64);

describe('localhost bridge', () => {
  const hub = new EventHub();
  let bridge: Bridge;
  let base: string;
  let wsUrl: string;
  const fixture = staticFixture();

  beforeAll(async () => {
    bridge = await startBridge({
      dispatch: smallDispatcher(),
      hub,
      staticDir: fixture.dir,
      maxBodyBytes: 64 * 1024,
    });
    base = bridge.origin;
    wsUrl = `ws://127.0.0.1:${bridge.port}/ws`;
  });
  afterAll(async () => {
    await bridge.close();
  });

  const auth = () => ({ authorization: `Bearer ${bridge.token}` });
  const post = (method: string, body: unknown, headers: Record<string, string> = auth()) =>
    fetch(`${base}/api/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  async function wsOpen(url = `${wsUrl}?token=${bridge.token}`): Promise<WebSocket> {
    const r = await openWs(url, { origin: base });
    if (!('ws' in r)) throw new Error(`upgrade refused: ${r.status}`);
    return r.ws;
  }

  describe('listening', () => {
    it('listens on 127.0.0.1 only, on a random port, and prints a URL with its token', () => {
      const address = bridge.address();
      expect(address.address).toBe('127.0.0.1');
      expect(address.family).toBe('IPv4');
      expect(bridge.port).toBeGreaterThan(0);
      expect(bridge.token).toMatch(/^[0-9a-f]{64}$/);
      expect(bridge.url).toBe(`http://127.0.0.1:${bridge.port}/?token=${bridge.token}`);
    });

    it('is not reachable on another loopback address', async () => {
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.2', port: bridge.port });
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
      expect(outcome).toBe('ECONNREFUSED');
    });

    it('refuses any host but 127.0.0.1, bad ports, weak tokens and remote origins', async () => {
      const dispatch = smallDispatcher();
      for (const host of ['0.0.0.0', '::', 'localhost', '192.168.1.2', '127.0.0.2'])
        await expect(startBridge({ dispatch, hub, host })).rejects.toThrow(/binds 127\.0\.0\.1/);
      await expect(startBridge({ dispatch, hub, port: 70000 })).rejects.toThrow(/invalid port/);
      await expect(startBridge({ dispatch, hub, token: 'short' })).rejects.toThrow(/token/);
      await expect(
        startBridge({ dispatch, hub, allowedOrigins: ['http://evil.example'] }),
      ).rejects.toThrow(/loopback/);
      await expect(startBridge({ dispatch, hub, staticDir: '/nonexistent/x' })).rejects.toThrow(
        /npm run build/,
      );
    });

    it('reports a port in use plainly', async () => {
      await expect(
        startBridge({ dispatch: smallDispatcher(), hub, port: bridge.port }),
      ).rejects.toThrow(/in use/);
    });
  });

  describe('HTTP authentication', () => {
    it('refuses every request without the token with 401', async () => {
      for (const path of ['/', '/index.html', '/assets/app-1234.js', '/nope', '/ws']) {
        const res = await fetch(`${base}${path}`);
        expect(res.status, path).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/Bearer/);
        expect(await res.text()).not.toContain('console.log');
      }
      const api = await post('app.info', {}, {});
      expect(api.status).toBe(401);
    });

    it('refuses a wrong token in the header, the query and the cookie', async () => {
      expect((await fetch(`${base}/?token=${WRONG}`)).status).toBe(401);
      expect((await fetch(`${base}/?token=`)).status).toBe(401);
      expect((await post('app.info', {}, { authorization: `Bearer ${WRONG}` })).status).toBe(401);
      expect((await post('app.info', {}, { authorization: `Basic ${bridge.token}` })).status).toBe(
        401,
      );
      const cookie = `gmemlab_token_${bridge.port}=${WRONG}`;
      expect((await fetch(`${base}/assets/app-1234.js`, { headers: { cookie } })).status).toBe(401);
      // A prefix or an extension of the token is wrong too.
      const prefix = bridge.token.slice(0, 63);
      expect((await fetch(`${base}/?token=${prefix}`)).status).toBe(401);
      expect((await fetch(`${base}/?token=${bridge.token}0`)).status).toBe(401);
    });

    it('takes the query token on the page load only, then sets an HttpOnly SameSite=Strict cookie', async () => {
      const page = await fetch(`${base}/?token=${bridge.token}`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('cache-control')).toBe('no-store');
      const setCookie = page.headers.get('set-cookie') ?? '';
      expect(setCookie).toContain(`gmemlab_token_${bridge.port}=${bridge.token}`);
      expect(setCookie).toMatch(/HttpOnly/);
      expect(setCookie).toMatch(/SameSite=Strict/);
      expect(setCookie).toMatch(/Path=\//);
      expect(await page.text()).toContain('<title>gmem-lab</title>');

      // Assets need the cookie (or the header): the query token is not taken there.
      expect((await fetch(`${base}/assets/app-1234.js?token=${bridge.token}`)).status).toBe(401);
      const cookie = setCookie.split(';')[0]!;
      const asset = await fetch(`${base}/assets/app-1234.js`, { headers: { cookie } });
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(asset.headers.get('cache-control')).toMatch(/immutable/);
      expect(await asset.text()).toBe('console.log("app");');
      // Reloading the page works with the cookie alone, and sets no new cookie.
      const reload = await fetch(`${base}/`, { headers: { cookie } });
      expect(reload.status).toBe(200);
      expect(reload.headers.get('set-cookie')).toBeNull();
    });

    it('sends a strict CSP and nosniff on every response', async () => {
      for (const res of [
        await fetch(`${base}/`, { headers: auth() }),
        await fetch(`${base}/assets/style-1234.css`, { headers: auth() }),
        await fetch(`${base}/nope`),
        await post('app.info', {}),
      ]) {
        const csp = res.headers.get('content-security-policy') ?? '';
        expect(csp).toContain("default-src 'self'");
        expect(csp).toContain("script-src 'self'");
        expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${bridge.port}`);
        expect(csp).toContain("img-src 'self' data: blob:");
        expect(csp).toContain("style-src 'self' 'unsafe-inline'");
        expect(csp).toContain("frame-ancestors 'none'");
        expect(csp).not.toContain('unsafe-eval');
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
        expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      }
    });

    it('refuses a foreign Host (DNS rebinding) and cross-origin requests', async () => {
      const rebinding = await rawRequest(bridge.port, '/', {
        headers: { host: `evil.example:${bridge.port}`, authorization: `Bearer ${bridge.token}` },
      });
      expect(rebinding.status).toBe(403);
      const crossOrigin = await post('app.info', {}, { ...auth(), origin: 'http://evil.example' });
      expect(crossOrigin.status).toBe(403);
      const sameOrigin = await post('app.info', {}, { ...auth(), origin: base });
      expect(sameOrigin.status).toBe(200);
    });
  });

  describe('HTTP API', () => {
    it('round-trips a call as a JSON envelope', async () => {
      const res = await post('app.info', {});
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(await res.json()).toEqual({
        ok: true,
        value: expect.objectContaining({ transport: 'bridge', version: '0.0.0-test' }),
      });
      expect(await (await post('runs.cancel', { runId: 1 })).json()).toEqual({
        ok: true,
        value: { cancelled: true },
      });
      // An empty body means no arguments.
      expect((await post('app.info', '')).status).toBe(200);
    });

    it('answers an invalid payload with the BAD_REQUEST envelope', async () => {
      const res = await post('runs.cancel', { runId: 'seven' });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { ok: boolean; error: { code: string; message: string } };
      expect(body.ok).toBe(false);
      expect(body.error.code).toBe('BAD_REQUEST');
      expect(body.error.message).toMatch(/runId/);
      const extra = await post('app.info', { surprise: 1 });
      expect(extra.status).toBe(400);
      const notJson = await post('app.info', '{nope');
      expect(notJson.status).toBe(400);
      expect(((await notJson.json()) as { error: { code: string } }).error.code).toBe(
        'BAD_REQUEST',
      );
      const form = await fetch(`${base}/api/app.info`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=1',
      });
      expect(form.status).toBe(400);
    });

    it('maps error codes to HTTP statuses and keeps the envelope', async () => {
      const unknown = await post('no.such.method', {});
      expect(unknown.status).toBe(404);
      expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe(
        'UNKNOWN_METHOD',
      );
      const notFound = await post('runs.csv', { runId: 9 });
      expect(notFound.status).toBe(404);
      expect(await notFound.json()).toEqual({
        ok: false,
        error: { code: 'NOT_FOUND', message: 'no run 9', details: { runId: 9 } },
      });
      const unsupported = await post('experiments.list', {});
      expect(unsupported.status).toBe(501);
      const get = await fetch(`${base}/api/app.info`, { headers: auth() });
      expect(get.status).toBe(405);
    });

    it('turns Float64Arrays into plain arrays over HTTP', async () => {
      const res = await post('presets.load', { id: 'x' });
      const body = (await res.json()) as { value: { experiment: { series: unknown } } };
      expect(body.value.experiment.series).toEqual([1, null, 3]);
    });

    it('refuses a body over the limit with 413', async () => {
      const big = JSON.stringify({ text: 'x'.repeat(70 * 1024) });
      const res = await post('app.info', big);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TOO_LARGE');
      // Without a Content-Length (chunked), the limit holds while reading.
      const chunked = await rawRequest(bridge.port, '/api/app.info', {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        body: big,
      });
      expect(chunked.status).toBe(413);
      // The server still serves afterwards.
      expect((await post('app.info', {})).status).toBe(200);
    });
  });

  describe('static files', () => {
    it('serves files with their content types, and 404 for unknown paths', async () => {
      const svg = await fetch(`${base}/assets/logo.svg`, { headers: auth() });
      expect(svg.status).toBe(200);
      expect(svg.headers.get('content-type')).toBe('image/svg+xml');
      const css = await fetch(`${base}/assets/style-1234.css`, { headers: auth() });
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      const head = await fetch(`${base}/index.html`, { method: 'HEAD', headers: auth() });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).not.toBeNull();
      expect((await fetch(`${base}/nope.js`, { headers: auth() })).status).toBe(404);
      expect((await fetch(`${base}/assets`, { headers: auth() })).status).toBe(404);
      expect((await fetch(`${base}/assets/`, { headers: auth() })).status).toBe(404);
      const del = await fetch(`${base}/index.html`, { method: 'DELETE', headers: auth() });
      expect(del.status).toBe(405);
    });

    it('refuses path traversal, hidden files and symlinks out of the folder', async () => {
      const attempts = [
        '/../secret.txt',
        '/../../../../etc/passwd',
        '/%2e%2e/secret.txt',
        '/..%2fsecret.txt',
        '/assets/..%2f..%2fsecret.txt',
        '/assets/%2e%2e/%2e%2e/secret.txt',
        '/..%5csecret.txt',
        '/%2e%2e%5csecret.txt',
        '/.env',
        '/assets/%2e%2e/.env',
        '/link-out.txt',
        `/${encodeURIComponent(fixture.secretPath)}`,
        '//etc/passwd',
        '/index.html%00.js',
        '/%E0%A4%A',
      ];
      for (const path of attempts) {
        const res = await rawRequest(bridge.port, path, { headers: auth() });
        expect([400, 404], path).toContain(res.status);
        expect(res.body, path).not.toContain(SECRET);
        expect(res.body, path).not.toContain('root:');
      }
    });
  });

  describe('WebSocket', () => {
    it('refuses an upgrade without the token or with a wrong one (401)', async () => {
      expect(await openWs(wsUrl, { origin: base })).toEqual({ status: 401 });
      expect(await openWs(`${wsUrl}?token=${WRONG}`, { origin: base })).toEqual({ status: 401 });
      expect(
        await openWs(wsUrl, {
          origin: base,
          headers: { cookie: `gmemlab_token_${bridge.port}=${WRONG}` },
        }),
      ).toEqual({ status: 401 });
    });

    it('refuses cross-origin upgrades and upgrades without an Origin', async () => {
      const url = `${wsUrl}?token=${bridge.token}`;
      expect(await openWs(url, { origin: 'http://evil.example' })).toEqual({ status: 403 });
      expect(await openWs(url, { origin: `http://127.0.0.1:${bridge.port + 1}` })).toEqual({
        status: 403,
      });
      expect(await openWs(url, { origin: 'null' })).toEqual({ status: 403 });
      expect(await openWs(url)).toEqual({ status: 403 });
      expect(
        await openWs(`ws://127.0.0.1:${bridge.port}/elsewhere?token=${bridge.token}`, {
          origin: base,
        }),
      ).toEqual({ status: 404 });
    });

    it('accepts the token from the cookie', async () => {
      const r = await openWs(wsUrl, {
        origin: base,
        headers: { cookie: `other=1; gmemlab_token_${bridge.port}=${bridge.token}` },
      });
      expect('ws' in r).toBe(true);
      if ('ws' in r) r.ws.close();
    });

    it('round-trips calls: {id, method, args} -> {id, envelope}', async () => {
      const ws = await wsOpen();
      const inbox = collect(ws);
      ws.send(JSON.stringify({ id: 1, method: 'app.info', args: {} }));
      ws.send(JSON.stringify({ id: 'two', method: 'runs.cancel', args: { runId: 2 } }));
      const answers = await waitFor(
        () => (inbox.messages.length >= 2 ? inbox.messages : undefined),
        'two answers',
      );
      const byId = new Map(answers.map((m) => [(m.value as { id: unknown }).id, m]));
      expect(byId.get(1)!.binary).toBe(false);
      expect(byId.get(1)!.value).toEqual({
        id: 1,
        envelope: { ok: true, value: expect.objectContaining({ transport: 'bridge' }) },
      });
      expect(byId.get('two')!.value).toEqual({
        id: 'two',
        envelope: { ok: true, value: { cancelled: false } },
      });
      ws.close();
    });

    it('answers an invalid payload and malformed messages with BAD_REQUEST', async () => {
      const ws = await wsOpen();
      const inbox = collect(ws);
      ws.send(JSON.stringify({ id: 5, method: 'runs.cancel', args: { runId: -1 } }));
      ws.send('not json at all');
      ws.send(JSON.stringify({ method: 'app.info' }));
      ws.send(JSON.stringify({ id: 6, method: 'nope.nope', args: {} }));
      await waitFor(() => (inbox.messages.length >= 4 ? true : undefined), 'four answers');
      const values = inbox.messages.map(
        (m) => m.value as { id: unknown; envelope: { ok: boolean; error: { code: string } } },
      );
      const five = values.find((v) => v.id === 5)!;
      expect(five.envelope.ok).toBe(false);
      expect(five.envelope.error.code).toBe('BAD_REQUEST');
      const anonymous = values.filter((v) => v.id === null);
      expect(anonymous).toHaveLength(2);
      for (const a of anonymous) expect(a.envelope.error.code).toBe('BAD_REQUEST');
      expect(values.find((v) => v.id === 6)!.envelope.error.code).toBe('UNKNOWN_METHOD');
      // The connection survives bad messages.
      ws.send(JSON.stringify({ id: 7, method: 'app.info', args: {} }));
      await waitFor(() => (inbox.messages.length >= 5 ? true : undefined), 'the fifth answer');
      ws.close();
    });

    it('sends results holding Float64Arrays as binary frames that decode', async () => {
      const ws = await wsOpen();
      const inbox = collect(ws);
      ws.send(JSON.stringify({ id: 1, method: 'presets.load', args: { id: 'p' } }));
      const [answer] = await waitFor(
        () => (inbox.messages.length >= 1 ? inbox.messages : undefined),
        'the answer',
      );
      expect(answer!.binary).toBe(true);
      const { envelope } = answer!.value as {
        envelope: { ok: true; value: { experiment: { series: Float64Array } } };
      };
      expect(envelope.value.experiment.series).toBeInstanceOf(Float64Array);
      expect(Array.from(envelope.value.experiment.series)).toEqual([1, NaN, 3]);
      ws.close();
    });

    it('pushes events to every client, RunResultView series as Float64Arrays', async () => {
      const a = await wsOpen();
      const b = await wsOpen();
      const inboxA = collect(a);
      const inboxB = collect(b);
      hub.emit('store.changed', { paths: ['/w/a.gmemlab.json'] });
      const result = sampleResult(3000);
      hub.emit('run.done', { runId: 4, variantIndex: 0, status: 'done', result });
      for (const inbox of [inboxA, inboxB]) {
        await waitFor(() => (inbox.messages.length >= 2 ? true : undefined), 'two events');
        expect(inbox.messages[0]).toEqual({
          binary: false,
          value: { event: 'store.changed', payload: { paths: ['/w/a.gmemlab.json'] } },
        });
        expect(inbox.messages[1]!.binary).toBe(true);
        const done = inbox.messages[1]!.value as {
          event: string;
          payload: { result: typeof result };
        };
        expect(done.event).toBe('run.done');
        expect(done.payload.result.series.timeNs).toBeInstanceOf(Float64Array);
        expect(done.payload.result.series.timeNs.length).toBe(3000);
        expect(done.payload.result.series.values[1]![2]).toBe(-4);
        expect(done.payload.result.series.nodeBytes![0]![1]).toBe(4096);
        expect(done.payload.result.summary.metrics['mapped_2m_ratio']).toBeNaN();
      }
      a.close();
      b.close();
    });

    it('refuses a message over the size limit by closing with 1009', async () => {
      const ws = await wsOpen();
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      ws.send(JSON.stringify({ id: 1, method: 'app.info', args: { x: 'x'.repeat(70 * 1024) } }));
      expect(await closed).toBe(1009);
    });
  });
});

describe('localhost bridge shutdown', () => {
  it('closes its clients (1001) and stops listening', async () => {
    const bridge = await startBridge({ dispatch: smallDispatcher(), hub: new EventHub() });
    const r = await openWs(`ws://127.0.0.1:${bridge.port}/ws?token=${bridge.token}`, {
      origin: bridge.origin,
    });
    if (!('ws' in r)) throw new Error('upgrade refused');
    const code = new Promise<number>((resolve) => r.ws.once('close', (c) => resolve(c)));
    await waitFor(() => (bridge.clientCount() === 1 ? true : undefined), 'the client');
    await bridge.close();
    expect(await code).toBe(1001);
    expect(bridge.clientCount()).toBe(0);
    await expect(fetch(`${bridge.origin}/`)).rejects.toThrow();
    await bridge.close(); // idempotent
  });

  it('holds the default 32 MiB body limit', async () => {
    const bridge = await startBridge({ dispatch: smallDispatcher(), hub: new EventHub() });
    try {
      const post = (body: string) =>
        fetch(`${bridge.origin}/api/app.info`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bridge.token}`, 'content-type': 'application/json' },
          body,
        });
      expect((await post(JSON.stringify({ x: 'x'.repeat(33 * 1024 * 1024) }))).status).toBe(413);
      // Just under the limit the body is read and checked against the contract.
      expect((await post(JSON.stringify({ x: 'x'.repeat(31 * 1024 * 1024) }))).status).toBe(400);
    } finally {
      await bridge.close();
    }
  });

  it('serves the API without a built renderer and says how to build it', async () => {
    const bridge = await startBridge({ dispatch: smallDispatcher(), hub: new EventHub() });
    try {
      const page = await fetch(`${bridge.url}`);
      expect(page.status).toBe(404);
      expect(await page.text()).toMatch(/npm run build/);
      const api = await fetch(`${bridge.origin}/api/app.info`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bridge.token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(api.status).toBe(200);
    } finally {
      await bridge.close();
    }
  });
});
