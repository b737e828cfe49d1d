// The preload of the sandboxed workbench window. It exposes one object, `window.gmemlab`, with two
// functions (the GmemLabApi of contract/api.ts), and never ipcRenderer or any other Electron or Node
// object. Review: main/shell/preload.review.md.
//
// Kept tiny on purpose: it is built as CommonJS for the sandbox and imports only the names list
// (contract/api-names.ts, no zod); the main process validates every payload anyway.
import { contextBridge, ipcRenderer } from 'electron';
import {
  API_EVENT_NAMES,
  API_METHOD_NAMES,
  IPC_CHANNEL_PREFIX,
  IPC_EVENT_CHANNEL,
} from '@contract/api-names.js';

const METHODS: ReadonlySet<string> = new Set(API_METHOD_NAMES);
const EVENTS: ReadonlySet<string> = new Set(API_EVENT_NAMES);

type Listener = (payload: unknown) => void;
const listeners = new Map<string, Set<Listener>>();

/** An ApiError as a plain object: Errors lose every property but the message when they cross
 * the context bridge, plain objects arrive whole. The renderer rebuilds the ApiError class from
 * it (contract/api-client.ts). */
interface ApiErrorObject {
  readonly name: 'ApiError';
  readonly code: string;
  readonly message: string;
  readonly details?: unknown;
}

function apiError(code: string, message: string, details?: unknown): ApiErrorObject {
  return details === undefined
    ? { name: 'ApiError', code, message }
    : { name: 'ApiError', code, message, details };
}

async function call(method: unknown, args: unknown): Promise<unknown> {
  if (typeof method !== 'string' || !METHODS.has(method))
    throw apiError('UNKNOWN_METHOD', `unknown API method "${String(method).slice(0, 80)}"`);
  const envelope: unknown = await ipcRenderer.invoke(IPC_CHANNEL_PREFIX + method, args);
  if (isObject(envelope) && envelope['ok'] === true) return envelope['value'];
  if (isObject(envelope) && envelope['ok'] === false && isObject(envelope['error'])) {
    const { code, message, details } = envelope['error'];
    throw apiError(String(code), String(message), details);
  }
  throw apiError('INTERNAL', `${method}: malformed answer from the main process`);
}

function on(event: unknown, listener: unknown): () => void {
  if (typeof event !== 'string' || !EVENTS.has(event))
    throw new TypeError(`unknown API event "${String(event).slice(0, 80)}"`);
  if (typeof listener !== 'function') throw new TypeError('the listener must be a function');
  let set = listeners.get(event);
  if (!set) listeners.set(event, (set = new Set()));
  const l = listener as Listener;
  set.add(l);
  return () => {
    set.delete(l);
  };
}

ipcRenderer.on(IPC_EVENT_CHANNEL, (_event, message: unknown) => {
  if (!isObject(message) || typeof message['event'] !== 'string') return;
  for (const listener of listeners.get(message['event']) ?? []) {
    try {
      listener(message['payload']);
    } catch (err) {
      // One failing listener must not keep the event from the others.
      console.error(err);
    }
  }
});

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

contextBridge.exposeInMainWorld('gmemlab', { call, on });
