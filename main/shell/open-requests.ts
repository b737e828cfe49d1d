// Experiment files the system asks the app to open: on the command line (first start, and the
// argv of a second start that the single-instance lock hands over), from the file manager
// (Linux desktop entries pass file:// URLs), and macOS 'open-file' events, which can come before
// the app is ready. Only *.gmemlab.json paths are taken. Requests wait until the workbench page is
// ready for commands (its first app.setDocumentState report), then go out as 'menu.command'
// {command: 'open', path}. No Electron here; tested in open-requests.test.ts.
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const EXPERIMENT_SUFFIX = '.gmemlab.json';

/** Whether `path` names an experiment file (by its name; the store checks the rest). */
export function isExperimentPath(path: string): boolean {
  return path.length > EXPERIMENT_SUFFIX.length && path.endsWith(EXPERIMENT_SUFFIX);
}

/** An argument as an absolute path: file:// URLs are turned into paths, relative paths resolved
 * against `cwd`; null for options and anything else. */
export function argumentPath(arg: string, cwd: string): string | null {
  if (arg.startsWith('-') || arg.includes('\0')) return null;
  if (/^file:/i.test(arg)) {
    try {
      return fileURLToPath(arg);
    } catch {
      return null;
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) return null;
  return isAbsolute(arg) ? resolve(arg) : resolve(cwd, arg);
}

/** The experiment files named in a command line (argv[0], the executable, is skipped). */
export function experimentPathsFromArgv(argv: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  for (const arg of argv.slice(1)) {
    const path = argumentPath(arg, cwd);
    if (path !== null && isExperimentPath(path) && !out.includes(path)) out.push(path);
  }
  return out;
}

/** Paths held until the page is ready, then handed to `deliver` in order. */
export class OpenQueue {
  private readonly pending: string[] = [];
  private deliver: ((path: string) => void) | null = null;

  /** Open `path` now if the page is ready, else when it is. */
  push(path: string): void {
    if (this.deliver) this.deliver(path);
    else if (!this.pending.includes(path)) this.pending.push(path);
  }

  /** The page is ready: deliver what waited, and what comes from now on. */
  ready(deliver: (path: string) => void): void {
    this.deliver = deliver;
    for (const path of this.pending.splice(0)) deliver(path);
  }

  /** The page is gone (its window closed or reloads): hold requests again. */
  notReady(): void {
    this.deliver = null;
  }

  get waiting(): readonly string[] {
    return this.pending;
  }
}
