// The app's settings as the workbench shows and changes them (settings.get / settings.set): the
// theme and the memory each run's model may take. Another window's change arrives as
// 'settings.changed'.
import type { GmemLabApi, Settings, Theme } from '@contract/api';
import type { Connection } from './connection.svelte';
import type { Notices } from './notices.svelte';

export class SettingsState {
  settings: Settings | null = $state(null);

  constructor(
    private readonly connection: Connection,
    private readonly notices: Notices,
  ) {}

  /** Follow changes made elsewhere; returns the unsubscribe functions. */
  listen(api: GmemLabApi): Array<() => void> {
    return [api.on('settings.changed', (s) => (this.settings = s))];
  }

  async load(): Promise<void> {
    this.settings = await this.connection.client.call('settings.get', {});
  }

  /** Set the memory each run's model may take (null: the default); false when refused. */
  async setMemoryBudget(bytes: number | null): Promise<boolean> {
    const ok = await this.notices.guard('Could not change the memory budget', async () => {
      this.settings = await this.connection.client.call('settings.set', {
        memoryBudgetBytes: bytes,
      });
      return true;
    });
    return ok === true;
  }

  async setTheme(theme: Theme): Promise<void> {
    await this.notices.guard('Could not change the theme', async () => {
      this.settings = await this.connection.client.call('settings.set', { theme });
    });
  }
}
