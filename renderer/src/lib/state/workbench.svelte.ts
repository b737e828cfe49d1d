// The workbench: the stores of each domain composed for the views, which read and change them
// through this one object. The logic lives in the stores, each tested beside it:
//   connection.svelte.ts   the contract's client and the app's info
//   notices.svelte.ts      the message bar and the busy state
//   settings.svelte.ts     theme and memory budget (settings.get / settings.set)
//   experiments.svelte.ts  library, presets, the open document, its validation and saving
//   runs.svelte.ts         runs, their progress and time left, results, estimates, event logs
//   sweeps.svelte.ts       sweeps: their parameters, one progress and cancel, each run's summary
// What is left here: which view is shown, connecting, and passing the views' reads and writes on.
import type {
  AppInfo,
  ExperimentEntry,
  GmemLabApi,
  OpenedExperiment,
  PresetEntry,
  RunResultView,
  Settings,
  Theme,
} from '@contract/api';
import { deliver } from '../export/export';
import { Connection } from './connection.svelte';

type ExportKind = Parameters<typeof deliver>[4];
import { ExperimentsState, type Doc, type Validation, type View } from './experiments.svelte';
import { Notices, type Banner } from './notices.svelte';
import type { RunRecording } from './run-recording.svelte';
import { RunsState, type VariantRun } from './runs.svelte';
import { SettingsState } from './settings.svelte';
import { SweepsState } from './sweeps.svelte';

export type { View } from './experiments.svelte';
export type { Banner } from './notices.svelte';
export type { VariantRun } from './runs.svelte';

export class Workbench {
  view: View = $state('library');
  readonly connection = new Connection();
  readonly notices = new Notices();
  readonly settingsStore = new SettingsState(this.connection, this.notices);
  readonly experiments: ExperimentsState;
  readonly runsStore: RunsState;
  readonly sweeps: SweepsState;
  private unsubscribers: Array<() => void> = [];

  constructor() {
    const show = (view: View): void => {
      this.view = view;
    };
    // The document's saved results are the runs store's: opening a file shows them, saving
    // writes them back when they belong to the configuration.
    this.experiments = new ExperimentsState(
      this.connection,
      this.notices,
      { restore: (doc) => this.runsStore.restore(doc), toSave: (h) => this.runsStore.toSave(h) },
      show,
    );
    this.runsStore = new RunsState(this.connection, this.notices, this.experiments, show);
    this.sweeps = new SweepsState(this.connection, this.notices, this.experiments);
  }

  /** Subscribe to the API's events first (none is missed), then read what the app holds. */
  async connect(api: GmemLabApi): Promise<void> {
    this.connection.api = api;
    this.unsubscribers.push(
      ...this.runsStore.listen(api),
      ...this.sweeps.listen(api),
      ...this.experiments.listen(api),
      ...this.settingsStore.listen(api),
    );
    await Promise.all([
      this.connection.loadInfo(),
      this.experiments.loadPresets(),
      this.settingsStore.load(),
    ]);
    await this.experiments.refreshLibrary();
  }

  disconnect(): void {
    for (const u of this.unsubscribers.splice(0)) u();
  }

  newFromPreset(): void {
    this.view = 'library';
  }

  // Connection and settings ---------------------------------------------------------------------

  get api(): GmemLabApi | null {
    return this.connection.api;
  }
  set api(api: GmemLabApi | null) {
    this.connection.api = api;
  }
  get info(): AppInfo | null {
    return this.connection.info;
  }
  set info(info: AppInfo | null) {
    this.connection.info = info;
  }
  get settings(): Settings | null {
    return this.settingsStore.settings;
  }
  set settings(settings: Settings | null) {
    this.settingsStore.settings = settings;
  }
  setMemoryBudget(bytes: number | null): Promise<boolean> {
    return this.settingsStore.setMemoryBudget(bytes);
  }
  setTheme(theme: Theme): Promise<void> {
    return this.settingsStore.setTheme(theme);
  }

  // Notices -----------------------------------------------------------------------------------

  get banner(): Banner | null {
    return this.notices.banner;
  }
  set banner(banner: Banner | null) {
    this.notices.banner = banner;
  }
  get busy(): boolean {
    return this.notices.busy;
  }
  guard<T>(title: string, action: () => Promise<T>): Promise<T | undefined> {
    return this.notices.guard(title, action);
  }
  /** Hand an export to the user (the save dialog on the desktop, a download in a browser); a
   * failure shows as `failure`. `data` may be built lazily (a PNG, a zip). */
  async saveFile(
    failure: string,
    name: string,
    kind: ExportKind,
    data: string | Uint8Array | (() => Promise<string | Uint8Array>),
  ): Promise<void> {
    await this.notices.guard(failure, async () =>
      deliver(
        this.connection.client,
        this.connection.nativeDialogs,
        name,
        typeof data === 'function' ? await data() : data,
        kind,
      ),
    );
  }
  showError(title: string, err: unknown): void {
    this.notices.showError(title, err);
  }

  // Experiments -------------------------------------------------------------------------------

  get presets(): PresetEntry[] {
    return this.experiments.presets;
  }
  get library(): ExperimentEntry[] {
    return this.experiments.library;
  }
  get doc(): Doc | null {
    return this.experiments.doc;
  }
  set doc(doc: Doc | null) {
    this.experiments.doc = doc;
  }
  get path(): string | null {
    return this.experiments.path;
  }
  set path(path: string | null) {
    this.experiments.path = path;
  }
  get validation(): Validation {
    return this.experiments.validation;
  }
  get dirty(): boolean {
    return this.experiments.dirty;
  }
  refreshLibrary(): Promise<void> {
    return this.experiments.refreshLibrary();
  }
  load(opened: OpenedExperiment, fromPreset = false): void {
    this.experiments.load(opened, fromPreset);
  }
  openPreset(id: string): Promise<void> {
    return this.experiments.openPreset(id);
  }
  openPath(path: string): Promise<void> {
    return this.experiments.openPath(path);
  }
  openDialog(): Promise<void> {
    return this.experiments.openDialog();
  }
  importFile(fileName: string, text: string): Promise<void> {
    return this.experiments.importFile(fileName, text);
  }
  save(fileName?: string): Promise<boolean> {
    return this.experiments.save(fileName);
  }
  saveAs(): Promise<void> {
    return this.experiments.saveAs();
  }

  // Runs --------------------------------------------------------------------------------------

  get runs(): VariantRun[] {
    return this.runsStore.runs;
  }
  set runs(runs: VariantRun[]) {
    this.runsStore.runs = runs;
  }
  get summaryBaseline(): number {
    return this.runsStore.summaryBaseline;
  }
  set summaryBaseline(column: number) {
    this.runsStore.summaryBaseline = column;
  }
  get recording(): RunRecording {
    return this.runsStore.recording;
  }
  get resultsFromFile(): boolean {
    return this.runsStore.resultsFromFile;
  }
  get results(): RunResultView[] {
    return this.runsStore.results;
  }
  get stale(): boolean {
    return this.runsStore.stale;
  }
  get running(): boolean {
    return this.runsStore.running;
  }
  refreshEstimate(): Promise<void> {
    return this.runsStore.refreshEstimate();
  }
  saveEventLog(variantIndex: number): Promise<void> {
    return this.runsStore.saveEventLog(variantIndex);
  }
  run(): Promise<void> {
    return this.runsStore.run();
  }
  canRunAgain(variantIndex: number): boolean {
    return this.runsStore.canRunAgain(variantIndex);
  }
  runAgain(variantIndex: number): Promise<void> {
    return this.runsStore.runAgain(variantIndex);
  }
  cancel(variantIndex?: number): Promise<void> {
    return this.runsStore.cancel(variantIndex);
  }
}
