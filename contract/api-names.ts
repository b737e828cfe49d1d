// The API's method and event names and the IPC channels that carry them, without the schemas:
// the sandboxed preload imports this file, so it must stay free of zod and of any runtime import
// (type imports only). contract/api-names.test.ts checks it against API_METHODS and API_EVENTS, and
// the `satisfies` and exhaustiveness checks below make the compiler check it too.
import type { ApiEvent, ApiMethod } from './api.js';

export const API_METHOD_NAMES = [
  'app.info',
  'app.setDocumentState',
  'presets.list',
  'presets.load',
  'experiments.list',
  'experiments.open',
  'experiments.save',
  'experiments.saveAs',
  'experiments.openDialog',
  'experiments.import',
  'experiments.duplicate',
  'experiments.rename',
  'experiments.delete',
  'runs.start',
  'runs.estimate',
  'runs.events',
  'runs.saveEvents',
  'runs.cancel',
  'sweeps.start',
  'sweeps.cancel',
  'runs.csv',
  'exports.write',
  'settings.get',
  'settings.set',
] as const satisfies readonly ApiMethod[];

export const API_EVENT_NAMES = [
  'run.progress',
  'run.done',
  'run.failed',
  'sweep.progress',
  'sweep.done',
  'store.changed',
  'settings.changed',
  'menu.command',
] as const satisfies readonly ApiEvent[];

/** Every method is invoked on its own channel, `gmemlab:<method>`. */
export const IPC_CHANNEL_PREFIX = 'gmemlab:';
export type IpcMethodChannel = `${typeof IPC_CHANNEL_PREFIX}${ApiMethod}`;
/** All events travel on one channel as { event, payload }. */
export const IPC_EVENT_CHANNEL = 'gmemlab:event';

export interface IpcEventMessage {
  readonly event: ApiEvent;
  readonly payload: unknown;
}

export function ipcChannel(method: ApiMethod): IpcMethodChannel {
  return `${IPC_CHANNEL_PREFIX}${method}`;
}

// Compile-time exhaustiveness: a method or event added to api.ts and not listed above makes these
// types fail to compile.
type AllListed<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : false;
type Assert<T extends true> = T;
export type EveryMethodListed = Assert<AllListed<ApiMethod, (typeof API_METHOD_NAMES)[number]>>;
export type EveryEventListed = Assert<AllListed<ApiEvent, (typeof API_EVENT_NAMES)[number]>>;
