// The fallback trash on real temporary folders: freedesktop.org home trash, macOS ~/.Trash.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, rejection, removeDir } from './store-test-helpers.js';
import { encodeTrashPath, moveToTrash } from './trash.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('gmemlab-trash-');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('moveToTrash', () => {
  it('uses the freedesktop.org home trash: info record, then the file, unique names', async () => {
    const dataHome = join(dir, 'data');
    const env = { XDG_DATA_HOME: dataHome };
    const now = new Date(2026, 0, 2, 3, 4, 5);
    const work = join(dir, 'my work');
    await mkdir(work);
    const file = join(work, 'a b.gmemlab.json');
    await writeFile(file, 'one');
    const first = await moveToTrash(file, { env, platform: 'linux', now });
    await writeFile(file, 'two');
    const second = await moveToTrash(file, { env, platform: 'linux', now });

    const trash = join(dataHome, 'Trash');
    expect(first).toBe(join(trash, 'files', 'a b.gmemlab.json'));
    expect(second).toBe(join(trash, 'files', 'a b.2.gmemlab.json'));
    expect(await readFile(first, 'utf8')).toBe('one');
    expect(await readFile(second, 'utf8')).toBe('two');
    expect(await readdir(work)).toEqual([]);
    expect(await readFile(join(trash, 'info', 'a b.2.gmemlab.json.trashinfo'), 'utf8')).toBe(
      `[Trash Info]\nPath=${encodeTrashPath(file)}\nDeletionDate=2026-01-02T03:04:05\n`,
    );
    expect(encodeTrashPath('/my work/a b.gmemlab.json')).toBe('/my%20work/a%20b.gmemlab.json');
  });

  it('defaults to ~/.local/share/Trash and moves to ~/.Trash on macOS', async () => {
    const home = join(dir, 'home');
    const file = join(dir, 'x.gmemlab.json');
    await writeFile(file, 'x');
    expect(await moveToTrash(file, { env: {}, home, platform: 'linux' })).toBe(
      join(home, '.local', 'share', 'Trash', 'files', 'x.gmemlab.json'),
    );
    await writeFile(file, 'y');
    expect(await moveToTrash(file, { env: {}, home, platform: 'darwin' })).toBe(
      join(home, '.Trash', 'x.gmemlab.json'),
    );
  });

  it('refuses on Windows and when the file does not exist, leaving no info record', async () => {
    const file = join(dir, 'x.gmemlab.json');
    await writeFile(file, 'x');
    const err = await rejection(moveToTrash(file, { platform: 'win32' }));
    expect((err as NodeJS.ErrnoException).code).toBe('ENOTSUP');
    const dataHome = join(dir, 'data');
    await expect(
      moveToTrash(join(dir, 'missing.gmemlab.json'), {
        env: { XDG_DATA_HOME: dataHome },
        platform: 'linux',
      }),
    ).rejects.toThrow(/ENOENT/);
    expect(await readdir(join(dataHome, 'Trash', 'info'))).toEqual([]);
  });
});
