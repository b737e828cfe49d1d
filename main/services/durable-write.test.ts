// Durable atomic writes on real temporary folders.
import { chmod, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cleanupTempFiles,
  isTempFileName,
  moveNoClobber,
  tempPathFor,
  writeFileDurable,
} from './durable-write.js';
import { makeTempDir, rejection, removeDir } from './store-test-helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('gmemlab-durable-');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('writeFileDurable', () => {
  it('creates and replaces files, text or bytes, leaving no temp file', async () => {
    const path = join(dir, 'a.gmemlab.json');
    const temps: string[] = [];
    await writeFileDurable(path, 'first\n', { onTempFile: (t) => temps.push(t) });
    expect(await readFile(path, 'utf8')).toBe('first\n');
    const ino = (await stat(path)).ino;
    await writeFileDurable(path, new Uint8Array([1, 2, 3, 255]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3, 255]);
    expect((await stat(path)).ino).not.toBe(ino);
    expect(await readdir(dir)).toEqual(['a.gmemlab.json']);
    expect(temps).toHaveLength(1);
    expect(temps[0]?.startsWith(join(dir, '.a.gmemlab.json.tmp-'))).toBe(true);
  });

  it('keeps the mode of the file it replaces', async () => {
    const path = join(dir, 'private.json');
    await writeFile(path, 'x');
    await chmod(path, 0o600);
    await writeFileDurable(path, 'y');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // Exactly, not through the umask.
    await chmod(path, 0o666);
    await writeFileDurable(path, 'z');
    expect((await stat(path)).mode & 0o777).toBe(0o666);
  });

  it('never replaces a file in exclusive mode', async () => {
    const path = join(dir, 'a.gmemlab.json');
    await writeFile(path, 'original');
    const err = await rejection(writeFileDurable(path, 'new', { exclusive: true }));
    expect((err as NodeJS.ErrnoException).code).toBe('EEXIST');
    expect(await readFile(path, 'utf8')).toBe('original');
    expect(await readdir(dir)).toEqual(['a.gmemlab.json']);
    await writeFileDurable(join(dir, 'b.gmemlab.json'), 'b', { exclusive: true });
    expect(await readFile(join(dir, 'b.gmemlab.json'), 'utf8')).toBe('b');
  });

  it('removes its temp file when the write fails', async () => {
    const target = join(dir, 'is-a-folder');
    await mkdir(target);
    await writeFile(join(target, 'inside'), 'x');
    await expect(writeFileDurable(target, 'data')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['is-a-folder']);
    await expect(writeFileDurable(join(dir, 'missing', 'x.json'), 'data')).rejects.toThrow(
      /ENOENT/,
    );
  });
});

describe('moveNoClobber', () => {
  it('renames unless the target exists', async () => {
    await writeFile(join(dir, 'a'), 'a');
    await writeFile(join(dir, 'b'), 'b');
    const err = await rejection(moveNoClobber(join(dir, 'a'), join(dir, 'b')));
    expect((err as NodeJS.ErrnoException).code).toBe('EEXIST');
    expect(await readFile(join(dir, 'b'), 'utf8')).toBe('b');
    await moveNoClobber(join(dir, 'a'), join(dir, 'c'));
    expect((await readdir(dir)).sort()).toEqual(['b', 'c']);
  });
});

describe('temp files', () => {
  it('are hidden, of our pattern, and keep the end of long names', () => {
    const t = tempPathFor(join(dir, 'x.gmemlab.json'));
    const name = t.slice(dir.length + 1);
    expect(name).toMatch(/^\.x\.gmemlab\.json\.tmp-\d+-[0-9a-f]{12}$/);
    expect(isTempFileName(name, '.gmemlab.json')).toBe(true);
    expect(isTempFileName(name, 'settings.json')).toBe(false);
    expect(isTempFileName('x.gmemlab.json')).toBe(false);
    const long = tempPathFor(join(dir, `${'n'.repeat(240)}.gmemlab.json`));
    const longName = long.slice(dir.length + 1);
    expect(longName.length).toBeLessThan(255);
    expect(isTempFileName(longName, '.gmemlab.json')).toBe(true);
  });

  it('are cleaned up only when ours and older than a minute', async () => {
    const old = new Date(Date.now() - 61_000);
    const names = {
      oldOurs: '.a.gmemlab.json.tmp-42-0123456789ab',
      youngOurs: '.b.gmemlab.json.tmp-42-0123456789ab',
      oldOtherSuffix: '.settings.json.tmp-42-0123456789ab',
      oldNotOurs: '.a.gmemlab.json.tmp-42-xyz',
      oldExperiment: 'c.gmemlab.json',
    };
    for (const n of Object.values(names)) await writeFile(join(dir, n), 'x');
    for (const n of [names.oldOurs, names.oldOtherSuffix, names.oldNotOurs, names.oldExperiment])
      await utimes(join(dir, n), old, old);
    expect(await cleanupTempFiles(dir, { forSuffix: '.gmemlab.json' })).toEqual([names.oldOurs]);
    expect((await readdir(dir)).sort()).toEqual(
      [names.youngOurs, names.oldOtherSuffix, names.oldNotOurs, names.oldExperiment].sort(),
    );
    expect(await cleanupTempFiles(join(dir, 'missing'))).toEqual([]);
  });
});
