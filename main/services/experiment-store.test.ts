// The experiment store on real temporary folders: listing, opening, saving, refused files left
// untouched, path checks, rename/duplicate/delete, import, recent files, watching, workspaces.
import {
  mkdir,
  readdir,
  readFile,
  stat,
  symlink,
  truncate,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '@contract/api.js';
import {
  configHash,
  experimentFileText,
  MAX_EXPERIMENT_BYTES,
  parseExperimentValue,
} from '../../core/experiment/load.js';
import {
  ExperimentStore,
  sanitizeFileStem,
  type ExperimentStoreOptions,
} from './experiment-store.js';
import { SettingsStore } from './settings-store.js';
import {
  makeTempDir,
  rejection,
  removeDir,
  snapshot,
  tempFilesIn,
  validDoc,
} from './store-test-helpers.js';
import { moveToTrash } from './trash.js';
import { FORMAT_VERSION } from '../../core/experiment/schema.js';

let root: string;
let ws: string;
let outside: string;
let trashHome: string;

beforeEach(async () => {
  root = await makeTempDir();
  ws = join(root, 'workspace');
  outside = join(root, 'outside');
  trashHome = join(root, 'data-home');
  await mkdir(outside);
});
afterEach(async () => {
  await removeDir(root);
});

function makeStore(options: Partial<ExperimentStoreOptions> = {}): Promise<ExperimentStore> {
  return ExperimentStore.create({
    workspaceDir: ws,
    trashItem: async (p) => {
      await moveToTrash(p, { env: { XDG_DATA_HOME: trashHome }, platform: 'linux' });
    },
    ...options,
  });
}

function canonical(doc: Record<string, unknown>): string {
  const parsed = parseExperimentValue(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return experimentFileText(parsed.experiment);
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<ApiError> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).code, (err as Error).message).toBe(code);
  return err as ApiError;
}

describe('workspace', () => {
  it('is created when missing', async () => {
    const store = await makeStore();
    expect(store.workspaceDir).toBe(ws);
    expect((await stat(ws)).isDirectory()).toBe(true);
    expect(await store.list()).toEqual([]);
  });
});

describe('list', () => {
  it('lists the workspace experiment files newest first, with their results state', async () => {
    const store = await makeStore();
    const older = validDoc('Older');
    const parsed = parseExperimentValue(older);
    if (!parsed.ok) throw new Error('invalid fixture');
    const results = {
      engineVersion: 'test',
      configHash: configHash(parsed.experiment),
      createdAt: '2026-01-01T00:00:00.000Z',
      variants: [],
    };
    const a = await store.save({ ...older, results }, { fileName: 'older' });
    const b = await store.save(
      { ...validDoc('Newer'), results: { ...results, configHash: 'ffffffffffffffff' } },
      { fileName: 'newer' },
    );
    const c = await store.save(validDoc('Middle'), { fileName: 'middle' });
    await utimes(a.path, new Date(1_000_000), new Date(1_000_000));
    await utimes(c.path, new Date(2_000_000), new Date(2_000_000));
    // Not listed: other files, subfolders, temp files.
    await writeFile(join(ws, 'notes.json'), '{}');
    await writeFile(join(ws, '.x.gmemlab.json.tmp-1-0123456789ab'), 'partial');
    await mkdir(join(ws, 'sub'));
    await writeFile(join(ws, 'sub', 'deep.gmemlab.json'), canonical(validDoc('Deep')));

    const entries = await store.list();
    expect(entries.map((e) => [e.fileName, e.name, e.results])).toEqual([
      ['newer.gmemlab.json', 'Newer', 'stale'],
      ['middle.gmemlab.json', 'Middle', 'none'],
      ['older.gmemlab.json', 'Older', 'fresh'],
    ]);
    expect(entries[0]).toMatchObject({
      path: b.path,
      variants: ['HugeTLB 2 MiB', '4 KiB'],
      modifiedMs: (await stat(b.path)).mtimeMs,
    });
    expect(entries.every((e) => e.problem === undefined)).toBe(true);
  });
});

describe('open', () => {
  it('returns the validated document with defaults filled in, its hash and time', async () => {
    const store = await makeStore();
    const doc = validDoc('Open me');
    delete doc['notes'];
    const path = join(ws, 'open-me.gmemlab.json');
    await writeFile(path, JSON.stringify(doc));
    const opened = await store.open(path);
    expect(opened.path).toBe(path);
    expect(opened.experiment).toMatchObject({ name: 'Open me', notes: '', seed: 1, views: [] });
    expect(opened.configHash).toMatch(/^[0-9a-f]{16}$/);
    expect(opened.modifiedMs).toBe((await stat(path)).mtimeMs);
    expect(opened.migratedFrom).toBeUndefined();
    expect(store.recent()).toEqual([path]);
    // Relative paths are relative to the workspace.
    expect((await store.open('open-me.gmemlab.json')).path).toBe(path);
  });

  it('reports a missing file as NOT_FOUND', async () => {
    const store = await makeStore();
    const err = await expectCode(store.open(join(ws, 'gone.gmemlab.json')), 'NOT_FOUND');
    expect(err.message).toContain('gone.gmemlab.json');
  });
});

describe('refused files', () => {
  const valid = () => canonical(validDoc('Valid'));
  const cases: Array<{
    what: string;
    text: () => string;
    code: string;
    mentions: string[];
  }> = [
    {
      what: 'truncated',
      text: () => valid().slice(0, Math.floor(valid().length / 2)),
      code: 'INVALID_EXPERIMENT',
      mentions: ['not valid JSON'],
    },
    {
      what: 'wrong types',
      text: () =>
        JSON.stringify({
          ...validDoc('Wrong types'),
          guest: { memoryBytes: 'lots', vendor: 'snp' },
          seed: -3,
        }),
      code: 'INVALID_EXPERIMENT',
      mentions: ['guest.memoryBytes', 'seed'],
    },
    {
      what: 'not an experiment',
      text: () => JSON.stringify({ hello: 'world' }),
      code: 'INVALID_EXPERIMENT',
      mentions: ['format', 'gmem-lab-experiment'],
    },
    {
      what: 'from a future version',
      text: () => JSON.stringify({ ...validDoc('Future'), version: 7, hoverboard: true }),
      code: 'NEWER_VERSION',
      mentions: ['version', 'version 7', 'newer gmem-lab'],
    },
    {
      what: 'over the size limit',
      text: () => valid().replace(/\n}\n$/, `,\n"pad": "${'x'.repeat(10_000)}"\n}\n`),
      code: 'TOO_LARGE',
      mentions: ['bytes', 'limited to 8192 bytes'],
    },
  ];

  for (const c of cases) {
    it(`refuses a file ${c.what}, names the file and problem, and leaves it byte for byte`, async () => {
      const store = await makeStore({ maxBytes: 8192 });
      const path = join(ws, 'bad.gmemlab.json');
      await writeFile(path, c.text());
      await utimes(path, new Date(5_000_000), new Date(5_000_000));
      const before = await snapshot(path);

      const err = await expectCode(store.open(path), c.code);
      expect(err.message).toContain(path);
      for (const m of c.mentions) expect(err.message).toContain(m);
      expect(Array.isArray(err.details)).toBe(true);
      for (const line of err.message.split('\n')) expect(line.startsWith(`${path}: `)).toBe(true);

      const [entry] = await store.list();
      expect(entry).toMatchObject({ fileName: 'bad.gmemlab.json', name: null, variants: [] });
      expect(entry?.problem).toBeTruthy();
      for (const m of c.mentions) expect(entry?.problem).toContain(m);

      // Saving an invalid document over it: refused by validation.
      const invalid = await expectCode(
        store.save({ ...validDoc('x'), variants: [] }, { path }),
        'INVALID_EXPERIMENT',
      );
      expect(invalid.message).toContain('variants');
      // Saving a valid document over it: refused too (it may be newer or hand-edited).
      const conflict = await expectCode(store.save(validDoc('x'), { path }), 'CONFLICT');
      expect(conflict.message).toContain(path);
      // Neither can it be renamed or duplicated.
      await expectCode(store.rename(path, 'other'), c.code);
      await expectCode(store.duplicate(path), c.code);

      const after = await snapshot(path);
      expect(after.bytes.equals(before.bytes)).toBe(true);
      expect(after.mtimeMs).toBe(before.mtimeMs);
      expect(after.ino).toBe(before.ino);
      expect(await readdir(ws)).toEqual(['bad.gmemlab.json']);
      expect(store.recent()).toEqual([]);
    });
  }

  it('refuses a file over the default limit of 16 MiB without reading it', async () => {
    const store = await makeStore();
    const path = join(ws, 'huge.gmemlab.json');
    await writeFile(path, '');
    await truncate(path, MAX_EXPERIMENT_BYTES + 1);
    const before = await snapshot(path);
    const err = await expectCode(store.open(path), 'TOO_LARGE');
    expect(err.message).toContain(`${path}: the file is ${MAX_EXPERIMENT_BYTES + 1} bytes`);
    expect((await store.list())[0]?.problem).toContain('limited to');
    const after = await snapshot(path);
    expect(after.bytes.equals(before.bytes)).toBe(true);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it('opens a file with a byte-order mark', async () => {
    const store = await makeStore();
    const path = join(ws, 'bom.gmemlab.json');
    await writeFile(path, `\uFEFF${canonical(validDoc('BOM'))}`);
    expect((await store.open(path)).experiment['name']).toBe('BOM');
  });
});

describe('save', () => {
  it('creates a sanitised new file with canonical pretty JSON, never over an existing one', async () => {
    const store = await makeStore();
    const doc = validDoc('HugeTLB vs CMA');
    const saved = await store.save(doc, { fileName: 'HugeTLB vs CMA: 1 GiB/run?' });
    expect(saved.path).toBe(join(ws, 'HugeTLB vs CMA 1 GiB-run.gmemlab.json'));
    expect(saved.modifiedMs).toBe((await stat(saved.path)).mtimeMs);
    const text = await readFile(saved.path, 'utf8');
    expect(text).toBe(canonical(doc));
    expect(
      text.startsWith(`{\n  "format": "gmem-lab-experiment",\n  "version": ${FORMAT_VERSION},\n`),
    ).toBe(true);
    expect(text.endsWith('}\n')).toBe(true);

    const before = await snapshot(saved.path);
    const err = await expectCode(
      store.save(validDoc('Other'), { fileName: 'HugeTLB vs CMA 1 GiB-run.gmemlab.json' }),
      'CONFLICT',
    );
    expect(err.message).toContain('already exists');
    expect((await snapshot(saved.path)).bytes.equals(before.bytes)).toBe(true);
    expect(await tempFilesIn(ws)).toEqual([]);
  });

  it('replaces an existing file atomically and leaves no temp file', async () => {
    const store = await makeStore();
    const { path } = await store.save(validDoc('One'), { fileName: 'one' });
    const before = await snapshot(path);
    const saved = await store.save(validDoc('One, edited'), { path });
    expect(saved.path).toBe(path);
    expect(await readFile(path, 'utf8')).toBe(canonical(validDoc('One, edited')));
    expect((await stat(path)).ino).not.toBe(before.ino);
    expect(await readdir(ws)).toEqual(['one.gmemlab.json']);
  });

  it('never writes an invalid document', async () => {
    const store = await makeStore();
    const err = await expectCode(
      store.save(
        { ...validDoc('Bad'), guest: { memoryBytes: 1 }, variants: [{ name: 'only one' }] },
        { fileName: 'bad' },
      ),
      'INVALID_EXPERIMENT',
    );
    expect(err.message).toContain('bad.gmemlab.json');
    expect(err.message).toContain('guest.memoryBytes');
    expect(err.details).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'guest.memoryBytes' })]),
    );
    expect(await readdir(ws)).toEqual([]);
    await expectCode(store.save(null, { fileName: 'null' }), 'INVALID_EXPERIMENT');
    expect(await readdir(ws)).toEqual([]);
  });

  it('refuses a document larger than the limit, and bad options', async () => {
    const store = await makeStore({ maxBytes: 2000 });
    await expectCode(
      store.save(validDoc('Long', { notes: 'n'.repeat(3000) }), { fileName: 'long' }),
      'TOO_LARGE',
    );
    expect(await readdir(ws)).toEqual([]);
    await expectCode(store.save(validDoc(), {}), 'BAD_REQUEST');
    await expectCode(
      store.save(validDoc(), { path: join(ws, 'a.gmemlab.json'), fileName: 'a' }),
      'BAD_REQUEST',
    );
  });

  it('sanitises file names', () => {
    expect(sanitizeFileStem('plain name')).toBe('plain name');
    expect(sanitizeFileStem('a/b\\c')).toBe('a-b-c');
    expect(sanitizeFileStem('../../etc/passwd')).toBe('etc-passwd');
    expect(sanitizeFileStem('.hidden')).toBe('hidden');
    expect(sanitizeFileStem('name.gmemlab.json')).toBe('name');
    expect(sanitizeFileStem('name.json')).toBe('name');
    expect(sanitizeFileStem('v1.2_final-draft')).toBe('v1.2_final-draft');
    expect(sanitizeFileStem('Größe 1 GiB, NUMA')).toBe('Größe 1 GiB NUMA');
    expect(sanitizeFileStem('trailing dot.')).toBe('trailing dot');
    expect(sanitizeFileStem('  spaced   out  ')).toBe('spaced out');
    expect(sanitizeFileStem('???')).toBe('experiment');
    expect(sanitizeFileStem('')).toBe('experiment');
    expect(sanitizeFileStem('CON')).toBe('CON_');
    expect(sanitizeFileStem('tab\there\nnewline')).toBe('tab-here-newline');
    expect(Array.from(sanitizeFileStem('é'.repeat(300))).length).toBe(120);
  });
});

describe('path checks', () => {
  it('refuses ../ escapes', async () => {
    const store = await makeStore();
    const target = join(outside, 'x.gmemlab.json');
    await writeFile(target, canonical(validDoc('Outside')));
    const before = await snapshot(target);
    for (const p of [join(ws, '..', 'outside', 'x.gmemlab.json'), '../outside/x.gmemlab.json']) {
      const err = await expectCode(store.open(p), 'FORBIDDEN_PATH');
      expect(err.message).toContain('outside the workspace');
      await expectCode(store.save(validDoc(), { path: p }), 'FORBIDDEN_PATH');
      await expectCode(store.rename(p, 'y'), 'FORBIDDEN_PATH');
      await expectCode(store.duplicate(p), 'FORBIDDEN_PATH');
      await expectCode(store.delete(p), 'FORBIDDEN_PATH');
    }
    const after = await snapshot(target);
    expect(after.bytes.equals(before.bytes)).toBe(true);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(await readdir(ws)).toEqual([]);
  });

  it('refuses symlinks that point outside the workspace', async () => {
    const store = await makeStore();
    const target = join(outside, 'x.gmemlab.json');
    await writeFile(target, canonical(validDoc('Outside')));
    const before = await snapshot(target);
    const link = join(ws, 'link.gmemlab.json');
    await symlink(target, link);
    await symlink(outside, join(ws, 'folder-link'));

    const err = await expectCode(store.open(link), 'FORBIDDEN_PATH');
    expect(err.message).toContain(target);
    await expectCode(store.save(validDoc(), { path: link }), 'FORBIDDEN_PATH');
    await expectCode(store.delete(link), 'FORBIDDEN_PATH');
    await expectCode(store.open(join(ws, 'folder-link', 'x.gmemlab.json')), 'FORBIDDEN_PATH');
    await expectCode(
      store.save(validDoc(), { path: join(ws, 'folder-link', 'new.gmemlab.json') }),
      'FORBIDDEN_PATH',
    );
    // Through a folder that does not exist behind the link: refused, nothing created.
    await expectCode(
      store.save(validDoc(), { path: join(ws, 'folder-link', 'sub', 'new.gmemlab.json') }),
      'NOT_FOUND',
    );
    await expectCode(store.open(join(outside, 'sub', 'x.gmemlab.json')), 'FORBIDDEN_PATH');
    const [entry] = await store.list();
    expect(entry).toMatchObject({ fileName: 'link.gmemlab.json', name: null });
    expect(entry?.problem).toContain('outside the workspace');

    const after = await snapshot(target);
    expect(after.bytes.equals(before.bytes)).toBe(true);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(await readdir(outside)).toEqual(['x.gmemlab.json']);
  });

  it('refuses names other than *.gmemlab.json, also behind a symlink', async () => {
    const store = await makeStore();
    await writeFile(join(ws, 'notes.json'), canonical(validDoc()));
    await writeFile(join(ws, 'secret.txt'), 'secret');
    await symlink(join(ws, 'secret.txt'), join(ws, 'alias.gmemlab.json'));
    for (const p of [
      join(ws, 'notes.json'),
      join(ws, 'secret.txt'),
      join(ws, 'x.gmemlab.json.bak'),
      join(ws, 'alias.gmemlab.json'),
      join(ws, 'nul\0.gmemlab.json'),
      '',
    ]) {
      await expectCode(store.open(p), 'FORBIDDEN_PATH');
      await expectCode(store.save(validDoc(), { path: p }), 'FORBIDDEN_PATH');
    }
    expect(await readFile(join(ws, 'secret.txt'), 'utf8')).toBe('secret');
    expect(() => store.grant(join(outside, 'notes.txt'))).toThrow(ApiError);
  });

  it('grant() allows one path outside the workspace', async () => {
    const store = await makeStore();
    const picked = join(outside, 'picked.gmemlab.json');
    const other = join(outside, 'other.gmemlab.json');
    await writeFile(picked, canonical(validDoc('Picked')));
    await writeFile(other, canonical(validDoc('Other')));
    await expectCode(store.open(picked), 'FORBIDDEN_PATH');

    store.grant(picked);
    expect((await store.open(picked)).experiment['name']).toBe('Picked');
    await store.save(validDoc('Picked, edited'), { path: picked });
    expect(await readFile(picked, 'utf8')).toBe(canonical(validDoc('Picked, edited')));
    await expectCode(store.open(other), 'FORBIDDEN_PATH');

    // A "save as" target that does not exist yet.
    const saveAs = join(outside, 'new.gmemlab.json');
    store.grant(saveAs);
    await store.save(validDoc('New'), { path: saveAs });
    expect(JSON.parse(await readFile(saveAs, 'utf8')).name).toBe('New');

    // A duplicate of a granted file goes to the workspace.
    const dup = await store.duplicate(picked);
    expect(dup.path).toBe(join(ws, 'picked (copy).gmemlab.json'));
  });

  it('follows a symlink inside the workspace to a workspace file', async () => {
    const store = await makeStore();
    const { path } = await store.save(validDoc('Real'), { fileName: 'real' });
    const link = join(ws, 'alias.gmemlab.json');
    await symlink(path, link);
    expect((await store.open(link)).experiment['name']).toBe('Real');
    await store.save(validDoc('Through the link'), { path: link });
    expect(JSON.parse(await readFile(path, 'utf8')).name).toBe('Through the link');
  });
});

describe('import, duplicate, rename, delete', () => {
  it('imports text as a new file with a unique name', async () => {
    const store = await makeStore();
    const text = JSON.stringify(validDoc('Imported'));
    const first = await store.importText('from-browser.gmemlab.json', text);
    const second = await store.importText('from-browser.gmemlab.json', text);
    const third = await store.importText('from-browser.json', text);
    expect([first.path, second.path, third.path]).toEqual([
      join(ws, 'from-browser.gmemlab.json'),
      join(ws, 'from-browser (2).gmemlab.json'),
      join(ws, 'from-browser (3).gmemlab.json'),
    ]);
    expect(first.experiment['name']).toBe('Imported');
    expect(await readFile(second.path, 'utf8')).toBe(canonical(validDoc('Imported')));

    const err = await expectCode(
      store.importText('broken.gmemlab.json', text.slice(0, 50)),
      'INVALID_EXPERIMENT',
    );
    expect(err.message).toContain('broken.gmemlab.json: not valid JSON');
    await expectCode(
      store.importText(
        'future.gmemlab.json',
        JSON.stringify({ ...validDoc(), version: FORMAT_VERSION + 1 }),
      ),
      'NEWER_VERSION',
    );
    const small = await makeStore({ maxBytes: 100 });
    await expectCode(small.importText('big.gmemlab.json', text), 'TOO_LARGE');
    expect((await readdir(ws)).sort()).toEqual([
      'from-browser (2).gmemlab.json',
      'from-browser (3).gmemlab.json',
      'from-browser.gmemlab.json',
    ]);
  });

  it('duplicates a file as "name (copy)"', async () => {
    const store = await makeStore();
    const { path } = await store.save(validDoc('Base'), { fileName: 'base' });
    const one = await store.duplicate(path);
    const two = await store.duplicate(path);
    expect(one.path).toBe(join(ws, 'base (copy).gmemlab.json'));
    expect(two.path).toBe(join(ws, 'base (copy 2).gmemlab.json'));
    expect(JSON.parse(await readFile(one.path, 'utf8')).name).toBe('Base (copy)');
    expect(JSON.parse(await readFile(path, 'utf8')).name).toBe('Base');
    const long = await store.save(validDoc('L'.repeat(120)), { fileName: 'long' });
    const longCopy = await store.duplicate(long.path);
    const name = JSON.parse(await readFile(longCopy.path, 'utf8')).name as string;
    expect(name.length).toBe(120);
    expect(name.endsWith(' (copy)')).toBe(true);
  });

  it('renames the file and the experiment, never over another file', async () => {
    const store = await makeStore();
    const { path } = await store.save(validDoc('Draft'), { fileName: 'draft' });
    const taken = await store.save(validDoc('Taken'), { fileName: 'taken' });
    const renamed = await store.rename(path, 'Final: HugeTLB');
    expect(renamed.path).toBe(join(ws, 'Final HugeTLB.gmemlab.json'));
    expect(JSON.parse(await readFile(renamed.path, 'utf8')).name).toBe('Final: HugeTLB');
    await expect(stat(path)).rejects.toThrow(/ENOENT/);
    expect((await readdir(ws)).sort()).toEqual([
      'Final HugeTLB.gmemlab.json',
      'taken.gmemlab.json',
    ]);
    expect(store.recent()[0]).toBe(renamed.path);
    expect(store.recent()).not.toContain(path);

    const before = await snapshot(taken.path);
    const mine = await snapshot(renamed.path);
    const err = await expectCode(store.rename(renamed.path, 'taken'), 'CONFLICT');
    expect(err.message).toContain('taken.gmemlab.json already exists');
    expect((await snapshot(taken.path)).bytes.equals(before.bytes)).toBe(true);
    expect((await snapshot(renamed.path)).bytes.equals(mine.bytes)).toBe(true);

    // Same file name: only the experiment's name changes.
    const same = await store.rename(taken.path, 'taken');
    expect(same.path).toBe(taken.path);
    await expectCode(store.rename(taken.path, 'x'.repeat(121)), 'INVALID_EXPERIMENT');
    await expectCode(store.rename(taken.path, '   '), 'BAD_REQUEST');
  });

  it('moves a file to the trash (freedesktop.org home trash by default)', async () => {
    const store = await makeStore();
    const { path } = await store.save(validDoc('Doomed'), { fileName: 'doomed' });
    const text = await readFile(path, 'utf8');
    expect(store.recent()).toEqual([path]);
    expect(await store.delete(path)).toEqual({ trashed: true });
    expect(await readdir(ws)).toEqual([]);
    expect(await readFile(join(trashHome, 'Trash', 'files', 'doomed.gmemlab.json'), 'utf8')).toBe(
      text,
    );
    const info = await readFile(
      join(trashHome, 'Trash', 'info', 'doomed.gmemlab.json.trashinfo'),
      'utf8',
    );
    expect(info).toContain(`Path=${path.split('/').map(encodeURIComponent).join('/')}`);
    expect(store.recent()).toEqual([]);
    await expectCode(store.delete(path), 'NOT_FOUND');
  });

  it('uses the trashItem it is given, and keeps the file when trashing fails', async () => {
    const trashed: string[] = [];
    const store = await makeStore({
      trashItem: async (p) => {
        trashed.push(p);
        await unlink(p);
      },
    });
    const { path } = await store.save(validDoc('A'), { fileName: 'a' });
    await store.delete(path);
    expect(trashed).toEqual([path]);

    const failing = await makeStore({
      trashItem: async () => {
        throw new Error('no trash here');
      },
    });
    const b = await failing.save(validDoc('B'), { fileName: 'b' });
    const err = await expectCode(failing.delete(b.path), 'IO_ERROR');
    expect(err.message).toContain('no trash here');
    expect((await stat(b.path)).isFile()).toBe(true);
  });
});

describe('recent files', () => {
  it('are most recent first, without duplicates, bounded', async () => {
    const store = await makeStore({ recentLimit: 3 });
    const paths: string[] = [];
    for (const n of ['a', 'b', 'c', 'd'])
      paths.push((await store.save(validDoc(n), { fileName: n })).path);
    const [a, b, c, d] = paths as [string, string, string, string];
    expect(store.recent()).toEqual([d, c, b]);
    await store.open(b);
    expect(store.recent()).toEqual([b, d, c]);
    await store.open(a);
    expect(store.recent()).toEqual([a, b, d]);
  });

  it('persist through the settings store, and stay openable outside the workspace', async () => {
    const configDir = join(root, 'config');
    const settings = await SettingsStore.create(configDir, { workspaceDir: ws });
    const store = await makeStore({ settings });
    const picked = join(outside, 'picked.gmemlab.json');
    await writeFile(picked, canonical(validDoc('Picked')));
    store.grant(picked);
    await store.open(picked);
    const { path } = await store.save(validDoc('Local'), { fileName: 'local' });
    expect(store.recent()).toEqual([path, picked]);

    const settings2 = await SettingsStore.create(configDir, { workspaceDir: ws });
    expect(settings2.get().recentFiles).toEqual([path, picked]);
    const store2 = await makeStore({ settings: settings2 });
    expect(store2.recent()).toEqual([path, picked]);
    expect((await store2.open(picked)).experiment['name']).toBe('Picked');
  });
});

/** Records what `store.watch` reports; `until` resolves on the first report that names `path`
 * (one already recorded counts), so tests wait on the change event itself, never on a clock. */
function watchReports(store: ExperimentStore) {
  const calls: string[][] = [];
  const waiters: Array<{ path: string; resolve: (paths: string[]) => void }> = [];
  const stop = store.watch((paths) => {
    calls.push(paths);
    for (const w of [...waiters])
      if (paths.includes(w.path)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(paths);
      }
  });
  function until(path: string, from = 0): Promise<string[]> {
    const seen = calls.slice(from).find((paths) => paths.includes(path));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => waiters.push({ path, resolve }));
  }
  return { calls, until, stop };
}

describe('watch', () => {
  it('reports files other programs add, change and remove within a second', async () => {
    const store = await makeStore();
    const { path } = await store.save(validDoc('Mine'), { fileName: 'mine' });
    const watched = watchReports(store);
    try {
      const added = join(ws, 'added.gmemlab.json');
      const t0 = Date.now();
      await writeFile(added, canonical(validDoc('Added')));
      expect(await watched.until(added)).toEqual([added]);
      expect(Date.now() - t0).toBeLessThan(1000);

      let from = watched.calls.length;
      await writeFile(path, canonical(validDoc('Changed elsewhere')));
      expect(await watched.until(path, from)).toEqual([path]);

      from = watched.calls.length;
      await unlink(added);
      expect(await watched.until(added, from)).toEqual([added]);
    } finally {
      watched.stop();
    }
  });

  it('does not report our own writes, temp files or other files; stops when unsubscribed', async () => {
    const store = await makeStore();
    const watched = watchReports(store);
    const { path } = await store.save(validDoc('Mine'), { fileName: 'mine' });
    await store.save(validDoc('Mine again'), { path });
    const dup = await store.duplicate(path);
    const renamed = await store.rename(dup.path, 'renamed');
    await store.delete(renamed.path);
    await store.importText('imported.json', canonical(validDoc('Imported')));
    await writeFile(join(ws, '.other.gmemlab.json.tmp-1-0123456789ab'), 'x');
    await writeFile(join(ws, 'notes.txt'), 'x');
    // An outside change after all of those: once it is reported and the watcher has settled,
    // the events of everything before it have been seen too (a folder's events come in order).
    const marker = join(ws, 'marker.gmemlab.json');
    await writeFile(marker, canonical(validDoc('Marker')));
    await watched.until(marker);
    await store.watchSettled();
    expect(watched.calls).toEqual([[marker]]);

    // Still watching: an outside write right after one of ours is reported (and nothing else).
    const from = watched.calls.length;
    await store.save(validDoc('Mine 3'), { path });
    await writeFile(path, canonical(validDoc('Theirs')));
    await watched.until(path, from);
    await store.watchSettled();
    const after = watched.calls.slice(from);
    expect(after.length).toBeGreaterThan(0);
    for (const paths of after) expect(paths).toEqual([path]);

    // Unsubscribed: a second subscriber sees the next change, the first one does not.
    watched.stop();
    const reported = watched.calls.length;
    const other = watchReports(store);
    try {
      const late = join(ws, 'late.gmemlab.json');
      await writeFile(late, canonical(validDoc('Late')));
      await other.until(late);
      await store.watchSettled();
      expect(watched.calls.length).toBe(reported);
    } finally {
      other.stop();
    }
  });
});

describe('setWorkspace', () => {
  it('switches folder (created), persists it and moves the watchers', async () => {
    const configDir = join(root, 'config');
    const settings = await SettingsStore.create(configDir, { workspaceDir: ws });
    const store = await makeStore({ settings });
    await store.save(validDoc('Old'), { fileName: 'old' });
    const watched = watchReports(store);
    const next = join(root, 'next', 'workspace');
    await store.setWorkspace(next);
    expect(store.workspaceDir).toBe(next);
    expect((await stat(next)).isDirectory()).toBe(true);
    expect(settings.get().workspaceDir).toBe(next);
    expect(await store.list()).toEqual([]);
    const { path } = await store.save(validDoc('New'), { fileName: 'new' });
    expect(path).toBe(join(next, 'new.gmemlab.json'));
    // The old workspace is no longer inside (files opened or saved there stay in the recent list,
    // which keeps them openable).
    await writeFile(join(ws, 'unopened.gmemlab.json'), canonical(validDoc('Unopened')));
    await expectCode(store.open(join(ws, 'unopened.gmemlab.json')), 'FORBIDDEN_PATH');
    expect((await store.open(join(ws, 'old.gmemlab.json'))).experiment['name']).toBe('Old');

    // The old folder's change comes first: by the time the new folder's is reported and the
    // watcher has settled, a report of the old one would have come too.
    await writeFile(join(ws, 'ignored.gmemlab.json'), canonical(validDoc('Old folder')));
    const seen = join(next, 'seen.gmemlab.json');
    await writeFile(seen, canonical(validDoc('New folder')));
    await watched.until(seen);
    await store.watchSettled();
    watched.stop();
    expect(watched.calls).toEqual([[seen]]);
    await expectCode(store.setWorkspace(''), 'BAD_REQUEST');
  });
});
