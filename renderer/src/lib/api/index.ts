// The workbench's one way to reach the Node side. It picks the transport at start-up and knows
// nothing else about it: the Electron preload's `window.gmemlab` when present, else the localhost
// bridge of `gmem-lab serve` on the page's own origin.
import type { GmemLabApi } from '@contract/api';
import { withApiErrors } from '@contract/api-client';
import { BridgeClient } from '@contract/bridge-client';

export type { GmemLabApi } from '@contract/api';

function isApi(value: unknown): value is GmemLabApi {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { call?: unknown }).call === 'function' &&
    typeof (value as { on?: unknown }).on === 'function'
  );
}

/** The URL of the bridge's WebSocket for a page served by the bridge. The token comes from the
 * page's query on the first load (and is then taken out of the address bar); after that, and on
 * reloads, the HttpOnly cookie the server set carries it. */
function bridgeUrlFor(location: Location, history?: History): string {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  if (token !== null && history) {
    // Keep the token out of bookmarks, the history and screenshots of the address bar.
    params.delete('token');
    const query = params.toString();
    history.replaceState(
      history.state,
      '',
      `${location.pathname}${query ? `?${query}` : ''}${location.hash}`,
    );
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws${token !== null ? `?token=${encodeURIComponent(token)}` : ''}`;
}

let connecting: Promise<GmemLabApi> | null = null;

/** Connect once; later calls get the same API object. */
export function connectApi(): Promise<GmemLabApi> {
  connecting ??= connect().catch((err: unknown) => {
    connecting = null;
    throw err;
  });
  return connecting;
}

async function connect(): Promise<GmemLabApi> {
  const preload = (globalThis as { gmemlab?: unknown }).gmemlab;
  // The preload rejects with plain { code, message } objects (Errors lose their fields crossing
  // the context bridge): make them ApiError again.
  if (isApi(preload)) return withApiErrors(preload);
  const location = globalThis.location;
  if (!location || (location.protocol !== 'http:' && location.protocol !== 'https:'))
    throw new Error(
      'gmem-lab: no API here: neither the desktop app (window.gmemlab) nor a page served by `gmem-lab serve`',
    );
  const client = new BridgeClient({ url: bridgeUrlFor(location, globalThis.history) });
  try {
    await client.ready();
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}
