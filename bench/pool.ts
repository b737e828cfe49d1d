// Worker-pool figures: the 16 GiB SNP boot preset's four variants, and a 16-variant sweep, run by
// SimulationHost on worker threads, timed from handing the runs to the pool to the last result
// (the workers are started and ready before, as in the workbench, which starts its pool with the
// app). Workers run the built worker (out/cli/simulation-worker.mjs) when it is up to date, else
// the TypeScript source through tsx.
import { readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseExperimentValue } from '../core/experiment/load.js';
import type { Experiment } from '../core/experiment/schema.js';
import { sweepCombinations } from '../main/cli/index.js';
import { SimulationHost } from '../main/services/simulation-host.js';
import type { Figure } from './figures.js';

const ROOT = join(import.meta.dirname, '..');

/** Whether out/cli is newer than every source it was built from (as bin/gmem-lab.mjs checks). */
export function builtCliFresh(): boolean {
  try {
    const builtAt = statSync(join(ROOT, 'out', 'cli', 'gmem-lab.mjs')).mtimeMs;
    statSync(join(ROOT, 'out', 'cli', 'simulation-worker.mjs'));
    const manifest = JSON.parse(
      readFileSync(join(ROOT, 'out', 'cli', 'manifest.json'), 'utf8'),
    ) as { inputs: string[] };
    return manifest.inputs.every((f) => statSync(join(ROOT, f)).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}

function workerEntry(): { url: URL; label: string } {
  return builtCliFresh()
    ? {
        url: pathToFileURL(join(ROOT, 'out', 'cli', 'simulation-worker.mjs')),
        label: 'built worker',
      }
    : {
        url: pathToFileURL(join(ROOT, 'main', 'worker', 'simulation-worker.ts')),
        label: 'worker from source (tsx; run npm run build:cli)',
      };
}

export function presetExperiment(name: string): Experiment {
  const parsed = parseExperimentValue(
    JSON.parse(readFileSync(join(ROOT, 'resources', 'presets', `${name}.gmemlab.json`), 'utf8')),
  );
  if (!parsed.ok) throw new Error(`${name}: ${JSON.stringify(parsed.problems)}`);
  return parsed.experiment;
}

async function readyHost(size: number, entry: URL, warmUp = false): Promise<SimulationHost> {
  const host = new SimulationHost({ size, workerEntry: entry, warmUp });
  await host.whenReady();
  return host;
}

/** Milliseconds to run every variant of each experiment on `host`. */
async function timeRuns(host: SimulationHost, experiments: readonly Experiment[]): Promise<number> {
  const t0 = performance.now();
  const handles = experiments.flatMap((experiment) =>
    experiment.variants.map((_, variantIndex) => host.run({ experiment, variantIndex })),
  );
  const outcomes = await Promise.all(handles.map((h) => h.done));
  const ms = performance.now() - t0;
  const bad = outcomes.find((o) => o.status !== 'done');
  if (bad) throw new Error(`a run did not finish: ${JSON.stringify(bad)}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchPresetPool(figures: Figure[]): Promise<void> {
  const experiment = presetExperiment('snp-boot-16g-backings');
  const entry = workerEntry();
  const cores = cpus().length;
  for (const size of [...new Set([Math.max(1, cores - 1), Math.min(cores, 4)])]) {
    const workers = `pool of ${size} worker${size > 1 ? 's' : ''}`;
    const host = await readyHost(size, entry.url);
    try {
      const cold = await timeRuns(host, [experiment]);
      const warm: number[] = [];
      for (let i = 0; i < 5; i++) warm.push(await timeRuns(host, [experiment]));
      figures.push({
        name: `16 GiB SNP boot preset, 4 variants, ${workers}: first run on fresh workers`,
        value: Math.round(cold),
        unit: 'ms',
        target: '< 100',
        note: `the workers' code is still cold (V8 interpreter); ${entry.label}`,
      });
      figures.push({
        name: `16 GiB SNP boot preset, 4 variants, ${workers}: later runs`,
        value: Math.round(median(warm)),
        unit: 'ms',
        target: '< 100',
        note: `median of ${warm.length}; ${entry.label}`,
      });
    } finally {
      await host.close();
    }
    const t0 = performance.now();
    const warmed = await readyHost(size, entry.url, true);
    const readyMs = performance.now() - t0;
    try {
      const first = await timeRuns(warmed, [experiment]);
      figures.push({
        name: `16 GiB SNP boot preset, 4 variants, ${workers}: first run on warmed-up workers`,
        value: Math.round(first),
        unit: 'ms',
        target: '< 100',
        note: `SimulationHost warmUp (as gmem-lab serve starts its pool): workers ready after ${Math.round(readyMs)} ms`,
      });
    } finally {
      await warmed.close();
    }
  }
}

/** The sweep of the CLI's help text: the merge-policies preset (4 variants) over two guest sizes
 * and two split policies of its first variant, 16 runs. */
function sweepExperiments(): Experiment[] {
  return sweepCombinations(presetExperiment('merge-policies'), [
    'guest.memoryBytes=4294967296,17179869184',
    'variants[0].policies.split=to-4k,staged',
  ]).map((c) => c.experiment);
}

export async function benchSweep(figures: Figure[]): Promise<void> {
  const experiments = sweepExperiments();
  const entry = workerEntry();
  const workers = Math.max(2, Math.min(cpus().length, 4));
  const times: Record<number, { fresh: number; first: number; steady: number }> = {};
  for (const size of [1, workers]) {
    // Fresh workers: the sweep pays the JIT warm-up of each worker.
    const fresh = await readyHost(size, entry.url);
    let freshMs: number;
    try {
      freshMs = await timeRuns(fresh, experiments);
    } finally {
      await fresh.close();
    }
    // Warmed-up workers (SimulationHost warmUp): the first sweep, then the steady state.
    const warmed = await readyHost(size, entry.url, true);
    try {
      const runs: number[] = [];
      for (let i = 0; i < 7; i++) runs.push(await timeRuns(warmed, experiments));
      times[size] = { fresh: freshMs, first: runs[0]!, steady: median(runs.slice(2)) };
    } finally {
      await warmed.close();
    }
  }
  const one = times[1]!;
  const many = times[workers]!;
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  figures.push(
    {
      name: 'sweep of 16 runs (merge-policies x 2 guest sizes x 2 splits): 1 worker',
      value: Math.round(one.steady),
      unit: 'ms',
      note: `steady state (median of sweeps 3-7 on warmed-up workers); first sweep ${Math.round(one.first)} ms warmed up, ${Math.round(one.fresh)} ms on fresh workers; ${entry.label}`,
    },
    {
      name: `sweep of 16 runs: ${workers} workers`,
      value: Math.round(many.steady),
      unit: 'ms',
      note: `steady state; first sweep ${Math.round(many.first)} ms warmed up, ${Math.round(many.fresh)} ms on fresh workers`,
    },
    {
      name: `sweep of 16 runs: speed-up of ${workers} workers over 1`,
      value: ratio(one.steady, many.steady),
      unit: 'x',
      target: `>= ${(0.8 * workers).toFixed(1)}`,
      note: `steady state; first sweep on warmed-up workers ${ratio(one.first, many.first)} x, on fresh workers ${ratio(one.fresh, many.fresh)} x`,
    },
  );
}
