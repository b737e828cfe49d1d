// The whole API surface in one file, contract/__snapshots__/api-surface.json: every method with the
// JSON Schema of its arguments, every event, and the IPC channels that carry them. Any change to
// the contract shows up as a diff of that file in review; accept it with `vitest run -u`.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { API_EVENTS, API_METHODS, type ApiMethod } from './api.js';
import { IPC_EVENT_CHANNEL, ipcChannel } from './api-names.js';

describe('API surface', () => {
  it('matches the recorded surface', async () => {
    const methods = Object.fromEntries(
      (Object.keys(API_METHODS) as ApiMethod[]).map((method) => [
        method,
        {
          channel: ipcChannel(method),
          args: z.toJSONSchema(API_METHODS[method].args, { io: 'input' }),
        },
      ]),
    );
    const surface = { methods, events: { channel: IPC_EVENT_CHANNEL, names: [...API_EVENTS] } };
    await expect(`${JSON.stringify(surface, null, 2)}\n`).toMatchFileSnapshot(
      '__snapshots__/api-surface.json',
    );
  });
});
