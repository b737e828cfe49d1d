// The connection every store reaches the API through.
import { describe, expect, it } from 'vitest';
import { Connection } from './connection.svelte';
import { fakeApi, fakeInfo } from './fake-api';

describe('Connection', () => {
  it('refuses calls before it is connected', () => {
    const connection = new Connection();
    expect(() => connection.client).toThrow(/not connected/);
    expect(connection.nativeDialogs).toBe(false);
  });

  it("reads the app's info, and with it whether files go through native dialogs", async () => {
    const connection = new Connection();
    const fake = fakeApi({}, { info: fakeInfo({ transport: 'electron', nativeDialogs: true }) });
    connection.api = fake.api;
    await connection.loadInfo();
    expect(fake.calls).toEqual([['app.info', {}]]);
    expect(connection.info?.transport).toBe('electron');
    expect(connection.nativeDialogs).toBe(true);
  });
});
