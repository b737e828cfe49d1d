// End to end: the built workbench in Debian's Chromium against the real services of
// `gmem-lab serve` (experiment store, settings, simulation workers) through the localhost bridge.
// Independent scenarios, each in its own browser page on an emptied workspace, each setting up what
// it needs (open a preset, switch a variant from HugeTLB to CMA, run): watch progress, compare side
// by side, export PNG, SVG and CSV, save, reload and reopen, survive broken files, run another
// preset. One failing scenario leaves the others' outcome alone. The server and the browser are
// shared. Screenshots of every view go to test-results/e2e/.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, BrowserContext, Download, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { configHash, parseExperimentValue } from '../core/experiment/load';
import { METRICS } from '../core/metrics/definitions';
import type { PhaseSummary } from '../core/metrics/result';
import { CHARTS, PALETTE } from '../renderer/src/lib/charts/chart-defs';
import { chromiumMissing, launchChromium, SKIP_REASON } from './chromium';
import { decodePng, parseNumericCsv, pixel } from './files';
import { ROOT, startServe, type ServeProcess } from './server';

const SHOTS = join(ROOT, 'test-results', 'e2e');
const NAME = 'HugeTLB vs CMA 1 GiB, 2 GiB SNP guest';
const VARIANTS = ['HugeTLB 1 GiB', 'CMA 1 GiB'] as const;
/** A preset with the same two variants, copied into the workspace where a scenario needs a file. */
const PRESET_FILE = join(ROOT, 'resources', 'presets', 'hugetlb-vs-cma-1g.gmemlab.json');
const PRESET_NAME = '1 GiB pages for one VM: HugeTLB pool vs CMA area';
/** Light theme: the page background every chart and export is drawn on. */
const BACKGROUND: readonly number[] = [255, 255, 255];
/** Series colours (black is left out: it is also the colour of text). */
const SERIES_COLOURS = PALETTE.filter((c) => c !== '#000000');
const ALWAYS_SHOWN_CHARTS = CHARTS.filter((c) => !c.optional);

if (chromiumMissing) console.warn(SKIP_REASON);

/** The summary table as raw numbers: metric -> one value per variant (the cells' titles). */
type Summary = Record<string, number[]>;

describe.skipIf(chromiumMissing)('the workbench in Chromium against `gmem-lab serve`', () => {
  let tmp: string;
  let workspace: string;
  let server: ServeProcess;
  let browser: Browser;
  /** The scenario's own browser context and page. */
  let context: BrowserContext;
  let page: Page;
  let pageErrors: string[] = [];
  let dialogs: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'gmemlab-e2e-'));
    workspace = join(tmp, 'workspace');
    await mkdir(workspace);
    await mkdir(SHOTS, { recursive: true });
    [server, browser] = await Promise.all([
      startServe({ workspace, configDir: join(tmp, 'config') }),
      launchChromium(),
    ]);
  });

  beforeEach(async () => {
    // An empty workspace and a new page: nothing carries over from the scenario before.
    for (const entry of await readdir(workspace))
      await rm(join(workspace, entry), { recursive: true, force: true });
    pageErrors = [];
    dialogs = [];
    context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1400, height: 900 },
      colorScheme: 'light',
    });
    page = await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (err) => pageErrors.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // A browser asks for /favicon.ico on its own; the workbench has none.
      if (msg.type() === 'error' && !msg.location().url.endsWith('/favicon.ico'))
        pageErrors.push(`console error: ${msg.text()} (${msg.location().url})`);
    });
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
  });

  afterEach(async () => {
    await context?.close();
    // Every scenario: the user was asked nothing unexpected and the page logged no errors.
    expect(dialogs, 'dialogs shown').toEqual([]);
    expect(pageErrors, 'errors logged by the page').toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------------------------
  // Helpers

  /** A screenshot of the whole view into test-results/e2e/, after checking that the view fits the
   * window's width (no sideways scrolling). */
  async function shot(name: string): Promise<void> {
    const { scrollWidth, clientWidth } = await page.evaluate(() => {
      window.scrollTo(0, 0);
      const { scrollWidth, clientWidth } = document.documentElement;
      return { scrollWidth, clientWidth };
    });
    expect(scrollWidth, `${name} is wider than the window`).toBeLessThanOrEqual(clientWidth);
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }
  const view = (name: string) =>
    page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name });
  const heading = (name: string | RegExp) => page.getByRole('heading', { level: 2, name });
  const variant = (name: string) =>
    page.getByRole('article', { name: `Variant ${name}`, exact: true });
  /** Wait until the workbench is idle (connected, nothing loading or saving). */
  const settled = () => page.locator('main[aria-busy="false"]').waitFor();

  async function fillField(field: Locator, text: string): Promise<void> {
    await field.fill(text);
    await field.press('Tab'); // fields commit on change
  }

  async function downloads(count: number, action: () => Promise<void>): Promise<Download[]> {
    const got: Download[] = [];
    let on = (_d: Download): void => {};
    let timer: NodeJS.Timeout | undefined;
    const all = new Promise<void>((done, fail) => {
      on = (d) => {
        got.push(d);
        if (got.length === count) done();
      };
      timer = setTimeout(
        () => fail(new Error(`${got.length} of ${count} downloads after 15 s`)),
        15_000,
      );
      page.on('download', on);
    });
    try {
      await action();
      await all;
      return got;
    } finally {
      clearTimeout(timer);
      page.off('download', on);
    }
  }

  async function bytesOf(d: Download): Promise<Buffer> {
    return readFile(await d.path());
  }

  async function readSummary(): Promise<{ variants: string[]; values: Summary }> {
    const table = page.getByRole('region', { name: 'Summary' }).getByRole('table');
    await table.waitFor();
    return table.evaluate((t: HTMLTableElement) => {
      // Value columns only: the baseline comparison's difference and ratio columns are "delta".
      const variants = [...t.tHead!.rows[0]!.cells]
        .slice(2)
        .filter((c) => !c.classList.contains('delta'))
        .map((c) => c.textContent!.trim().replace(/ \(baseline\)$/, ''));
      const values: Record<string, number[]> = {};
      for (const row of t.tBodies[0]!.rows) {
        const metric = row.cells[0]!.textContent!.trim();
        values[metric] = [...row.cells]
          .slice(2)
          .filter((c) => !c.classList.contains('delta'))
          .map((c) => Number(c.getAttribute('title')));
      }
      return { variants, values };
    });
  }

  /** What a chart canvas shows: how many pixels differ from the background and how many have a
   * series colour. */
  function canvasInk(
    canvas: Locator,
  ): Promise<{ width: number; height: number; inked: number; series: number }> {
    return canvas.evaluate(
      (el: HTMLCanvasElement, { colours, bg }) => {
        const { data } = el.getContext('2d')!.getImageData(0, 0, el.width, el.height);
        const rgb = colours.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
        let inked = 0;
        let series = 0;
        for (let i = 0; i < data.length; i += 4) {
          const px = [data[i]!, data[i + 1]!, data[i + 2]!];
          if (px.reduce((d, v, k) => d + Math.abs(v - bg[k]!), 0) > 30) inked++;
          if (rgb.some((c) => px.reduce((d, v, k) => d + Math.abs(v - c[k]!), 0) < 40)) series++;
        }
        return { width: el.width, height: el.height, inked, series };
      },
      { colours: SERIES_COLOURS, bg: BACKGROUND },
    );
  }

  /** Every chart row of the compare view: one panel per variant, side by side, each drawn. */
  async function expectSideBySideCharts(variants: readonly string[]): Promise<void> {
    for (const def of ALWAYS_SHOWN_CHARTS) {
      const row = page.getByRole('region', { name: def.title, exact: true });
      const panels = row.locator('[data-chart-id]');
      await expect.poll(() => panels.count(), { message: def.title }).toBe(variants.length);
      const boxes = [];
      for (let i = 0; i < variants.length; i++) {
        const panel = panels.nth(i);
        expect(await panel.getAttribute('data-chart-id')).toBe(`${def.id}-${variants[i]}`);
        expect(
          await panel
            .getByRole('button', { name: `Export ${def.title}: ${variants[i]} as PNG` })
            .count(),
        ).toBe(1);
        const canvas = panel.getByRole('img');
        const ink = await canvasInk(canvas);
        expect(ink.width, `${def.title}: ${variants[i]}`).toBeGreaterThan(100);
        expect(ink.inked, `${def.title}: ${variants[i]} is blank`).toBeGreaterThan(500);
        expect(ink.series, `${def.title}: ${variants[i]} draws no series`).toBeGreaterThan(20);
        boxes.push((await canvas.boundingBox())!);
      }
      // Side by side: one line, left to right, equal sizes.
      for (let i = 1; i < boxes.length; i++) {
        expect(Math.abs(boxes[i]!.y - boxes[0]!.y)).toBeLessThan(2);
        expect(boxes[i]!.x).toBeGreaterThanOrEqual(boxes[i - 1]!.x + boxes[i - 1]!.width - 1);
        expect(Math.abs(boxes[i]!.width - boxes[0]!.width)).toBeLessThan(2);
      }
    }
  }

  async function runAndWait(variants: readonly string[]): Promise<void> {
    await page
      .getByRole('progressbar', { name: `${variants[0]} progress` })
      .waitFor({ state: 'attached' });
    await page.waitForFunction(
      (names) =>
        names.every((n) => {
          const bar = document.querySelector<HTMLProgressElement>(
            `progress[aria-label="${CSS.escape(`${n} progress`)}"]`,
          );
          const item = bar?.closest('li');
          return bar?.value === 1 && /\bdone\b/.test(item?.textContent ?? '');
        }),
      variants,
      { timeout: 60_000 },
    );
  }

  /** The workbench on its library, connected and idle. */
  async function openWorkbench(): Promise<void> {
    await page.goto(server.url);
    await settled();
    await heading('Experiments').waitFor();
  }

  /** From the library: the SNP boot preset edited down to a 2 GiB guest with the 1 GiB HugeTLB
   * variant and a copy of it switched to CMA (with a CMA area on the host for it). */
  async function setUpHugetlbVsCma(): Promise<void> {
    await openWorkbench();
    await page
      .getByRole('button', { name: /^New experiment from preset SNP boot of a 16 GiB guest/ })
      .click();
    await heading(/^SNP boot of a 16 GiB guest/).waitFor();
    await page.getByText('Not saved yet.').waitFor();
    // Every field, not only the essentials.
    await page.getByText('All settings', { exact: true }).click();

    await fillField(
      page.getByRole('group', { name: 'Experiment' }).getByLabel('name', { exact: true }),
      NAME,
    );
    await heading(new RegExp(`^${NAME}`)).waitFor();

    const guestMemory = page
      .getByRole('group', { name: 'guest', exact: true })
      .getByLabel('memoryBytes', { exact: true });
    await fillField(guestMemory, '2 GiB');
    expect(await guestMemory.inputValue()).toBe('2 GiB');

    // Keep the 1 GiB HugeTLB variant and a copy of it; drop the others.
    await variant('HugeTLB 1 GiB').getByRole('button', { name: 'Duplicate' }).click();
    for (const name of ['4 KiB', 'THP 2 MiB', 'HugeTLB 2 MiB'])
      await variant(name).getByRole('button', { name: 'Remove' }).click();
    const articles = page.getByRole('article', { name: /^Variant / });
    expect(
      await articles.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label'))),
    ).toEqual(['Variant HugeTLB 1 GiB', 'Variant HugeTLB 1 GiB (copy)']);

    // The copy becomes the CMA variant.
    await fillField(
      variant('HugeTLB 1 GiB (copy)').getByLabel('name', { exact: true }),
      VARIANTS[1],
    );
    const allocator = page.getByRole('radiogroup', { name: `Allocator of ${VARIANTS[1]}` });
    expect(await allocator.getByRole('radio', { name: 'HugeTLB', exact: true }).isChecked()).toBe(
      true,
    );
    await allocator.getByRole('radio', { name: 'CMA (raw)', exact: true }).check();
    // The rest is the HugeTLB variant's, shown as inherited.
    expect(await variant(VARIANTS[1]).getByLabel('based on').inputValue()).toBe('HugeTLB 1 GiB');
    expect(await variant(VARIANTS[1]).locator('.field.inherited').count()).toBeGreaterThan(5);

    // CMA needs a CMA area on the host: add one to node 0, partly lent to movable pages.
    await page
      .getByRole('group', { name: 'nodes 0' })
      .getByRole('button', { name: 'add', exact: true })
      .click();
    const cma = page.getByRole('group', { name: /^cma/ });
    await fillField(cma.getByLabel('sizeBytes'), '8 GiB');
    await fillField(cma.getByLabel('movableOccupiedFraction'), '0.3');
    expect(await cma.getByLabel('sizeBytes').inputValue()).toBe('8 GiB');
  }

  /** Run every variant from Setup and wait until both are done. */
  async function runBoth(): Promise<void> {
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await heading('Runs').waitFor();
    await runAndWait(VARIANTS);
  }

  /** Each variant's sample count, as the Runs view reports it. */
  async function samplesShown(): Promise<Map<string, number>> {
    const samples = new Map<string, number>();
    for (const name of VARIANTS) {
      const text = await page.getByRole('listitem').filter({ hasText: name }).textContent();
      const m = /([\d,]+) samples/.exec(text ?? '');
      expect(m, `${name}: ${text}`).not.toBeNull();
      samples.set(name, Number(m![1]!.replace(/,/g, '')));
    }
    return samples;
  }

  /** The compare view, open on the results of the runs. */
  async function openCompare(): Promise<void> {
    await page.getByRole('main').getByRole('button', { name: 'Compare' }).click();
    await heading('Compare').waitFor();
  }

  /** Ctrl+S of a new experiment: the one file it wrote into the workspace. */
  async function saveWithCtrlS(): Promise<string> {
    await page.keyboard.press('Control+s');
    await expect
      .poll(async () => (await readdir(workspace)).filter((f) => f.endsWith('.gmemlab.json')))
      .toHaveLength(1);
    const [fileName] = (await readdir(workspace)).filter((f) => f.endsWith('.gmemlab.json'));
    await settled();
    await expect.poll(() => page.getByTitle('Unsaved changes').count()).toBe(0);
    return join(workspace, fileName!);
  }

  // -------------------------------------------------------------------------------------------

  it('opens on the library: the workspace folder and the bundled presets', async () => {
    await openWorkbench();
    // The token leaves the address bar once the page has it (a cookie carries it after).
    expect(page.url()).not.toContain('token=');
    await page.getByText(workspace, { exact: true }).waitFor();
    await page.getByText('No experiments in the workspace yet').waitFor();
    expect(
      await page.getByRole('button', { name: /^New experiment from preset / }).count(),
    ).toBeGreaterThanOrEqual(9);
    await shot('library');
  });

  it('opens a preset, edits it down, and switches a variant from HugeTLB to CMA in Setup', async () => {
    await setUpHugetlbVsCma();
    // An experiment compares at least two variants.
    expect(await variant(VARIANTS[0]).getByRole('button', { name: 'Remove' }).isDisabled()).toBe(
      true,
    );
    const allocatorOf = (name: string, radio: string) =>
      page
        .getByRole('radiogroup', { name: `Allocator of ${name}` })
        .getByRole('radio', { name: radio, exact: true })
        .isChecked();
    expect(await allocatorOf(VARIANTS[1], 'CMA (raw)')).toBe(true);
    expect(await allocatorOf(VARIANTS[1], 'HugeTLB')).toBe(false);
    expect(await variant(VARIANTS[1]).getByLabel('pageSize', { exact: true }).inputValue()).toBe(
      '1g',
    );
    expect(await allocatorOf(VARIANTS[0], 'HugeTLB')).toBe(true);
    expect(await page.getByText(/^\d+ problems?:$/).count()).toBe(0);
    await page.getByTitle('Unsaved changes').waitFor();
    await shot('setup');
  });

  it('sets up HugeTLB 1 GiB against CMA 1 GiB for a 64 GiB guest from the essentials alone, and runs it', async () => {
    await openWorkbench();
    await page
      .getByRole('button', { name: /^New experiment from preset SNP boot of a 16 GiB guest/ })
      .click();
    await heading(/^SNP boot of a 16 GiB guest/).waitFor();
    const essentials = page.getByRole('group', { name: 'Essentials' });
    expect(await page.locator('details.all-settings').getAttribute('open')).toBeNull();
    await fillField(essentials.getByLabel('guest memory'), '64 GiB');
    await fillField(essentials.getByLabel('host memory (node 0)'), '256 GiB');
    await fillField(essentials.getByLabel('1 GiB HugeTLB pages (node 0)'), '64');
    await essentials.getByRole('button', { name: 'Add HugeTLB 1 GiB with CMA (raw)' }).click();
    for (const name of ['4 KiB', 'THP 2 MiB', 'HugeTLB 2 MiB'])
      await essentials.getByRole('button', { name: `Remove ${name}` }).click();
    const rows = await essentials.locator('tbody th').allTextContents();
    expect(rows).toEqual(['HugeTLB 1 GiB', 'CMA (raw) 1 GiB']);
    expect(await essentials.getByLabel('Backing of CMA (raw) 1 GiB').inputValue()).toBe(
      'cma-raw:1g',
    );
    // The CMA variant brought a CMA area as large as the guest.
    expect(await essentials.getByLabel('CMA area (node 0)').inputValue()).toBe('64 GiB');
    // It is written as its differences from the variant it came from: a policy changed there
    // carries to it, one changed on it stays its own.
    await essentials.getByText('changes from HugeTLB 1 GiB').waitFor();
    await essentials.getByLabel('Merge policy of HugeTLB 1 GiB').selectOption('never');
    expect(await essentials.getByLabel('Merge policy of CMA (raw) 1 GiB').inputValue()).toBe(
      'never',
    );
    await essentials.getByLabel('Split policy of CMA (raw) 1 GiB').selectOption('staged');
    expect(await essentials.getByLabel('Split policy of HugeTLB 1 GiB').inputValue()).toBe('to-4k');
    expect(await page.getByRole('alert').count()).toBe(0);
    await shot('setup-essentials');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await heading('Runs').waitFor();
    await runAndWait(['HugeTLB 1 GiB', 'CMA (raw) 1 GiB']);
  });

  it('runs both variants and shows their progress', async () => {
    await setUpHugetlbVsCma();
    // Record every state the Runs view goes through (the runs take a few seconds).
    await page.evaluate(() => {
      const seen: Array<{
        spinner: boolean;
        runs: Array<{ name: string; status: string; value: number }>;
      }> = [];
      (window as unknown as { progressSeen: typeof seen }).progressSeen = seen;
      const record = (): void => {
        const runs = [...document.querySelectorAll('progress')].map((bar) => ({
          name: (bar.getAttribute('aria-label') ?? '').replace(/ progress$/, ''),
          status: bar.closest('li')?.querySelector('.status')?.textContent ?? '',
          value: (bar as HTMLProgressElement).value,
        }));
        const spinner = document.querySelector('nav [aria-label="running"]') !== null;
        if (JSON.stringify(seen.at(-1)) !== JSON.stringify({ spinner, runs }))
          seen.push({ spinner, runs });
      };
      new MutationObserver(record).observe(document.body, {
        subtree: true,
        childList: true,
        attributes: true,
        characterData: true,
      });
    });
    await runBoth();

    const seen = await page.evaluate(
      () =>
        (
          window as unknown as {
            progressSeen: Array<{
              spinner: boolean;
              runs: Array<{ name: string; status: string; value: number }>;
            }>;
          }
        ).progressSeen,
    );
    for (const count of (await samplesShown()).values()) expect(count).toBeGreaterThan(10);
    await shot('runs');

    // The spinner came and went; each variant was queued or running with its phase shown; its bar
    // moved (it fills once per phase: boot, runtime) and ended full.
    expect(seen.some((s) => s.spinner)).toBe(true);
    expect(seen.at(-1)!.spinner).toBe(false);
    for (const name of VARIANTS) {
      const states = seen.flatMap((s) => s.runs.filter((r) => r.name === name));
      // Progress comes at most every 100 ms, but always at the end of each phase: the bar left 0
      // while the run was shown running, however fast the machine.
      expect(states[0], name).toEqual({ name, status: 'queued', value: 0 });
      expect(
        states.some((r) => /^running: \w+/.test(r.status) && r.value > 0),
        name,
      ).toBe(true);
      expect(states.at(-1), name).toEqual({ name, status: 'done', value: 1 });
      for (let i = 1; i < states.length; i++)
        if (states[i]!.status === states[i - 1]!.status)
          expect(states[i]!.value, `${name} ${states[i]!.status}`).toBeGreaterThanOrEqual(
            states[i - 1]!.value,
          );
    }
  });

  it('compares both variants side by side: one drawn panel per variant in every chart row', async () => {
    await setUpHugetlbVsCma();
    await runBoth();
    await openCompare();
    expect(await page.getByRole('radio', { name: 'side by side' }).isChecked()).toBe(true);
    await expectSideBySideCharts(VARIANTS);

    const summary = await readSummary();
    expect(summary.variants).toEqual([...VARIANTS]);
    const summaryBefore = summary.values;
    // The CMA variant really got its memory from the CMA area (and migrated movable pages out).
    const cma = 1;
    expect(summaryBefore['private_bytes']![cma]!).toBeGreaterThan(2 ** 30);
    expect(summaryBefore['alloc_failures']?.[cma] ?? 0).toBe(0);
    expect(summaryBefore['cycles_migration']![cma]!).toBeGreaterThan(0);
    expect(summaryBefore['guest_bytes']).toEqual([2 ** 31, 2 ** 31]);
    expect(await page.getByText('These results are stale').count()).toBe(0);
    await shot('compare');
  });

  it('picks a baseline and reads each difference against it, better or worse by the metric', async () => {
    await setUpHugetlbVsCma();
    await runBoth();
    await openCompare();
    const summary = page.getByRole('region', { name: 'Summary' });
    const { values } = await readSummary();
    const deltaOf = async (metric: string) => {
      const row = summary
        .getByRole('row')
        .filter({ has: page.getByRole('rowheader', { name: metric, exact: true }) });
      const cells = row.locator('td.delta');
      return {
        delta: await cells.nth(0).getAttribute('title'),
        text: (await cells.nth(0).textContent())!.trim(),
        worse: await cells.nth(0).evaluate((c) => c.classList.contains('worse')),
        better: await cells.nth(0).evaluate((c) => c.classList.contains('better')),
      };
    };
    // HugeTLB 1 GiB is the baseline: CMA pays for migrating movable pages out of its area.
    const migration = await deltaOf('cycles_migration');
    expect(Number.parseFloat(migration.delta!)).toBe(
      values['cycles_migration']![1]! - values['cycles_migration']![0]!,
    );
    expect(migration.text.startsWith('+')).toBe(true);
    expect(migration.worse).toBe(true);
    await shot('compare-baseline');
    // CMA as the baseline: the same difference, turned round, is better.
    await summary.getByLabel('Baseline variant').selectOption({ label: 'CMA 1 GiB' });
    const flipped = await deltaOf('cycles_migration');
    expect(flipped.text.startsWith('-')).toBe(true);
    expect(flipped.better).toBe(true);
    // Counters per second, on log axes: the counter charts say so, the memory chart does not.
    await page.getByRole('checkbox', { name: 'counters per second' }).check();
    await page.getByRole('radio', { name: 'log' }).check();
    await page.getByRole('heading', { level: 3, name: 'Splits and merges per second' }).waitFor();
    expect(
      await page.getByRole('heading', { level: 3, name: 'Host memory by category' }).count(),
    ).toBe(1);
    await shot('compare-per-second-log');
  });

  it('shows a variant that failed as a column that says "failed" and why, never best', async () => {
    await setUpHugetlbVsCma();
    // No 1 GiB pages in the host's pool: the HugeTLB variant cannot create its file.
    await fillField(page.getByRole('group', { name: 'nodes 0' }).getByLabel('hugetlb1g'), '0');
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await heading('Runs').waitFor();
    await page.waitForFunction(
      () => {
        const items = [...document.querySelectorAll('li')].map((li) => li.textContent ?? '');
        return (
          items.some((t) => t.includes('HugeTLB 1 GiB') && /\bfailed\b/.test(t)) &&
          items.some((t) => t.includes('CMA 1 GiB') && /\bdone\b/.test(t))
        );
      },
      undefined,
      { timeout: 60_000 },
    );
    await openCompare();
    const summary = page.getByRole('region', { name: 'Summary' });
    const header = await summary.locator('thead th.num').allTextContents();
    expect(header.slice(0, 2).map((h) => h.trim())).toEqual([
      'HugeTLB 1 GiB (baseline)',
      'CMA 1 GiB',
    ]);
    const row = summary
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name: 'host_total_bytes', exact: true }) });
    const failedCell = row.locator('td.failed');
    expect((await failedCell.textContent())!.trim()).toBe('failed');
    expect(await failedCell.getAttribute('title')).toMatch(/ENOMEM/);
    expect(await summary.locator('td.best').count()).toBe(0);
    expect(await summary.locator('.failures').textContent()).toMatch(
      /HugeTLB 1 GiB failed: ENOMEM/,
    );
    await shot('compare-failed-variant');
  });

  it('runs a two-point sweep and shows its plot, one line per variant, with a CSV of every point', async () => {
    await setUpHugetlbVsCma();
    await page
      .getByRole('navigation', { name: 'Views' })
      .getByRole('button', { name: 'Sweep' })
      .click();
    await heading('Sweep').waitFor();
    await fillField(page.getByLabel('Path of parameter 1'), 'guest.memoryBytes');
    await fillField(page.getByLabel('Values of parameter 1'), '2 GiB, 4 GiB');
    await page.getByRole('button', { name: 'Run sweep' }).click();
    await page.waitForFunction(
      () =>
        /4 of 4 runs/.test(document.querySelector('.progress-line')?.textContent ?? '') &&
        /done/.test(document.querySelector('.progress-line')?.textContent ?? ''),
      undefined,
      { timeout: 60_000 },
    );
    const plot = page.locator('figure.sweep-plot svg');
    await plot.waitFor();
    expect(await plot.locator('polyline').count()).toBe(VARIANTS.length);
    expect(await plot.locator('circle').count()).toBe(2 * VARIANTS.length);
    expect(await plot.locator('text').allTextContents()).toEqual(
      expect.arrayContaining(['2 GiB', '4 GiB', ...VARIANTS]),
    );
    await page.getByLabel('Metric plotted').selectOption('host_total_bytes');
    await expect
      .poll(() => plot.locator('text').first().textContent())
      .toBe('host_total_bytes by guest.memoryBytes');
    const [d] = await downloads(1, () =>
      page.getByRole('button', { name: 'CSV of every point' }).click(),
    );
    const csv = (await bytesOf(d!)).toString('utf8').trimEnd().split('\n');
    expect(csv[0]!.startsWith('guest.memoryBytes,variant,error,')).toBe(true);
    expect(csv.slice(1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual([
      `${2 * 2 ** 30},${VARIANTS[0]}`,
      `${2 * 2 ** 30},${VARIANTS[1]}`,
      `${4 * 2 ** 30},${VARIANTS[0]}`,
      `${4 * 2 ** 30},${VARIANTS[1]}`,
    ]);
    await shot('sweep');
  });

  it('exports a chart as PNG: a valid image at 2x, opaque, with the series drawn', async () => {
    await setUpHugetlbVsCma();
    await runBoth();
    await openCompare();
    const title = `Host memory by category: ${VARIANTS[1]}`;
    const [d] = await downloads(1, () =>
      page.getByRole('button', { name: `Export ${title} as PNG` }).click(),
    );
    expect(d!.suggestedFilename()).toBe('memory-CMA_1_GiB.png');
    const png = decodePng(await bytesOf(d!));
    expect([png.width, png.height]).toEqual([1800, 840]);
    expect(png.chunks[0]).toBe('IHDR');
    let transparent = 0;
    let series = 0;
    const colours = SERIES_COLOURS.map((h) =>
      [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)),
    );
    for (let p = 0; p < png.width * png.height; p++) {
      if (png.rgba[p * 4 + 3] !== 255) transparent++;
      const px = [png.rgba[p * 4]!, png.rgba[p * 4 + 1]!, png.rgba[p * 4 + 2]!];
      if (colours.some((c) => px.reduce((s, v, k) => s + Math.abs(v - c[k]!), 0) < 40)) series++;
    }
    expect(transparent).toBe(0);
    for (const [x, y] of [
      [0, 0],
      [png.width - 1, 0],
      [0, png.height - 1],
      [png.width - 1, png.height - 1],
    ])
      expect(pixel(png, x!, y!)).toEqual([...BACKGROUND, 255]);
    expect(series).toBeGreaterThan(1000);
  });

  it('exports a chart as SVG: well-formed, one polyline per series, the phases marked', async () => {
    await setUpHugetlbVsCma();
    await runBoth();
    await openCompare();
    const title = `Splits and merges: ${VARIANTS[1]}`;
    const panel = page.locator(`[data-chart-id="splits-${VARIANTS[1]}"]`);
    // "<title>: <series>, <series>; phases marked: boot, runtime"
    const label = (await panel.getByRole('img').getAttribute('aria-label')) ?? '';
    expect(label).toMatch(/; phases marked: boot, runtime/);
    const labels = label
      .slice(title.length + 2)
      .split('; phases marked: ')[0]!
      .split(', ');
    expect(labels.length).toBeGreaterThanOrEqual(2);
    const [d] = await downloads(1, () =>
      page.getByRole('button', { name: `Export ${title} as SVG` }).click(),
    );
    expect(d!.suggestedFilename()).toBe('splits-CMA_1_GiB.svg');
    const text = (await bytesOf(d!)).toString('utf8');
    // The browser's XML parser is strict: any well-formedness error gives a <parsererror>.
    const parsed = await page.evaluate((svg) => {
      const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
      const error = doc.getElementsByTagName('parsererror')[0]?.textContent ?? null;
      const root = doc.documentElement;
      return {
        error,
        root: root.localName,
        ns: root.namespaceURI,
        texts: [...doc.getElementsByTagName('text')].map((t) => t.textContent ?? ''),
        marks: [...doc.querySelectorAll('g.marks line title')].map((t) => t.textContent ?? ''),
        polylines: [...doc.getElementsByTagName('polyline')].map((p) => ({
          points: (p.getAttribute('points') ?? '').trim().split(/\s+/).length,
          stroke: p.getAttribute('stroke'),
        })),
      };
    }, text);
    expect(parsed.error).toBeNull();
    expect(parsed.root).toBe('svg');
    expect(parsed.ns).toBe('http://www.w3.org/2000/svg');
    expect(parsed.texts).toContain(title);
    // The phases marked on screen are marked in the file.
    expect(parsed.marks).toEqual(['boot', 'runtime']);
    expect(parsed.polylines).toHaveLength(labels.length);
    for (const label of labels) expect(parsed.texts).toContain(label);
    for (const [i, p] of parsed.polylines.entries()) {
      expect(p.points).toBeGreaterThan(10);
      expect(p.stroke?.toLowerCase()).toBe(PALETTE[i]!.toLowerCase());
    }
  });

  it('exports CSV of every series: one file per variant, every sample, the summary in the last row', async () => {
    await setUpHugetlbVsCma();
    await runBoth();
    const samples = await samplesShown();
    await openCompare();
    const summaryBefore = (await readSummary()).values;
    const files = await downloads(VARIANTS.length, () =>
      page.getByRole('button', { name: 'CSV of every series' }).click(),
    );
    expect(files.map((f) => f.suggestedFilename()).sort()).toEqual([
      'CMA_1_GiB.csv',
      'HugeTLB_1_GiB.csv',
    ]);
    for (const [v, name] of VARIANTS.entries()) {
      const file = files.find((f) => f.suggestedFilename() === `${name.replace(/ /g, '_')}.csv`)!;
      const csv = parseNumericCsv((await bytesOf(file)).toString('utf8'));
      expect(csv.header).toEqual(['time_ns', ...METRICS.map((m) => m.name), 'node0_bytes']);
      expect(csv.rows.length, name).toBe(samples.get(name));
      // Simulated time never goes back (a phase boundary may sample twice at one instant).
      const time = csv.rows.map((r) => r[0]!);
      for (let i = 1; i < time.length; i++) expect(time[i]!).toBeGreaterThanOrEqual(time[i - 1]!);
      expect(time.at(-1)!).toBeGreaterThan(time[0]!);
      const last = csv.rows.at(-1)!;
      let compared = 0;
      for (const [metric, values] of Object.entries(summaryBefore)) {
        const col = csv.header.indexOf(metric);
        if (col < 0) continue;
        const want = values[v]!;
        expect(Math.abs(last[col]! - want), `${name}: ${metric}`).toBeLessThanOrEqual(
          1e-9 * Math.max(1, Math.abs(want)),
        );
        compared++;
      }
      expect(compared).toBeGreaterThan(10);
    }
  });

  it('saves with Ctrl+S: the file appears in the workspace folder and in the library', async () => {
    await setUpHugetlbVsCma();
    await runBoth();
    await openCompare();
    const summaryBefore = (await readSummary()).values;
    const savedPath = await saveWithCtrlS();
    const fileName = basename(savedPath);

    // The results are saved with the configuration hash of what ran.
    const doc = JSON.parse(await readFile(savedPath, 'utf8')) as Record<string, unknown>;
    const parsed = parseExperimentValue(doc);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.experiment.name).toBe(NAME);
    expect(parsed.experiment.variants.map((x) => [x.name, x.allocator])).toEqual([
      [VARIANTS[0], 'hugetlb'],
      [VARIANTS[1], 'cma-raw'],
    ]);
    // The CMA variant began as a duplicate of the HugeTLB one: the file keeps what it changes.
    expect((doc['variants'] as unknown[])[1]).toEqual({
      name: VARIANTS[1],
      base: VARIANTS[0],
      allocator: 'cma-raw',
    });
    const results = parsed.experiment.results!;
    expect(results.configHash).toBe(configHash(parsed.experiment));
    expect(results.variants.map((x) => x.name)).toEqual([...VARIANTS]);
    for (const [v, saved] of results.variants.entries())
      for (const [metric, values] of Object.entries(summaryBefore))
        expect(flatSummary(saved.summary, saved.phases)[metric], metric).toBe(values[v]);

    await view('Library').click();
    const row = page.getByRole('row').filter({ hasText: fileName! });
    await row.getByText(NAME).waitFor();
    expect(await row.getByText('fresh', { exact: true }).count()).toBe(1);
    expect(await row.textContent()).toContain(VARIANTS.join(', '));
  });

  it('reloads, reopens the file from the library and shows the same results, fresh', async () => {
    await setUpHugetlbVsCma();
    await runBoth();
    await openCompare();
    const summaryBefore = (await readSummary()).values;
    const savedPath = await saveWithCtrlS();

    await page.reload();
    await settled();
    await heading('Experiments').waitFor();
    const row = page.getByRole('row').filter({ hasText: NAME });
    await row.getByRole('button', { name: 'Open' }).click();
    await heading(new RegExp(`^${NAME}`)).waitFor();
    await page.getByText(savedPath, { exact: true }).waitFor();
    expect(await page.getByTitle('Unsaved changes').count()).toBe(0);

    await view('Runs').click();
    await page.getByText('These results were saved with the file').waitFor();
    expect(await page.getByText('stale').count()).toBe(0);

    await view('Compare').click();
    await heading('Compare').waitFor();
    const summary = await readSummary();
    expect(summary.variants).toEqual([...VARIANTS]);
    expect(summary.values).toEqual(summaryBefore);
    expect(await page.getByText('These results are stale').count()).toBe(0);
    await expectSideBySideCharts(VARIANTS);
  });

  it('lists broken files with their problem and names the problem when one is opened', async () => {
    // A good file in the workspace, open in the workbench.
    const goodPath = join(workspace, 'good.gmemlab.json');
    await copyFile(PRESET_FILE, goodPath);
    await openWorkbench();
    await page
      .getByRole('row')
      .filter({ hasText: 'good.gmemlab.json' })
      .getByRole('button', { name: 'Open' })
      .click();
    await heading(new RegExp(`^${PRESET_NAME}`)).waitFor();

    const good = await readFile(goodPath, 'utf8');
    await writeFile(join(workspace, 'truncated.gmemlab.json'), good.slice(0, 400));
    const invalid = JSON.parse(good) as {
      guest: { memoryBytes: unknown };
      variants: Array<{ allocator: unknown }>;
    };
    invalid.guest.memoryBytes = -5;
    invalid.variants[0]!.allocator = 'zram';
    await writeFile(join(workspace, 'invalid.gmemlab.json'), JSON.stringify(invalid, null, 2));

    await view('Library').click();
    await page.getByRole('button', { name: 'Refresh' }).click();
    const truncatedRow = page.getByRole('row').filter({ hasText: 'truncated.gmemlab.json' });
    const invalidRow = page.getByRole('row').filter({ hasText: 'invalid.gmemlab.json' });
    await truncatedRow.getByRole('note').filter({ hasText: 'not valid JSON' }).waitFor();
    await invalidRow.getByRole('note').filter({ hasText: 'guest.memoryBytes' }).waitFor();
    expect(await invalidRow.getByRole('note').textContent()).toContain('variants[0].allocator');
    for (const row of [truncatedRow, invalidRow]) {
      expect(await row.getByText('(unreadable)').count()).toBe(1);
      expect(await row.getByRole('button', { name: 'Open' }).isDisabled()).toBe(true);
    }
    await shot('library-problems');

    // Open each through "Open file…" (the browser's file chooser).
    const banner = page.getByRole('alert').filter({ hasText: /^Could not open/ });
    for (const [file, problems] of [
      ['truncated.gmemlab.json', ['not valid JSON']],
      ['invalid.gmemlab.json', ['guest.memoryBytes', 'variants[0].allocator']],
    ] as const) {
      const [chooser] = await Promise.all([
        page.waitForEvent('filechooser'),
        page.getByRole('button', { name: 'Open file…' }).click(),
      ]);
      await chooser.setFiles(join(workspace, file));
      await banner.filter({ hasText: `Could not open ${file}` }).waitFor();
      for (const p of problems) expect(await banner.textContent()).toContain(p);
      if (file.startsWith('truncated')) await shot('error-banner');
      await banner.getByRole('button', { name: 'Close message' }).click();
      await banner.waitFor({ state: 'detached' });
    }
    // The experiment that was open is still open, unchanged.
    await view('Setup').click();
    await heading(new RegExp(`^${PRESET_NAME}`)).waitFor();
    await page.getByText(goodPath, { exact: true }).waitFor();
    expect(await page.getByTitle('Unsaved changes').count()).toBe(0);
  });

  it('keeps working: another preset opens and runs, with what the command line computes', async () => {
    const cli = promisify(execFile)(
      process.execPath,
      ['bin/gmem-lab.mjs', 'run', 'preset:hugetlb-vs-cma-1g', '--json'],
      { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 },
    );
    await openWorkbench();
    await page
      .getByRole('button', { name: /^New experiment from preset 1 GiB pages for one VM/ })
      .click();
    await heading(/^1 GiB pages for one VM: HugeTLB pool vs CMA area/).waitFor();
    expect(await page.getByLabel(/^Backing of /).count()).toBe(2);
    await page.keyboard.press('Control+Enter');
    await heading('Runs').waitFor();
    await runAndWait(VARIANTS);
    await view('Compare').click();
    await heading('Compare').waitFor();
    await expectSideBySideCharts(VARIANTS);
    const summary = await readSummary();
    expect(summary.values['guest_bytes']).toEqual([2 ** 34, 2 ** 34]);

    const json = JSON.parse((await cli).stdout) as unknown;
    const byVariant = cliSummaries(json);
    for (const [v, name] of VARIANTS.entries())
      for (const [metric, values] of Object.entries(summary.values))
        expect(values[v], `${name}: ${metric}`).toBe(byVariant.get(name)?.[metric]);
  });

  it('shows the model reference', async () => {
    await openWorkbench();
    await view('Reference').click();
    await heading('Model reference').waitFor();
    const metricRows = page.getByRole('table').first().getByRole('row');
    expect(await metricRows.count()).toBe(METRICS.length + 1);
    await shot('reference');
    await page.getByRole('searchbox').fill('vmemmap');
    await expect.poll(() => metricRows.count()).toBeLessThan(METRICS.length + 1);
    for (const text of (await metricRows.allTextContents()).slice(1))
      expect(text.toLowerCase()).toContain('vmemmap');
  });

  it('the server logged no internal error or warning in any scenario', () => {
    expect(server.stderr()).not.toMatch(/internal error|warning/);
  });
});

/** The summaries of `gmem-lab run --json`, keyed by variant name. */
function cliSummaries(json: unknown): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  const variants = (json as { variants?: unknown }).variants;
  if (!Array.isArray(variants))
    throw new Error(`unexpected --json output: ${JSON.stringify(json).slice(0, 200)}`);
  for (const v of variants as Array<{
    name: string;
    summary: Record<string, number>;
    phases?: PhaseSummary[];
  }>)
    out.set(v.name, flatSummary(v.summary, v.phases));
  return out;
}

/** A summary with its phase counters as `<metric>@<phase>` keys, as the summary table's rows. */
function flatSummary(
  summary: Record<string, number>,
  phases: readonly PhaseSummary[] | undefined,
): Record<string, number> {
  const out = { ...summary };
  for (const p of phases ?? [])
    for (const [metric, value] of Object.entries(p.metrics)) out[`${metric}@${p.name}`] = value;
  return out;
}
