// The run preparation through its three entry points: the CLI (`gmem-lab run`), the workbench
// services (runs.start) and the localhost bridge (POST /api/runs.start on `gmem-lab serve`'s real
// services). Each path-policy case is asserted through all three; then per-variant traces, and
// the bounded reader.
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiEnvelope, ApiEvent, ApiEvents, RunResultView } from '@contract/api.js';
import { rawRequest } from '../bridge/test-helpers.js';
import { EXIT_BAD_INPUT, EXIT_OK } from '../cli/index.js';
import { serveWorkbench, type RunningServer } from '../cli/serve.js';
import { cli, smallExperiment, tempDir, writeExperiment } from '../cli/test-helpers.js';
import { createDispatcher } from './dispatch.js';
import { ExperimentStore } from './experiment-store.js';
import { PRESETS_DIR, readTextBounded, tooLargeMessage } from './run-preparation.js';
import { SettingsStore } from './settings-store.js';
import { SimulationHost } from './simulation-host.js';
import { createWorkbench } from './workbench.js';

const EXAMPLE_TRACE = join(PRESETS_DIR, '../traces/example.csv');

/** The same experiment for every entry point: a trace workload naming `path`. */
function traceExperiment(path: string, variants?: unknown[]): Record<string, unknown> {
  return {
    ...smallExperiment('trace paths'),
    workload: { kind: 'trace', path, format: 'csv' },
    ...(variants ? { variants } : {}),
  };
}

class Events {
  readonly seen: Array<{ event: ApiEvent; payload: unknown }> = [];
  private readonly waiters = new Set<() => void>();
  emit<E extends ApiEvent>(event: E, payload: ApiEvents[E]): void {
    this.seen.push({ event, payload });
    for (const w of this.waiters) w();
  }
  /** The run.done or run.failed of each run id, once all have come. */
  ends(runIds: readonly number[]): Promise<Array<ApiEvents['run.done'] | ApiEvents['run.failed']>> {
    const found = () =>
      runIds.map((id) =>
        this.seen.find(
          (e) =>
            (e.event === 'run.done' || e.event === 'run.failed') &&
            (e.payload as { runId: number }).runId === id,
        ),
      );
    return new Promise((done) => {
      const check = () => {
        const ends = found();
        if (ends.every((e) => e !== undefined)) {
          this.waiters.delete(check);
          done(ends.map((e) => e!.payload as ApiEvents['run.done'] | ApiEvents['run.failed']));
        }
      };
      this.waiters.add(check);
      check();
    });
  }
}

// One folder for every case: root/ is the experiment's folder, the workbench's workspace and
// the bridge's workspace; outside/ is next to it.
const base = tempDir('gmem-lab-paths-');
const root = join(base, 'root');
const outside = join(base, 'outside');
mkdirSync(join(root, 'sub'), { recursive: true });
mkdirSync(join(root, '..data'), { recursive: true });
mkdirSync(outside, { recursive: true });
copyFileSync(EXAMPLE_TRACE, join(root, 'trace.csv'));
copyFileSync(EXAMPLE_TRACE, join(root, '..data', 'trace.csv'));
copyFileSync(EXAMPLE_TRACE, join(outside, 'trace.csv'));
symlinkSync(join(root, 'trace.csv'), join(root, 'link-in.csv'));
symlinkSync(join(outside, 'trace.csv'), join(root, 'link-out.csv'));
symlinkSync(outside, join(root, 'dir-out'));

type Refusal = RegExp;
const CASES: ReadonlyArray<{ name: string; path: string; refused?: Refusal }> = [
  { name: 'a trace beside the experiment', path: 'trace.csv' },
  { name: 'an absolute path inside the folder', path: join(root, 'trace.csv') },
  { name: 'a .. that stays inside', path: 'sub/../trace.csv' },
  { name: 'a folder whose name starts with two dots', path: '..data/trace.csv' },
  { name: 'a symlink to a file inside', path: 'link-in.csv' },
  {
    name: 'a .. escape',
    path: '../outside/trace.csv',
    refused: /outside the folders gmem-lab reads traces from/,
  },
  {
    name: 'an absolute path outside',
    path: join(outside, 'trace.csv'),
    refused: /outside the folders gmem-lab reads traces from/,
  },
  { name: 'a NUL byte', path: 'trace.csv\u0000.txt', refused: /NUL byte/ },
  {
    name: 'a symlink pointing out',
    path: 'link-out.csv',
    refused: /is a link to .*outside\/trace\.csv, outside the folders/,
  },
  {
    name: 'a path through a folder symlink pointing out',
    path: 'dir-out/trace.csv',
    refused: /is a link to .*outside\/trace\.csv, outside the folders/,
  },
];

let host: SimulationHost;
let events: Events;
let workbench: ReturnType<typeof createWorkbench>;
let dispatch: ReturnType<typeof createDispatcher>;
let server: RunningServer;

beforeAll(async () => {
  host = new SimulationHost({ size: 1 });
  events = new Events();
  const settings = await SettingsStore.create(join(base, 'config-workbench'), {
    workspaceDir: root,
  });
  const store = await ExperimentStore.create({ workspaceDir: root, settings });
  workbench = createWorkbench({
    store,
    settings,
    host,
    events,
    transport: 'bridge',
    version: '0.0.0-test',
  });
  dispatch = createDispatcher(workbench);
  server = await serveWorkbench({
    port: 0,
    workspace: root,
    configDir: join(base, 'config-bridge'),
    workers: 1,
    log: () => {},
  });
});

afterAll(async () => {
  workbench.dispose();
  await server.close();
  await host.close();
  rmSync(base, { recursive: true, force: true });
});

async function viaBridge(method: string, args: unknown): Promise<ApiEnvelope<unknown>> {
  const { port, token } = server.bridge;
  const response = await rawRequest(port, `/api/${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(args),
  });
  return JSON.parse(response.body) as ApiEnvelope<unknown>;
}

describe('the path policy for traces, through the CLI, the workbench and the bridge', () => {
  CASES.forEach((c, i) => {
    it(`${c.name}: ${c.refused ? 'refused' : 'read'}`, async () => {
      const doc = traceExperiment(c.path);
      const file = writeExperiment(root, doc, `case-${i}.gmemlab.json`);

      const viaCli = await cli(['run', file, '--json', '--no-progress']);
      const viaWorkbench = await dispatch('runs.start', { experiment: doc, path: file });
      const bridged = await viaBridge('runs.start', { experiment: doc, path: file });

      if (c.refused) {
        expect(viaCli.code).toBe(EXIT_BAD_INPUT);
        expect(viaCli.stderr).toMatch(c.refused);
        expect(viaCli.stderr).toContain(`${file}: workload.path: `);
        for (const envelope of [viaWorkbench, bridged]) {
          expect(envelope.ok).toBe(false);
          if (envelope.ok) continue;
          expect(envelope.error.code).toBe('FORBIDDEN_PATH');
          expect(envelope.error.message).toMatch(c.refused);
          expect(envelope.error.details).toEqual([
            expect.objectContaining({ path: 'workload.path' }),
          ]);
        }
        return;
      }
      expect(viaCli.stderr).toBe('');
      expect(viaCli.code).toBe(EXIT_OK);
      const cliJson = JSON.parse(viaCli.stdout) as { variants: Array<{ name: string }> };
      expect(cliJson.variants).toHaveLength(2);
      expect(bridged).toMatchObject({
        ok: true,
        value: { runIds: [expect.any(Number), expect.any(Number)] },
      });
      expect(viaWorkbench.ok).toBe(true);
      if (!viaWorkbench.ok) return;
      const { runIds } = viaWorkbench.value as { runIds: number[] };
      const ends = await events.ends(runIds);
      expect(ends.map((e) => e.status)).toEqual(['done', 'done']);
    });
  });
});

describe('per-variant traces', () => {
  it('a variant whose workloadOverrides name its own trace replays that trace in the CLI and the workbench alike', async () => {
    // own.csv: the example trace without its punch-holes, so the two traces end differently.
    const lines = readFileSync(EXAMPLE_TRACE, 'utf8').split('\n');
    writeFileSync(join(root, 'own.csv'), lines.filter((l) => !l.includes('punch_hole')).join('\n'));
    const doc = traceExperiment('trace.csv', [
      { name: 'shared trace', pageSize: '2m', allocator: 'hugetlb' },
      {
        name: 'own trace',
        pageSize: '2m',
        allocator: 'hugetlb',
        workloadOverrides: { path: 'own.csv' },
      },
    ]);
    const file = writeExperiment(root, doc, 'per-variant.gmemlab.json');

    const viaCli = await cli(['run', file, '--json', '--no-progress']);
    expect(viaCli.stderr).toBe('');
    const cliSummaries = (
      JSON.parse(viaCli.stdout) as { variants: Array<{ summary: Record<string, number> }> }
    ).variants.map((v) => v.summary);

    const started = await dispatch('runs.start', { experiment: doc, path: file });
    if (!started.ok) throw new Error(started.error.message);
    const ends = await events.ends((started.value as { runIds: number[] }).runIds);
    const workbenchSummaries = ends.map((e) => {
      if (e.status !== 'done') throw new Error(`a run failed: ${JSON.stringify(e)}`);
      return (e as { result: RunResultView }).result.summary.metrics;
    });

    // The same trace for each variant in both...
    expect(cliSummaries).toEqual(workbenchSummaries);
    // ...and not the same trace for the two variants: the override took effect.
    expect(cliSummaries[0]).not.toEqual(cliSummaries[1]);
    expect(cliSummaries[1]!['punched_bytes']).toBe(0);
    expect(cliSummaries[0]!['punched_bytes']).toBeGreaterThan(0);
  });
});

describe('bounded reading', () => {
  it('strips a byte-order mark and refuses a file over the limit unread, naming the limit', async () => {
    const dir = tempDir('gmem-lab-read-');
    writeFileSync(join(dir, 'bom.txt'), '\uFEFF{"a":1}');
    expect(await readTextBounded(join(dir, 'bom.txt'), 100)).toMatchObject({
      kind: 'ok',
      text: '{"a":1}',
    });
    writeFileSync(join(dir, 'big.txt'), 'x'.repeat(101));
    expect(await readTextBounded(join(dir, 'big.txt'), 100)).toMatchObject({
      kind: 'too-large',
      size: 101,
    });
    expect(await readTextBounded(join(dir, 'none.txt'), 100)).toMatchObject({ kind: 'missing' });
    expect(await readTextBounded(dir, 100)).toMatchObject({ kind: 'not-a-file' });
    expect(tooLargeMessage(17 * 1024 * 1024, 16 * 1024 * 1024)).toMatch(
      /^the file is 17825792 bytes; experiment files are limited to 16 MiB \(16777216 bytes\): remove/,
    );
  });
});
