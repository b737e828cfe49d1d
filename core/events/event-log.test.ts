// The event log: kept in memory for the tests and in-process callers, or streamed to a sink in
// chunks of whole lines as the run goes (nothing kept), cut at its limit with a last line that
// says how many events it left out.
import { describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_LIMIT, EventLog } from './event-log.js';

const pin = (i: number) => ({ type: 'pin', offset: i * 4096, size: 4096 }) as const;

describe('EventLog', () => {
  it('streams whole tagged lines to its sink and keeps none in memory', () => {
    const chunks: string[] = [];
    const log = new EventLog(true, {
      sink: { write: (t) => chunks.push(t) },
      tag: { variant: 'a "b"' },
    });
    for (let i = 0; i < 10_000; i++) log.push(i, pin(i));
    // Flushed as it goes, in chunks of whole lines.
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    for (const c of chunks) expect(c.endsWith('\n')).toBe(true);
    expect(log.all()).toHaveLength(0);
    log.close();
    const lines = chunks
      .join('')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(10_000);
    expect(lines[0]).toEqual({ variant: 'a "b"', t: 0, type: 'pin', offset: 0, size: 4096 });
    expect(lines[9999]).toMatchObject({ variant: 'a "b"', t: 9999, offset: 9999 * 4096 });
    expect(log.length).toBe(10_000);
  });

  it('streams the same events, in the same form, as it would keep', () => {
    const kept = new EventLog(true, { tag: { variant: 'v' } });
    let streamed = '';
    const sunk = new EventLog(true, {
      sink: { write: (t) => (streamed += t) },
      tag: { variant: 'v' },
    });
    for (let i = 0; i < 5000; i++) {
      kept.push(i * 10, pin(i));
      sunk.push(i * 10, pin(i));
    }
    sunk.close();
    expect(streamed).toBe(kept.toJsonLines());
  });

  it('is cut at its limit, counts what it left out, and says so in its last line', () => {
    let text = '';
    const log = new EventLog(true, { limit: 100, sink: { write: (t) => (text += t) } });
    for (let i = 0; i < 250; i++) log.push(i, pin(i));
    log.close();
    const lines = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(101);
    expect(lines.at(-1)).toEqual({ type: 'log_truncated', dropped: 150, limit: 100 });
    expect(log.length).toBe(100);
    expect(log.droppedCount).toBe(150);
  });

  it('keeps nothing and writes nothing when disabled', () => {
    let text = '';
    const log = new EventLog(false, { sink: { write: (t) => (text += t) } });
    log.push(0, pin(0));
    log.close();
    expect(text).toBe('');
    expect(log.length).toBe(0);
    expect(new EventLog(true).eventLimit).toBe(DEFAULT_EVENT_LIMIT);
  });
});
