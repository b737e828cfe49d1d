// The workbench window and its document: the title (document name and an unsaved-changes marker)
// and the question before closing a window with unsaved changes. The workbench reports its
// document through app.setDocumentState; the bootstrap feeds the reports and the window's 'close'
// events to a CloseGuard. No Electron here (the window comes in as a few functions), so the whole
// flow is tested without an Electron binary (document-window.test.ts).
import type { DocumentState } from '@contract/api.js';

export const APP_NAME = 'gmem-lab';

/** `● name — gmem-lab` with unsaved changes, `name — gmem-lab` without, `gmem-lab` before the
 * workbench has said anything or when no document is open (an empty title). */
export function windowTitle(state: DocumentState | null): string {
  const title = state?.title.replace(/[\r\n\t]+/g, ' ').trim() ?? '';
  const marker = state?.dirty ? '● ' : '';
  return title ? `${marker}${title} — ${APP_NAME}` : `${marker}${APP_NAME}`;
}

export type SaveChoice = 'save' | 'discard' | 'cancel';

export interface CloseGuardWindow {
  /** Ask "Save / Discard / Cancel" for the document named `title`. */
  askToSave(title: string): Promise<SaveChoice>;
  /** Ask the workbench to save and then report its state ('menu.command' save-then-close). */
  requestSave(): void;
  /** Close the window (its 'close' event comes back here and is let through). */
  close(): void;
  /** The title and unsaved-changes marker changed. */
  showState?(state: DocumentState): void;
}

interface PreventableEvent {
  preventDefault(): void;
}

/**
 * Decides whether the window may close:
 * - no unsaved changes (or no report yet): it closes;
 * - unsaved changes: the close is stopped and the user is asked. Discard closes; Cancel keeps the
 *   window; Save asks the workbench to save, and the window closes when the workbench then reports
 *   no unsaved changes (a report that still has changes, such as a failed save, keeps it open);
 * - a close while the question is open is ignored; a close while waiting for the save asks again,
 *   so a workbench that never answers cannot keep the window open.
 */
export class CloseGuard {
  private state: DocumentState | null = null;
  private allowed = false;
  private asking = false;
  private waitingForSave = false;

  constructor(private readonly window: CloseGuardWindow) {}

  /** The last state the workbench reported for this window. */
  get documentState(): DocumentState | null {
    return this.state;
  }

  /** Whether the window is closing with the user's consent (or had nothing to lose): the
   * page's own beforeunload handler is then overridden. */
  get closing(): boolean {
    return this.allowed;
  }

  /** The window's 'close' event. */
  onClose(event: PreventableEvent): void {
    if (this.allowed) return;
    const state = this.state;
    if (!state || !state.dirty) {
      this.allowed = true;
      return;
    }
    event.preventDefault();
    if (this.asking) return;
    this.waitingForSave = false;
    this.asking = true;
    this.window.askToSave(state.title).then(
      (choice) => this.answered(choice),
      () => this.answered('cancel'),
    );
  }

  /** A report of the workbench (app.setDocumentState). */
  onDocumentState(state: DocumentState): void {
    this.state = state;
    this.window.showState?.(state);
    if (!this.waitingForSave) return;
    this.waitingForSave = false;
    if (!state.dirty) this.closeNow();
  }

  private answered(choice: SaveChoice): void {
    this.asking = false;
    if (choice === 'discard') {
      this.closeNow();
    } else if (choice === 'save') {
      this.waitingForSave = true;
      this.window.requestSave();
    }
  }

  private closeNow(): void {
    this.allowed = true;
    this.window.close();
  }
}
