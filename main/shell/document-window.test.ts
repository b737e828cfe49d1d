// The window title and the question before closing with unsaved changes, with a fake window.
import { describe, expect, it } from 'vitest';
import { CloseGuard, windowTitle, type SaveChoice } from './document-window.js';

describe('windowTitle', () => {
  it('shows the document name, a marker for unsaved changes, and the app', () => {
    expect(windowTitle(null)).toBe('gmem-lab');
    expect(windowTitle({ dirty: false, title: 'a.gmemlab.json' })).toBe(
      'a.gmemlab.json — gmem-lab',
    );
    expect(windowTitle({ dirty: true, title: 'a.gmemlab.json' })).toBe(
      '● a.gmemlab.json — gmem-lab',
    );
    expect(windowTitle({ dirty: false, title: '' })).toBe('gmem-lab');
    expect(windowTitle({ dirty: true, title: ' \n ' })).toBe('● gmem-lab');
    expect(windowTitle({ dirty: false, title: 'two\nlines' })).toBe('two lines — gmem-lab');
  });
});

function fakeWindow(answers: SaveChoice[] = []) {
  const log: string[] = [];
  let resolveAsk: ((c: SaveChoice) => void) | null = null;
  const window = {
    askToSave: (title: string) => {
      log.push(`ask ${title}`);
      const next = answers.shift();
      if (next) return Promise.resolve(next);
      return new Promise<SaveChoice>((r) => (resolveAsk = r));
    },
    requestSave: () => log.push('save'),
    close: () => log.push('close'),
    showState: (s: { dirty: boolean; title: string }) =>
      log.push(`state ${s.dirty ? 'dirty' : 'clean'}`),
  };
  return { window, log, answer: (c: SaveChoice) => resolveAsk?.(c) };
}

function closeEvent() {
  const e = { prevented: false, preventDefault: () => (e.prevented = true) };
  return e;
}

/** Let the answers' promise continuations run (all are queued before the next macrotask: the
 * fake window answers with resolved promises, no I/O, no timer). */
const tick = () => new Promise((r) => setImmediate(r));

describe('CloseGuard', () => {
  it('lets a window close without asking when there is nothing to save, or no report yet', () => {
    const { window, log } = fakeWindow();
    const first = new CloseGuard(window);
    const e1 = closeEvent();
    first.onClose(e1);
    expect(e1.prevented).toBe(false);
    expect(first.closing).toBe(true);

    const clean = new CloseGuard(window);
    clean.onDocumentState({ dirty: false, title: 'a' });
    const e2 = closeEvent();
    clean.onClose(e2);
    expect(e2.prevented).toBe(false);
    expect(log).toEqual(['state clean']);
  });

  it('Discard closes; the close that follows is let through', async () => {
    const { window, log } = fakeWindow(['discard']);
    const guard = new CloseGuard(window);
    guard.onDocumentState({ dirty: true, title: 'a.gmemlab.json' });
    const e = closeEvent();
    guard.onClose(e);
    expect(e.prevented).toBe(true);
    await tick();
    expect(log).toEqual(['state dirty', 'ask a.gmemlab.json', 'close']);
    expect(guard.closing).toBe(true);
    const again = closeEvent();
    guard.onClose(again);
    expect(again.prevented).toBe(false);
  });

  it('Cancel keeps the window and asks again next time', async () => {
    const { window, log } = fakeWindow(['cancel', 'cancel']);
    const guard = new CloseGuard(window);
    guard.onDocumentState({ dirty: true, title: 'a' });
    guard.onClose(closeEvent());
    await tick();
    const e = closeEvent();
    guard.onClose(e);
    expect(e.prevented).toBe(true);
    await tick();
    expect(log).toEqual(['state dirty', 'ask a', 'ask a']);
    expect(guard.closing).toBe(false);
  });

  it('Save asks the workbench to save and closes once it reports no unsaved changes', async () => {
    const { window, log } = fakeWindow(['save']);
    const guard = new CloseGuard(window);
    guard.onDocumentState({ dirty: true, title: 'a' });
    guard.onClose(closeEvent());
    await tick();
    expect(log).toEqual(['state dirty', 'ask a', 'save']);
    guard.onDocumentState({ dirty: false, title: 'a' });
    expect(log).toEqual(['state dirty', 'ask a', 'save', 'state clean', 'close']);
    expect(guard.closing).toBe(true);
  });

  it('a save that fails (still unsaved changes) keeps the window open', async () => {
    const { window, log } = fakeWindow(['save']);
    const guard = new CloseGuard(window);
    guard.onDocumentState({ dirty: true, title: 'a' });
    guard.onClose(closeEvent());
    await tick();
    guard.onDocumentState({ dirty: true, title: 'a' });
    // A later clean report (the user saved by hand) does not close the window by itself.
    guard.onDocumentState({ dirty: false, title: 'a' });
    expect(log).toEqual(['state dirty', 'ask a', 'save', 'state dirty', 'state clean']);
    expect(guard.closing).toBe(false);
  });

  it('ignores a close while asking, and asks again when the workbench never answers a save', async () => {
    const { window, log, answer } = fakeWindow();
    const guard = new CloseGuard(window);
    guard.onDocumentState({ dirty: true, title: 'a' });
    guard.onClose(closeEvent());
    const meanwhile = closeEvent();
    guard.onClose(meanwhile);
    expect(meanwhile.prevented).toBe(true);
    expect(log).toEqual(['state dirty', 'ask a']);
    answer('save');
    await tick();
    expect(log).toEqual(['state dirty', 'ask a', 'save']);
    // No answer from the page; the user closes again and can discard.
    guard.onClose(closeEvent());
    expect(log).toEqual(['state dirty', 'ask a', 'save', 'ask a']);
    answer('discard');
    await tick();
    expect(log.at(-1)).toBe('close');
  });

  it('a failing dialog counts as Cancel', async () => {
    const log: string[] = [];
    const guard = new CloseGuard({
      askToSave: () => Promise.reject(new Error('no dialog')),
      requestSave: () => log.push('save'),
      close: () => log.push('close'),
    });
    guard.onDocumentState({ dirty: true, title: 'a' });
    guard.onClose(closeEvent());
    await tick();
    expect(log).toEqual([]);
    expect(guard.closing).toBe(false);
  });
});
