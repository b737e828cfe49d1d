// The Runs view's memory budget, time left, estimate before the run and event logs, against a
// real Workbench and the fake of the contract's client (lib/state/fake-api.ts).
import { describe, expect, it } from 'vitest';
import { render } from 'vitest-browser-svelte';
import { fakeApi, fakeInfo, GiB } from '../lib/state/fake-api';
import { Workbench } from '../lib/state/workbench.svelte';
import Runs from './Runs.svelte';

function setup() {
  return setupWith();
}

/** A Workbench over the fake API (every call recorded), answering with `answers`. */
function setupWith(answers: Parameters<typeof fakeApi>[0] = {}) {
  const fake = fakeApi(answers);
  const wb = new Workbench();
  wb.api = fake.api;
  wb.settings = fake.settings();
  wb.info = fakeInfo({ defaultMemoryBudgetBytes: 6 * GiB });
  return { wb, calls: fake.calls };
}

describe('Runs view', () => {
  it('shows the default memory budget, sets one in bytes, refuses a bad size without a call', async () => {
    const { wb, calls } = setup();
    const screen = await render(Runs, { wb });
    await expect.element(screen.getByText(/Now the default, 6 GiB/)).toBeVisible();
    const input = screen.getByLabelText('Memory budget per run');
    await input.fill('lots');
    await screen.getByRole('button', { name: 'Apply' }).click();
    await expect.element(screen.getByRole('alert')).toHaveTextContent(/expected a size/);
    expect(calls.filter(([m]) => m === 'settings.set')).toHaveLength(0);
    await input.fill('8 GiB');
    await screen.getByRole('button', { name: 'Apply' }).click();
    await expect.element(screen.getByText(/Now 8 GiB/)).toBeVisible();
    expect(calls).toContainEqual(['settings.set', { memoryBudgetBytes: 8 * GiB }]);
    await input.fill('');
    await screen.getByRole('button', { name: 'Apply' }).click();
    await expect.element(screen.getByText(/Now the default, 6 GiB/)).toBeVisible();
    expect(calls.at(-1)).toEqual(['settings.set', { memoryBudgetBytes: null }]);
  });

  it("shows the time left in a running variant's phase", async () => {
    const { wb } = setup();
    wb.runs = [
      {
        variantIndex: 0,
        name: 'HugeTLB 1 GiB',
        runId: 1,
        status: 'running',
        phase: 'boot',
        fraction: 0.4,
        etaMs: 12_000,
      },
      {
        variantIndex: 1,
        name: '4 KiB',
        runId: 2,
        status: 'running',
        phase: 'boot',
        fraction: 0.01,
        etaMs: null,
      },
    ];
    const screen = await render(Runs, { wb });
    await expect.element(screen.getByText('running: boot, ~12 s left in boot')).toBeVisible();
    await expect.element(screen.getByText('running: boot', { exact: true })).toBeVisible();
  });

  it('offers to run a failed variant again, and runs only that one', async () => {
    const { wb, calls } = setupWith({ 'runs.start': () => ({ runIds: [5] }) });
    wb.load({
      path: '/w/e.gmemlab.json',
      experiment: experimentDoc(),
      modifiedMs: 0,
      configHash: 'h',
    });
    wb.runsStore.resultsHash = wb.validation.hash;
    wb.runs = [
      {
        variantIndex: 0,
        name: 'HugeTLB 2 MiB',
        runId: 1,
        status: 'failed',
        phase: 'boot',
        fraction: 0.2,
        message: 'OOM',
      },
      {
        variantIndex: 1,
        name: '4 KiB',
        runId: 2,
        status: 'cancelled',
        phase: 'boot',
        fraction: 0.1,
      },
    ];
    const screen = await render(Runs, { wb });
    await screen.getByRole('button', { name: 'Run HugeTLB 2 MiB again' }).click();
    await expect.poll(() => calls.some(([m]) => m === 'runs.start')).toBe(true);
    expect(calls.find(([m]) => m === 'runs.start')![1]).toMatchObject({ variantIndexes: [0] });
    await expect.element(screen.getByText('queued', { exact: true })).toBeVisible();
    await expect.element(screen.getByRole('button', { name: 'Run 4 KiB again' })).toBeVisible();
  });

  it('says before the run what each variant implies and which logs the limit cuts; the run records with that limit', async () => {
    const { wb, calls } = setupWith({
      'runs.estimate': (args) => {
        const limit = (args as { eventLimit?: number }).eventLimit ?? 1_000_000;
        const variants = [estimate('HugeTLB 2 MiB', 12_000), estimate('4 KiB', 2_500_000)];
        return {
          variants,
          eventLimit: limit,
          cuts: variants
            .filter((v) => v.events > limit)
            .map((v) => ({
              variant: v.variant,
              events: v.events,
              limit,
              suggestedLimit: 2_800_000,
            })),
        };
      },
      'runs.start': () => ({ runIds: [1, 2] }),
    });
    wb.load({
      path: '/w/e.gmemlab.json',
      experiment: experimentDoc(),
      modifiedMs: 0,
      configHash: 'h',
    });
    const screen = await render(Runs, { wb });
    const table = screen.getByRole('table', { name: /What a run of each variant implies/ });
    await expect.element(table).toHaveTextContent(/4 KiB\s*1,048,576/);
    await expect.element(table).toHaveTextContent(/2,500,000/);
    // Not recording: no warning about cuts.
    expect(screen.container.querySelector('.warning')).toBeNull();
    await screen.getByLabelText('Record the event log').click();
    await expect
      .element(screen.getByText(/The event log of 4 KiB will be cut at 1,000,000 events/))
      .toBeVisible();
    await expect.element(screen.getByText(/Raise the event limit to 2,800,000/)).toBeVisible();
    // A limit that holds every log: the warning goes, and the estimate was asked with it.
    await screen.getByLabelText('Event limit per variant').fill('3_000_000');
    await expect.poll(() => screen.container.querySelector('.warning')).toBeNull();
    expect(calls.filter(([m]) => m === 'runs.estimate').at(-1)![1]).toMatchObject({
      eventLimit: 3_000_000,
      path: '/w/e.gmemlab.json',
    });
    await wb.run();
    expect(calls.find(([m]) => m === 'runs.start')![1]).toMatchObject({
      recordEvents: true,
      eventLimit: 3_000_000,
    });
  });

  it('refuses a wrong event limit where it is typed, and does not start the run', async () => {
    const { wb, calls } = setupWith();
    wb.load({
      path: '/w/e.gmemlab.json',
      experiment: experimentDoc(),
      modifiedMs: 0,
      configHash: 'h',
    });
    const screen = await render(Runs, { wb });
    await screen.getByLabelText('Record the event log').click();
    await screen.getByLabelText('Event limit per variant').fill('lots');
    await expect
      .element(screen.getByRole('alert'))
      .toHaveTextContent(/not a whole number of events/);
    await wb.run();
    expect(calls.some(([m]) => m === 'runs.start')).toBe(false);
    expect(wb.banner?.title).toMatch(/event limit is wrong/);
  });

  it('offers the event log of a finished run that recorded one, and downloads it in a browser', async () => {
    const { wb, calls } = setupWith({ 'runs.events': () => '{"type":"fault"}\n' });
    wb.runs = [
      {
        variantIndex: 0,
        name: 'HugeTLB 1 GiB',
        runId: 7,
        status: 'done',
        phase: 'done',
        fraction: 1,
        result: {
          runId: 7,
          variantIndex: 0,
          name: 'HugeTLB 1 GiB',
          summary: { metrics: { host_total_bytes: GiB } },
          series: { timeNs: new Float64Array(0), names: [], values: [] },
          eventLog: { logged: 1000, dropped: 250, limit: 1000 },
        },
      },
    ];
    const screen = await render(Runs, { wb });
    const line = screen.container.querySelector('.event-log')!;
    expect(line.textContent!.replace(/\s+/g, ' ')).toMatch(
      /Event log: 1,000 events, 250 more left out at the limit of 1,000/,
    );
    await screen.getByRole('button', { name: 'Save the event log of HugeTLB 1 GiB' }).click();
    await expect.poll(() => calls.some(([m]) => m === 'runs.events')).toBe(true);
    expect(calls.find(([m]) => m === 'runs.events')![1]).toEqual({ runId: 7 });
  });
});

function estimate(variant: string, events: number) {
  return {
    variant,
    guestPages: 1_048_576,
    touchedBytes: 4 * GiB,
    operations: { faults: events / 2, conversions: 100, allocations: 10, frees: 0 },
    events,
    modelBytes: 8 * 2 ** 20,
  };
}

function experimentDoc(): Record<string, unknown> {
  return {
    format: 'gmem-lab-experiment',
    version: 1,
    name: 'estimate',
    host: { nodes: [{ memoryBytes: 64 * GiB, cpus: '0-7', hugetlb2m: 2048 }] },
    guest: { memoryBytes: 4 * GiB, vendor: 'snp', vcpus: 4 },
    workload: { kind: 'lifecycle' },
    variants: [
      { name: 'HugeTLB 2 MiB', pageSize: '2m', allocator: 'hugetlb' },
      { name: '4 KiB', pageSize: '4k', allocator: 'buddy' },
    ],
  };
}
