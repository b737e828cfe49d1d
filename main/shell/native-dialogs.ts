// Native dialogs of the desktop app, over Electron's dialog module passed in, so they are tested
// without Electron: open and save (NativeDialogs of the workbench; they only ask the user for a
// path, the workbench then grants it to the store and reads or writes through it), the question
// before closing with unsaved changes, and the message for a file that is not an experiment.
import type { BrowserWindow, Dialog, FileFilter } from 'electron';
import { basename, join } from 'node:path';
import type { SaveChoice } from './document-window.js';
import type { ExportKind, NativeDialogs } from '../services/workbench.js';

const EXPERIMENT_SUFFIX = '.gmemlab.json';

// Electron's filters take single extensions: '.gmemlab.json' files are offered as '.json'.
const EXPERIMENT_FILTERS: FileFilter[] = [
  { name: 'gmem-lab experiments (*.gmemlab.json)', extensions: ['json'] },
];

const EXPORT_FILTERS: Record<ExportKind, FileFilter> = {
  png: { name: 'PNG image', extensions: ['png'] },
  svg: { name: 'SVG image', extensions: ['svg'] },
  csv: { name: 'CSV table', extensions: ['csv'] },
  json: { name: 'JSON', extensions: ['json'] },
  jsonl: { name: 'JSON lines (event log)', extensions: ['jsonl'] },
  txt: { name: 'Plain text', extensions: ['txt'] },
  zip: { name: 'ZIP archive', extensions: ['zip'] },
};

export function createNativeDialogs(
  dialog: Pick<Dialog, 'showOpenDialog' | 'showSaveDialog'>,
  /** The window the dialogs belong to (modal to it); null when there is none. */
  parentWindow: () => BrowserWindow | null,
  /** Folder the dialogs start in: the workspace. */
  startDir: () => string,
): NativeDialogs {
  const open = (options: Electron.OpenDialogOptions) => {
    const parent = parentWindow();
    return parent ? dialog.showOpenDialog(parent, options) : dialog.showOpenDialog(options);
  };
  const save = (options: Electron.SaveDialogOptions) => {
    const parent = parentWindow();
    return parent ? dialog.showSaveDialog(parent, options) : dialog.showSaveDialog(options);
  };
  return {
    async openExperiment() {
      const r = await open({
        title: 'Open experiment',
        defaultPath: startDir(),
        filters: EXPERIMENT_FILTERS,
        properties: ['openFile'],
      });
      return r.canceled ? null : (r.filePaths[0] ?? null);
    },
    async saveExperiment(suggestedName) {
      const r = await save({
        title: 'Save experiment as',
        defaultPath: join(startDir(), withExperimentSuffix(suggestedName)),
        filters: EXPERIMENT_FILTERS,
        properties: ['showOverwriteConfirmation', 'createDirectory'],
      });
      return r.canceled || !r.filePath ? null : withExperimentSuffix(r.filePath);
    },
    async saveFile(suggestedName, kind) {
      const r = await save({
        title: 'Export',
        defaultPath: join(startDir(), suggestedName),
        filters: [EXPORT_FILTERS[kind]],
        properties: ['showOverwriteConfirmation', 'createDirectory'],
      });
      return r.canceled || !r.filePath ? null : r.filePath;
    },
  };
}

/** Experiment files are `*.gmemlab.json`: `a` and `a.json` become `a.gmemlab.json`. */
export function withExperimentSuffix(path: string): string {
  if (path.endsWith(EXPERIMENT_SUFFIX)) return path;
  return `${path.replace(/\.json$/i, '')}${EXPERIMENT_SUFFIX}`;
}

/** The question before closing a window with unsaved changes: Save, Discard or Cancel (Escape
 * and closing the box cancel). */
export function createSavePrompt(
  dialog: Pick<Dialog, 'showMessageBox'>,
  parentWindow: () => BrowserWindow | null,
): (title: string) => Promise<SaveChoice> {
  return async (title) => {
    const options: Electron.MessageBoxOptions = {
      type: 'warning',
      buttons: ['Save', 'Discard', 'Cancel'],
      defaultId: 0,
      cancelId: 2,
      noLink: true,
      title: 'Unsaved changes',
      message: `Save the changes to ${title}?`,
      detail: 'Your changes are lost if you close without saving them.',
    };
    const parent = parentWindow();
    const { response } = parent
      ? await dialog.showMessageBox(parent, options)
      : await dialog.showMessageBox(options);
    return response === 0 ? 'save' : response === 1 ? 'discard' : 'cancel';
  };
}

/** Tell the user a file the system handed over is not an experiment file. */
export async function showNotAnExperiment(
  dialog: Pick<Dialog, 'showMessageBox'>,
  parent: BrowserWindow | null,
  path: string,
): Promise<void> {
  const options: Electron.MessageBoxOptions = {
    type: 'info',
    buttons: ['OK'],
    title: 'Not an experiment file',
    message: `${basename(path)} is not a gmem-lab experiment file`,
    detail: `gmem-lab opens experiment files named *${EXPERIMENT_SUFFIX}.\n${path}`,
  };
  if (parent) await dialog.showMessageBox(parent, options);
  else await dialog.showMessageBox(options);
}
