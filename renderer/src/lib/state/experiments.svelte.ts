// The experiments: the workspace's library and the bundled presets, and the open experiment (an
// editable JSON document) with its validation (core/experiment/load.ts, the same rules as the
// CLI and the services) and its unsaved changes. Opening and saving go through the API; the
// results a file carries are the runs store's (the SavedResults port below).
import type { ExperimentEntry, GmemLabApi, OpenedExperiment, PresetEntry } from '@contract/api';
import {
  configHash,
  parseExperimentValue,
  type LoadProblem,
} from '../../../../core/experiment/load';
import { FORMAT_VERSION, type Experiment } from '../../../../core/experiment/schema';
import type { SavedResults } from '../../../../core/metrics/result';
import type { Connection } from './connection.svelte';
import type { Notices } from './notices.svelte';

export type Doc = Record<string, unknown>;

export type View = 'library' | 'setup' | 'runs' | 'compare' | 'sweep' | 'reference';

export type Validation =
  | { readonly ok: true; problems: LoadProblem[]; experiment: Experiment; hash: string }
  | { readonly ok: false; problems: LoadProblem[]; experiment: null; hash: null };

/** The open document as the runs store reads it. */
export interface OpenDocument {
  readonly doc: Doc | null;
  readonly path: string | null;
  readonly validation: Validation;
}

/** The results a document carries in its `results` field, kept by the runs store. */
export interface SavedResultsPort {
  /** Take a document's saved results as the runs to show (and say what the file lacks). */
  restore(doc: Doc): void;
  /** What to write as `results` for the configuration `hash`: the results, 'drop' (they
   * belong to another configuration) or 'keep' (leave the field as it is). */
  toSave(hash: string): SavedResults | 'drop' | 'keep';
}

export class ExperimentsState implements OpenDocument {
  presets: PresetEntry[] = $state([]);
  library: ExperimentEntry[] = $state([]);
  doc: Doc | null = $state(null);
  path: string | null = $state(null);
  /** The document as last saved or opened, to tell unsaved changes. */
  savedJson = $state('');

  readonly validation: Validation = $derived.by((): Validation => {
    if (!this.doc) return { ok: false, problems: [], experiment: null, hash: null };
    const r = parseExperimentValue($state.snapshot(this.doc));
    if (!r.ok) return { ok: false, problems: [...r.problems], experiment: null, hash: null };
    return { ok: true, problems: [], experiment: r.experiment, hash: configHash(r.experiment) };
  });

  readonly dirty = $derived(this.doc !== null && JSON.stringify(this.doc) !== this.savedJson);

  constructor(
    private readonly connection: Connection,
    private readonly notices: Notices,
    private readonly results: SavedResultsPort,
    /** Show a view (the experiment once opened). */
    private readonly show: (view: View) => void = () => {},
  ) {}

  /** Follow the workspace's changes (another window, the file system); returns the
   * unsubscribe functions. */
  listen(api: GmemLabApi): Array<() => void> {
    return [api.on('store.changed', () => void this.refreshLibrary())];
  }

  async loadPresets(): Promise<void> {
    this.presets = [...(await this.connection.client.call('presets.list', {}))];
  }

  async refreshLibrary(): Promise<void> {
    if (!this.connection.api) return;
    try {
      this.library = [...(await this.connection.api.call('experiments.list', {}))];
    } catch (err) {
      this.notices.showError('Could not list the workspace', err);
    }
  }

  /** Replace the open experiment (the caller asks before dropping unsaved changes). */
  load(opened: OpenedExperiment, fromPreset = false): void {
    const doc = structuredClone(opened.experiment) as Doc;
    this.doc = doc;
    this.path = fromPreset ? null : opened.path;
    // A preset as bundled has nothing to lose yet: only edits make it unsaved (else opening
    // anything after the default preset would ask to discard changes nobody made).
    this.savedJson = JSON.stringify(doc);
    this.notices.dismiss();
    this.results.restore(doc);
    if (opened.migratedFrom !== undefined) {
      this.notices.info(
        `Read as format version ${FORMAT_VERSION}`,
        `${opened.path.split('/').pop()} is format version ${opened.migratedFrom}; it was migrated as it was read, and the file is unchanged. Saving writes version ${FORMAT_VERSION}, which older gmem-lab builds refuse; use Save as… to keep the old file.`,
      );
    }
  }

  async openPreset(id: string): Promise<void> {
    await this.opening('Could not open the preset', async () =>
      this.load(await this.connection.client.call('presets.load', { id }), true),
    );
  }

  async openPath(path: string): Promise<void> {
    await this.opening(`Could not open ${path.split('/').pop()}`, async () =>
      this.load(await this.connection.client.call('experiments.open', { path })),
    );
  }

  async openDialog(): Promise<void> {
    await this.notices.guard('Could not open the file', async () => {
      const opened = await this.connection.client.call('experiments.openDialog', {});
      if (opened) {
        this.load(opened);
        this.show('setup');
      }
    });
  }

  /** Open a file the user picked in the browser: the Node side checks it and copies it into the
   * workspace. */
  async importFile(fileName: string, text: string): Promise<void> {
    await this.opening(`Could not open ${fileName}`, async () => {
      this.load(await this.connection.client.call('experiments.import', { fileName, text }));
      await this.refreshLibrary();
    });
  }

  async duplicate(path: string): Promise<void> {
    await this.changing('Could not duplicate', () =>
      this.connection.client.call('experiments.duplicate', { path }),
    );
  }

  async rename(path: string, name: string): Promise<void> {
    await this.changing('Could not rename', () =>
      this.connection.client.call('experiments.rename', { path, name }),
    );
  }

  /** Move a workspace file to the trash. */
  async trash(path: string): Promise<void> {
    await this.changing('Could not delete', () =>
      this.connection.client.call('experiments.delete', { path }),
    );
  }

  async save(fileName?: string): Promise<boolean> {
    if (!this.doc) return false;
    if (!this.validation.ok) {
      this.notices.error(
        'Not saved: the experiment has problems',
        this.validation.problems.map((p) => `${p.path}: ${p.message}`).join('\n'),
      );
      return false;
    }
    const result = await this.notices.guard('Could not save', async () => {
      const doc = this.documentToSave();
      const name = fileName ?? (String(doc['name'] ?? 'experiment') || 'experiment');
      const saved = this.path
        ? await this.connection.client.call('experiments.save', {
            experiment: doc,
            path: this.path,
          })
        : await this.connection.client.call('experiments.save', {
            experiment: doc,
            fileName: name,
          });
      await this.saved(doc, saved.path);
      return true;
    });
    return result ?? false;
  }

  /** Save under a new name: the save dialog on the desktop; in a browser, a new workspace file
   * named after the experiment. */
  async saveAs(): Promise<void> {
    if (!this.doc || !this.validation.ok) {
      await this.save();
      return;
    }
    if (!this.connection.nativeDialogs) {
      this.path = null;
      await this.save();
      return;
    }
    await this.notices.guard('Could not save', async () => {
      const doc = this.documentToSave();
      const saved = await this.connection.client.call('experiments.saveAs', {
        experiment: doc,
        suggestedName: String(doc['name'] ?? ''),
      });
      if (saved) await this.saved(doc, saved.path);
    });
  }

  /** The document to write: with the results when they belong to this configuration. */
  private documentToSave(): Doc {
    const doc = $state.snapshot(this.doc!) as Doc;
    const hash = this.validation.hash;
    if (hash === null) return doc;
    const results = this.results.toSave(hash);
    if (results === 'drop') delete doc['results'];
    else if (results !== 'keep') doc['results'] = results;
    return doc;
  }

  private async saved(doc: Doc, path: string): Promise<void> {
    this.doc = doc;
    this.path = path;
    this.savedJson = JSON.stringify(doc);
    await this.refreshLibrary();
  }

  private async opening(title: string, open: () => Promise<void>): Promise<void> {
    await this.notices.guard(title, async () => {
      await open();
      this.show('setup');
    });
  }

  private async changing(title: string, change: () => Promise<unknown>): Promise<void> {
    await this.notices.guard(title, change);
    await this.refreshLibrary();
  }
}
