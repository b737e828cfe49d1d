// `npm run bench`: speed and footprint figures of gmem-lab, printed as a table and written as JSON
// (bench/results/latest.json) with the machine's core count, load and the Node version. Benchmarks
// are separate from tests: nothing here fails a build. Each figure with a target says PASS or FAIL,
// and a last line counts the targets met.
//
//   npm run bench                          everything
//   npm run bench -- core,memory           only those sections
// Sections: core, memory, scale, trace, pool, cli, sweep, payload, renderer. The pool, cli and sweep sections
// use the built CLI and worker (npm run build:cli) when they are up to date; renderer needs the
// built renderer (npx electron-vite build) and Chromium.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { benchCli } from './cli.js';
import { benchConversions, benchMemory } from './core.js';
import { meetsTarget, type Figure } from './figures.js';
import { benchPayload } from './payload.js';
import { benchPresetPool, benchSweep } from './pool.js';
import { benchRenderer, rendererSkipReason } from './renderer.js';
import { benchScale } from './scale.js';
import { benchTrace } from './trace.js';

const SECTIONS: Record<string, (figures: Figure[]) => void | Promise<void>> = {
  core: benchConversions,
  memory: benchMemory,
  scale: benchScale,
  trace: benchTrace,
  pool: benchPresetPool,
  cli: benchCli,
  sweep: benchSweep,
  payload: benchPayload,
  renderer: async (figures) => {
    const skip = rendererSkipReason();
    if (skip) {
      figures.push({ name: 'renderer', value: NaN, unit: '', note: `skipped: ${skip}` });
      return;
    }
    await benchRenderer(figures);
  },
};

const asked = (process.argv[2] ?? Object.keys(SECTIONS).join(',')).split(',').filter(Boolean);
for (const s of asked) if (!SECTIONS[s]) throw new Error(`unknown section ${s}`);

const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  loadavgAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
};
const figures: Figure[] = [];
for (const s of asked) {
  const t0 = performance.now();
  await SECTIONS[s]!(figures);
  process.stderr.write(`bench: ${s} took ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

const width = Math.max(...figures.map((f) => f.name.length));
const fmt = (v: number) => (Number.isNaN(v) ? '-' : v.toLocaleString('en-US'));
console.log(
  `gmem-lab bench (${machine.cores} cores, ${machine.cpu}, Node ${machine.node}, load ${machine.loadavgAtStart.join(' ')})`,
);
const verdict = (ok: boolean | undefined) => (ok === undefined ? '' : ok ? '  PASS' : '  FAIL');
for (const f of figures) {
  console.log(
    `${f.name.padEnd(width)}  ${fmt(f.value).padStart(12)} ${f.unit.padEnd(4)} ${f.target ? `target ${f.target}${verdict(meetsTarget(f))}` : ''}`.trimEnd(),
  );
  if (f.note) console.log(`${''.padEnd(width)}    ${f.note}`);
}
const judged = figures.filter((f) => meetsTarget(f) !== undefined);
const missed = judged.filter((f) => meetsTarget(f) === false);
console.log(`targets: ${judged.length - missed.length} of ${judged.length} met`);
for (const f of missed)
  console.log(`FAIL ${f.name}: ${fmt(f.value)} ${f.unit}, target ${f.target}`);
const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, 'latest.json'),
  JSON.stringify(
    {
      machine: { ...machine, loadavgAtEnd: loadavg().map((l) => Math.round(l * 100) / 100) },
      date: new Date().toISOString(),
      sections: asked,
      figures: figures.map((f) => ({ ...f, pass: meetsTarget(f) })),
    },
    null,
    2,
  ) + '\n',
);
