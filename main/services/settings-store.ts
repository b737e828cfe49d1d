// The user's settings: theme, workspace folder and recent files, in settings.json in the config
// folder, written with durable atomic writes. The desktop app also keeps the window's size and
// position there (`window`); that field is the main process's own: it is not part of the API's
// Settings, so the workbench can neither read nor set it. A settings file that cannot be read or does not
// validate is never overwritten: it is kept aside as settings.json.bad-<timestamp>, the defaults
// are used, and `problem` says what happened. Fields this version does not know (written by a newer
// gmem-lab) are kept as they are.
import { readFileSync } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, posix, win32 } from 'node:path';
import { z } from 'zod';
import { ApiError, MemoryBudgetSchema, ThemeSchema, type Settings } from '@contract/api.js';
import { formatProblems, zodProblems } from '../../core/experiment/load.js';
import { cleanupTempFiles, writeFileDurable } from './durable-write.js';

export const SETTINGS_FILE = 'settings.json';
/** Settings are a few hundred bytes; anything much larger is not ours. */
const MAX_SETTINGS_BYTES = 1024 * 1024;
const MAX_RECENT_FILES = 100;

const AbsolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => isAbsolute(p) && !p.includes('\0'), 'must be an absolute path');

const Coordinate = z.number().int().min(-1_000_000).max(1_000_000);
const Extent = z.number().int().min(1).max(1_000_000);

/** The desktop window's last normal (not maximized) bounds, and whether it was maximized. */
const WindowStateSchema = z
  .object({
    x: Coordinate,
    y: Coordinate,
    width: Extent,
    height: Extent,
    maximized: z.boolean(),
  })
  .strict();
export type WindowState = z.output<typeof WindowStateSchema>;

/** settings.json as stored; workspaceDir may be left out (the default is used). A `window` that
 * does not validate is dropped (the window opens at its default size), never the whole file. */
const SettingsFileSchema = z.looseObject({
  theme: ThemeSchema.default('system'),
  workspaceDir: AbsolutePath.optional(),
  recentFiles: z.array(AbsolutePath).max(MAX_RECENT_FILES).default([]),
  memoryBudgetBytes: MemoryBudgetSchema.default(null),
  window: WindowStateSchema.optional().catch(undefined),
});

const SettingsPatchSchema = z
  .object({
    theme: ThemeSchema.optional(),
    workspaceDir: AbsolutePath.optional(),
    recentFiles: z.array(AbsolutePath).max(MAX_RECENT_FILES).optional(),
    memoryBudgetBytes: MemoryBudgetSchema.optional(),
  })
  .strict();
export type SettingsPatch = z.input<typeof SettingsPatchSchema>;

export interface SettingsDefaults {
  readonly workspaceDir: string;
}

export class SettingsStore {
  private current: Settings;
  private window: WindowState | undefined;
  /** Fields of the file this version does not know, written back unchanged. */
  private extra: Record<string, unknown>;
  private readonly listeners = new Set<(settings: Settings) => void>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly configDir: string,
    readonly path: string,
    current: Settings,
    extra: Record<string, unknown>,
    /** Why the settings file was not used, when it was not. */
    readonly problem: string | undefined,
    /** False when a bad settings file could not be moved aside: it is then never written. */
    private readonly writable: boolean,
    window?: WindowState,
  ) {
    this.current = current;
    this.extra = extra;
    this.window = window;
  }

  static async create(configDir: string, defaults: SettingsDefaults): Promise<SettingsStore> {
    const path = join(configDir, SETTINGS_FILE);
    const base: Settings = freeze({
      theme: 'system',
      workspaceDir: defaults.workspaceDir,
      recentFiles: [],
      memoryBudgetBytes: null,
    });
    // Temp files a crash left behind (older than a minute, of our own pattern only).
    await cleanupTempFiles(configDir, { forSuffix: SETTINGS_FILE });
    const loaded = await readSettingsFile(path);
    if (loaded.kind === 'missing')
      return new SettingsStore(configDir, path, base, {}, undefined, true);
    if (loaded.kind === 'ok') {
      const { theme, workspaceDir, recentFiles, memoryBudgetBytes, window, ...extra } =
        loaded.value;
      const settings = freeze({
        theme,
        workspaceDir: workspaceDir ?? defaults.workspaceDir,
        recentFiles: dedupe(recentFiles),
        memoryBudgetBytes,
      });
      return new SettingsStore(configDir, path, settings, extra, undefined, true, window);
    }
    if (loaded.kind === 'unreadable') {
      return new SettingsStore(
        configDir,
        path,
        base,
        {},
        `${path} could not be read (${loaded.reason}); the default settings are used and the file is left as it is`,
        false,
      );
    }
    // Invalid: keep it aside, never overwrite it.
    const badPath = `${path}.bad-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      await rename(path, badPath);
    } catch (err) {
      return new SettingsStore(
        configDir,
        path,
        base,
        {},
        `${path} is not valid (${loaded.reason}) and could not be moved aside (${(err as Error).message}); the default settings are used and changes are not saved until the file is fixed or removed`,
        false,
      );
    }
    return new SettingsStore(
      configDir,
      path,
      base,
      {},
      `${path} was not valid (${loaded.reason}); it was kept as ${badPath} and the default settings are used`,
      true,
    );
  }

  get(): Settings {
    return this.current;
  }

  /** Change some settings and save them; listeners hear of a change. */
  set(patch: SettingsPatch): Promise<Settings> {
    const parsed = SettingsPatchSchema.safeParse(patch);
    if (!parsed.success) {
      const problems = zodProblems(parsed.error);
      return Promise.reject(
        new ApiError('BAD_REQUEST', `invalid settings: ${formatProblems(problems)}`, problems),
      );
    }
    const run = async (): Promise<Settings> => {
      const p = parsed.data;
      const next = freeze({
        theme: p.theme ?? this.current.theme,
        workspaceDir: p.workspaceDir ?? this.current.workspaceDir,
        recentFiles: p.recentFiles ? dedupe(p.recentFiles) : this.current.recentFiles,
        memoryBudgetBytes:
          p.memoryBudgetBytes !== undefined ? p.memoryBudgetBytes : this.current.memoryBudgetBytes,
      });
      if (sameSettings(next, this.current)) return this.current;
      await this.write(next, this.window);
      this.current = next;
      for (const listener of this.listeners) {
        try {
          listener(next);
        } catch {
          // a listener's failure is its own
        }
      }
      return next;
    };
    return this.enqueue(run);
  }

  /** The desktop window's last bounds, when the app saved them. */
  windowState(): WindowState | undefined {
    return this.window;
  }

  /** Save the desktop window's bounds (main process only; settings listeners do not hear it). */
  setWindowState(state: WindowState): Promise<WindowState> {
    const parsed = WindowStateSchema.safeParse(state);
    if (!parsed.success) {
      const problems = zodProblems(parsed.error);
      return Promise.reject(
        new ApiError('BAD_REQUEST', `invalid window state: ${formatProblems(problems)}`, problems),
      );
    }
    const next = Object.freeze({ ...parsed.data });
    return this.enqueue(async () => {
      if (this.window && sameWindow(this.window, next)) return this.window;
      // Held before the write: the file is visible (renamed) a moment before the write resolves
      // (the folder's fsync), and a window opened in that moment must see the bounds it holds.
      const previous = this.window;
      this.window = next;
      try {
        await this.write(this.current, next);
      } catch (err) {
        this.window = previous;
        throw err;
      }
      return next;
    });
  }

  /** Write the file: known fields first, then the window, then fields of newer versions. */
  private async write(settings: Settings, window: WindowState | undefined): Promise<void> {
    if (!this.writable) {
      throw new ApiError(
        'IO_ERROR',
        `settings are not saved: ${this.problem ?? `${this.path} cannot be written`}`,
      );
    }
    const text = `${JSON.stringify({ ...settings, ...(window ? { window } : {}), ...this.extra }, null, 2)}\n`;
    try {
      await mkdir(this.configDir, { recursive: true });
      await writeFileDurable(this.path, text);
    } catch (err) {
      throw new ApiError(
        'IO_ERROR',
        `cannot save the settings to ${this.path}: ${(err as Error).message}`,
      );
    }
  }

  /** Changes are applied one at a time, in the order they were asked for. */
  private enqueue<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  onChange(listener: (settings: Settings) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }
}

type ReadOutcome =
  | { kind: 'missing' }
  | { kind: 'unreadable'; reason: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'ok'; value: z.output<typeof SettingsFileSchema> };

async function readSettingsFile(path: string): Promise<ReadOutcome> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const st = await handle.stat();
      if (!st.isFile()) return { kind: 'unreadable', reason: 'not a regular file' };
      if (st.size > MAX_SETTINGS_BYTES)
        return { kind: 'invalid', reason: `${st.size} bytes, more than settings ever take` };
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'unreadable', reason: (err as Error).message };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    return { kind: 'invalid', reason: `not valid JSON: ${(err as Error).message}` };
  }
  const parsed = SettingsFileSchema.safeParse(raw);
  if (!parsed.success)
    return {
      kind: 'invalid',
      reason: formatProblems(zodProblems(parsed.error)).replace(/\n/g, '; '),
    };
  return { kind: 'ok', value: parsed.data };
}

function freeze(s: Settings): Settings {
  return Object.freeze({ ...s, recentFiles: Object.freeze([...s.recentFiles]) });
}

function dedupe(paths: readonly string[]): string[] {
  return [...new Set(paths)];
}

function sameWindow(a: WindowState, b: WindowState): boolean {
  return (
    a.x === b.x &&
    a.y === b.y &&
    a.width === b.width &&
    a.height === b.height &&
    a.maximized === b.maximized
  );
}

function sameSettings(a: Settings, b: Settings): boolean {
  return (
    a.theme === b.theme &&
    a.workspaceDir === b.workspaceDir &&
    a.memoryBudgetBytes === b.memoryBudgetBytes &&
    a.recentFiles.length === b.recentFiles.length &&
    a.recentFiles.every((p, i) => p === b.recentFiles[i])
  );
}

// ---------------------------------------------------------------------------------------------
// Default folders

export interface PlatformInfo {
  readonly env?: NodeJS.ProcessEnv;
  readonly home?: string;
  readonly platform?: NodeJS.Platform;
}

/** The user's documents folder + `/gmem-lab`: XDG_DOCUMENTS_DIR from user-dirs.dirs when it names
 * one (Linux and other freedesktop.org systems), else ~/Documents. */
export function defaultWorkspaceDir(info: PlatformInfo = {}): string {
  const env = info.env ?? process.env;
  const home = info.home ?? homedir();
  const platform = info.platform ?? process.platform;
  const path = platform === 'win32' ? win32 : posix;
  let documents = path.join(home, 'Documents');
  if (platform !== 'win32' && platform !== 'darwin') {
    const configHome =
      env['XDG_CONFIG_HOME'] && isAbsolute(env['XDG_CONFIG_HOME'])
        ? env['XDG_CONFIG_HOME']
        : path.join(home, '.config');
    const fromFile = xdgDocumentsDir(path.join(configHome, 'user-dirs.dirs'), home);
    if (fromFile) documents = fromFile;
  }
  return path.join(documents, 'gmem-lab');
}

/** XDG_DOCUMENTS_DIR from a user-dirs.dirs file, or null when it is missing, unreadable, or set to
 * the home folder itself (which means "no documents folder"). */
function xdgDocumentsDir(file: string, home: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const m = /^\s*XDG_DOCUMENTS_DIR\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(line);
    if (!m) continue;
    let value = (m[1] ?? '').replace(/\\(.)/g, '$1');
    if (value === '$HOME' || value.startsWith('$HOME/')) value = home + value.slice(5);
    else if (!value.startsWith('/')) return null;
    value = posix.normalize(value).replace(/\/+$/, '');
    if (value === '' || value === posix.normalize(home).replace(/\/+$/, '')) return null;
    return value;
  }
  return null;
}

/** Where settings.json lives: XDG_CONFIG_HOME or ~/.config on Linux, ~/Library/Application Support
 * on macOS, %APPDATA% on Windows; + `/gmem-lab`. */
export function defaultConfigDir(info: PlatformInfo = {}): string {
  const env = info.env ?? process.env;
  const home = info.home ?? homedir();
  const platform = info.platform ?? process.platform;
  if (platform === 'win32') {
    const appData = env['APPDATA'] || win32.join(home, 'AppData', 'Roaming');
    return win32.join(appData, 'gmem-lab');
  }
  if (platform === 'darwin') return posix.join(home, 'Library', 'Application Support', 'gmem-lab');
  const configHome =
    env['XDG_CONFIG_HOME'] && posix.isAbsolute(env['XDG_CONFIG_HOME'])
      ? env['XDG_CONFIG_HOME']
      : posix.join(home, '.config');
  return posix.join(configHome, 'gmem-lab');
}
