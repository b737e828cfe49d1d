// Native open and save dialogs of the desktop app (NativeDialogs of the workbench), over
// Electron's dialog module passed in, so they are tested without Electron. They only ask the
// user for a path; the workbench then grants it to the store and reads or writes through it.
import type { BrowserWindow, Dialog, FileFilter } from 'electron';
import { join } from 'node:path';
import type { ExportKind, NativeDialogs } from './services/workbench.js';

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
