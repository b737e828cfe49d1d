// The experiment store: a workspace folder of `*.gmemlab.json` files, plus files the user picked
// elsewhere in a native dialog (granted). Every path that arrives is resolved and checked (inside
// the workspace after realpath, or granted, and named *.gmemlab.json) before anything is read or
// written. Saves are durable and atomic (durable-write.ts) and only ever write a validated
// document; a file that cannot be opened (malformed, invalid, too large, a newer format) is listed
// with its problem and never rewritten, reset or overwritten.
import { realpathSync, watch as fsWatch, type FSWatcher } from 'node:fs';
import { lstat, mkdir, readdir, realpath, rename, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  ApiError,
  type ApiErrorCode,
  type ExperimentEntry,
  type OpenedExperiment,
} from '@contract/api.js';
import {
  configHash,
  formatProblems,
  MAX_EXPERIMENT_BYTES,
  parseExperimentText,
  parseExperimentValue,
  experimentFileText,
} from '../../core/experiment/load.js';
import type { Experiment } from '../../core/experiment/schema.js';
import { cleanupTempFiles, fsyncDir, moveNoClobber, writeFileDurable } from './durable-write.js';
import type { SettingsStore } from './settings-store.js';
import { moveToTrash } from './trash.js';
import { isInside, isPathText } from './path-policy.js';
import {
  readExperiment,
  stripBom,
  tooLargeMessage,
  type ExperimentRead,
  type PreparationErrorCode,
} from './run-preparation.js';

export const EXPERIMENT_SUFFIX = '.gmemlab.json';
const DEFAULT_RECENT_LIMIT = 10;
/** External changes are reported this long after the last event of a burst... */
const WATCH_DEBOUNCE_MS = 200;
/** ...and at the latest this long after the first. */
const WATCH_MAX_WAIT_MS = 1000;
/** Longest file stem we create (the experiment name is at most 120 characters). */
const MAX_STEM_CHARS = 120;
const LIST_CONCURRENCY = 8;

export interface ExperimentStoreOptions {
  workspaceDir: string;
  /** Files larger than this are refused unread (default MAX_EXPERIMENT_BYTES). */
  maxBytes?: number;
  /** Length of the recent-files list (default 10). */
  recentLimit?: number;
  /** Where the recent-files list is persisted (in memory only without it). */
  settings?: SettingsStore;
  /** Moves a file to the trash; Electron passes shell.trashItem. Default: moveToTrash (trash.ts). */
  trashItem?: (path: string) => Promise<void>;
}

/** A path argument after the checks. */
interface CheckedPath {
  /** Absolute, lexically resolved: what callers see. */
  readonly path: string;
  /** The directory entry: realpath of the folder + the name (the symlink itself, if it is one). */
  readonly entry: string;
  /** Where the bytes are: realpath of the file, or `entry` when it does not exist. */
  readonly real: string;
  readonly exists: boolean;
  readonly inWorkspace: boolean;
}

type Fingerprint = { readonly ino: number; readonly size: number; readonly mtimeMs: number };

interface WatchSubscription {
  readonly onChange: (paths: string[]) => void;
  watcher: FSWatcher | null;
  dir: string;
  realDir: string;
  readonly pending: Set<string>;
  unknown: boolean;
  timer: NodeJS.Timeout | undefined;
  firstAt: number;
  closed: boolean;
}

export class ExperimentStore {
  private dir = '';
  private realDir = '';
  private readonly maxBytes: number;
  private readonly recentLimit: number;
  private readonly settings: SettingsStore | undefined;
  private readonly trashItem: (path: string) => Promise<void>;
  /** Paths the user picked in a native dialog: resolved and real forms. */
  private readonly granted = new Set<string>();
  private memoryRecent: string[] = [];
  private recentQueue: Promise<void> = Promise.resolve();
  /** What our own writes left at each real path, so the watcher does not report them. */
  private readonly ownWrites = new Map<string, Fingerprint | 'absent'>();
  /** Real paths with one of our writes in progress. */
  private readonly inFlight = new Map<string, number>();
  private readonly subscriptions = new Set<WatchSubscription>();
  /** Reports being prepared (own-write checks read the files), and who waits for none left. */
  private flushing = 0;
  private settledWaiters: Array<() => void> = [];

  private constructor(options: ExperimentStoreOptions) {
    this.maxBytes = options.maxBytes ?? MAX_EXPERIMENT_BYTES;
    this.recentLimit = Math.max(1, options.recentLimit ?? DEFAULT_RECENT_LIMIT);
    this.settings = options.settings;
    this.trashItem = options.trashItem ?? (async (p) => void (await moveToTrash(p)));
  }

  /** Opens the store on a workspace folder, creating the folder when it is missing and removing
   * temp files that a crash during a save left there (older than a minute). */
  static async create(options: ExperimentStoreOptions): Promise<ExperimentStore> {
    const store = new ExperimentStore(options);
    await store.useWorkspace(options.workspaceDir);
    return store;
  }

  get workspaceDir(): string {
    return this.dir;
  }

  /** Switch to another workspace folder (created when missing); persisted in the settings. */
  async setWorkspace(dir: string): Promise<void> {
    await this.useWorkspace(dir);
    if (this.settings && this.settings.get().workspaceDir !== this.dir)
      await this.settings.set({ workspaceDir: this.dir });
    for (const sub of this.subscriptions) {
      this.stopWatcher(sub);
      this.startWatcher(sub);
    }
  }

  private async useWorkspace(dir: string): Promise<void> {
    if (!isPathText(dir))
      throw new ApiError('BAD_REQUEST', `not a folder path: ${JSON.stringify(dir)}`);
    const abs = resolve(dir);
    let real: string;
    try {
      await mkdir(abs, { recursive: true });
      real = await realpath(abs);
      if (!(await stat(real)).isDirectory()) throw new Error('not a folder');
    } catch (err) {
      throw new ApiError(
        'IO_ERROR',
        `cannot use ${abs} as the workspace: ${(err as Error).message}`,
      );
    }
    await cleanupTempFiles(real, { forSuffix: EXPERIMENT_SUFFIX });
    this.dir = abs;
    this.realDir = real;
  }

  // -------------------------------------------------------------------------------------------
  // Paths

  /** Allow one path outside the workspace: the user picked it in a native dialog. */
  grant(path: string): void {
    if (!isPathText(path)) throw forbidden(`not a file path: ${JSON.stringify(path)}`);
    const abs = resolve(this.dir, path);
    if (!basename(abs).endsWith(EXPERIMENT_SUFFIX)) throw notExperimentName(abs);
    this.granted.add(abs);
    try {
      this.granted.add(realpathSync.native(abs));
    } catch {
      try {
        this.granted.add(join(realpathSync.native(dirname(abs)), basename(abs)));
      } catch {
        // the folder does not exist (yet): the resolved form is enough
      }
    }
  }

  private isGranted(...paths: string[]): boolean {
    const recent = this.recentAll();
    return paths.some((p) => this.granted.has(p) || recent.includes(p));
  }

  /** Resolve a path argument and check it; FORBIDDEN_PATH when it may not be used. */
  private async check(path: unknown): Promise<CheckedPath> {
    if (!isPathText(path)) throw forbidden(`not a file path: ${JSON.stringify(path)}`);
    const abs = resolve(this.dir, path);
    if (!basename(abs).endsWith(EXPERIMENT_SUFFIX)) throw notExperimentName(abs);
    let folder: string;
    try {
      folder = await realpath(dirname(abs));
    } catch (err) {
      // No such folder: nothing can be read or written there. Say so only where the path would
      // otherwise be allowed.
      if (!isInside(this.dir, abs) && !isInside(this.realDir, abs) && !this.isGranted(abs))
        throw forbidden(`${abs} is outside the workspace (${this.dir}); use a file dialog`);
      throw new ApiError('NOT_FOUND', `${abs}: cannot use its folder: ${(err as Error).message}`);
    }
    const entry = join(folder, basename(abs));
    let real = entry;
    let exists = false;
    try {
      real = await realpath(entry);
      exists = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw ioError(`cannot read ${abs}`, err);
      // Missing, or a dangling symlink: writing replaces the entry itself, never its target.
    }
    if (!basename(real).endsWith(EXPERIMENT_SUFFIX))
      throw forbidden(`${abs} links to ${real}, which is not a ${EXPERIMENT_SUFFIX} file`);
    const inWorkspace = isInside(this.realDir, entry) && isInside(this.realDir, real);
    if (!inWorkspace && !this.isGranted(abs, entry, real)) {
      throw forbidden(
        real !== entry && isInside(this.realDir, entry)
          ? `${abs} links to ${real}, outside the workspace (${this.dir}); open it through the Open dialog`
          : `${abs} is outside the workspace (${this.dir}); open or save it through a file dialog`,
      );
    }
    return { path: abs, entry, real, exists, inWorkspace };
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  /** The workspace's experiment files (not its subfolders), newest first. Files that cannot be
   * opened are listed with their problem and left as they are. */
  async list(): Promise<ExperimentEntry[]> {
    let names: string[];
    try {
      const dirents = await readdir(this.realDir, { withFileTypes: true });
      names = dirents
        .filter((d) => d.name.endsWith(EXPERIMENT_SUFFIX) && (d.isFile() || d.isSymbolicLink()))
        .map((d) => d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError(`cannot list the workspace ${this.dir}`, err);
    }
    const entries = await mapLimit(names, LIST_CONCURRENCY, (name) => this.entryFor(name));
    return entries.sort(
      (a, b) => b.modifiedMs - a.modifiedMs || a.fileName.localeCompare(b.fileName),
    );
  }

  private async entryFor(fileName: string): Promise<ExperimentEntry> {
    const path = join(this.dir, fileName);
    const entry = join(this.realDir, fileName);
    const broken = (problem: string, modifiedMs = 0): ExperimentEntry => ({
      path,
      fileName,
      name: null,
      modifiedMs,
      variants: [],
      results: 'none',
      problem,
    });
    let real: string;
    try {
      real = await realpath(entry);
    } catch (err) {
      return broken(`cannot read the file: ${(err as Error).message}`);
    }
    if (!isInside(this.realDir, real) && !this.isGranted(path, entry, real)) {
      const modifiedMs = await lstat(entry).then(
        (s) => s.mtimeMs,
        () => 0,
      );
      return broken(`a link to ${real}, outside the workspace: not opened`, modifiedMs);
    }
    const loaded = await this.load(real);
    if (!loaded.ok) return broken(formatProblems(loaded.problems), loaded.modifiedMs);
    const { experiment } = loaded;
    return {
      path,
      fileName,
      name: experiment.name,
      modifiedMs: loaded.modifiedMs,
      variants: experiment.variants.map((v) => v.name),
      results: resultsState(experiment),
    };
  }

  /** Open an experiment file: validated, defaults filled in, older formats migrated. */
  async open(path: string): Promise<OpenedExperiment> {
    const c = await this.check(path);
    const loaded = await this.load(c.real);
    if (!loaded.ok) throw refusal(c.path, loaded);
    await this.addRecent(c.path);
    return opened(c.path, loaded.experiment, loaded.modifiedMs, loaded.migratedFrom);
  }

  /** Read and validate one file (run-preparation.ts: too large or not a file, it is not read). */
  private load(real: string): Promise<ExperimentRead> {
    return readExperiment(real, this.maxBytes);
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  /** Validate, then write: to `path` (an existing workspace file or a granted one), or to a new
   * workspace file named after `fileName`. */
  async save(
    doc: unknown,
    opts: { path?: string; fileName?: string },
  ): Promise<{ path: string; modifiedMs: number }> {
    const hasPath = opts?.path !== undefined;
    const hasName = opts?.fileName !== undefined;
    if (hasPath === hasName)
      throw new ApiError('BAD_REQUEST', 'save needs either a path or a fileName, not both');
    if (hasPath) {
      const c = await this.check(opts.path);
      const { text } = this.serialize(doc, c.path);
      if (c.exists) {
        // Never overwrite a file we would refuse to open: it may be newer, or hand-edited.
        const current = await this.load(c.real);
        if (!current.ok && apiCode(current.code) !== 'NOT_FOUND') {
          throw new ApiError(
            'CONFLICT',
            `${c.path} was not overwritten: it cannot be opened as an experiment, and saving would replace it:\n${formatProblems(current.problems, c.path)}\nSave under another name, or fix or remove the file first.`,
            current.problems,
          );
        }
      }
      const modifiedMs = await this.writeTo(c.real, text, false, c.path);
      await this.addRecent(c.path);
      return { path: c.path, modifiedMs };
    }
    const fileName = String(opts.fileName);
    const name = `${sanitizeFileStem(fileName)}${EXPERIMENT_SUFFIX}`;
    const path = join(this.dir, name);
    const { text } = this.serialize(doc, path);
    const modifiedMs = await this.writeTo(join(this.realDir, name), text, true, path);
    await this.addRecent(path);
    return { path, modifiedMs };
  }

  /** Validate text the user picked (in the browser) and save it as a new workspace file. */
  async importText(fileName: string, text: string): Promise<OpenedExperiment> {
    const label = typeof fileName === 'string' ? fileName : 'the imported file';
    if (typeof text !== 'string') throw new ApiError('BAD_REQUEST', `${label}: no text to import`);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > this.maxBytes) {
      const problems = [
        {
          path: '',
          message: tooLargeMessage(bytes, this.maxBytes),
        },
      ];
      throw new ApiError('TOO_LARGE', formatProblems(problems, label), problems);
    }
    const parsed = parseExperimentText(stripBom(text));
    if (!parsed.ok) {
      throw new ApiError(
        apiCode(parsed.code),
        formatProblems(parsed.problems, label),
        parsed.problems,
      );
    }
    const canonical = experimentFileText(parsed.experiment);
    const stem = sanitizeFileStem(label);
    const { path, modifiedMs } = await this.createUnique(
      this.realDir,
      this.dir,
      (n) => (n === 1 ? stem : `${stem} (${n})`),
      canonical,
    );
    await this.addRecent(path);
    return opened(path, parsed.experiment, modifiedMs, parsed.migratedFrom);
  }

  /** A copy next to the file ("name (copy)"; a granted file's copy goes to the workspace), whose
   * experiment name gets " (copy)". */
  async duplicate(path: string): Promise<{ path: string }> {
    const c = await this.check(path);
    const loaded = await this.load(c.real);
    if (!loaded.ok) throw refusal(c.path, loaded);
    const experiment = {
      ...loaded.experiment,
      name: withSuffix(loaded.experiment.name, ' (copy)'),
    };
    const { text } = this.serialize(experiment, c.path);
    const stem = fileStem(basename(c.path));
    const [realFolder, folder] = c.inWorkspace
      ? [dirname(c.entry), dirname(c.path)]
      : [this.realDir, this.dir];
    const created = await this.createUnique(
      realFolder,
      folder,
      (n) => (n === 1 ? `${stem} (copy)` : `${stem} (copy ${n})`),
      text,
    );
    await this.addRecent(created.path);
    return { path: created.path };
  }

  /** Rename the file after `newName` (sanitised) in its folder and set experiment.name to it;
   * refused when a file of that name exists. */
  async rename(path: string, newName: string): Promise<{ path: string }> {
    const c = await this.check(path);
    const name = typeof newName === 'string' ? newName.trim() : '';
    if (name === '') throw new ApiError('BAD_REQUEST', 'the new name is empty');
    const loaded = await this.load(c.real);
    if (!loaded.ok) throw refusal(c.path, loaded);
    const targetName = `${sanitizeFileStem(name)}${EXPERIMENT_SUFFIX}`;
    const targetPath = join(dirname(c.path), targetName);
    const targetEntry = join(dirname(c.entry), targetName);
    const { text } = this.serialize({ ...loaded.experiment, name }, targetPath);

    // Both names count as our own writes until the new name is written into the file.
    this.begin(c.entry);
    this.begin(targetEntry);
    try {
      if (targetEntry !== c.entry) {
        const [source, target] = await Promise.all([
          fingerprintOf(c.entry),
          lstatOrNull(targetEntry),
        ]);
        const sameFile =
          target !== null && source !== 'absent' && target.ino === source.ino && target.ino !== 0;
        if (target !== null && !sameFile)
          throw new ApiError('CONFLICT', `${targetPath} already exists; choose another name`);
        try {
          // Move first (never over an existing file), then write the new name into it.
          if (sameFile) await rename(c.entry, targetEntry);
          else await moveNoClobber(c.entry, targetEntry);
          await fsyncDir(dirname(targetEntry));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST')
            throw new ApiError('CONFLICT', `${targetPath} already exists; choose another name`);
          throw ioError(`cannot rename ${c.path} to ${targetName}`, err);
        }
        this.ownWrites.set(c.entry, 'absent');
        if (!c.inWorkspace) this.grant(targetPath);
        await this.replaceRecent(c.path, targetPath);
      }
      const real = await realpath(targetEntry).catch(() => targetEntry);
      await this.writeTo(real, text, false, targetPath);
    } finally {
      this.end(c.entry);
      this.end(targetEntry);
    }
    return { path: targetPath };
  }

  /** Move the file to the trash. */
  async delete(path: string): Promise<{ trashed: true }> {
    const c = await this.check(path);
    if (!c.exists) throw new ApiError('NOT_FOUND', `${c.path}: no such file`);
    this.begin(c.entry);
    try {
      await this.trashItem(c.entry);
    } catch (err) {
      throw ioError(`cannot move ${c.path} to the trash`, err);
    } finally {
      this.ownWrites.set(c.entry, 'absent');
      this.end(c.entry);
    }
    this.granted.delete(c.path);
    this.granted.delete(c.entry);
    this.granted.delete(c.real);
    await this.replaceRecent(c.path, null);
    return { trashed: true };
  }

  /** The validated document as canonical pretty JSON; throws INVALID_EXPERIMENT or TOO_LARGE. */
  private serialize(doc: unknown, label: string): { text: string; experiment: Experiment } {
    const parsed = parseExperimentValue(doc);
    if (!parsed.ok) {
      throw new ApiError(
        'INVALID_EXPERIMENT',
        `${label} was not saved: the experiment has problems:\n${formatProblems(parsed.problems, label)}`,
        parsed.problems,
      );
    }
    const text = experimentFileText(parsed.experiment);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > this.maxBytes) {
      const problems = [
        {
          path: '',
          message: `the experiment is ${bytes} bytes as JSON; experiment files are limited to ${this.maxBytes} bytes`,
        },
      ];
      throw new ApiError(
        'TOO_LARGE',
        `${label} was not saved:\n${formatProblems(problems, label)}`,
        problems,
      );
    }
    return { text, experiment: parsed.experiment };
  }

  /** Durable atomic write (exclusive: create only, CONFLICT when the file exists). */
  private async writeTo(
    real: string,
    text: string,
    exclusive: boolean,
    label: string,
  ): Promise<number> {
    this.begin(real);
    try {
      if (exclusive) await mkdir(dirname(real), { recursive: true });
      await writeFileDurable(real, text, { exclusive });
      const fp = await fingerprintOf(real);
      this.ownWrites.set(real, fp);
      return fp === 'absent' ? Date.now() : fp.mtimeMs;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST')
        throw new ApiError('CONFLICT', `${label} already exists; choose another name`);
      if (code === 'ENOENT')
        throw new ApiError('NOT_FOUND', `cannot save ${label}: the folder does not exist`);
      throw ioError(`cannot save ${label}`, err);
    } finally {
      this.end(real);
    }
  }

  /** Create `<stem(n)>.gmemlab.json` for the first n = 1, 2, ... that does not exist. */
  private async createUnique(
    realFolder: string,
    folder: string,
    stemFor: (n: number) => string,
    text: string,
  ): Promise<{ path: string; modifiedMs: number }> {
    for (let n = 1; n <= 1000; n++) {
      const name = `${stemFor(n)}${EXPERIMENT_SUFFIX}`;
      const path = join(folder, name);
      try {
        const modifiedMs = await this.writeTo(join(realFolder, name), text, true, path);
        return { path, modifiedMs };
      } catch (err) {
        if (err instanceof ApiError && err.code === 'CONFLICT') continue;
        throw err;
      }
    }
    throw new ApiError('CONFLICT', `too many files named like ${stemFor(1)} in ${folder}`);
  }

  private begin(real: string): void {
    this.inFlight.set(real, (this.inFlight.get(real) ?? 0) + 1);
  }

  private end(real: string): void {
    const n = (this.inFlight.get(real) ?? 1) - 1;
    if (n <= 0) this.inFlight.delete(real);
    else this.inFlight.set(real, n);
  }

  // -------------------------------------------------------------------------------------------
  // Recent files

  /** Recently opened or saved files, most recent first. */
  recent(): string[] {
    return this.recentAll().slice(0, this.recentLimit);
  }

  private recentAll(): readonly string[] {
    return this.settings ? this.settings.get().recentFiles : this.memoryRecent;
  }

  private addRecent(path: string): Promise<void> {
    return this.updateRecent((list) => [path, ...list.filter((p) => p !== path)]);
  }

  private replaceRecent(from: string, to: string | null): Promise<void> {
    return this.updateRecent((list) =>
      to === null
        ? list.filter((p) => p !== from)
        : [to, ...list.filter((p) => p !== from && p !== to)],
    );
  }

  /** Updates one at a time; persisting is best effort (a failure does not fail the open or save
   * that caused it). */
  private updateRecent(change: (list: readonly string[]) => string[]): Promise<void> {
    const run = async (): Promise<void> => {
      const next = change(this.recentAll()).slice(0, this.recentLimit);
      if (this.settings) await this.settings.set({ recentFiles: next }).catch(() => undefined);
      else this.memoryRecent = next;
    };
    this.recentQueue = this.recentQueue.then(run, run);
    return this.recentQueue;
  }

  // -------------------------------------------------------------------------------------------
  // Watching

  /** Notice experiment files that other programs change, add or remove in the workspace
   * (debounced). `paths` is empty when the platform did not say which file changed. Our own
   * writes and temp files are not reported. Returns the unsubscribe function. */
  watch(onChange: (paths: string[]) => void): () => void {
    const sub: WatchSubscription = {
      onChange,
      watcher: null,
      dir: this.dir,
      realDir: this.realDir,
      pending: new Set(),
      unknown: false,
      timer: undefined,
      firstAt: 0,
      closed: false,
    };
    this.subscriptions.add(sub);
    this.startWatcher(sub);
    return () => {
      sub.closed = true;
      this.stopWatcher(sub);
      this.subscriptions.delete(sub);
    };
  }

  /** Resolves once no report is pending or being prepared: every file event the platform has
   * delivered so far has been reported or dropped (own writes, temp files, other files). The
   * platform delivers a folder's events in order, so after an outside change has been reported
   * and the watcher has settled, every earlier change has had its chance to be reported. */
  watchSettled(): Promise<void> {
    if (this.isWatchSettled()) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  private isWatchSettled(): boolean {
    if (this.flushing > 0) return false;
    for (const sub of this.subscriptions) if (sub.timer !== undefined) return false;
    return true;
  }

  private notifyIfSettled(): void {
    if (this.settledWaiters.length === 0 || !this.isWatchSettled()) return;
    for (const resolve of this.settledWaiters.splice(0)) resolve();
  }

  private startWatcher(sub: WatchSubscription): void {
    sub.dir = this.dir;
    sub.realDir = this.realDir;
    try {
      const watcher = fsWatch(sub.realDir, { persistent: false }, (_event, filename) =>
        this.onWatchEvent(sub, filename),
      );
      watcher.on('error', () => {
        watcher.close();
        if (sub.watcher === watcher) sub.watcher = null;
      });
      sub.watcher = watcher;
    } catch {
      sub.watcher = null;
    }
  }

  private stopWatcher(sub: WatchSubscription): void {
    sub.watcher?.close();
    sub.watcher = null;
    if (sub.timer !== undefined) clearTimeout(sub.timer);
    sub.timer = undefined;
    sub.pending.clear();
    sub.unknown = false;
    this.notifyIfSettled();
  }

  private onWatchEvent(sub: WatchSubscription, filename: string | Buffer | null): void {
    if (sub.closed) return;
    if (filename === null) sub.unknown = true;
    else {
      const name = filename.toString();
      // Our temp files (and everything else) never end in the suffix.
      if (!name.endsWith(EXPERIMENT_SUFFIX) || name.includes('/') || name.includes('\\')) return;
      sub.pending.add(name);
    }
    this.scheduleFlush(sub);
  }

  private scheduleFlush(sub: WatchSubscription): void {
    const now = Date.now();
    if (sub.timer === undefined) sub.firstAt = now;
    else clearTimeout(sub.timer);
    const wait = Math.max(0, Math.min(WATCH_DEBOUNCE_MS, sub.firstAt + WATCH_MAX_WAIT_MS - now));
    sub.timer = setTimeout(() => void this.flushWatch(sub), wait);
    sub.timer.unref?.();
  }

  private async flushWatch(sub: WatchSubscription): Promise<void> {
    sub.timer = undefined;
    this.flushing++;
    try {
      await this.reportPending(sub);
    } finally {
      this.flushing--;
      this.notifyIfSettled();
    }
  }

  private async reportPending(sub: WatchSubscription): Promise<void> {
    const names = [...sub.pending];
    const unknown = sub.unknown;
    sub.pending.clear();
    sub.unknown = false;
    const { dir, realDir } = sub;
    const changed: string[] = [];
    const later: string[] = [];
    for (const name of names) {
      const real = join(realDir, name);
      if (this.inFlight.has(real)) {
        later.push(name);
        continue;
      }
      const own = this.ownWrites.get(real);
      if (own !== undefined && sameFingerprint(own, await fingerprintOf(real))) continue;
      changed.push(join(dir, name));
    }
    if (sub.closed || sub.realDir !== realDir) return;
    if (later.length > 0) {
      for (const name of later) sub.pending.add(name);
      this.scheduleFlush(sub);
    }
    if (changed.length > 0 || unknown) {
      try {
        sub.onChange(changed.sort());
      } catch {
        // the listener's failure is its own
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A file stem made of letters, digits, space, dash, underscore and dot only: other characters
 * become '-' between words and disappear next to a space or at the ends; no leading dot, no
 * trailing dot or space, at most 120 characters, never empty, never a reserved Windows name. */
export function sanitizeFileStem(input: string): string {
  let s = String(input).normalize('NFC');
  s = s.replace(/\.gmemlab\.json$/i, '').replace(/\.json$/i, '');
  s = s.replace(/[^\p{L}\p{M}\p{N} _.-]+/gu, (run, offset: number, all: string) => {
    const before = all[offset - 1];
    const after = all[offset + run.length];
    return before === undefined || after === undefined || before === ' ' || after === ' '
      ? ''
      : '-';
  });
  s = s.replace(/\s+/g, ' ');
  s = s.replace(/^[\s.-]+/, '').replace(/[\s.]+$/, '');
  const chars = Array.from(s);
  if (chars.length > MAX_STEM_CHARS)
    s = chars
      .slice(0, MAX_STEM_CHARS)
      .join('')
      .replace(/[\s.]+$/, '');
  if (s === '') s = 'experiment';
  if (/^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i.test(s)) s = `${s}_`;
  return s;
}

function fileStem(fileName: string): string {
  return fileName.endsWith(EXPERIMENT_SUFFIX)
    ? fileName.slice(0, -EXPERIMENT_SUFFIX.length)
    : fileName;
}

/** `name + suffix`, within the schema's 120 characters. */
function withSuffix(name: string, suffix: string): string {
  const chars = Array.from(name);
  const room = 120 - suffix.length;
  return (chars.length > room ? chars.slice(0, room).join('').trimEnd() : name) + suffix;
}

function resultsState(experiment: Experiment): ExperimentEntry['results'] {
  if (!experiment.results) return 'none';
  return experiment.results.configHash === configHash(experiment) ? 'fresh' : 'stale';
}

function opened(
  path: string,
  experiment: Experiment,
  modifiedMs: number,
  migratedFrom: number | undefined,
): OpenedExperiment {
  const base = {
    path,
    experiment: experiment as unknown as Record<string, unknown>,
    modifiedMs,
    configHash: configHash(experiment),
  };
  return migratedFrom === undefined ? base : { ...base, migratedFrom };
}

function apiCode(code: PreparationErrorCode): ApiErrorCode {
  if (code === 'TOO_LARGE') return 'TOO_LARGE';
  if (code === 'NEWER_VERSION') return 'NEWER_VERSION';
  if (code === 'NOT_FOUND' || code === 'NOT_A_FILE') return 'NOT_FOUND';
  return 'INVALID_EXPERIMENT';
}

/** The error for a file that cannot be opened: names the file and every problem. */
function refusal(path: string, outcome: Extract<ExperimentRead, { ok: false }>): ApiError {
  return new ApiError(
    apiCode(outcome.code),
    formatProblems(outcome.problems, path),
    outcome.problems,
  );
}

function forbidden(message: string): ApiError {
  return new ApiError('FORBIDDEN_PATH', message);
}

function notExperimentName(abs: string): ApiError {
  return forbidden(`${abs} is not an experiment file: the name must end in ${EXPERIMENT_SUFFIX}`);
}

function ioError(what: string, err: unknown): ApiError {
  return new ApiError('IO_ERROR', `${what}: ${(err as Error)?.message ?? String(err)}`);
}

async function fingerprintOf(path: string): Promise<Fingerprint | 'absent'> {
  try {
    const st = await lstat(path);
    return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return 'absent';
  }
}

async function lstatOrNull(path: string): Promise<{ ino: number } | null> {
  try {
    return await lstat(path);
  } catch {
    return null;
  }
}

function sameFingerprint(a: Fingerprint | 'absent', b: Fingerprint | 'absent'): boolean {
  if (a === 'absent' || b === 'absent') return a === b;
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
