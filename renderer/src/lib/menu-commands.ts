// The desktop app's menu commands ('menu.command' events): File > New, Open (the dialog, or a file
// the system or Open Recent handed over), Save, Save As, Export, and the save the app asks for
// before closing a window with unsaved changes. Only the Electron transport sends them.
import type { MenuCommandEvent } from '@contract/api';
import { DocumentReporter } from './document-state.svelte';
import { CHART_THEMES } from './charts/theme';
import { comparisonCharts } from './export/comparison';
import { comparisonZip, deliver, failedVariants, safeName } from './export/export';
import type { Workbench } from './state/workbench.svelte';

export interface MenuCommandDeps {
  /** Ask before dropping unsaved changes (window.confirm by default). */
  readonly confirm: (message: string) => boolean;
  /** Report the document state now (after 'save-then-close'). */
  readonly reportState: () => Promise<void>;
  /** Whether the document has unsaved changes worth a question. */
  readonly hasUnsavedChanges: () => boolean;
  /** Export the comparison zip (the default builds it from the workbench's results). */
  readonly exportComparison?: (wb: Workbench) => Promise<void>;
}

/** Run one menu command. Unknown commands are ignored (a newer main process may send more). */
export async function handleMenuCommand(
  wb: Workbench,
  command: string,
  payload: Pick<MenuCommandEvent, 'path'>,
  deps: MenuCommandDeps,
): Promise<void> {
  switch (command) {
    case 'new':
      wb.newFromPreset();
      return;
    case 'open': {
      const path = payload.path;
      if (path === undefined) {
        wb.view = 'library';
        if (wb.info?.nativeDialogs) await wb.openDialog();
        return;
      }
      if (path === wb.path && !wb.dirty) {
        wb.view = 'setup';
        return;
      }
      const name = wb.path?.split(/[\\/]/).pop() ?? String(wb.doc?.['name'] ?? 'the experiment');
      if (
        deps.hasUnsavedChanges() &&
        !deps.confirm(`Open ${path.split(/[\\/]/).pop()} and drop the unsaved changes to ${name}?`)
      )
        return;
      await wb.openPath(path);
      return;
    }
    case 'save':
      await wb.save();
      return;
    case 'save-as':
      await wb.saveAs();
      return;
    case 'export':
      await (deps.exportComparison ?? exportComparison)(wb);
      return;
    case 'save-then-close':
      // The app closes the window once the state says there is nothing left to save; a failed
      // save (the banner says why) leaves it open.
      await wb.save();
      await deps.reportState();
      return;
    default:
      return;
  }
}

/** File > Export: the comparison zip, as the compare view's "Export everything (zip)". */
async function exportComparison(wb: Workbench): Promise<void> {
  if (!wb.doc || wb.results.length === 0) {
    wb.view = 'compare';
    wb.banner = {
      kind: 'info',
      title: 'Nothing to export yet',
      message: 'Run the experiment first; the comparison zip holds its charts and series.',
    };
    return;
  }
  const api = wb.api;
  if (!api) return;
  await wb.guard('Could not export the comparison', async () => {
    const title = String(wb.doc?.['name'] ?? 'gmem-lab comparison');
    const dark = document.documentElement.dataset['theme'] === 'dark';
    const fullCsv = new Map<string, string>();
    for (const run of wb.runs) {
      if (!run.result || run.result.runId <= 0) continue;
      try {
        fullCsv.set(run.name, await api.call('runs.csv', { runId: run.result.runId }));
      } catch {
        // Evicted or loaded from a file: the downsampled series are exported instead.
      }
    }
    const zip = await comparisonZip(
      {
        title,
        experimentJson: `${JSON.stringify(wb.doc, null, 2)}\n`,
        charts: comparisonCharts(wb.results),
        results: wb.results,
        fullCsv,
        summary: { failed: failedVariants(wb.runs), baseline: wb.summaryBaseline },
      },
      CHART_THEMES[dark ? 'dark' : 'light'],
    );
    await deliver(api, !!wb.info?.nativeDialogs, `${safeName(title)}.zip`, zip, 'zip');
  });
}

/** In the desktop app: run menu commands and report the document state. Call once connected;
 * returns the stop function. The first report tells the app the page takes commands, so the
 * subscription comes first. */
export function connectDesktop(wb: Workbench): () => void {
  const api = wb.api;
  if (!api || wb.info?.transport !== 'electron') return () => {};
  const reporter = new DocumentReporter(wb);
  const deps: MenuCommandDeps = {
    confirm: (message) => window.confirm(message),
    reportState: () => reporter.sendNow(),
    hasUnsavedChanges: () => reporter.state().dirty,
  };
  const unsubscribe = api.on('menu.command', (event) => {
    void handleMenuCommand(wb, event.command, event, deps).catch((err: unknown) =>
      wb.showError(`Could not ${event.command}`, err),
    );
  });
  const stopReports = reporter.start();
  return () => {
    unsubscribe();
    stopReports();
  };
}
