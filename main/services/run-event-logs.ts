// The event logs of the workbench's runs: each recording run's worker streams its log to a file of
// its own in the app's data folder (no event crosses a thread or sits in this process), the file
// is kept as long as the run's full result is (RunResults), and the user saves it from there.
//
// Each process has a folder of its own (`<pid>-<start time>`), because the desktop app and a
// `gmem-lab serve` may share one data folder: a process removes its own folder when it ends, and
// at start the folders of processes that no longer run (a crash leaves one behind).
import { mkdir, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const FOLDER = /^(\d+)-(\d+)$/;

export class RunEventLogs {
  readonly folder: string;
  private readonly files = new Map<number, string>();
  private next = 1;
  private ready: Promise<void> | null = null;

  /** `dir`: the data folder's event-log folder (e.g. `<config dir>/event-logs`). */
  constructor(readonly dir: string) {
    this.folder = join(dir, `${process.pid}-${Date.now()}`);
  }

  /** Create this process's folder, and remove those of processes that no longer run. */
  prepare(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.folder, { recursive: true });
      for (const name of await readdir(this.dir).catch(() => [] as string[])) {
        const m = FOLDER.exec(name);
        if (!m || join(this.dir, name) === this.folder || isRunning(Number(m[1]))) continue;
        await rm(join(this.dir, name), { recursive: true, force: true }).catch(() => undefined);
      }
    })();
    return this.ready;
  }

  /** A new file for a run about to start (its worker creates it). */
  async newFile(): Promise<string> {
    await this.prepare();
    return join(this.folder, `run-${this.next++}.jsonl`);
  }

  /** The run `runId` logs to `file`. */
  attach(runId: number, file: string): void {
    this.files.set(runId, file);
  }

  /** The log file of run `runId`, while it is kept. */
  fileOf(runId: number): string | undefined {
    return this.files.get(runId);
  }

  /** Remove the log of run `runId` (its run failed, or its result is no longer kept). */
  async forget(runId: number): Promise<void> {
    const file = this.files.get(runId);
    if (file === undefined) return;
    this.files.delete(runId);
    await unlink(file).catch(() => undefined);
  }

  /** Remove a file no run was attached to (the run could not start). */
  async discard(file: string): Promise<void> {
    await unlink(file).catch(() => undefined);
  }

  /** Remove this process's folder and every log in it. */
  async dispose(): Promise<void> {
    this.files.clear();
    await rm(this.folder, { recursive: true, force: true }).catch(() => undefined);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
