import { describe, expect, it } from 'vitest';
import type { BrowserWindow, Dialog } from 'electron';
import {
  createNativeDialogs,
  createSavePrompt,
  showNotAnExperiment,
  withExperimentSuffix,
} from './native-dialogs.js';

function fakeDialog(answer: { canceled: boolean; filePath?: string; filePaths?: string[] }) {
  const calls: unknown[][] = [];
  const dialog = {
    showOpenDialog: async (...args: unknown[]) => {
      calls.push(args);
      return { canceled: answer.canceled, filePaths: answer.filePaths ?? [] };
    },
    showSaveDialog: async (...args: unknown[]) => {
      calls.push(args);
      return { canceled: answer.canceled, filePath: answer.filePath ?? '' };
    },
  } as unknown as Pick<Dialog, 'showOpenDialog' | 'showSaveDialog'>;
  return { dialog, calls };
}

const win = { id: 1 } as unknown as BrowserWindow;

describe('native dialogs', () => {
  it('open: the chosen file, or null when cancelled; modal to the window, from the workspace', async () => {
    const { dialog, calls } = fakeDialog({ canceled: false, filePaths: ['/x/a.gmemlab.json'] });
    const dialogs = createNativeDialogs(
      dialog,
      () => win,
      () => '/w',
    );
    expect(await dialogs.openExperiment()).toBe('/x/a.gmemlab.json');
    expect(calls[0]![0]).toBe(win);
    expect(calls[0]![1]).toMatchObject({ defaultPath: '/w', properties: ['openFile'] });
    const cancelled = createNativeDialogs(
      fakeDialog({ canceled: true }).dialog,
      () => null,
      () => '/w',
    );
    expect(await cancelled.openExperiment()).toBeNull();
  });

  it('save experiment: suggests NAME.gmemlab.json in the workspace and keeps the suffix', async () => {
    const { dialog, calls } = fakeDialog({ canceled: false, filePath: '/x/mine.json' });
    const dialogs = createNativeDialogs(
      dialog,
      () => null,
      () => '/w',
    );
    expect(await dialogs.saveExperiment('Merge study')).toBe('/x/mine.gmemlab.json');
    expect(calls[0]![0]).toMatchObject({ defaultPath: '/w/Merge study.gmemlab.json' });
  });

  it('save export: a filter for the kind, null when cancelled', async () => {
    const { dialog, calls } = fakeDialog({ canceled: false, filePath: '/x/chart.png' });
    const dialogs = createNativeDialogs(
      dialog,
      () => null,
      () => '/w',
    );
    expect(await dialogs.saveFile('chart.png', 'png')).toBe('/x/chart.png');
    expect(calls[0]![0]).toMatchObject({ filters: [{ extensions: ['png'] }] });
    const none = createNativeDialogs(
      fakeDialog({ canceled: true }).dialog,
      () => null,
      () => '/w',
    );
    expect(await none.saveFile('a.csv', 'csv')).toBeNull();
  });

  it('withExperimentSuffix', () => {
    expect(withExperimentSuffix('/a/b')).toBe('/a/b.gmemlab.json');
    expect(withExperimentSuffix('/a/b.JSON')).toBe('/a/b.gmemlab.json');
    expect(withExperimentSuffix('/a/b.gmemlab.json')).toBe('/a/b.gmemlab.json');
  });

  it('save prompt: Save, Discard, Cancel, modal to the window; Escape cancels', async () => {
    const calls: unknown[][] = [];
    let response = 0;
    const dialog = {
      showMessageBox: async (...args: unknown[]) => {
        calls.push(args);
        return { response, checkboxChecked: false };
      },
    } as unknown as Pick<Dialog, 'showMessageBox'>;
    const ask = createSavePrompt(dialog, () => win);
    expect(await ask('a.gmemlab.json')).toBe('save');
    response = 1;
    expect(await ask('a.gmemlab.json')).toBe('discard');
    response = 2;
    expect(await ask('a.gmemlab.json')).toBe('cancel');
    expect(calls[0]![0]).toBe(win);
    expect(calls[0]![1]).toMatchObject({
      buttons: ['Save', 'Discard', 'Cancel'],
      defaultId: 0,
      cancelId: 2,
      message: 'Save the changes to a.gmemlab.json?',
    });
    const noParent = createSavePrompt(dialog, () => null);
    response = 1;
    expect(await noParent('x')).toBe('discard');
    expect(calls.at(-1)![0]).toMatchObject({ buttons: ['Save', 'Discard', 'Cancel'] });
  });

  it('not an experiment: names the file and the suffix gmem-lab opens', async () => {
    const calls: unknown[][] = [];
    const dialog = {
      showMessageBox: async (...args: unknown[]) => {
        calls.push(args);
        return { response: 0, checkboxChecked: false };
      },
    } as unknown as Pick<Dialog, 'showMessageBox'>;
    await showNotAnExperiment(dialog, null, '/x/data.json');
    expect(calls[0]![0]).toMatchObject({
      message: 'data.json is not a gmem-lab experiment file',
      detail: expect.stringContaining('*.gmemlab.json'),
    });
  });
});
