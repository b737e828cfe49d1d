// The message bar and the busy state every store's actions go through.
import { describe, expect, it } from 'vitest';
import { ApiError } from '@contract/api';
import { Notices } from './notices.svelte';

describe('Notices', () => {
  it('is busy while an action runs, and returns its value', async () => {
    const notices = new Notices();
    let busyInside = false;
    const value = await notices.guard('Could not count', async () => {
      busyInside = notices.busy;
      return 42;
    });
    expect(busyInside).toBe(true);
    expect(value).toBe(42);
    expect(notices.busy).toBe(false);
    expect(notices.banner).toBeNull();
  });

  it("shows a failed action's error under its title, and is no longer busy", async () => {
    const notices = new Notices();
    const value = await notices.guard('Could not save', async () => {
      throw new Error('disk full');
    });
    expect(value).toBeUndefined();
    expect(notices.busy).toBe(false);
    expect(notices.banner).toEqual({
      kind: 'error',
      title: 'Could not save',
      message: 'disk full',
    });
  });

  it("lists an API error's details (at most 12) under its message, unless the message has them", () => {
    const notices = new Notices();
    const details = Array.from({ length: 15 }, (_, i) => ({
      path: `variants.${i}.pageSize`,
      message: 'expected 4k, 2m or 1g',
    }));
    notices.showError('Could not run', new ApiError('INVALID_EXPERIMENT', 'invalid', details));
    const lines = notices.banner!.message.split('\n');
    expect(lines[0]).toBe('invalid');
    expect(lines.slice(1)).toHaveLength(12);
    expect(lines[1]).toBe('variants.0.pageSize: expected 4k, 2m or 1g');

    const said = new ApiError('BAD_REQUEST', 'x: must be positive', [
      { path: 'x', message: 'must be positive' },
    ]);
    notices.showError('Could not run', said);
    expect(notices.banner!.message).toBe('x: must be positive');
  });

  it('says what was thrown when it is not an Error, and dismisses', () => {
    const notices = new Notices();
    notices.showError('Could not open', 'gone');
    expect(notices.banner?.message).toBe('gone');
    notices.info('Saved results are incomplete', 'run again');
    expect(notices.banner?.kind).toBe('info');
    notices.dismiss();
    expect(notices.banner).toBeNull();
  });
});
