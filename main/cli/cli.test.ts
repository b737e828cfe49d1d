// The CLI end to end, in process, with real worker threads and real temporary folders.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED } from './index.js';
import { cli, smallExperiment, tempDir, writeExperiment } from './test-helpers.js';

describe('gmem-lab CLI', () => {
  it('prints help for the program and each command', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(EXIT_OK);
    expect(top.stdout).toMatch(/run \[options\] <file>/);
    expect(top.stdout).toMatch(/sweep/);
    for (const cmd of ['run', 'validate', 'sweep', 'presets', 'trace info']) {
      const r = await cli([...cmd.split(' '), '--help']);
      expect(r.code, cmd).toBe(EXIT_OK);
      expect(r.stdout, cmd).toMatch(new RegExp(`Usage: gmem-lab ${cmd}`));
    }
  });

  it('refuses unknown commands, options and bad numbers with exit code 2', async () => {
    expect((await cli(['frobnicate'])).code).toBe(EXIT_BAD_INPUT);
    const opt = await cli(['run', 'x.json', '--bogus']);
    expect(opt.code).toBe(EXIT_BAD_INPUT);
    expect(opt.stderr).toMatch(/unknown option '--bogus'/);
    const num = await cli(['run', 'preset:merge-policies', '--workers', 'lots']);
    expect(num.code).toBe(EXIT_BAD_INPUT);
    expect(num.stderr).toMatch(/--workers.*whole number/);
  });

  it('validate names the file and the field of every problem', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const doc = smallExperiment('small');
    (doc['variants'] as Record<string, unknown>[])[1]!['pageSize'] = '3m';
    (doc['guest'] as Record<string, unknown>)['vcpus'] = -1;
    const path = writeExperiment(dir, doc);
    const before = readFileSync(path);
    const r = await cli(['validate', path]);
    expect(r.code).toBe(EXIT_BAD_INPUT);
    expect(r.stderr).toContain(`${path}: variants[1].pageSize:`);
    expect(r.stderr).toContain(`${path}: guest.vcpus:`);
    // The refused file is left byte for byte as it was.
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('validate reports missing files, truncated JSON and newer versions', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const missing = await cli(['validate', join(dir, 'nope.gmemlab.json')]);
    expect(missing.code).toBe(EXIT_BAD_INPUT);
    expect(missing.stderr).toMatch(/cannot read the file/);
    const text = JSON.stringify(smallExperiment('small'), null, 2);
    const truncated = await cli([
      'validate',
      writeExperiment(dir, text.slice(0, 200), 't.gmemlab.json'),
    ]);
    expect(truncated.stderr).toMatch(/not valid JSON/);
    const newer = await cli([
      'validate',
      writeExperiment(dir, { ...smallExperiment('small'), version: 99 }, 'n.gmemlab.json'),
    ]);
    expect(newer.stderr).toMatch(/newer than this build/);
  });

  it('validate accepts every bundled preset', async () => {
    const list = await cli(['presets', '--json']);
    const presets = JSON.parse(list.stdout) as Array<{ name: string }>;
    expect(presets.length).toBeGreaterThanOrEqual(9);
    for (const p of presets)
      expect((await cli(['validate', `preset:${p.name}`])).code, p.name).toBe(EXIT_OK);
  });

  it('run prints a table, writes CSV of every series and the event log', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const path = writeExperiment(dir, smallExperiment('small'));
    const r = await cli(['run', path, '--csv', 'csv', '--events', 'events.jsonl'], dir);
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toMatch(/^metric\s+HugeTLB 2 MiB\s+HugeTLB 1 GiB/m);
    expect(r.stdout).toMatch(/^splits_1g\s/m);
    const files = readdirSync(join(dir, 'csv')).sort();
    expect(files).toEqual(['HugeTLB_1_GiB.csv', 'HugeTLB_2_MiB.csv']);
    const csv = readFileSync(join(dir, 'csv', 'HugeTLB_2_MiB.csv'), 'utf8')
      .trim()
      .split('\n');
    const header = csv[0]!.split(',');
    expect(header[0]).toBe('time_ns');
    expect(header).toContain('splits_2m');
    expect(header).toContain('node0_bytes');
    expect(csv.length).toBeGreaterThan(5);
    for (const row of csv.slice(1)) expect(row.split(',')).toHaveLength(header.length);
    const events = readFileSync(join(dir, 'events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { variant: string; type: string });
    expect(new Set(events.map((e) => e.variant))).toEqual(
      new Set(['HugeTLB 2 MiB', 'HugeTLB 1 GiB']),
    );
    expect(events.some((e) => e.type === 'split')).toBe(true);
  });

  it('--events: the log of each variant in variant order, joined from parts that do not stay', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const path = writeExperiment(dir, smallExperiment('small'));
    const r = await cli(['run', path, '--events', 'events.jsonl', '--workers', '2'], dir);
    expect(r.code).toBe(EXIT_OK);
    const lines = readFileSync(join(dir, 'events.jsonl'), 'utf8').trim().split('\n');
    const variants = lines.map((l) => (JSON.parse(l) as { variant: string }).variant);
    // Variant 0's events first, then variant 1's, whichever worker finished first.
    const firstOfSecond = variants.indexOf('HugeTLB 1 GiB');
    expect(firstOfSecond).toBeGreaterThan(0);
    expect(variants.slice(0, firstOfSecond).every((v) => v === 'HugeTLB 2 MiB')).toBe(true);
    expect(variants.slice(firstOfSecond).every((v) => v === 'HugeTLB 1 GiB')).toBe(true);
    // The per-variant parts (hidden temp files) are gone.
    expect(readdirSync(dir).sort()).toEqual(['events.jsonl', 'exp.gmemlab.json']);
  });

  it('--events-limit: warns before the run which logs will be cut, and says after how much was left out', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const path = writeExperiment(dir, smallExperiment('small'));
    const r = await cli(['run', path, '--events', 'e.jsonl', '--events-limit', '100'], dir);
    expect(r.code).toBe(EXIT_OK);
    const warning = r.stderr.indexOf(
      'warning: the event log of variant "HugeTLB 2 MiB" will be cut at 100 events',
    );
    const after = r.stderr.indexOf(
      'the event log of variant "HugeTLB 2 MiB" was cut at 100 events',
    );
    expect(warning).toBeGreaterThanOrEqual(0);
    expect(after).toBeGreaterThan(warning);
    expect(r.stderr).toMatch(/raise the limit with --events-limit \d+/);
    const lines = readFileSync(join(dir, 'e.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const cut = lines.filter((l) => l.type === 'log_truncated');
    expect(cut.length).toBe(2);
    for (const c of cut) expect(c).toMatchObject({ limit: 100 });
    expect(lines).toHaveLength(2 * 100 + 2);
    const bad = await cli(['run', path, '--events', 'e.jsonl', '--events-limit', 'many'], dir);
    expect(bad.code).toBe(EXIT_BAD_INPUT);
    expect(bad.stderr).toMatch(/--events-limit.*whole number of events/);
  });

  it('validate prints what a run implies: pages, operations, events, model memory', async () => {
    const r = await cli(['validate', 'preset:snp-boot-16g-backings']);
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toMatch(/4 KiB: 4,194,304 guest pages \(16 GiB\)/);
    expect(r.stdout).toMatch(/about [\d,]+ faults, [\d,]+ conversions, [\d,]+ folio allocations/);
    expect(r.stdout).toMatch(/model memory: up to about [\d.]+ MiB/);
    const json = JSON.parse(
      (await cli(['validate', 'preset:snp-boot-16g-backings', '--json'])).stdout,
    );
    expect(json.estimates).toHaveLength(4);
    expect(json.estimates[0].guestPages).toBe(4 * 2 ** 20);
  });

  it('validate names what each variant written as differences changes from its base', async () => {
    const r = await cli(['validate', 'preset:merge-policies']);
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toContain('  never: changes from eager: policies.merge=never\n');
    const json = JSON.parse((await cli(['validate', 'preset:merge-policies', '--json'])).stdout);
    expect(json.bases).toContainEqual({
      variant: 'never',
      base: 'eager',
      changes: { 'policies.merge': 'never' },
    });
    // A variant that stands on its own is not listed.
    expect(json.bases.map((b: { variant: string }) => b.variant)).not.toContain('eager');
  });

  it('run works from any working directory, the simulation workers included', async () => {
    const dir = tempDir();
    const file = writeExperiment(dir, smallExperiment('elsewhere'));
    const bin = fileURLToPath(new URL('../../bin/gmem-lab.mjs', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'run', file, '--json'], {
      cwd: dir,
      env: { ...process.env, GMEMLAB_CLI: 'source' },
    });
    const out = JSON.parse(stdout) as { variants: { summary: Record<string, number> }[] };
    expect(out.variants).toHaveLength(2);
    for (const v of out.variants) expect(v.summary.guest_bytes).toBe(2 * 1024 ** 3);
  });

  it('--memory-budget: a run that needs more fails with the reason; a bad size is bad input', async () => {
    const dir = tempDir();
    const doc = smallExperiment('budget');
    // 20,000 buffers placed anywhere in 128 GiB, each faulted in and accepted where it lands:
    // page bitmaps for most of its 1 GiB ranges, about 2 MiB.
    doc['workload'] = {
      kind: 'lifecycle',
      boot: { accept: { mode: 'lazy' } },
      runtime: { durationNs: 200_000_000, buffersPerSec: 100_000, region: 'all', locality: 0 },
      teardown: false,
    };
    doc['host'] = { nodes: [{ memoryBytes: 256 * 1024 ** 3, cpus: '0-7' }] };
    doc['guest'] = { memoryBytes: 128 * 1024 ** 3, vendor: 'snp', vcpus: 2 };
    doc['variants'] = [
      { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
      { name: 'THP 2 MiB', pageSize: '2m', allocator: 'thp' },
    ];
    const file = writeExperiment(dir, doc);
    const over = await cli(['run', file, '--memory-budget', '1MiB']);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/4 KiB: the model needs more memory than its budget of 1 MiB/);
    const bad = await cli(['run', file, '--memory-budget', 'lots']);
    expect(bad.code).toBe(EXIT_BAD_INPUT);
    expect(bad.stderr).toMatch(/--memory-budget.*expected a size of at least 1 MiB/);
    expect((await cli(['run', file, '--memory-budget', '2GiB'])).code).toBe(EXIT_OK);
  });

  it('run leaves out metrics that are 0 everywhere unless --all-metrics', async () => {
    const dir = tempDir();
    const file = writeExperiment(dir, smallExperiment('zeros'));
    const table = await cli(['run', file, '--no-progress']);
    const all = await cli(['run', file, '--no-progress', '--all-metrics']);
    expect(table.code).toBe(EXIT_OK);
    expect(all.code).toBe(EXIT_OK);
    // No variant of this experiment fails an allocation.
    expect(table.stdout).not.toMatch(/^alloc_failures /m);
    expect(all.stdout).toMatch(/^alloc_failures /m);
  });

  it('run --json gives the full summary keyed by metric names', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const r = await cli(['run', writeExperiment(dir, smallExperiment('small')), '--json']);
    const json = JSON.parse(r.stdout) as {
      variants: Array<{ name: string; summary: Record<string, number> }>;
    };
    expect(json.variants.map((v) => v.name)).toEqual(['HugeTLB 2 MiB', 'HugeTLB 1 GiB']);
    expect(Object.keys(json.variants[0]!.summary)).toContain('host_total_bytes');
    expect(json.variants[1]!.summary['splits_1g']).toBeGreaterThan(0);
  });

  it('run --json gives the counters per phase, which add up to the totals', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const r = await cli(['run', writeExperiment(dir, smallExperiment('small')), '--json']);
    const json = JSON.parse(r.stdout) as {
      variants: Array<{
        summary: Record<string, number>;
        phases: Array<{ name: string; count: number; metrics: Record<string, number> }>;
      }>;
    };
    const v = json.variants[1]!;
    expect(v.phases.map((p) => p.name)).toContain('boot');
    const splits = v.phases.reduce((sum, p) => sum + p.metrics['splits_1g']!, 0);
    expect(splits).toBe(v.summary['splits_1g']);
    const table = await cli(['run', writeExperiment(dir, smallExperiment('small'))]);
    expect(table.stdout).toMatch(/^splits_1g@boot\s/m);
  });

  it('a failed variant is a column that says "failed" and why, never zeros or best, and run exits 1', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const doc = smallExperiment('one fails');
    // No 1 GiB pages in the pool: the second variant cannot create its file.
    (doc.host as { nodes: Array<Record<string, unknown>> }).nodes[0]!.hugetlb1g = 0;
    const r = await cli(['run', writeExperiment(dir, doc)]);
    expect(r.code).toBe(EXIT_RUN_FAILED);
    const row = r.stdout.split('\n').find((l) => l.startsWith('host_total_bytes'))!;
    // A value, then "failed", and its difference and ratio against the baseline failed too;
    // with one value left nothing is compared, so nothing is best.
    expect(row).toMatch(/GiB\s+failed\s+failed\s+failed\s*$/);
    expect(r.stdout).not.toMatch(/ \*/);
    expect(r.stdout).toMatch(/^failed: HugeTLB 1 GiB: ENOMEM: .*1 GiB pages/m);
  });

  it('compares every variant with a baseline: difference and ratio columns, in the table and the CSV', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const path = writeExperiment(dir, smallExperiment('small'));
    const json = JSON.parse((await cli(['run', path, '--json', '--no-progress'])).stdout) as {
      variants: { name: string; summary: Record<string, number> }[];
    };
    const [a, b] = json.variants.map((v) => v.summary) as [
      Record<string, number>,
      Record<string, number>,
    ];
    // Default: the first variant is the baseline.
    const r = await cli(['run', path, '--no-progress', '--summary-csv', 'summary.csv'], dir);
    expect(r.code, r.stderr).toBe(0);
    const header = r.stdout.split('\n').find((l) => l.startsWith('metric'))!;
    expect(header).toMatch(/HugeTLB 2 MiB\s+HugeTLB 1 GiB\s+Δ HugeTLB 1 GiB\s+× HugeTLB 1 GiB$/);
    expect(r.stdout).toContain('Δ and ×: each variant against the baseline, HugeTLB 2 MiB');
    const csv = readFileSync(join(dir, 'summary.csv'), 'utf8').trimEnd().split('\n');
    expect(csv[0]).toBe(
      'metric,unit,HugeTLB 2 MiB,HugeTLB 1 GiB,delta HugeTLB 1 GiB vs HugeTLB 2 MiB,ratio HugeTLB 1 GiB vs HugeTLB 2 MiB',
    );
    const splits = csv.find((l) => l.startsWith('splits_2m,'))!.split(',');
    expect(splits.slice(2).map(Number)).toEqual([
      a['splits_2m']!,
      b['splits_2m']!,
      b['splits_2m']! - a['splits_2m']!,
      a['splits_2m'] === 0 ? (b['splits_2m'] === 0 ? 1 : NaN) : b['splits_2m']! / a['splits_2m']!,
    ]);
    // By name, or by number; the other way round the signs turn.
    const flipped = await cli(['run', path, '--no-progress', '--baseline', '2'], dir);
    expect(flipped.stdout).toContain('against the baseline, HugeTLB 1 GiB');
    expect(flipped.stdout.split('\n').find((l) => l.startsWith('metric'))).toMatch(
      /Δ HugeTLB 2 MiB/,
    );
    const none = await cli(['run', path, '--no-progress', '--no-baseline'], dir);
    expect(none.stdout).not.toContain('Δ');
    const bad = await cli(['run', path, '--no-progress', '--baseline', 'CMA'], dir);
    expect(bad.code).toBe(EXIT_BAD_INPUT);
    expect(bad.stderr).toContain(
      '--baseline "CMA": no variant has that name or number; give one of 1 "HugeTLB 2 MiB", 2 "HugeTLB 1 GiB"',
    );
  });

  it("sweep labels each column path=value in the field's unit; --all-metrics shows every metric", async () => {
    const dir = tempDir('gmem-lab-cli-');
    const path = writeExperiment(dir, smallExperiment('small'));
    const args = [
      'sweep',
      path,
      '--param',
      'guest.memoryBytes=1073741824,2147483648',
      '--no-progress',
    ];
    const r = await cli(args);
    expect(r.code).toBe(EXIT_OK);
    const header = r.stdout.split('\n')[0]!;
    expect(header).toMatch(/guest\.memoryBytes=1 GiB \| HugeTLB 2 MiB/);
    expect(header).toMatch(/guest\.memoryBytes=2 GiB \| HugeTLB 1 GiB/);
    expect(r.stdout).not.toMatch(/^mmu_lock_write /m);
    const all = await cli([...args, '--all-metrics']);
    expect(all.stdout).toMatch(/^mmu_lock_write /m);
  });

  it("sweep runs the file's own sweep without --param, and --csv writes one row per point and variant", async () => {
    const dir = tempDir('gmem-lab-cli-');
    const path = writeExperiment(dir, {
      ...smallExperiment('small'),
      sweep: { axes: [{ path: 'guest.vcpus', values: [2, 4] }] },
    });
    const r = await cli(['sweep', path, '--no-progress', '--csv', 'points.csv', '--json'], dir);
    expect(r.code, r.stderr).toBe(EXIT_OK);
    const json = JSON.parse(r.stdout) as {
      runs: Array<{
        params: Record<string, unknown>;
        variant: string;
        summary: Record<string, number>;
      }>;
    };
    expect(json.runs.map((x) => [x.params['guest.vcpus'], x.variant])).toEqual([
      [2, 'HugeTLB 2 MiB'],
      [2, 'HugeTLB 1 GiB'],
      [4, 'HugeTLB 2 MiB'],
      [4, 'HugeTLB 1 GiB'],
    ]);
    const csv = readFileSync(join(dir, 'points.csv'), 'utf8').trimEnd().split('\n');
    expect(csv).toHaveLength(5);
    const header = csv[0]!.split(',');
    expect(header.slice(0, 3)).toEqual(['guest.vcpus', 'variant', 'error']);
    const splits = header.indexOf('splits_2m');
    csv.slice(1).forEach((line, i) => {
      const cells = line.split(',');
      expect(cells.slice(0, 2)).toEqual([
        String(json.runs[i]!.params['guest.vcpus']),
        json.runs[i]!.variant,
      ]);
      expect(Number(cells[splits])).toBe(json.runs[i]!.summary['splits_2m']);
    });
    // --param replaces the file's sweep; no sweep at all is bad input.
    const given = await cli(
      ['sweep', path, '--no-progress', '--param', 'seed=1,2,3', '--json'],
      dir,
    );
    expect((JSON.parse(given.stdout) as { runs: unknown[] }).runs).toHaveLength(6);
    const none = await cli(
      ['sweep', writeExperiment(dir, smallExperiment('x'), 'x.gmemlab.json')],
      dir,
    );
    expect(none.code).toBe(EXIT_BAD_INPUT);
    expect(none.stderr).toContain('sweep needs at least one --param');
  });

  it('sweep runs every combination and validates the values', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const path = writeExperiment(dir, smallExperiment('small'));
    const r = await cli([
      'sweep',
      path,
      '--param',
      'variants[0].policies.merge=eager,never',
      '--param',
      'seed=1,2',
      '--json',
    ]);
    expect(r.code).toBe(EXIT_OK);
    const json = JSON.parse(r.stdout) as {
      runs: Array<{
        params: Record<string, unknown>;
        variant: string;
        summary: Record<string, number>;
      }>;
    };
    expect(json.runs).toHaveLength(8);
    const never = json.runs.filter(
      (x) => x.params['variants[0].policies.merge'] === 'never' && x.variant === 'HugeTLB 2 MiB',
    );
    expect(never.every((x) => x.summary['merges_2m'] === 0)).toBe(true);
    const bad = await cli(['sweep', path, '--param', 'variants[0].policies.merge=sometimes']);
    expect(bad.code).toBe(EXIT_BAD_INPUT);
    expect(bad.stderr).toMatch(/variants\[0\]\.policies\.merge/);
    const syntax = await cli(['sweep', path, '--param', 'novalue']);
    expect(syntax.stderr).toMatch(/expected PATH=V1,V2/);
  });

  it('validate and run read a file that starts with a UTF-8 byte-order mark', async () => {
    const dir = tempDir('gmem-lab-cli-');
    const path = writeExperiment(
      dir,
      `\uFEFF${JSON.stringify(smallExperiment('with BOM'), null, 2)}`,
    );
    const validate = await cli(['validate', path]);
    expect(validate.stderr).toBe('');
    expect(validate.code).toBe(EXIT_OK);
    expect(validate.stdout).toContain(`${path}: valid (with BOM;`);
    const run = await cli(['run', path, '--json']);
    expect(run.code).toBe(EXIT_OK);
    const json = JSON.parse(run.stdout) as {
      experiment: string;
      variants: Array<{ name: string }>;
    };
    expect(json.experiment).toBe('with BOM');
    expect(json.variants.map((v) => v.name)).toEqual(['HugeTLB 2 MiB', 'HugeTLB 1 GiB']);
  });

  it('a rejected trace is bad input: exit 2, its problems printed once, not once per variant', async () => {
    const dir = tempDir('gmem-lab-cli-');
    writeFileSync(
      join(dir, 'bad.csv'),
      'time_ns,op,offset,size,to,who,access\n0,fallocate,0x0,0x400000,,,\n1000,explode,0x0,0x1000,,,\n',
    );
    const path = writeExperiment(dir, {
      ...smallExperiment('bad trace'),
      workload: { kind: 'trace', path: 'bad.csv', format: 'csv' },
      variants: [
        { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
        { name: 'HugeTLB 2 MiB', pageSize: '2m', allocator: 'hugetlb' },
        { name: 'HugeTLB 1 GiB', pageSize: '1g', allocator: 'hugetlb' },
      ],
    });
    for (const args of [
      ['run', path],
      ['sweep', path, '--param', 'seed=1,2'],
    ]) {
      const r = await cli(args);
      expect(r.code, args[0]).toBe(EXIT_BAD_INPUT);
      expect(r.stdout, args[0]).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines, args[0]).toHaveLength(1);
      // One line: the experiment file, the field, the trace file and line, the problem.
      expect(
        lines[0]!.startsWith(`gmem-lab: ${path}: workload.path: ${join(dir, 'bad.csv')}:3: `),
      ).toBe(true);
      expect(lines[0]).toMatch(/explode/);
    }
  });

  it('--help states the exit codes, and each one is what the command returns', async () => {
    const help = await cli(['--help']);
    expect(help.stdout).toContain(
      'Exit codes: 0 success, 1 a run failed, 2 bad input (arguments, experiment file, trace).',
    );
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme.replace(/\s+/g, ' ')).toContain(
      'Exit codes: 0 success, 1 a run failed, 2 bad input (arguments, experiment file, trace)',
    );
    const dir = tempDir('gmem-lab-cli-');
    expect((await cli(['run', writeExperiment(dir, smallExperiment('ok'))])).code).toBe(EXIT_OK);
    expect((await cli(['run', join(dir, 'missing.gmemlab.json')])).code).toBe(EXIT_BAD_INPUT);
    expect((await cli(['run', '--workers', '0', 'x'])).code).toBe(EXIT_BAD_INPUT);
  });
});
