// Helpers for the bridge tests: a small API over createDispatcher, a built-renderer stand-in, and
// raw HTTP and WebSocket requests to 127.0.0.1.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { LATENCY_OPS, type LatencyOp } from '../../core/metrics/definitions.js';
import type { LatencySummary } from '../../core/metrics/result.js';
import { API_METHODS, ApiError, type ApiMethod, type RunResultView } from '@contract/api.js';
import { createDispatcher, type ApiHandlers, type Dispatcher } from '../services/dispatch.js';
import { decode } from '@contract/codec.js';

export const SECRET = 'top secret outside the static folder';

/** A dispatcher over a few hand-written handlers; every other method answers UNSUPPORTED. */
export function smallDispatcher(overrides: Partial<ApiHandlers> = {}): Dispatcher {
  const handlers = Object.fromEntries(
    (Object.keys(API_METHODS) as ApiMethod[]).map((m) => [
      m,
      async () => {
        throw new ApiError('UNSUPPORTED', `${m} is not in this test API`);
      },
    ]),
  ) as unknown as ApiHandlers;
  const defaults: Partial<ApiHandlers> = {
    'app.info': async () => ({
      version: '0.0.0-test',
      engineVersion: 'test',
      transport: 'bridge',
      platform: 'test',
      nativeDialogs: false,
      defaultMemoryBudgetBytes: null,
    }),
    'runs.cancel': async ({ runId }) => ({ cancelled: runId === 1 }),
    'runs.csv': async ({ runId }) => {
      throw new ApiError('NOT_FOUND', `no run ${runId}`, { runId });
    },
    'presets.load': async ({ id }) => ({
      path: `preset:${id}`,
      experiment: { name: id, series: new Float64Array([1, NaN, 3]) },
      modifiedMs: 0,
      configHash: 'abc',
    }),
  };
  return createDispatcher({ ...handlers, ...defaults, ...overrides });
}

export function sampleResult(points = 5): RunResultView {
  const f = (k: number) => Float64Array.from({ length: points }, (_, i) => i * k);
  return {
    runId: 4,
    name: 'HugeTLB 2 MiB',
    variantIndex: 0,
    summary: {
      metrics: { host_total_bytes: 1024, mapped_2m_ratio: NaN },
      nodeBytes: [1024],
      latencyNs: Object.fromEntries(
        LATENCY_OPS.map((op) => [
          op,
          op === 'fault'
            ? { count: 1, mean: 2, p50: 2, p90: 2, p99: 2, max: 2 }
            : { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 },
        ]),
      ) as Record<LatencyOp, LatencySummary>,
    },
    endNs: 1e9,
    series: {
      timeNs: f(1e6),
      names: ['a', 'b'],
      values: [f(1), f(-2)],
      nodeBytes: [f(4096)],
      fullLength: points * 10,
    },
  };
}

/** A folder standing in for out/renderer, beside a secret the server must never hand out. */
export function staticFixture(): { dir: string; secretPath: string } {
  const base = mkdtempSync(join(tmpdir(), 'gmem-lab-bridge-'));
  const dir = join(base, 'renderer');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><title>gmem-lab</title><script type="module" src="./assets/app-1234.js"></script>',
  );
  writeFileSync(join(dir, 'assets', 'app-1234.js'), 'console.log("app");');
  writeFileSync(join(dir, 'assets', 'style-1234.css'), 'body{}');
  writeFileSync(join(dir, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(dir, '.env'), SECRET);
  const secretPath = join(base, 'secret.txt');
  writeFileSync(secretPath, SECRET);
  symlinkSync(secretPath, join(dir, 'link-out.txt'));
  return { dir, secretPath };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request with the path sent byte for byte (fetch would normalise "..") and any Host. */
export function rawRequest(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Open a WebSocket; resolves once open, or to the HTTP status the upgrade was refused with. */
export function openWs(
  url: string,
  options: { origin?: string; headers?: Record<string, string> } = {},
): Promise<{ ws: WebSocket } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      ...(options.origin !== undefined ? { origin: options.origin } : {}),
      headers: options.headers ?? {},
    });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

/** Every message a socket receives, decoded, with whether it came as a binary frame. */
export function collect(ws: WebSocket): { messages: Array<{ binary: boolean; value: unknown }> } {
  const state = { messages: [] as Array<{ binary: boolean; value: unknown }> };
  ws.on('message', (data, isBinary) => {
    const bytes = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data);
    state.messages.push({
      binary: isBinary,
      value: decode(isBinary ? new Uint8Array(bytes) : bytes.toString('utf8')),
    });
  });
  return state;
}

export async function waitFor<T>(
  probe: () => T | undefined,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
