// The workbench's side of the localhost bridge: GmemLabApi over one WebSocket, with reconnects.
// Runs in the browser (the renderer imports it) and in Node for tests (inject the `ws` class);
// no Node imports here.
//
// A call sent before the connection drops is rejected when it drops (it may or may not have run
// on the server); a call made while the connection is down waits for the next attempt and is
// rejected if that attempt fails. Errors arrive as envelopes and are rebuilt as ApiError; transport
// failures are ApiError('IO_ERROR') with details { transport: ... }.
import {
  ApiError,
  type ApiArgs,
  type ApiEnvelope,
  type ApiEvent,
  type ApiEvents,
  type ApiMethod,
  type ApiResult,
  type GmemLabApi,
} from './api.js';
import { decode, encode } from './codec.js';

/** What the client needs of a WebSocket: the browser's class and the `ws` package's both fit. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: string | Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  addEventListener(type: 'open' | 'error', listener: () => void): void;
  addEventListener(
    type: 'close',
    listener: (event: { readonly code: number; readonly reason: string }) => void,
  ): void;
}
export type WebSocketConstructorLike = new (url: string) => WebSocketLike;

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface BridgeClientOptions {
  /** ws://127.0.0.1:PORT/ws, with ?token=... unless the page's cookie carries it. */
  readonly url: string;
  /** Default: the global WebSocket (browsers; Node 20 has none: pass `ws`'s class). */
  readonly WebSocket?: WebSocketConstructorLike;
  /** Reconnect after the connection drops (default true). */
  readonly reconnect?: boolean;
  /** First wait before reconnecting; doubles up to maxReconnectDelayMs. */
  readonly reconnectDelayMs?: number;
  readonly maxReconnectDelayMs?: number;
  /** Calls larger than this are refused before sending (the server's limit; default 32 MiB). */
  readonly maxMessageBytes?: number;
  /** Where an exception thrown by an event listener goes; default console.error. */
  readonly onListenerError?: (err: unknown) => void;
}

const WS_OPEN = 1;
const NORMAL_CLOSURE = 1000;

interface PendingCall {
  readonly method: string;
  readonly frame: string | Uint8Array<ArrayBuffer>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: ApiError) => void;
  sent: boolean;
}

export class BridgeClient implements GmemLabApi {
  private readonly url: string;
  private readonly Ctor: WebSocketConstructorLike;
  private readonly reconnectEnabled: boolean;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxMessageBytes: number;
  private readonly onListenerError: (err: unknown) => void;
  private socket: WebSocketLike | null = null;
  private currentState: ConnectionState = 'connecting';
  private failures = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly listeners = new Map<string, Set<(payload: unknown) => void>>();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  /** Settled by the outcome of the current connection attempt. */
  private attemptWaiters: Array<{ resolve: () => void; reject: (err: ApiError) => void }> = [];

  constructor(options: BridgeClientOptions) {
    this.url = options.url;
    const Ctor =
      options.WebSocket ??
      (globalThis as { WebSocket?: WebSocketConstructorLike }).WebSocket ??
      null;
    if (Ctor === null)
      throw new Error('no WebSocket class here: pass one as the WebSocket option (e.g. from "ws")');
    this.Ctor = Ctor;
    this.reconnectEnabled = options.reconnect ?? true;
    this.baseDelayMs = options.reconnectDelayMs ?? 250;
    this.maxDelayMs = options.maxReconnectDelayMs ?? 5000;
    this.maxMessageBytes = options.maxMessageBytes ?? 32 * 1024 * 1024;
    this.onListenerError = options.onListenerError ?? ((err) => console.error(err));
    this.connect();
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** Resolves once connected; rejects if the current attempt to connect fails. */
  ready(): Promise<void> {
    if (this.currentState === 'open') return Promise.resolve();
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => this.attemptWaiters.push({ resolve, reject }));
  }

  call<M extends ApiMethod>(method: M, args: ApiArgs<M>): Promise<ApiResult<M>> {
    return new Promise<ApiResult<M>>((resolve, reject) => {
      if (this.currentState === 'closed') return reject(this.closedError());
      const id = this.nextId++;
      let frame: string | Uint8Array<ArrayBuffer>;
      try {
        frame = encode({ id, method, args });
      } catch (err) {
        return reject(
          new ApiError('BAD_REQUEST', `${method}: cannot send the arguments: ${String(err)}`),
        );
      }
      // The server's limit is on bytes: a UTF-16 unit is at most 3 bytes of UTF-8, so most
      // strings need no encoding to be measured.
      const size =
        typeof frame !== 'string'
          ? frame.length
          : frame.length * 3 <= this.maxMessageBytes
            ? frame.length
            : new TextEncoder().encode(frame).length;
      if (size > this.maxMessageBytes)
        return reject(
          new ApiError(
            'TOO_LARGE',
            `${method}: the request is ${size} bytes, over the bridge's limit of ${this.maxMessageBytes}`,
          ),
        );
      const call: PendingCall = {
        method,
        frame,
        resolve: resolve as (value: unknown) => void,
        reject,
        sent: false,
      };
      this.pending.set(id, call);
      if (this.currentState === 'open') this.transmit(call);
    });
  }

  on<E extends ApiEvent>(event: E, listener: (payload: ApiEvents[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const wrapped = listener as (payload: unknown) => void;
    set.add(wrapped);
    return () => {
      set.delete(wrapped);
    };
  }

  /** Follow the connection (e.g. to show "reconnecting" and to reload state after a reconnect,
   * since events sent while disconnected are lost). */
  onConnectionChange(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => {
      this.stateListeners.delete(listener);
    };
  }

  /** Close for good: pending calls are rejected and no reconnect follows. */
  close(): void {
    if (this.currentState === 'closed') return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    this.setState('closed');
    this.failAll(this.closedError());
    this.settleAttempt(this.closedError());
    socket?.close(NORMAL_CLOSURE, 'client closed');
  }

  // -------------------------------------------------------------------------------------------

  private connect(): void {
    this.timer = null;
    let socket: WebSocketLike;
    try {
      socket = new this.Ctor(this.url);
    } catch (err) {
      const error = this.transportError(`cannot open ${redact(this.url)}: ${String(err)}`);
      this.failAll(error);
      this.settleAttempt(error);
      this.setState('closed');
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    let opened = false;
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      opened = true;
      this.failures = 0;
      this.setState('open');
      for (const call of this.pending.values()) if (!call.sent) this.transmit(call);
      this.settleAttempt(null);
    });
    socket.addEventListener('message', (event) => {
      if (this.socket === socket) this.receive(event.data);
    });
    socket.addEventListener('error', () => {
      // A 'close' always follows; it carries what there is to know.
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      const error = opened
        ? this.transportError(
            `the connection to the gmem-lab server was lost (code ${event.code}${event.reason ? `: ${event.reason}` : ''}); the call may or may not have run`,
          )
        : this.transportError(
            `cannot connect to the gmem-lab server at ${redact(this.url)}: is \`gmem-lab serve\` running, and was the page opened from the URL it printed (with its token)?`,
          );
      this.failAll(error);
      this.settleAttempt(error);
      if (this.reconnectEnabled) {
        this.setState('reconnecting');
        const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** this.failures);
        this.failures++;
        this.timer = setTimeout(() => this.connect(), delay * (0.75 + Math.random() * 0.5));
      } else this.setState('closed');
    });
  }

  private transmit(call: PendingCall): void {
    if (!this.socket || this.socket.readyState !== WS_OPEN) return;
    call.sent = true;
    this.socket.send(call.frame);
  }

  private receive(data: unknown): void {
    let message: unknown;
    try {
      message = decode(data as string | ArrayBuffer | Uint8Array);
    } catch (err) {
      this.onListenerError(err);
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    const m = message as { id?: unknown; envelope?: unknown; event?: unknown; payload?: unknown };
    if (typeof m.event === 'string') {
      for (const listener of this.listeners.get(m.event) ?? []) {
        try {
          listener(m.payload);
        } catch (err) {
          this.onListenerError(err);
        }
      }
      return;
    }
    if (typeof m.id !== 'number') return;
    const call = this.pending.get(m.id);
    if (!call) return;
    this.pending.delete(m.id);
    const envelope = m.envelope as ApiEnvelope<unknown> | undefined;
    if (envelope?.ok === true) call.resolve(envelope.value);
    else if (
      envelope?.ok === false &&
      typeof envelope.error?.code === 'string' &&
      typeof envelope.error.message === 'string'
    )
      call.reject(ApiError.fromPayload(envelope.error));
    else
      call.reject(new ApiError('INTERNAL', `${call.method}: malformed response from the server`));
  }

  private failAll(error: ApiError): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls)
      call.reject(new ApiError(error.code, `${call.method}: ${error.message}`, error.details));
  }

  private settleAttempt(error: ApiError | null): void {
    const waiters = this.attemptWaiters;
    this.attemptWaiters = [];
    for (const w of waiters) {
      if (error) w.reject(error);
      else w.resolve();
    }
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    for (const listener of this.stateListeners) {
      try {
        listener(state);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  private transportError(message: string): ApiError {
    return new ApiError('IO_ERROR', message, { transport: 'bridge' });
  }

  private closedError(): ApiError {
    return new ApiError('IO_ERROR', 'the connection to the gmem-lab server is closed', {
      transport: 'closed',
    });
  }
}

/** The URL without its token, for messages. */
function redact(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/, '$1…');
}
