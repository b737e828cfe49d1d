// `gmem-lab serve` end to end: the real workbench (experiment store, settings, worker threads)
// behind the real bridge on 127.0.0.1, driven by the browser-side client (with `ws` injected), and
// the real command in a child process stopped by SIGTERM.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ApiError, type ApiEvents } from '@contract/api.js';
import { BridgeClient } from '@contract/bridge-client.js';
import { startBridge } from '../bridge/server.js';
import { EventHub } from '../services/dispatch.js';
import { smallDispatcher, waitFor } from '../bridge/test-helpers.js';
import { EXIT_BAD_INPUT, EXIT_OK, main, type CliIo } from './index.js';
import { smallExperiment, tempDir } from './test-helpers.js';

const BIN = fileURLToPath(new URL('../../bin/gmem-lab.mjs', import.meta.url));
const URL_LINE = /^gmem-lab workbench: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([0-9a-f]{64}))$/m;

function browserWs(origin: string) {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { origin });
    }
  };
}

describe('gmem-lab serve', () => {
  it('has help', async () => {
    let stdout = '';
    const io: CliIo = {
      stdout: (t) => (stdout += t),
      stderr: () => {},
      stderrIsTty: false,
      cwd: '/',
    };
    expect(await main(['--help'], io)).toBe(EXIT_OK);
    expect(stdout).toMatch(/serve \[options\]/);
    stdout = '';
    expect(await main(['serve', '--help'], io)).toBe(EXIT_OK);
    expect(stdout).toMatch(/Usage: gmem-lab serve/);
    expect(stdout).toMatch(/--port <n>/);
    expect(stdout).toMatch(/--workspace <dir>/);
    expect(stdout).toMatch(/--no-open/);
    expect(stdout).toMatch(/127\.0\.0\.1 only/);
  });

  it('refuses a bad port and a port in use (exit 2)', async () => {
    let stderr = '';
    const io: CliIo = {
      stdout: () => {},
      stderr: (t) => (stderr += t),
      stderrIsTty: false,
      cwd: '/',
    };
    expect(await main(['serve', '--port', '70000'], io)).toBe(EXIT_BAD_INPUT);
    expect(stderr).toMatch(/port number/);
    const busy = await startBridge({ dispatch: smallDispatcher(), hub: new EventHub() });
    try {
      stderr = '';
      const dir = tempDir('gmem-lab-serve-');
      const code = await main(
        [
          'serve',
          '--port',
          String(busy.port),
          '--workspace',
          join(dir, 'ws'),
          '--config-dir',
          join(dir, 'cfg'),
          '--workers',
          '1',
        ],
        { ...io, cwd: dir },
      );
      expect(code).toBe(EXIT_BAD_INPUT);
      expect(stderr).toMatch(/in use/);
    } finally {
      await busy.close();
    }
  });

  it('serves the real workbench: calls, runs with streamed results, invalid payloads', async () => {
    const dir = tempDir('gmem-lab-serve-');
    let stdout = '';
    let stderr = '';
    const stop = new AbortController();
    const exit = main(
      ['serve', '--workspace', 'ws', '--config-dir', 'cfg', '--workers', '2', '--no-open'],
      {
        stdout: (t) => (stdout += t),
        stderr: (t) => (stderr += t),
        stderrIsTty: false,
        cwd: dir,
        stop: stop.signal,
      },
    );
    const match = await waitFor(() => URL_LINE.exec(stdout) ?? undefined, 'the URL', 20_000);
    const [, url, port, token] = match;
    const origin = `http://127.0.0.1:${port}`;
    expect(stderr).toContain(join(dir, 'ws'));

    // No token, no service.
    expect((await fetch(`${origin}/api/app.info`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(url!)).status).toBeLessThan(500);

    const client = new BridgeClient({
      url: `ws://127.0.0.1:${port}/ws?token=${token}`,
      WebSocket: browserWs(origin),
    });
    try {
      await client.ready();
      const info = await client.call('app.info', {});
      expect(info.transport).toBe('bridge');
      expect(info.nativeDialogs).toBe(false);
      expect((await client.call('settings.get', {})).workspaceDir).toBe(join(dir, 'ws'));

      // The real contract validation answers a bad payload with BAD_REQUEST.
      const bad = await client.call('runs.cancel', { runId: 0 }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(ApiError);
      expect((bad as ApiError).code).toBe('BAD_REQUEST');

      const saved = await client.call('experiments.save', {
        experiment: smallExperiment('served'),
        fileName: 'served',
      });
      expect(saved.path.startsWith(join(dir, 'ws'))).toBe(true);
      const listed = await client.call('experiments.list', {});
      expect(listed.map((e) => e.path)).toContain(saved.path);

      const done: Array<ApiEvents['run.done']> = [];
      const failed: Array<ApiEvents['run.failed']> = [];
      client.on('run.done', (p) => done.push(p));
      client.on('run.failed', (p) => failed.push(p));
      const { runIds } = await client.call('runs.start', {
        experiment: smallExperiment('served'),
        path: saved.path,
      });
      expect(runIds).toHaveLength(2);
      await waitFor(
        () => (done.length + failed.length === 2 ? true : undefined),
        'both runs',
        60_000,
      );
      expect(failed).toEqual([]);
      for (const d of done) {
        const { series } = d.result;
        expect(series.timeNs).toBeInstanceOf(Float64Array);
        expect(series.timeNs.length).toBeGreaterThan(1);
        for (const values of series.values) {
          expect(values).toBeInstanceOf(Float64Array);
          expect(values.length).toBe(series.timeNs.length);
        }
      }
      const csv = await client.call('runs.csv', { runId: runIds[0]! });
      expect(csv.split('\n').length).toBeGreaterThan(2);

      // The same API over plain HTTP for scripts: typed arrays come as plain arrays there.
      const http = await fetch(`${origin}/api/experiments.list`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(http.status).toBe(200);
      expect(((await http.json()) as { ok: boolean }).ok).toBe(true);
    } finally {
      client.close();
      stop.abort();
    }
    expect(await exit).toBe(EXIT_OK);
    expect(stderr).toMatch(/shutting down/);
    await expect(fetch(`${origin}/`)).rejects.toThrow();
  });

  it('runs as a command until SIGTERM, then exits 0', async () => {
    const dir = tempDir('gmem-lab-serve-');
    const child = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '--workspace',
        join(dir, 'ws'),
        '--config-dir',
        join(dir, 'cfg'),
        '--workers',
        '1',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    try {
      const [, url, port] = await waitFor(
        () => URL_LINE.exec(stdout) ?? undefined,
        `the URL (stderr: ${stderr})`,
        30_000,
      );
      const page = await fetch(url!);
      // The built renderer when out/renderer exists, else a message that says how to build it.
      if (page.status === 404) expect(await page.text()).toMatch(/npm run build/);
      else {
        expect(page.status).toBe(200);
        expect(page.headers.get('content-type')).toMatch(/text\/html/);
      }
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/shutting down/);
  });
});
