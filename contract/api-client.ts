// The renderer's side of a transport object: rejections that carry an ApiError as a plain object
// (the Electron preload must send it so, since Errors lose their code and details when they cross
// the context bridge) become ApiError instances again, so the workbench can test `instanceof
// ApiError` and read `code` whatever the transport. Importable from the renderer (no Node).
import { ApiError, type ApiErrorCode, type GmemLabApi } from './api.js';

export function withApiErrors(api: GmemLabApi): GmemLabApi {
  return {
    call: (method, args) =>
      api.call(method, args).catch((err: unknown) => {
        throw toApiError(err);
      }),
    on: (event, listener) => api.on(event, listener),
  };
}

/** An ApiError from an ApiError, an { code, message, details } object, or anything else. */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (typeof err === 'object' && err !== null) {
    const { code, message, details } = err as Record<string, unknown>;
    if (typeof code === 'string' && typeof message === 'string')
      return new ApiError(code as ApiErrorCode, message, details);
    if (err instanceof Error) return new ApiError('INTERNAL', err.message);
  }
  return new ApiError('INTERNAL', String(err));
}
