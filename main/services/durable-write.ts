// Durable atomic file writes, shared by the experiment store, the settings store and exports.
//
// A write goes to a temp file in the target's folder (a hidden name of our own pattern, created
// exclusively), is flushed to disk (fsync), renamed over the target, and the folder is flushed too
// so the rename itself survives a power cut. A reader, or a crash at any moment, sees either the
// old complete file or the new complete file, never a mix. A crash can leave a temp file behind:
// `cleanupTempFiles` removes old ones of our pattern at start-up.
//
// Written on node:fs/promises rather than write-file-atomic: that library leaves the folder fsync to
// us anyway, names its temp files `<target>.<uint32>` (visible, not recognisable as ours for
// crash clean-up), issues one fs.write without a loop for partial writes, and hooks process
// signals through signal-exit.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  copyFile,
  link,
  lstat,
  open,
  readdir,
  rename,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** `.<name>.tmp-<pid>-<12 hex>`: hidden, and never ends in `.gmemlab.json` or `.json`. */
const TEMP_FILE_PATTERN = /^\.(.+)\.tmp-(\d+)-([0-9a-f]{12})$/;
const TEMP_NAME_KEEP = 100;

/** Name of a fresh temp file next to `target`. Long names keep their end (the suffix). */
export function tempPathFor(target: string): string {
  const name = basename(target);
  const kept = name.length > TEMP_NAME_KEEP ? name.slice(-TEMP_NAME_KEEP) : name;
  return join(dirname(target), `.${kept}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Whether `fileName` is one of our temp files (for `target`'s name, when given). */
export function isTempFileName(fileName: string, forSuffix?: string): boolean {
  const m = TEMP_FILE_PATTERN.exec(fileName);
  if (!m) return false;
  return forSuffix === undefined || (m[1] ?? '').endsWith(forSuffix);
}

export interface DurableWriteOptions {
  /** Create only: fail with an error whose code is EEXIST when the target exists. */
  readonly exclusive?: boolean;
  /** Mode of a new file (before the umask); an existing file keeps its mode. Default 0o666. */
  readonly mode?: number;
  /** Called with the temp file's path once it exists (tests, and the store's watcher). */
  readonly onTempFile?: (tempPath: string) => void;
}

/** Write `data` to `target` durably and atomically (see the top of this file). */
export async function writeFileDurable(
  target: string,
  data: string | Uint8Array,
  options: DurableWriteOptions = {},
): Promise<void> {
  // writeFile on a handle loops until every byte is written.
  await writeDurable(target, (handle) => handle.writeFile(data), options);
}

/** Write the files `parts`, one after the other, to `target` durably and atomically, a chunk at a
 * time (a long event log never sits in memory whole). */
export async function concatFilesDurable(
  target: string,
  parts: readonly string[],
  options: DurableWriteOptions = {},
): Promise<void> {
  const buffer = Buffer.allocUnsafe(1 << 20);
  await writeDurable(
    target,
    async (out) => {
      for (const part of parts) {
        const input = await open(part, 'r');
        try {
          for (;;) {
            const { bytesRead } = await input.read(buffer, 0, buffer.length, null);
            if (bytesRead === 0) break;
            // writeFile continues from the handle's position, and loops until all is written.
            await out.writeFile(buffer.subarray(0, bytesRead));
          }
        } finally {
          await input.close();
        }
      }
    },
    options,
  );
}

async function writeDurable(
  target: string,
  fill: (handle: FileHandle) => Promise<void>,
  options: DurableWriteOptions,
): Promise<void> {
  // The replaced file's permissions, applied exactly (not through the umask).
  let keepMode: number | undefined;
  if (!options.exclusive) {
    try {
      const st = await stat(target);
      if (st.isFile()) keepMode = st.mode & 0o7777;
    } catch {
      // a new file
    }
  }
  const temp = tempPathFor(target);
  const handle = await open(temp, 'wx', keepMode ?? options.mode ?? 0o666);
  let tempExists = true;
  try {
    try {
      options.onTempFile?.(temp);
      await fill(handle);
      if (keepMode !== undefined) await handle.chmod(keepMode).catch(() => undefined);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.exclusive) await moveNoClobber(temp, target);
    else await renameWithRetry(temp, target);
    tempExists = false;
    await fsyncDir(dirname(target));
  } finally {
    if (tempExists) await unlink(temp).catch(() => undefined);
  }
}

/** Rename `from` to `target` unless `target` exists (then an error with code EEXIST). Does not
 * flush the folder. */
export async function moveNoClobber(from: string, target: string): Promise<void> {
  try {
    // link() fails with EEXIST atomically, where rename() would replace the target.
    await link(from, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw err;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EACCES'].includes(code ?? ''))
      throw err;
    // A file system without hard links (FAT, some network shares): check, then rename.
    if (await exists(target)) throw eexist(target);
    await renameWithRetry(from, target);
    return;
  }
  await unlink(from);
}

function eexist(path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`EEXIST: file already exists, '${path}'`);
  err.code = 'EEXIST';
  err.path = path;
  return err;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** rename(), retried briefly where Windows refuses it while another program holds the target
 * open (virus scanners, indexers). */
async function renameWithRetry(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const retryable =
        process.platform === 'win32' && (code === 'EPERM' || code === 'EACCES' || code === 'EBUSY');
      if (!retryable || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 10 * (attempt + 1)));
    }
  }
}

/** Flush a folder's entries (a rename or unlink in it) to disk. A no-op where folders cannot be
 * opened or flushed (Windows, some file systems). */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch (err) {
    if (['EISDIR', 'EPERM', 'EACCES'].includes((err as NodeJS.ErrnoException).code ?? '')) return;
    throw err;
  }
  try {
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EBADF', 'EPERM', 'EISDIR'].includes(code)) throw err;
  } finally {
    await handle.close();
  }
}

/** Copy a file durably to a new name (exclusive), for moves across file systems. */
export async function copyFileDurable(from: string, to: string): Promise<void> {
  await copyFile(from, to, constants.COPYFILE_EXCL);
  const handle = await open(to, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsyncDir(dirname(to));
}

export interface CleanupOptions {
  /** Only temp files for names ending so (e.g. '.gmemlab.json'). */
  readonly forSuffix?: string;
  /** Only temp files not modified for this long (default one minute), so a write in progress in
   * another process is left alone. */
  readonly olderThanMs?: number;
  readonly now?: number;
}

/** Remove temp files of our pattern that a crash left in `dir`; returns the names removed. */
export async function cleanupTempFiles(
  dir: string,
  options: CleanupOptions = {},
): Promise<string[]> {
  const olderThan = options.olderThanMs ?? 60_000;
  const now = options.now ?? Date.now();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!isTempFileName(name, options.forSuffix)) continue;
    const path = join(dir, name);
    try {
      const st = await lstat(path);
      if (!st.isFile() || now - st.mtimeMs < olderThan) continue;
      await unlink(path);
      removed.push(name);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
  if (removed.length > 0) await fsyncDir(dir).catch(() => undefined);
  return removed;
}
