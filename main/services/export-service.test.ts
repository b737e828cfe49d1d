// Exports written with the durable atomic write, on a real temporary folder.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '@contract/api.js';
import { writeExport } from './export-service.js';
import { makeTempDir, rejection, removeDir } from './store-test-helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('gmemlab-export-');
});
afterEach(async () => {
  await removeDir(dir);
});

async function code(promise: Promise<unknown>): Promise<string> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(ApiError);
  return (err as ApiError).code;
}

describe('writeExport', () => {
  it('writes text and bytes, replacing an existing file whole', async () => {
    const csv = join(dir, 'series.csv');
    await writeExport(csv, 'time,value\n0,1\n');
    expect(await readFile(csv, 'utf8')).toBe('time,value\n0,1\n');
    await writeExport(csv, 'time,value\n');
    expect(await readFile(csv, 'utf8')).toBe('time,value\n');
    const png = join(dir, 'chart.png');
    const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 255]);
    await writeExport(png, bytes);
    expect(new Uint8Array(await readFile(png))).toEqual(bytes);
    expect((await readdir(dir)).sort()).toEqual(['chart.png', 'series.csv']);
  });

  it('refuses relative paths and reports a missing folder', async () => {
    expect(await code(writeExport('relative.csv', 'x'))).toBe('FORBIDDEN_PATH');
    expect(await code(writeExport(join(dir, 'missing', 'x.csv'), 'x'))).toBe('NOT_FOUND');
    await mkdir(join(dir, 'folder.csv'));
    await writeFile(join(dir, 'folder.csv', 'inside'), 'x');
    expect(await code(writeExport(join(dir, 'folder.csv'), 'x'))).toBe('IO_ERROR');
    expect((await readdir(dir)).sort()).toEqual(['folder.csv']);
  });
});
