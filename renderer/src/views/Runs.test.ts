// The Runs view's memory budget and time left, against a real Workbench and a fake API.
import { describe, expect, it } from 'vitest';
import { render } from 'vitest-browser-svelte';
import type { GmemLabApi, Settings } from '@contract/api';
import { Workbench } from '../lib/state/workbench.svelte';
import Runs from './Runs.svelte';

const GiB = 2 ** 30;

function setup() {
  const calls: Array<[string, unknown]> = [];
  let settings: Settings = {
    theme: 'system',
    workspaceDir: '/w',
    recentFiles: [],
    memoryBudgetBytes: null,
  };
  const api: GmemLabApi = {
    call: (async (method: string, args: Record<string, unknown>) => {
      calls.push([method, args]);
      if (method === 'settings.set') return (settings = { ...settings, ...args } as Settings);
      return null;
    }) as GmemLabApi['call'],
    on: (() => () => {}) as GmemLabApi['on'],
  };
  const wb = new Workbench();
  wb.api = api;
  wb.settings = settings;
  wb.info = {
    version: 't',
    engineVersion: 't',
    transport: 'bridge',
    platform: 'linux',
    nativeDialogs: false,
    defaultMemoryBudgetBytes: 6 * GiB,
  };
  return { wb, calls };
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
});
