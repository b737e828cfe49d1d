// The preload's copy of the names must be the contract's names, in the same order.
import { describe, expect, it } from 'vitest';
import { API_EVENTS, API_METHODS } from './api.js';
import { API_EVENT_NAMES, API_METHOD_NAMES, IPC_EVENT_CHANNEL, ipcChannel } from './api-names.js';

describe('api-names', () => {
  it('lists exactly the methods of API_METHODS', () => {
    expect([...API_METHOD_NAMES]).toEqual(Object.keys(API_METHODS));
  });

  it('lists exactly the events of API_EVENTS', () => {
    expect([...API_EVENT_NAMES]).toEqual([...API_EVENTS]);
  });

  it('gives every method its own channel, distinct from the event channel', () => {
    const channels = API_METHOD_NAMES.map(ipcChannel);
    expect(new Set(channels).size).toBe(channels.length);
    expect(channels).not.toContain(IPC_EVENT_CHANNEL);
    expect(ipcChannel('runs.start')).toBe('gmemlab:runs.start');
  });
});
