// The folder of the workbench's event logs: one per process, the folders of processes that no
// longer run removed at start, those of running ones left alone, this process's removed at the end.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RunEventLogs } from './run-event-logs.js';
import { makeTempDir, removeDir } from './store-test-helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await removeDir(d);
});

/** A pid no process has: above Linux's pid_max limit (2^22). */
const DEAD_PID = 2 ** 22 + 12345;

describe('RunEventLogs', () => {
  it('removes the folders of processes that no longer run, keeps those of running ones', async () => {
    const dir = await makeTempDir('gmemlab-event-logs-');
    dirs.push(dir);
    const dead = join(dir, `${DEAD_PID}-1700000000000`);
    const alive = join(dir, `${process.ppid}-1700000000000`);
    const other = join(dir, 'notes');
    for (const d of [dead, alive, other]) {
      await mkdir(d);
      await writeFile(join(d, 'run-1.jsonl'), '{}\n');
    }
    const logs = new RunEventLogs(dir);
    const file = await logs.newFile();
    expect(file.startsWith(logs.folder)).toBe(true);
    expect((await readdir(dir)).sort()).toEqual(
      [`${process.ppid}-1700000000000`, 'notes', logs.folder.slice(dir.length + 1)].sort(),
    );
    // Files are numbered, never reused within the process.
    expect(await logs.newFile()).not.toBe(file);
    await logs.dispose();
    expect(await readdir(dir)).not.toContain(logs.folder.slice(dir.length + 1));
  });

  it('forgets a run: its file is removed, and asking again is harmless', async () => {
    const dir = await makeTempDir('gmemlab-event-logs-');
    dirs.push(dir);
    const logs = new RunEventLogs(dir);
    const file = await logs.newFile();
    await writeFile(file, '{"type":"x"}\n');
    logs.attach(7, file);
    expect(logs.fileOf(7)).toBe(file);
    await logs.forget(7);
    await logs.forget(7);
    expect(logs.fileOf(7)).toBeUndefined();
    expect(await readdir(logs.folder)).toEqual([]);
  });
});
