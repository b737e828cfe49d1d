// What the workbench tells the desktop app about its open document (app.setDocumentState): its
// name for the window title, and whether it has unsaved changes (the workbench's own `dirty`: a
// preset as opened has none), for the title's marker and the question before closing.
import type { DocumentState } from '@contract/api';
import type { Workbench } from './state/workbench.svelte';

/** The document's name: the file's name, else the experiment's name. */
export function documentTitle(wb: Workbench): string {
  if (!wb.doc) return '';
  if (wb.path) return wb.path.split(/[\\/]/).pop() ?? wb.path;
  return String(wb.doc['name'] ?? '').trim() || 'untitled';
}

export class DocumentReporter {
  private lastSent = '';

  constructor(private readonly wb: Workbench) {}

  state(): DocumentState {
    return { dirty: this.wb.dirty, title: documentTitle(this.wb) };
  }

  /** Report now, changed or not (the answer to 'save-then-close'). */
  async sendNow(): Promise<void> {
    const api = this.wb.api;
    if (!api) return;
    const state = this.state();
    this.lastSent = JSON.stringify(state);
    await api.call('app.setDocumentState', state);
  }

  /** Report the state whenever it changes, starting now; returns the stop function. */
  start(): () => void {
    return $effect.root(() => {
      $effect(() => {
        const api = this.wb.api;
        if (!api) return;
        const state = this.state();
        const key = JSON.stringify(state);
        if (key === this.lastSent) return;
        this.lastSent = key;
        api.call('app.setDocumentState', state).catch(() => {
          // The next change reports again; a lost report only delays the title.
          this.lastSent = '';
        });
      });
    });
  }
}
