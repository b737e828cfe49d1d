// Moving a file to the user's trash where Electron's shell.trashItem is not at hand (the localhost
// bridge, the CLI, tests). Linux and other freedesktop.org systems: the home trash of the
// freedesktop.org Trash specification ($XDG_DATA_HOME/Trash, default ~/.local/share/Trash): a
// `.trashinfo` record in info/ (created exclusively first, as the specification asks), then the
// file moved into files/ under the same name, so file managers list it and can restore it. macOS:
// moved into ~/.Trash. Windows: not supported here (the Electron app passes shell.trashItem).
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { copyFileDurable, fsyncDir } from './durable-write.js';

export interface TrashOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly home?: string;
  readonly platform?: NodeJS.Platform;
  readonly now?: Date;
}

/** Move `path` (a file) to the trash; returns where it went. */
export async function moveToTrash(path: string, options: TrashOptions = {}): Promise<string> {
  const platform = options.platform ?? process.platform;
  const home = options.home ?? homedir();
  const abs = resolve(path);
  if (platform === 'win32') {
    const err: NodeJS.ErrnoException = new Error(
      'moving files to the Recycle Bin needs the desktop app (shell.trashItem)',
    );
    err.code = 'ENOTSUP';
    throw err;
  }
  if (platform === 'darwin') return moveToDir(abs, join(home, '.Trash'));
  const env = options.env ?? process.env;
  const dataHome =
    env['XDG_DATA_HOME'] && isAbsolute(env['XDG_DATA_HOME'])
      ? env['XDG_DATA_HOME']
      : join(home, '.local', 'share');
  return freedesktopTrash(abs, join(dataHome, 'Trash'), options.now ?? new Date());
}

/** The home trash of the freedesktop.org Trash specification 1.0. */
async function freedesktopTrash(abs: string, trashDir: string, now: Date): Promise<string> {
  const filesDir = join(trashDir, 'files');
  const infoDir = join(trashDir, 'info');
  await mkdir(filesDir, { recursive: true, mode: 0o700 });
  await mkdir(infoDir, { recursive: true, mode: 0o700 });
  const info = `[Trash Info]\nPath=${encodeTrashPath(abs)}\nDeletionDate=${trashDate(now)}\n`;
  for (let n = 1; n < 10_000; n++) {
    const name = numbered(basename(abs), n);
    const infoPath = join(infoDir, `${name}.trashinfo`);
    const dest = join(filesDir, name);
    let handle;
    try {
      handle = await open(infoPath, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    try {
      await handle.writeFile(info);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (await exists(dest)) {
      // files/ has the name without an info record (a broken trash): pick another name.
      await unlink(infoPath);
      continue;
    }
    try {
      await moveFile(abs, dest);
    } catch (err) {
      await unlink(infoPath).catch(() => undefined);
      throw err;
    }
    await fsyncDir(infoDir).catch(() => undefined);
    return dest;
  }
  throw new Error(`the trash already holds too many files named ${basename(abs)}`);
}

async function moveToDir(abs: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (let n = 1; n < 10_000; n++) {
    const dest = join(dir, numbered(basename(abs), n));
    if (await exists(dest)) continue;
    await moveFile(abs, dest);
    return dest;
  }
  throw new Error(`the trash already holds too many files named ${basename(abs)}`);
}

/** Rename, or copy and remove when the trash is on another file system. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFileDurable(from, to);
    await unlink(from);
  }
  await fsyncDir(resolve(from, '..')).catch(() => undefined);
  await fsyncDir(resolve(to, '..')).catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** `a.gmemlab.json`, then `a.2.gmemlab.json`, `a.3.gmemlab.json`, ... */
function numbered(name: string, n: number): string {
  if (n === 1) return name;
  const dot = name.indexOf('.', 1);
  return dot < 0 ? `${name}.${n}` : `${name.slice(0, dot)}.${n}${name.slice(dot)}`;
}

/** The original path, URL-escaped as the specification asks (each segment; '/' kept). */
export function encodeTrashPath(abs: string): string {
  return abs.split('/').map(encodeURIComponent).join('/');
}

/** YYYY-MM-DDThh:mm:ss in local time. */
function trashDate(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
