// The browser side of the localhost bridge (`gmem-lab serve`). One implementation, shared with the
// Node tests that drive it against the real server: see main/bridge/client.ts.
export { BridgeClient } from '../../../../main/bridge/client';
