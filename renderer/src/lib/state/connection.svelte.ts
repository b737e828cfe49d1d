// The workbench's connection to the Node side: the contract's client (the Electron preload or
// the localhost bridge: renderer/src/lib/api) and what the app said about itself (app.info). Every
// store reaches the API through it.
import type { AppInfo, GmemLabApi } from '@contract/api';

export class Connection {
  api: GmemLabApi | null = $state(null);
  info: AppInfo | null = $state(null);

  /** The client; throws when the workbench is not connected yet. */
  get client(): GmemLabApi {
    if (!this.api) throw new Error('not connected');
    return this.api;
  }

  /** Files come and go through native dialogs (the desktop app), else through the browser. */
  get nativeDialogs(): boolean {
    return this.info?.nativeDialogs === true;
  }

  async loadInfo(): Promise<void> {
    this.info = await this.client.call('app.info', {});
  }
}
