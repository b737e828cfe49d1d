// Renderer figures, measured in Chromium (Debian's /usr/bin/chromium through playwright-core) on
// the built workbench page served by `gmem-lab serve`: how long the main thread is blocked while a
// run streams progress and results (Long Tasks API), and how long the compare view takes to redraw
// with 4 variants of 2000 points a series (performance.now around a forced redraw, up to the next
// frame). Needs `npx electron-vite build` (out/renderer) first; without it, or without Chromium,
// the figures are skipped with the reason.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import type { Figure } from './figures.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../e2e/chromium.js';

const ROOT = join(import.meta.dirname, '..');
const URL_LINE = /gmem-lab workbench: (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9._~-]+)/;

/** Why the renderer figures cannot be taken here, or null. */
export function rendererSkipReason(): string | null {
  if (!existsSync(join(ROOT, 'out', 'renderer', 'index.html')))
    return 'out/renderer is not built (run npx electron-vite build)';
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found`;
  return null;
}

interface Serve {
  readonly url: string;
  stop(): Promise<void>;
}

async function serve(workspace: string, configDir: string): Promise<Serve> {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'gmem-lab.mjs'),
      'serve',
      '--port',
      '0',
      '--workspace',
      workspace,
      '--config-dir',
      configDir,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve gave no URL: ${out} ${err}`)), 60_000);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = URL_LINE.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}): ${err}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((done) => {
        child.once('exit', () => done());
        child.kill('SIGTERM');
      }),
  };
}

/** The 16 GiB SNP boot preset with 4 s of runtime sampled every 1 ms: > 4000 samples a variant,
 * so every series reaches the renderer downsampled to 2000 points, and a run that streams
 * progress for a while. */
async function experimentFile(dir: string): Promise<string> {
  const preset = JSON.parse(
    await readFile(
      join(ROOT, 'resources', 'presets', 'snp-boot-16g-backings.gmemlab.json'),
      'utf8',
    ),
  ) as Record<string, unknown>;
  const doc = {
    ...preset,
    name: 'bench compare',
    workload: { ...(preset['workload'] as object), runtime: { durationNs: 4_000_000_000 } },
  };
  const path = join(dir, 'bench-compare.gmemlab.json');
  await writeFile(path, JSON.stringify(doc, null, 2) + '\n');
  return path;
}

/** Long tasks since the page loaded (the observer is installed before any script runs). */
const LONG_TASKS = `
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
`;

async function longTasksSince(page: Page, since: number): Promise<number[]> {
  return page.evaluate(
    (t) =>
      (window as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks
        .filter((e) => e.start >= t)
        .map((e) => e.duration),
    since,
  );
}

/** Time (ms) from running `action` in the page to the frame after the charts have redrawn. */
async function timedRedraw(page: Page, action: string): Promise<number> {
  return page.evaluate(async (code) => {
    const t0 = performance.now();
    new Function(code)();
    // Svelte applies state changes in a microtask; Chart.js draws synchronously in update().
    await Promise.resolve();
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return performance.now() - t0;
  }, action);
}

export async function benchRenderer(figures: Figure[]): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'gmemlab-bench-'));
  const workspace = join(tmp, 'workspace');
  const configDir = join(tmp, 'config');
  await Promise.all([
    import('node:fs/promises').then((fs) => fs.mkdir(workspace, { recursive: true })),
    import('node:fs/promises').then((fs) => fs.mkdir(configDir, { recursive: true })),
  ]);
  await experimentFile(workspace);
  const server = await serve(workspace, configDir);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.addInitScript(LONG_TASKS);
    await page.goto(server.url);
    await page.locator('main[aria-busy="false"]').waitFor();
    await page.getByRole('button', { name: 'Open', exact: true }).first().click();
    await page.locator('main[aria-busy="false"]').waitFor();

    // A run streaming progress and results, watched in the Runs view (where Run leads).
    const views = page.getByRole('navigation', { name: 'Views' });
    const runAll = async (): Promise<void> => {
      await views.getByRole('button', { name: 'Runs' }).click();
      await page.getByRole('button', { name: 'Run all variants' }).click();
    };
    // Every variant's progress bar full and marked done (the Runs view).
    const runEnded = () =>
      page.waitForFunction(
        () => {
          const bars = [...document.querySelectorAll<HTMLProgressElement>('progress')];
          return (
            bars.length === 4 &&
            bars.every((b) => b.value === 1 && /\bdone\b/.test(b.closest('li')?.textContent ?? ''))
          );
        },
        undefined,
        { timeout: 120_000, polling: 20 },
      );
    const runStart = await page.evaluate(() => performance.now());
    await runAll();
    await runEnded();
    const runMs = await page.evaluate((t) => performance.now() - t, runStart);
    const streaming = await longTasksSince(page, runStart);

    // The compare view with the 4 results.
    const compareStart = await page.evaluate(() => performance.now());
    await page
      .getByRole('navigation', { name: 'Views' })
      .getByRole('button', { name: 'Compare' })
      .click();
    await page.locator('[data-chart-id] canvas').first().waitFor();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
    const openCompare = await page.evaluate((t) => performance.now() - t, compareStart);
    const shape = await page.evaluate(() => {
      const charts = document.querySelectorAll('[data-chart-id] canvas').length;
      return { charts };
    });

    // Forced redraws: reset zoom (every chart updates), and the layout switched and back.
    const resetZoom = 'document.querySelector(\'button[title^="Reset zoom"]\').click()';
    const redraws: number[] = [];
    for (let i = 0; i < 5; i++) redraws.push(await timedRedraw(page, resetZoom));
    const overlay = await timedRedraw(
      page,
      "document.querySelector('input[type=radio][value=overlay]').click()",
    );
    const sideBySide = await timedRedraw(
      page,
      "document.querySelector('input[type=radio][value=side-by-side]').click()",
    );
    const compareTasks = await longTasksSince(page, compareStart);

    // The same run again, watched in the compare view: each result that arrives adds its charts.
    const againStart = await page.evaluate(() => performance.now());
    await runAll();
    await views.getByRole('button', { name: 'Compare' }).click();
    // Done when all the charts are back and nothing runs (the spinner by Runs is gone).
    await page.waitForFunction(
      (charts) =>
        document.querySelectorAll('[data-chart-id] canvas').length === charts &&
        document.querySelector('nav [aria-label="running"]') === null,
      shape.charts,
      { timeout: 120_000, polling: 20 },
    );
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
    const intoCompare = await longTasksSince(page, againStart);

    redraws.sort((a, b) => a - b);
    figures.push(
      {
        name: 'renderer: longest main-thread task while 4 variants stream progress and results',
        value: Math.round(Math.max(0, ...streaming)),
        unit: 'ms',
        target: '<= 50',
        note: `Runs view; ${streaming.length} long tasks (> 50 ms) in the ${Math.round(runMs)} ms of the run (0 ms: none)`,
      },
      {
        name: 'renderer: longest main-thread task while results stream into the compare view',
        value: Math.round(Math.max(0, ...intoCompare)),
        unit: 'ms',
        target: '<= 50',
        note: `${intoCompare.length} long tasks: each result adds a column, and every chart already shown is resized and redrawn at once (Chart.js responsive resize); new charts are created one per frame`,
      },
      {
        name: `renderer: compare view redraw, 4 variants x 2000 points (${shape.charts} charts), reset zoom`,
        value: Math.round(redraws[Math.floor(redraws.length / 2)]!),
        unit: 'ms',
        target: '< 100',
        note: `median of ${redraws.length}; side-by-side -> overlay ${Math.round(overlay)} ms, back ${Math.round(sideBySide)} ms; first paint of the view ${Math.round(openCompare)} ms`,
      },
      {
        name: 'renderer: longest main-thread task in the compare view (open, redraws, layout switches)',
        value: Math.round(Math.max(0, ...compareTasks)),
        unit: 'ms',
      },
    );
  } finally {
    await browser.close();
    await server.stop();
    await rm(tmp, { recursive: true, force: true });
  }
}
