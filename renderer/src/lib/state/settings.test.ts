// The settings the workbench shows and changes, against the fake of the contract's client.
import { describe, expect, it } from 'vitest';
import { ApiError } from '@contract/api';
import { Connection } from './connection.svelte';
import { fakeApi, fakeSettings, GiB } from './fake-api';
import { Notices } from './notices.svelte';
import { SettingsState } from './settings.svelte';

function setup(answers: Parameters<typeof fakeApi>[0] = {}) {
  const fake = fakeApi(answers, { settings: fakeSettings({ theme: 'light' }) });
  const connection = new Connection();
  connection.api = fake.api;
  const notices = new Notices();
  return { fake, notices, settings: new SettingsState(connection, notices) };
}

describe('SettingsState', () => {
  it('reads the settings and follows changes made in another window', async () => {
    const { fake, settings } = setup();
    await settings.load();
    expect(settings.settings?.theme).toBe('light');
    const stop = settings.listen(fake.api);
    fake.emit('settings.changed', fakeSettings({ theme: 'dark' }));
    expect(settings.settings?.theme).toBe('dark');
    for (const s of stop) s();
    expect(fake.listeners('settings.changed')).toBe(0);
  });

  it('sets the memory budget and the theme, keeping what the app answered', async () => {
    const { fake, settings, notices } = setup();
    expect(await settings.setMemoryBudget(8 * GiB)).toBe(true);
    expect(settings.settings?.memoryBudgetBytes).toBe(8 * GiB);
    expect(await settings.setMemoryBudget(null)).toBe(true);
    expect(settings.settings?.memoryBudgetBytes).toBeNull();
    await settings.setTheme('dark');
    expect(settings.settings?.theme).toBe('dark');
    expect(fake.argsOf('settings.set')).toEqual([
      { memoryBudgetBytes: 8 * GiB },
      { memoryBudgetBytes: null },
      { theme: 'dark' },
    ]);
    expect(notices.banner).toBeNull();
  });

  it('says why a budget was refused, and keeps the settings as they were', async () => {
    const { settings, notices } = setup({
      'settings.set': () => {
        throw new ApiError('BAD_REQUEST', 'memoryBudgetBytes: must be at least 1 MiB');
      },
    });
    await settings.load();
    expect(await settings.setMemoryBudget(1)).toBe(false);
    expect(settings.settings?.memoryBudgetBytes).toBeNull();
    expect(notices.banner).toMatchObject({
      kind: 'error',
      title: 'Could not change the memory budget',
      message: expect.stringMatching(/at least 1 MiB/),
    });
  });
});
