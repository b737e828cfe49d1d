// The library, the presets and the open document: opening, validation, unsaved changes and
// saving, against the fake of the contract's client. The results a document carries are another
// store's (runs.svelte.ts): here a port that records what it is handed stands in for it.
import { describe, expect, it } from 'vitest';
import { ApiError, type OpenedExperiment } from '@contract/api';
import preset from '../../../../resources/presets/merge-policies.gmemlab.json';
import type { SavedResults } from '../../../../core/metrics/result';
import { Connection } from './connection.svelte';
import { ExperimentsState, type Doc, type SavedResultsPort, type View } from './experiments.svelte';
import { fakeApi, fakeInfo } from './fake-api';
import { Notices } from './notices.svelte';

function opened(path: string, extra: Doc = {}): OpenedExperiment {
  return {
    path,
    experiment: { ...structuredClone(preset), ...extra } as Doc,
    modifiedMs: 1,
    configHash: 'x',
  };
}

const entry = (fileName: string) => ({
  path: `/w/${fileName}`,
  fileName,
  name: fileName,
  modifiedMs: 1,
  variants: [],
  results: 'none' as const,
});

function setup(
  answers: Parameters<typeof fakeApi>[0] = {},
  options: { nativeDialogs?: boolean; toSave?: ReturnType<SavedResultsPort['toSave']> } = {},
) {
  const fake = fakeApi(answers);
  const connection = new Connection();
  connection.api = fake.api;
  connection.info = fakeInfo({ nativeDialogs: options.nativeDialogs ?? false });
  const notices = new Notices();
  const restored: Doc[] = [];
  const shown: View[] = [];
  const port: SavedResultsPort = {
    restore: (doc) => void restored.push(doc),
    toSave: () => options.toSave ?? 'keep',
  };
  const experiments = new ExperimentsState(connection, notices, port, (v) => void shown.push(v));
  return { fake, notices, experiments, restored, shown };
}

describe('ExperimentsState', () => {
  it('lists the presets and the workspace, and lists it again when the workspace changes', async () => {
    let files = [entry('a.gmemlab.json')];
    const { fake, experiments } = setup({
      'presets.list': () => [
        { id: 'merge-policies', name: 'Merge policies', notes: '', variants: [] },
      ],
      'experiments.list': () => files,
    });
    await experiments.loadPresets();
    await experiments.refreshLibrary();
    expect(experiments.presets.map((p) => p.id)).toEqual(['merge-policies']);
    expect(experiments.library.map((e) => e.fileName)).toEqual(['a.gmemlab.json']);
    const stop = experiments.listen(fake.api);
    files = [entry('a.gmemlab.json'), entry('b.gmemlab.json')];
    fake.emit('store.changed', { paths: ['/w/b.gmemlab.json'] });
    await expect.poll(() => experiments.library.length).toBe(2);
    for (const s of stop) s();
    expect(fake.listeners('store.changed')).toBe(0);
  });

  it('says when the workspace cannot be listed', async () => {
    const { experiments, notices } = setup({
      'experiments.list': () => {
        throw new ApiError('IO_ERROR', 'EACCES: permission denied');
      },
    });
    await experiments.refreshLibrary();
    expect(notices.banner).toMatchObject({ title: 'Could not list the workspace' });
  });

  it('opens a preset with no file and nothing unsaved; an edit is unsaved, a wrong one a problem', async () => {
    const { experiments, restored, shown, notices } = setup({
      'presets.load': () => opened('preset:merge-policies'),
    });
    notices.error('Earlier', 'something');
    await experiments.openPreset('merge-policies');
    expect(shown).toEqual(['setup']);
    expect(experiments.path).toBeNull();
    expect(experiments.dirty).toBe(false);
    expect(notices.banner).toBeNull();
    expect(restored).toHaveLength(1);
    expect(experiments.validation.ok).toBe(true);
    const hash = experiments.validation.hash;
    expect(hash).toMatch(/./);

    experiments.doc!['notes'] = 'changed';
    expect(experiments.dirty).toBe(true);
    expect(experiments.validation.hash).toBe(hash);
    (experiments.doc!['guest'] as Doc)['vcpus'] = 0;
    expect(experiments.validation.ok).toBe(false);
    expect(experiments.validation.problems.map((p) => p.path)).toContain('guest.vcpus');
  });

  it('says which file could not be opened, and stays where it was', async () => {
    const { experiments, shown, notices } = setup({
      'experiments.open': () => {
        throw new ApiError('NOT_FOUND', 'no such file');
      },
    });
    await experiments.openPath('/w/dir/b.gmemlab.json');
    expect(notices.banner).toMatchObject({
      title: 'Could not open b.gmemlab.json',
      message: 'no such file',
    });
    expect(shown).toEqual([]);
    expect(experiments.doc).toBeNull();
  });

  it('says when a file of an older format was migrated as it was read', async () => {
    const { notices, experiments } = setup({
      'experiments.open': () => ({ ...opened('/w/old.gmemlab.json'), migratedFrom: 1 }),
    });
    await experiments.openPath('/w/old.gmemlab.json');
    expect(notices.banner?.kind).toBe('info');
    expect(notices.banner?.message).toMatch(/old\.gmemlab\.json is format version 1/);
    expect(notices.banner?.message).toMatch(/Save as/);
    // A file of today's format opens without a word.
    const plain = setup({ 'experiments.open': () => opened('/w/new.gmemlab.json') });
    await plain.experiments.openPath('/w/new.gmemlab.json');
    expect(plain.notices.banner).toBeNull();
  });

  it('saves a new document under its name, then to its file, with nothing left unsaved', async () => {
    const { fake, experiments } = setup({
      'experiments.save': (args) => ({
        path: (args['path'] as string | undefined) ?? '/w/merge-policies.gmemlab.json',
        modifiedMs: 2,
      }),
    });
    experiments.load(opened('preset:merge-policies'), true);
    experiments.doc!['notes'] = 'mine';
    expect(await experiments.save()).toBe(true);
    expect(fake.argsOf('experiments.save')[0]).toMatchObject({ fileName: preset.name });
    expect(experiments.path).toBe('/w/merge-policies.gmemlab.json');
    expect(experiments.dirty).toBe(false);
    expect(fake.calls.at(-1)![0]).toBe('experiments.list');

    experiments.doc!['notes'] = 'mine again';
    expect(await experiments.save()).toBe(true);
    expect(fake.argsOf('experiments.save')[1]).toMatchObject({
      path: '/w/merge-policies.gmemlab.json',
      experiment: { notes: 'mine again' },
    });
  });

  it('writes the results the runs store gives, drops the ones of another configuration', async () => {
    const results: SavedResults = {
      engineVersion: 't',
      configHash: 'h',
      createdAt: '2026-01-01T00:00:00.000Z',
      variants: [{ name: 'eager', summary: { host_total_bytes: 1 } }],
    };
    const earlier = { ...results, createdAt: '2025-01-01T00:00:00.000Z' };
    const written = async (toSave: ReturnType<SavedResultsPort['toSave']>) => {
      const { fake, experiments } = setup({}, { toSave });
      experiments.load(opened('/w/a.gmemlab.json', { results: earlier }));
      await experiments.save();
      return fake.argsOf('experiments.save')[0]!.experiment as Doc;
    };
    expect((await written(results))['results']).toEqual(results);
    expect(await written('drop')).not.toHaveProperty('results');
    expect((await written('keep'))['results']).toEqual(earlier);
  });

  it('refuses to save an experiment with problems, and says which', async () => {
    const { fake, experiments, notices } = setup();
    experiments.load(opened('/w/a.gmemlab.json'));
    (experiments.doc!['guest'] as Doc)['vcpus'] = 0;
    expect(await experiments.save()).toBe(false);
    expect(fake.calls).toEqual([]);
    expect(notices.banner?.title).toBe('Not saved: the experiment has problems');
    expect(notices.banner?.message).toMatch(/^guest\.vcpus: /);
  });

  it('saves as a new workspace file in a browser, through the save dialog on the desktop', async () => {
    const browser = setup();
    browser.experiments.load(opened('/w/a.gmemlab.json'));
    await browser.experiments.saveAs();
    expect(browser.fake.argsOf('experiments.save')[0]).toMatchObject({ fileName: preset.name });
    expect(browser.fake.argsOf('experiments.save')[0]).not.toHaveProperty('path');

    let answer: { path: string; modifiedMs: number } | null = null;
    const desktop = setup({ 'experiments.saveAs': () => answer }, { nativeDialogs: true });
    desktop.experiments.load(opened('/w/a.gmemlab.json'));
    desktop.experiments.doc!['notes'] = 'mine';
    await desktop.experiments.saveAs();
    // Cancelled: the same file, still unsaved.
    expect(desktop.fake.argsOf('experiments.saveAs')[0]).toMatchObject({
      suggestedName: preset.name,
    });
    expect(desktop.experiments.path).toBe('/w/a.gmemlab.json');
    expect(desktop.experiments.dirty).toBe(true);
    answer = { path: '/x/b.gmemlab.json', modifiedMs: 3 };
    await desktop.experiments.saveAs();
    expect(desktop.experiments.path).toBe('/x/b.gmemlab.json');
    expect(desktop.experiments.dirty).toBe(false);
  });

  it('opens a file picked in the browser through the workspace, and lists it', async () => {
    const { fake, experiments, shown } = setup({
      'experiments.import': (args) => opened(`/w/${args['fileName'] as string}`),
    });
    await experiments.importFile('mine.gmemlab.json', JSON.stringify(preset));
    expect(fake.argsOf('experiments.import')).toEqual([
      { fileName: 'mine.gmemlab.json', text: JSON.stringify(preset) },
    ]);
    expect(experiments.path).toBe('/w/mine.gmemlab.json');
    expect(shown).toEqual(['setup']);
    expect(fake.calls.map(([m]) => m)).toContain('experiments.list');
  });

  it('renames, duplicates and trashes workspace files, and lists the workspace after each, failed or not', async () => {
    const { fake, experiments, notices } = setup({
      'experiments.delete': () => {
        throw new ApiError('IO_ERROR', 'the trash is not available');
      },
    });
    await experiments.rename('/w/a.gmemlab.json', 'b');
    await experiments.duplicate('/w/a.gmemlab.json');
    await experiments.trash('/w/a.gmemlab.json');
    expect(fake.calls.map(([m]) => m)).toEqual([
      'experiments.rename',
      'experiments.list',
      'experiments.duplicate',
      'experiments.list',
      'experiments.delete',
      'experiments.list',
    ]);
    expect(fake.argsOf('experiments.rename')).toEqual([{ path: '/w/a.gmemlab.json', name: 'b' }]);
    expect(notices.banner).toMatchObject({
      title: 'Could not delete',
      message: 'the trash is not available',
    });
  });
});
