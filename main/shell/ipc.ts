// The Electron IPC transport of the API contract. Electron is replaced at this module's boundary
// (ipcMain and the senders come in as parameters, type imports only), so all of it is tested
// without an Electron binary.
//
// One `ipcMain.handle` per method of the contract, on its own channel `gmemlab:<method>`: a
// channel that is not a method of the contract has no handler at all. Each call is first checked
// for its sender (only the workbench's own window, its top frame, at the workbench's own URL: an
// embedded or navigated-away frame gets a refusal envelope, never a handler), then dispatched,
// which checks the arguments. Handlers never throw: the answer is always an ApiEnvelope.
// Events go to the windows on one channel, `gmemlab:event`, as { event, payload }.
import type { IpcMain, IpcMainInvokeEvent } from 'electron';
import type { ApiEnvelope, ApiEvent, ApiEvents } from '@contract/api.js';
import {
  API_METHOD_NAMES,
  IPC_EVENT_CHANNEL,
  ipcChannel,
  type IpcEventMessage,
  type IpcMethodChannel,
} from '@contract/api-names.js';
import type { Dispatcher, EventHub } from '../services/dispatch.js';

/** The parts of an invoke event the sender check reads. */
export interface IpcSender {
  readonly sender: { readonly id: number };
  readonly senderFrame: { readonly url: string; readonly parent: unknown } | null;
}

export type SenderCheck = (event: IpcSender) => boolean;

export type IpcMainLike = Pick<IpcMain, 'handle' | 'removeHandler'>;

/** Register one handler per API method; returns a function that removes them all. */
export function registerIpc(
  ipcMain: IpcMainLike,
  dispatch: Dispatcher,
  isTrustedSender: SenderCheck,
): () => void {
  const channels: IpcMethodChannel[] = [];
  for (const method of API_METHOD_NAMES) {
    const channel = ipcChannel(method);
    ipcMain.handle(
      channel,
      async (event: IpcMainInvokeEvent, args: unknown): Promise<ApiEnvelope<unknown>> => {
        if (!safeCheck(isTrustedSender, event)) return refusal(method);
        return dispatch(method, args);
      },
    );
    channels.push(channel);
  }
  return () => {
    for (const channel of channels) ipcMain.removeHandler(channel);
  };
}

/** Send every event of the hub to the windows through `send`; returns the unsubscribe. */
export function forwardEvents(
  hub: Pick<EventHub, 'subscribe'>,
  send: (channel: typeof IPC_EVENT_CHANNEL, message: IpcEventMessage) => void,
): () => void {
  return hub.subscribe(<E extends ApiEvent>(event: E, payload: ApiEvents[E]) =>
    send(IPC_EVENT_CHANNEL, { event, payload }),
  );
}

export interface TrustedSenderOptions {
  /** Whether `id` is the webContents of one of the workbench's windows. */
  readonly isAppWebContents: (id: number) => boolean;
  /** The URL the workbench's page was loaded from (file:// in the app, http:// in dev). */
  readonly appUrl: string;
}

/** The sender check of the workbench: our window's webContents, its top frame, our page. */
export function trustedSender(options: TrustedSenderOptions): SenderCheck {
  const app = new URL(options.appUrl);
  return (event) => {
    if (!options.isAppWebContents(event.sender.id)) return false;
    const frame = event.senderFrame;
    if (frame === null || frame.parent !== null) return false;
    return sameDocument(frame.url, app);
  };
}

/** file: URLs must name the same file; http(s) URLs (the dev server) the same origin. */
function sameDocument(url: string, app: URL): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== app.protocol) return false;
  if (app.protocol === 'file:') return u.pathname === app.pathname && u.host === app.host;
  if (app.protocol === 'http:' || app.protocol === 'https:') return u.origin === app.origin;
  return false;
}

function safeCheck(check: SenderCheck, event: IpcSender): boolean {
  try {
    return check(event) === true;
  } catch {
    return false;
  }
}

function refusal(method: string): ApiEnvelope<never> {
  return {
    ok: false,
    error: {
      code: 'BAD_REQUEST',
      message: `${method}: refused, the call did not come from the gmem-lab workbench window`,
    },
  };
}
