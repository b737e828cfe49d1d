// `npm run bench`: speed and footprint figures of gmem-lab, printed as a table and written as JSON
// (bench/results/latest.json) with the machine's core count and the Node version. Benchmarks are
// separate from tests: nothing here fails a build.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Simulation } from '../core/sim/simulation.js';
import { GiB, TiB } from '../core/units.js';

interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly target?: string;
}

const figures: Figure[] = [];

function hugeHost(guestBytes: number) {
  return {
    nodes: [{ memoryBytes: guestBytes + 64 * GiB, cpus: '0-15', hugetlb1g: guestBytes / GiB }],
  };
}

/** Random 4 KiB conversions alternating to-shared and to-private over a 1 TiB guest on 1 GiB
 * HugeTLB pages with eager merge: every pair splits and merges one 1 GiB folio. */
function benchConversions(): void {
  const sim = new Simulation({
    host: hugeHost(TiB),
    variant: { name: 'bench', guestBytes: TiB, pageSize: '1g', allocator: 'hugetlb' },
    seed: 1,
  });
  sim.fallocate(0, TiB);
  const pages = TiB / 4096;
  let x = 1;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const offset = ((x * 64) % pages) * 4096;
      sim.convert(offset, 4096, 'shared');
      sim.convert(offset, 4096, 'private');
    }
  };
  run(20_000); // warm up
  const n = 200_000;
  const t0 = performance.now();
  run(n);
  const seconds = (performance.now() - t0) / 1000;
  figures.push({
    name: 'conversions per second (1 TiB, 1 GiB HugeTLB, eager merge)',
    value: Math.round((2 * n) / seconds),
    unit: '1/s',
    target: '>= 10,000,000',
  });
}

function benchFootprint(guestBytes: number, label: string, target?: string): void {
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  const sim = new Simulation({
    host: hugeHost(guestBytes),
    variant: { name: 'bench', guestBytes, pageSize: '1g', allocator: 'hugetlb' },
    seed: 1,
  });
  sim.fallocate(0, guestBytes);
  const pages = guestBytes / 4096;
  for (let i = 0; i < 100_000; i++)
    sim.convert(((i * 2654435761) % pages) * 4096, 4096, i % 3 === 0 ? 'private' : 'shared');
  sim.sample();
  const after = process.memoryUsage().rss;
  figures.push({
    name: `model state of a ${label} guest`,
    value: Math.round(sim.gmem.modelStorageBytes() / 2 ** 20),
    unit: 'MiB',
  });
  figures.push({
    name: `RSS growth running a ${label} guest`,
    value: Math.round((after - before) / 2 ** 20),
    unit: 'MiB',
    ...(target ? { target } : {}),
  });
}

benchConversions();
benchFootprint(TiB, '1 TiB', '< 512');
benchFootprint(4 * TiB, '4 TiB', 'runs at all');

const machine = { cores: cpus().length, node: process.version };
const width = Math.max(...figures.map((f) => f.name.length));
console.log(`gmem-lab bench (${machine.cores} cores, Node ${machine.node})`);
for (const f of figures) {
  console.log(
    `${f.name.padEnd(width)}  ${f.value.toLocaleString('en-US').padStart(14)} ${f.unit.padEnd(4)} ${f.target ? `target ${f.target}` : ''}`,
  );
}
const dir = join(import.meta.dirname, 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, 'latest.json'),
  JSON.stringify({ machine, date: new Date().toISOString(), figures }, null, 2) + '\n',
);
