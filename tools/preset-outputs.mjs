#!/usr/bin/env node
// Every bundled preset's `gmem-lab run --json` output, written to a folder or compared with one.
// A change that must not alter behaviour (a restructuring) writes the outputs before it and
// compares after it:
//
//   node tools/preset-outputs.mjs write /tmp/before     # on the old tree
//   node tools/preset-outputs.mjs compare /tmp/before   # on the new tree: exit 1 on any difference
//
// The comparison is exact, number for number; `--ignore KEY` (repeatable) leaves out summary keys
// whose change is intended (for example latency percentiles after a latency fix), and names them.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const [mode, dir, ...rest] = process.argv.slice(2);
const ignore = new Set();
for (let i = 0; i < rest.length; i += 1) {
  if (rest[i] === '--ignore' && rest[i + 1]) ignore.add(rest[(i += 1)]);
  else usage(`unknown argument ${rest[i]}`);
}
if ((mode !== 'write' && mode !== 'compare') || !dir) usage('give a mode and a folder');

function usage(why) {
  console.error(
    `preset-outputs: ${why}\nusage: preset-outputs.mjs write|compare DIR [--ignore KEY]...`,
  );
  process.exit(2);
}

const presets = readdirSync(join(root, 'resources/presets'))
  .filter((f) => f.endsWith('.gmemlab.json'))
  .map((f) => f.slice(0, -'.gmemlab.json'.length))
  .sort();

function runPreset(name) {
  return execFileSync(
    process.execPath,
    [join(root, 'bin/gmem-lab.mjs'), 'run', `preset:${name}`, '--json', '--workers', '2'],
    {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      env: { ...process.env, GMEMLAB_CLI: 'source' },
    },
  );
}

function strip(value) {
  if (Array.isArray(value)) return value.map(strip);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) if (!ignore.has(k)) out[k] = strip(v);
    return out;
  }
  return value;
}

let differences = 0;
if (mode === 'write') mkdirSync(dir, { recursive: true });
for (const name of presets) {
  const output = runPreset(name);
  const file = join(dir, `${name}.json`);
  if (mode === 'write') {
    writeFileSync(file, output);
    console.log(`wrote ${file}`);
    continue;
  }
  const before = JSON.stringify(strip(JSON.parse(readFileSync(file, 'utf8'))), null, 1).split('\n');
  const after = JSON.stringify(strip(JSON.parse(output)), null, 1).split('\n');
  const diffs = [];
  for (let i = 0; i < Math.max(before.length, after.length); i += 1) {
    if (before[i] !== after[i])
      diffs.push(`  line ${i + 1}: ${before[i]?.trim()} -> ${after[i]?.trim()}`);
  }
  if (diffs.length === 0) console.log(`same      ${name}`);
  else {
    differences += 1;
    console.log(`DIFFERENT ${name} (${diffs.length} lines)\n${diffs.slice(0, 20).join('\n')}`);
  }
}
if (mode === 'compare') {
  if (ignore.size) console.log(`left out: ${[...ignore].join(', ')}`);
  console.log(
    differences === 0 ? 'every preset output is identical' : `${differences} presets differ`,
  );
  process.exit(differences === 0 ? 0 : 1);
}
