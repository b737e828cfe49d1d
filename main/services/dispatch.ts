// The transport-free core of both transports: check a call's method and arguments against the API
// contract, run its handler, and wrap the outcome in the error envelope.
import {
  ApiError,
  parseRequest,
  type ApiEnvelope,
  type ApiEvent,
  type ApiEvents,
  type ApiMethod,
  type ApiParsedArgs,
  type ApiResult,
} from '@contract/api.js';

export type ApiHandlers = {
  [M in ApiMethod]: (args: ApiParsedArgs<M>) => Promise<ApiResult<M>>;
};

export type Dispatcher = (method: string, args: unknown) => Promise<ApiEnvelope<unknown>>;

export interface EventSink {
  emit<E extends ApiEvent>(event: E, payload: ApiEvents[E]): void;
}

/** A fan-out of events to every subscribed transport (windows, bridge clients, tests). */
export class EventHub implements EventSink {
  private readonly listeners = new Set<
    <E extends ApiEvent>(event: E, payload: ApiEvents[E]) => void
  >();

  emit<E extends ApiEvent>(event: E, payload: ApiEvents[E]): void {
    for (const listener of this.listeners) listener(event, payload);
  }

  subscribe(listener: <E extends ApiEvent>(event: E, payload: ApiEvents[E]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export function createDispatcher(
  handlers: ApiHandlers,
  onInternalError?: (err: unknown) => void,
): Dispatcher {
  return async (method, args) => {
    try {
      const request = parseRequest(method, args);
      const handler = handlers[request.method] as (a: unknown) => Promise<unknown>;
      return { ok: true, value: await handler(request.args) };
    } catch (err) {
      if (err instanceof ApiError) return { ok: false, error: err.toPayload() };
      onInternalError?.(err);
      return {
        ok: false,
        error: {
          code: 'INTERNAL',
          message: `internal error: ${(err as Error)?.message ?? String(err)}`,
        },
      };
    }
  };
}
