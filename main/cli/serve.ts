// `gmem-lab serve`: the real workbench services (experiment store, settings, simulation host)
// behind the localhost bridge, for a browser on this machine (or through an SSH tunnel).
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Settings } from '@contract/api.js';
import { startBridge, type Bridge } from '../bridge/server.js';
import { createDispatcher, EventHub } from '../services/dispatch.js';
import { ExperimentStore } from '../services/experiment-store.js';
import { SimulationHost } from '../services/simulation-host.js';
import {
  defaultConfigDir,
  defaultWorkspaceDir,
  SettingsStore,
} from '../services/settings-store.js';
import { createWorkbench, type WorkbenchSettings } from '../services/workbench.js';

/** The built renderer (`npm run build`). */
const RENDERER_DIR = fileURLToPath(new URL('../../out/renderer/', import.meta.url));

export interface ServeOptions {
  /** 0 picks a free port. */
  readonly port: number;
  /** Overrides the workspace folder of the settings for this session (not saved). */
  readonly workspace?: string;
  readonly configDir?: string;
  readonly workers?: number;
  /** Memory each run's model state may take when the settings leave it unset (bytes); default
   * defaultStorageBudget() of the pool. */
  readonly memoryBudget?: number;
  /** The built renderer; default out/renderer. */
  readonly staticDir?: string;
  /** Warnings and internal errors. */
  readonly log: (line: string) => void;
}

export interface RunningServer {
  readonly bridge: Bridge;
  readonly workspaceDir: string;
  /** Whether the built renderer is served (else only the API). */
  readonly servesRenderer: boolean;
  /** Stop the server, cancel runs, end the workers. */
  close(): Promise<void>;
}

export async function serveWorkbench(options: ServeOptions): Promise<RunningServer> {
  const configDir = options.configDir ?? defaultConfigDir();
  const settingsStore = await SettingsStore.create(configDir, {
    workspaceDir: defaultWorkspaceDir(),
  });
  if (settingsStore.problem) options.log(`warning: ${settingsStore.problem}`);
  const store = await ExperimentStore.create({
    workspaceDir: options.workspace ?? settingsStore.get().workspaceDir,
    settings: settingsStore,
  });
  const host = new SimulationHost({
    size: options.workers ?? Math.max(1, availableParallelism() - 1),
    // The server outlives many runs: its workers warm up while the page loads.
    warmUp: true,
    ...(options.memoryBudget !== undefined ? { storageBudgetBytes: options.memoryBudget } : {}),
  });
  const hub = new EventHub();
  const workbench = createWorkbench({
    store,
    settings: reportingWorkspaceOf(settingsStore, store),
    host,
    events: hub,
    transport: 'bridge',
    version: appVersion(),
    eventLogDir: join(configDir, 'event-logs'),
  });
  const dispatch = createDispatcher(workbench, (err) =>
    options.log(`internal error: ${(err as Error)?.stack ?? String(err)}`),
  );
  const staticDir = options.staticDir ?? RENDERER_DIR;
  const servesRenderer = existsSync(resolve(staticDir, 'index.html'));
  let bridge: Bridge;
  try {
    bridge = await startBridge({
      dispatch,
      hub,
      port: options.port,
      ...(servesRenderer ? { staticDir } : {}),
    });
  } catch (err) {
    workbench.dispose();
    await host.close();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    bridge,
    workspaceDir: store.workspaceDir,
    servesRenderer,
    close: () =>
      (closing ??= (async () => {
        await bridge.close();
        workbench.dispose();
        await host.close();
      })()),
  };
}

/** The settings as the workbench shows them, with the workspace the store really uses: with
 * --workspace that differs from the saved setting, which it does not overwrite. */
function reportingWorkspaceOf(settings: SettingsStore, store: ExperimentStore): WorkbenchSettings {
  const withWorkspace = (s: Settings): Settings => ({ ...s, workspaceDir: store.workspaceDir });
  return {
    get: () => withWorkspace(settings.get()),
    set: async (patch) => withWorkspace(await settings.set(patch)),
    onChange: (listener) => settings.onChange((s) => listener(withWorkspace(s))),
  };
}

function appVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
