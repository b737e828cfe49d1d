// The localhost bridge: the API contract over HTTP + WebSocket on 127.0.0.1, so the workbench runs
// in a plain browser (and end-to-end tests drive the real services from a real browser).
//
// Security: binds 127.0.0.1 only; a random token is required on every request (Authorization:
// Bearer header, the HttpOnly SameSite=Strict cookie set on the first page load, or ?token= on
// that page load and on the WebSocket upgrade); Host must name this server (no DNS rebinding);
// cross-origin requests and WebSocket upgrades are refused; static files only from inside
// staticDir; a strict CSP on every response.
//
// Protocol (see codec.ts for the frames):
//   GET  /            the workbench (staticDir/index.html), other GETs its assets
//   WS   /ws          client -> server {id, method, args}; server -> client {id, envelope} and
//                     {event, payload}; envelopes and events with Float64Arrays come as binary
//                     frames, everything else as JSON text
//   POST /api/METHOD  JSON args -> JSON envelope (typed arrays as plain arrays), for scripts
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extname, resolve } from 'node:path';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { ApiEnvelope, ApiErrorCode } from '@contract/api.js';
import type { Dispatcher, EventHub } from '../services/dispatch.js';
import { resolveContained } from '../services/path-policy.js';
import { decode, encode, toPlainJson, type Frame } from '@contract/codec.js';

const BRIDGE_HOST = '127.0.0.1';
const WS_PATH = '/ws';
const API_PREFIX = '/api/';
/** Room for the largest call a browser makes: experiments.import with the contract's 16 MiB of
 * text, which JSON escaping (quotes, newlines) makes larger on the wire. */
const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;
/** A client whose unsent data grows past this is too slow to follow the events; it is dropped. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
const MAX_CALLS_IN_FLIGHT = 256;
const HEARTBEAT_MS = 30_000;
const CLOSE_GRACE_MS = 500;

export interface BridgeOptions {
  readonly dispatch: Dispatcher;
  readonly hub: EventHub;
  /** Only '127.0.0.1' is accepted; anything else is refused. */
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Default: 32 random bytes as hex. */
  readonly token?: string;
  /** The built renderer, served for GET /. Without it the API still works. */
  readonly staticDir?: string;
  /** More origins (loopback only, e.g. a dev server) whose pages may open the WebSocket. */
  readonly allowedOrigins?: readonly string[];
  /** Largest request body (HTTP) or WebSocket message; default 32 MiB. */
  readonly maxBodyBytes?: number;
  /** Internal errors (a failed static read, a broken socket); default: ignored. */
  readonly onError?: (err: unknown) => void;
}

export interface Bridge {
  /** The page to open: http://127.0.0.1:PORT/?token=TOKEN */
  readonly url: string;
  readonly origin: string;
  readonly port: number;
  readonly token: string;
  /** Where the server listens (always 127.0.0.1). */
  address(): AddressInfo;
  /** The number of connected WebSocket clients. */
  clientCount(): number;
  close(): Promise<void>;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

const STATUS_BY_CODE: Readonly<Record<ApiErrorCode, number>> = {
  BAD_REQUEST: 400,
  UNKNOWN_METHOD: 404,
  NOT_FOUND: 404,
  INVALID_EXPERIMENT: 422,
  NEWER_VERSION: 422,
  TOO_LARGE: 413,
  FORBIDDEN_PATH: 403,
  CONFLICT: 409,
  UNSUPPORTED: 501,
  IO_ERROR: 500,
  RUN_FAILED: 500,
  INTERNAL: 500,
};

const TOKEN_PATTERN = /^[A-Za-z0-9._~-]{32,256}$/;

/** Start the bridge; resolves once it listens. */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const host = options.host ?? BRIDGE_HOST;
  if (host !== BRIDGE_HOST)
    throw new Error(
      `the gmem-lab bridge binds ${BRIDGE_HOST} only (asked for "${host}"); reach it from elsewhere through an SSH tunnel`,
    );
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`invalid port ${String(port)}: expected 0 (any free port) to 65535`);
  const token = options.token ?? randomBytes(32).toString('hex');
  if (!TOKEN_PATTERN.test(token))
    throw new Error('the bridge token must be 32 to 256 characters of [A-Za-z0-9._~-]');
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const extraOrigins = (options.allowedOrigins ?? []).map(checkOrigin);
  const staticRoot = options.staticDir === undefined ? null : await staticRootOf(options.staticDir);
  const onError = options.onError ?? (() => {});

  const server = createServer();
  await listen(server, port);
  const actualPort = (server.address() as AddressInfo).port;
  const bridge = new BridgeServer({
    server,
    dispatch: options.dispatch,
    hub: options.hub,
    port: actualPort,
    token,
    staticRoot,
    extraOrigins,
    maxBodyBytes,
    onError,
  });
  return {
    url: `http://${BRIDGE_HOST}:${actualPort}/?token=${token}`,
    origin: `http://${BRIDGE_HOST}:${actualPort}`,
    port: actualPort,
    token,
    address: () => server.address() as AddressInfo,
    clientCount: () => bridge.clientCount(),
    close: () => bridge.close(),
  };
}

// ---------------------------------------------------------------------------------------------

interface BridgeServerOptions {
  readonly server: Server;
  readonly dispatch: Dispatcher;
  readonly hub: EventHub;
  readonly port: number;
  readonly token: string;
  readonly staticRoot: string | null;
  readonly extraOrigins: readonly string[];
  readonly maxBodyBytes: number;
  readonly onError: (err: unknown) => void;
}

class BridgeServer {
  private readonly server: Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<WebSocket>();
  private readonly alive = new WeakSet<WebSocket>();
  private readonly tokenDigest: Buffer;
  private readonly cookieName: string;
  private readonly hosts: ReadonlySet<string>;
  private readonly origins: ReadonlySet<string>;
  private readonly csp: string;
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;
  private closing: Promise<void> | null = null;

  constructor(private readonly o: BridgeServerOptions) {
    this.server = o.server;
    this.tokenDigest = digest(o.token);
    // Cookies are scoped by host, not port: one name per port keeps two bridges apart.
    this.cookieName = `gmemlab_token_${o.port}`;
    this.hosts = new Set([`${BRIDGE_HOST}:${o.port}`, `localhost:${o.port}`]);
    this.origins = new Set([...[...this.hosts].map((h) => `http://${h}`), ...o.extraOrigins]);
    this.csp = [
      "default-src 'self'",
      "script-src 'self'",
      `connect-src 'self' ws://${BRIDGE_HOST}:${o.port} ws://localhost:${o.port}`,
      "img-src 'self' data: blob:",
      "style-src 'self' 'unsafe-inline'",
      "object-src 'none'",
      "base-uri 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; ');
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: o.maxBodyBytes,
      perMessageDeflate: false,
    });
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.handleRequest(req, res).catch((err: unknown) => {
        o.onError(err);
        if (!res.headersSent) this.sendText(res, 500, 'internal error');
        else res.destroy();
      });
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.handleUpgrade(req, socket, head),
    );
    this.server.on('clientError', (_err, socket: Duplex) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    this.unsubscribe = o.hub.subscribe((event, payload) => this.broadcast({ event, payload }));
    this.heartbeat = setInterval(() => this.ping(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  clientCount(): number {
    return this.clients.size;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.unsubscribe();
    clearInterval(this.heartbeat);
    const closed = [...this.clients].map(
      (ws) =>
        new Promise<void>((done) => {
          ws.once('close', () => done());
          ws.close(1001, 'gmem-lab server shutting down');
        }),
    );
    const grace = new Promise<void>((done) => setTimeout(done, CLOSE_GRACE_MS).unref());
    await Promise.race([Promise.all(closed), grace]);
    for (const ws of this.clients) ws.terminate();
    this.wss.close();
    await new Promise<void>((done) => {
      this.server.close(() => done());
      this.server.closeAllConnections();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Checks shared by HTTP and WebSocket

  private tokenMatches(candidate: string | undefined): boolean {
    if (candidate === undefined) return false;
    // Digests first: timingSafeEqual needs equal lengths, and the length must not leak either.
    return timingSafeEqual(digest(candidate), this.tokenDigest);
  }

  private bearer(req: IncomingMessage): string | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return m?.[1];
  }

  private cookie(req: IncomingMessage): string | undefined {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === this.cookieName) return part.slice(eq + 1).trim();
    }
    return undefined;
  }

  /** Whether Host names this server: a page on another name that resolves here (DNS
   * rebinding) is refused even before the token is looked at. */
  private hostOk(req: IncomingMessage): boolean {
    return this.hosts.has((req.headers.host ?? '').toLowerCase());
  }

  private originOk(origin: string | undefined): boolean {
    return origin !== undefined && this.origins.has(origin);
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  private async handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.setCommonHeaders(res);
    if (!this.hostOk(req)) return this.sendText(res, 403, 'unexpected Host header');
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originOk(origin))
      return this.sendText(res, 403, 'cross-origin requests are refused');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://${BRIDGE_HOST}:${this.o.port}`);
    } catch {
      return this.sendText(res, 400, 'bad request URL');
    }
    const method = req.method ?? 'GET';
    const isPage =
      (method === 'GET' || method === 'HEAD') &&
      (url.pathname === '/' || url.pathname === '/index.html');
    const queryToken = url.searchParams.get('token') ?? undefined;
    const viaQuery = isPage && this.tokenMatches(queryToken);
    if (!viaQuery && !this.tokenMatches(this.bearer(req)) && !this.tokenMatches(this.cookie(req))) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="gmem-lab"');
      return this.sendText(
        res,
        401,
        'missing or wrong token: open the URL that gmem-lab serve printed',
      );
    }
    if (viaQuery)
      res.setHeader(
        'Set-Cookie',
        `${this.cookieName}=${this.o.token}; Path=/; HttpOnly; SameSite=Strict`,
      );

    if (url.pathname.startsWith(API_PREFIX)) {
      if (method !== 'POST') {
        res.setHeader('Allow', 'POST');
        return this.sendText(res, 405, 'API calls are POST requests with a JSON body');
      }
      return this.handleApiPost(req, res, url.pathname.slice(API_PREFIX.length));
    }
    if (url.pathname === WS_PATH) return this.sendText(res, 426, 'WebSocket upgrade required');
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return this.sendText(res, 405, 'method not allowed');
    }
    return this.serveStatic(req, res, url.pathname);
  }

  private setCommonHeaders(res: ServerResponse): void {
    res.setHeader('Content-Security-Policy', this.csp);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  }

  private sendText(res: ServerResponse, status: number, text: string): void {
    res.statusCode = status;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(text + '\n');
  }

  private sendEnvelope(res: ServerResponse, envelope: ApiEnvelope<unknown>): void {
    const body = JSON.stringify(toPlainJson(envelope));
    res.statusCode = envelope.ok ? 200 : STATUS_BY_CODE[envelope.error.code];
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(body);
  }

  private async handleApiPost(
    req: IncomingMessage,
    res: ServerResponse,
    rawMethod: string,
  ): Promise<void> {
    const fail = (code: ApiErrorCode, message: string) =>
      this.sendEnvelope(res, { ok: false, error: { code, message } });
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') {
      res.setHeader('Connection', 'close');
      return fail('BAD_REQUEST', 'the body must be JSON (Content-Type: application/json)');
    }
    const body = await readBody(req, this.o.maxBodyBytes);
    if (body === 'too-large') {
      res.setHeader('Connection', 'close');
      return fail(
        'TOO_LARGE',
        `the request body is larger than the limit of ${this.o.maxBodyBytes} bytes`,
      );
    }
    let method: string;
    try {
      method = decodeURIComponent(rawMethod);
    } catch {
      return fail('BAD_REQUEST', 'bad method name in the URL');
    }
    let args: unknown = {};
    const text = body.toString('utf8');
    if (text.trim() !== '') {
      try {
        args = JSON.parse(text);
      } catch (err) {
        return fail('BAD_REQUEST', `the body is not JSON: ${(err as Error).message}`);
      }
    }
    this.sendEnvelope(res, await this.o.dispatch(method, args));
  }

  private async serveStatic(
    req: IncomingMessage,
    res: ServerResponse,
    pathname: string,
  ): Promise<void> {
    const root = this.o.staticRoot;
    if (root === null)
      return this.sendText(
        res,
        404,
        'the workbench is not built: run `npm run build` first (the API at /api and /ws works without it)',
      );
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return this.sendText(res, 400, 'bad path');
    }
    if (rel === '/') rel = '/index.html';
    const segments = rel.split('/').slice(1);
    // No parent segments, hidden files, backslashes or NUL, checked after decoding (%2e%2e, %2f).
    if (
      rel.includes('\0') ||
      rel.includes('\\') ||
      segments.some((s) => s === '' || s.startsWith('.'))
    )
      return this.sendText(res, 404, 'not found');
    // The one path policy (path-policy.ts): no escape from staticDir, lexically or through a
    // symlink inside it that leads out.
    let real: string;
    try {
      const found = await resolveContained(segments.join('/'), { base: root, roots: [root] });
      if (!found.exists) return this.sendText(res, 404, 'not found');
      real = found.real;
    } catch {
      return this.sendText(res, 404, 'not found');
    }
    const info = await stat(real);
    if (!info.isFile()) return this.sendText(res, 404, 'not found');
    const ext = extname(real).toLowerCase();
    res.statusCode = 200;
    res.setHeader('Content-Type', CONTENT_TYPES[ext] ?? 'application/octet-stream');
    res.setHeader('Content-Length', String(info.size));
    res.setHeader(
      'Cache-Control',
      ext === '.html'
        ? 'no-store'
        : segments[0] === 'assets'
          ? 'private, max-age=31536000, immutable'
          : 'no-cache',
    );
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    try {
      await pipeline(createReadStream(real), res);
    } catch (err) {
      // The browser went away mid-download: nothing to report.
      if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
    }
  }

  // -------------------------------------------------------------------------------------------
  // WebSocket

  private handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.o.onError(err));
    const refuse = (status: number, reason: string, message: string) => {
      const body = message + '\n';
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      socket.once('finish', () => socket.destroy());
    };
    if (this.closing) return refuse(503, 'Service Unavailable', 'shutting down');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://${BRIDGE_HOST}:${this.o.port}`);
    } catch {
      return refuse(400, 'Bad Request', 'bad request URL');
    }
    if (url.pathname !== WS_PATH) return refuse(404, 'Not Found', 'not found');
    if (!this.hostOk(req)) return refuse(403, 'Forbidden', 'unexpected Host header');
    if (
      !this.tokenMatches(url.searchParams.get('token') ?? undefined) &&
      !this.tokenMatches(this.cookie(req)) &&
      !this.tokenMatches(this.bearer(req))
    )
      return refuse(401, 'Unauthorized', 'missing or wrong token');
    // Browsers always send Origin on a WebSocket upgrade; only this server's own pages may connect.
    if (!this.originOk(req.headers.origin))
      return refuse(403, 'Forbidden', 'cross-origin WebSocket refused');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  private onConnection(ws: WebSocket): void {
    this.clients.add(ws);
    this.alive.add(ws);
    let inFlight = 0;
    ws.on('pong', () => this.alive.add(ws));
    ws.on('error', (err) => this.o.onError(err));
    ws.on('close', () => this.clients.delete(ws));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const request = parseCall(data, isBinary);
      if ('error' in request) {
        this.send(ws, { id: request.id, envelope: badRequest(request.error) });
        return;
      }
      if (inFlight >= MAX_CALLS_IN_FLIGHT) {
        this.send(ws, {
          id: request.id,
          envelope: badRequest(`more than ${MAX_CALLS_IN_FLIGHT} calls in flight`),
        });
        return;
      }
      inFlight++;
      void this.o
        .dispatch(request.method, request.args)
        .then((envelope) => this.send(ws, { id: request.id, envelope }))
        .finally(() => inFlight--);
    });
  }

  private send(ws: WebSocket, message: { id: unknown; envelope: ApiEnvelope<unknown> }): void {
    if (ws.readyState !== ws.OPEN) return;
    let frame: Frame;
    try {
      frame = encode(message);
    } catch (err) {
      this.o.onError(err);
      frame = encode({
        id: message.id,
        envelope: {
          ok: false,
          error: {
            code: 'INTERNAL',
            message: `cannot encode the result: ${(err as Error).message}`,
          },
        },
      });
    }
    this.sendFrame(ws, frame);
  }

  private sendFrame(ws: WebSocket, frame: Frame): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      ws.terminate();
      return;
    }
    ws.send(frame);
  }

  private broadcast(message: { event: string; payload: unknown }): void {
    if (this.clients.size === 0) return;
    let frame: Frame;
    try {
      frame = encode(message);
    } catch (err) {
      this.o.onError(err);
      return;
    }
    for (const ws of this.clients) this.sendFrame(ws, frame);
  }

  private ping(): void {
    for (const ws of this.clients) {
      if (!this.alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      ws.ping();
    }
  }
}

// ---------------------------------------------------------------------------------------------

type ParsedCall =
  | { readonly id: number | string; readonly method: string; readonly args: unknown }
  | { readonly id: number | string | null; readonly error: string };

function parseCall(data: RawData, isBinary: boolean): ParsedCall {
  const bytes = Array.isArray(data)
    ? Buffer.concat(data)
    : Buffer.isBuffer(data)
      ? data
      : Buffer.from(data);
  let message: unknown;
  try {
    message = decode(isBinary ? new Uint8Array(bytes) : bytes.toString('utf8'));
  } catch (err) {
    return { id: null, error: `malformed message: ${(err as Error).message}` };
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message))
    return { id: null, error: 'a call is an object {id, method, args}' };
  const { id, method, args } = message as Record<string, unknown>;
  const idOk =
    (typeof id === 'number' && Number.isSafeInteger(id)) ||
    (typeof id === 'string' && id.length > 0 && id.length <= 100);
  if (!idOk) return { id: null, error: 'a call needs an id (an integer or a short string)' };
  if (typeof method !== 'string') return { id, error: 'a call needs a method name' };
  return { id, method, args };
}

function badRequest(message: string): ApiEnvelope<never> {
  return { ok: false, error: { code: 'BAD_REQUEST', message } };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function checkOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new Error(`allowedOrigins: "${origin}" is not an origin such as http://127.0.0.1:5173`);
  }
  if (url.origin !== origin || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new Error(`allowedOrigins: "${origin}" is not an origin such as http://127.0.0.1:5173`);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))
    throw new Error(`allowedOrigins: "${origin}" is not on this machine (loopback only)`);
  return origin;
}

async function staticRootOf(dir: string): Promise<string> {
  let root: string;
  try {
    root = await realpath(resolve(dir));
  } catch {
    throw new Error(`static folder ${dir} does not exist: run \`npm run build\` first`);
  }
  if (!(await stat(root)).isDirectory()) throw new Error(`static folder ${dir} is not a folder`);
  return root;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((done, fail) => {
    const onError = (err: NodeJS.ErrnoException) => {
      fail(
        err.code === 'EADDRINUSE'
          ? new Error(`port ${port} on ${BRIDGE_HOST} is in use: pick another with --port`)
          : err,
      );
    };
    server.once('error', onError);
    server.listen({ host: BRIDGE_HOST, port, exclusive: true }, () => {
      server.off('error', onError);
      done();
    });
  });
}

/** The body, or 'too-large' once it passes the limit (reading stops there). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve('too-large');
  return new Promise((done, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.off('end', onEnd);
        done('too-large');
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => done(Buffer.concat(chunks));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', fail);
  });
}
