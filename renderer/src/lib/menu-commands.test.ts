// Menu commands and the document-state reports, against a real Workbench and the fake of the
// contract's client (state/fake-api.ts).
import { flushSync } from 'svelte';
import { describe, expect, it } from 'vitest';
import type { GmemLabApi, OpenedExperiment } from '@contract/api';
import preset from '../../../resources/presets/merge-policies.gmemlab.json';
import { DocumentReporter, documentTitle } from './document-state.svelte';
import { connectDesktop, handleMenuCommand, type MenuCommandDeps } from './menu-commands';
import { fakeApi, fakeInfo } from './state/fake-api';
import { Workbench } from './state/workbench.svelte';

function opened(path: string): OpenedExperiment {
  return {
    path,
    experiment: structuredClone(preset) as Record<string, unknown>,
    modifiedMs: 1,
    configHash: 'x',
  };
}

function workbench(api: GmemLabApi, transport: 'electron' | 'bridge' = 'electron'): Workbench {
  const wb = new Workbench();
  wb.api = api;
  wb.info = fakeInfo({ transport, nativeDialogs: transport === 'electron' });
  return wb;
}

function deps(overrides: Partial<MenuCommandDeps> = {}): MenuCommandDeps & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    confirm: (m) => {
      log.push(`confirm ${m}`);
      return false;
    },
    reportState: async () => {
      log.push('report');
    },
    hasUnsavedChanges: () => false,
    ...overrides,
  };
}

describe('handleMenuCommand', () => {
  it('new shows the library; unknown commands do nothing', async () => {
    const { api, calls } = fakeApi();
    const wb = workbench(api);
    wb.view = 'compare';
    await handleMenuCommand(wb, 'new', {}, deps());
    expect(wb.view).toBe('library');
    await handleMenuCommand(wb, 'launch-rockets', {}, deps());
    expect(calls).toEqual([]);
  });

  it('open without a path shows the open dialog', async () => {
    const { api, calls } = fakeApi({ 'experiments.openDialog': () => opened('/x/a.gmemlab.json') });
    const wb = workbench(api);
    await handleMenuCommand(wb, 'open', {}, deps());
    expect(calls.map((c) => c[0])).toContain('experiments.openDialog');
    expect(wb.path).toBe('/x/a.gmemlab.json');
  });

  it('open with a path opens that file, asking first when there are unsaved changes', async () => {
    const { api, calls } = fakeApi({
      'experiments.open': (a) => opened((a as { path: string }).path),
    });
    const wb = workbench(api);
    const refusing = deps({ hasUnsavedChanges: () => true });
    await handleMenuCommand(wb, 'open', { path: '/x/b.gmemlab.json' }, refusing);
    expect(calls).toEqual([]);
    expect(refusing.log).toEqual([expect.stringMatching(/^confirm Open b\.gmemlab\.json/)]);

    await handleMenuCommand(wb, 'open', { path: '/x/b.gmemlab.json' }, deps());
    expect(calls).toEqual([['experiments.open', { path: '/x/b.gmemlab.json' }]]);
    expect(wb.path).toBe('/x/b.gmemlab.json');
    expect(wb.view).toBe('setup');
  });

  it('save, save-as and save-then-close save; save-then-close then reports', async () => {
    const { api, calls } = fakeApi({
      'experiments.saveAs': () => ({ path: '/x/c.gmemlab.json', modifiedMs: 2 }),
    });
    const wb = workbench(api);
    wb.load(opened('/w/a.gmemlab.json'));
    await handleMenuCommand(wb, 'save', {}, deps());
    expect(calls[0]).toEqual([
      'experiments.save',
      expect.objectContaining({ path: '/w/a.gmemlab.json' }),
    ]);
    await handleMenuCommand(wb, 'save-as', {}, deps());
    expect(calls.map((c) => c[0])).toContain('experiments.saveAs');
    expect(wb.path).toBe('/x/c.gmemlab.json');
    const d = deps();
    await handleMenuCommand(wb, 'save-then-close', {}, d);
    expect(d.log).toEqual(['report']);
    expect(calls.filter((c) => c[0] === 'experiments.save')).toHaveLength(2);
  });

  it('save-then-close reports even when the save fails', async () => {
    const { api } = fakeApi({
      'experiments.save': () => {
        throw new Error('disk full');
      },
    });
    const wb = workbench(api);
    wb.load(opened('/w/a.gmemlab.json'));
    const d = deps();
    await handleMenuCommand(wb, 'save-then-close', {}, d);
    expect(d.log).toEqual(['report']);
    expect(wb.banner?.title).toBe('Could not save');
  });

  it('export without results says so and shows the compare view', async () => {
    const { api, calls } = fakeApi();
    const wb = workbench(api);
    wb.load(opened('/w/a.gmemlab.json'));
    await handleMenuCommand(wb, 'export', {}, deps());
    expect(wb.view).toBe('compare');
    expect(wb.banner).toMatchObject({ kind: 'info', title: 'Nothing to export yet' });
    expect(calls).toEqual([]);
  });
});

describe('document state', () => {
  it('reports the file name, or the experiment name, and unsaved changes', () => {
    const { api } = fakeApi();
    const wb = workbench(api);
    const reporter = new DocumentReporter(wb);
    expect(reporter.state()).toEqual({ dirty: false, title: '' });
    wb.load(opened('preset:merge-policies'), true);
    expect(reporter.state()).toEqual({ dirty: false, title: String(preset.name) });
    wb.doc!['notes'] = 'changed';
    expect(reporter.state()).toEqual({ dirty: true, title: String(preset.name) });
    wb.load(opened('/w/dir/a.gmemlab.json'));
    expect(reporter.state()).toEqual({ dirty: false, title: 'a.gmemlab.json' });
    wb.doc!['notes'] = 'changed again';
    expect(reporter.state()).toEqual({ dirty: true, title: 'a.gmemlab.json' });
    expect(documentTitle(wb)).toBe('a.gmemlab.json');
  });

  it('connectDesktop subscribes to menu commands before the first report, and reports changes', async () => {
    const { api, order, calls, emit } = fakeApi();
    const wb = workbench(api);
    wb.load(opened('/w/a.gmemlab.json'));
    const stop = connectDesktop(wb);
    flushSync();
    expect(order.slice(0, 2)).toEqual(['on menu.command', 'call app.setDocumentState']);
    expect(calls.at(-1)).toEqual([
      'app.setDocumentState',
      { dirty: false, title: 'a.gmemlab.json' },
    ]);
    wb.doc!['notes'] = 'changed';
    flushSync();
    expect(calls.at(-1)).toEqual([
      'app.setDocumentState',
      { dirty: true, title: 'a.gmemlab.json' },
    ]);
    const reports = calls.filter((c) => c[0] === 'app.setDocumentState').length;
    wb.doc!['notes'] = 'changed twice';
    flushSync();
    // Same state: no new report.
    expect(calls.filter((c) => c[0] === 'app.setDocumentState')).toHaveLength(reports);
    emit('menu.command', { command: 'new' });
    expect(wb.view).toBe('library');
    stop();
  });

  it('connectDesktop does nothing in a browser', () => {
    const { api, order } = fakeApi();
    const wb = workbench(api, 'bridge');
    connectDesktop(wb)();
    flushSync();
    expect(order).toEqual([]);
  });
});
