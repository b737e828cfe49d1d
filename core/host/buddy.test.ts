import { describe, expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { GiB, MiB, PAGE_SIZE } from '../units.js';
import { BuddyMemory } from './buddy.js';

describe('BuddyMemory', () => {
  it('serves 4 KiB pages while memory is free and tracks free bytes', () => {
    const buddy = new BuddyMemory(0, 3 * PAGE_SIZE, 0, new Rng(1));
    expect(buddy.allocBasePages(2)).toBe(true);
    expect(buddy.freeBytes).toBe(PAGE_SIZE);
    expect(buddy.allocBasePages(2)).toBe(false); // nothing taken on failure
    expect(buddy.allocBasePages(1)).toBe(true);
    expect(buddy.allocBasePages(1)).toBe(false);
    buddy.freeGuest(2 * PAGE_SIZE);
    expect(buddy.counters()).toMatchObject({ freeBytes: 2 * PAGE_SIZE, guestBytes: PAGE_SIZE });
  });

  it('fails a THP with roughly thpFragmentation odds (0.3 over 10000 tries)', () => {
    const buddy = new BuddyMemory(0, 64 * GiB, 0.3, new Rng(42));
    let fragmented = 0;
    for (let i = 0; i < 10_000; i++) {
      const attempt = buddy.tryAllocThp();
      if (attempt === 'fragmented') fragmented++;
      else buddy.freeGuest(2 * MiB);
    }
    // Binomial(10000, 0.3): standard deviation about 46; allow 5 of them.
    expect(fragmented).toBeGreaterThan(3000 - 230);
    expect(fragmented).toBeLessThan(3000 + 230);
  });

  it('never draws and reports no-memory when less than 2 MiB is free', () => {
    const rng = new Rng(7);
    const buddy = new BuddyMemory(0, 2 * MiB - PAGE_SIZE, 0.5, rng);
    expect(buddy.tryAllocThp()).toBe('no-memory');
    expect(rng.nextU32()).toBe(new Rng(7).nextU32());
  });

  it('extremes: fragmentation 0 always succeeds, 1 always fails', () => {
    const always = new BuddyMemory(0, 8 * MiB, 0, new Rng(3));
    expect([1, 2, 3, 4].map(() => always.tryAllocThp())).toEqual(['ok', 'ok', 'ok', 'ok']);
    const never = new BuddyMemory(0, 8 * MiB, 1, new Rng(3));
    expect(never.tryAllocThp()).toBe('fragmented');
  });

  it('gives vmemmap pages for HVO restores until the node runs dry', () => {
    const buddy = new BuddyMemory(0, 10 * PAGE_SIZE, 0, new Rng(1));
    expect(buddy.allocVmemmap(7)).toBe(true);
    expect(buddy.allocVmemmap(4)).toBe(false);
    buddy.freeVmemmap(7);
    expect(buddy.counters()).toMatchObject({ freeBytes: 10 * PAGE_SIZE, vmemmapNetPages: 0 });
  });

  it('poisoned guest memory never comes back', () => {
    const buddy = new BuddyMemory(0, 4 * MiB, 0, new Rng(1));
    expect(buddy.tryAllocThp()).toBe('ok');
    buddy.poisonGuest(2 * MiB);
    expect(buddy.counters()).toMatchObject({
      freeBytes: 2 * MiB,
      guestBytes: 0,
      hwpoisonedBytes: 2 * MiB,
    });
    expect(() => buddy.freeGuest(PAGE_SIZE)).toThrow(/only 0 B is allocated/);
  });

  it('is deterministic for a seed', () => {
    const run = () => {
      const buddy = new BuddyMemory(0, 1 * GiB, 0.5, new Rng(99));
      return Array.from({ length: 64 }, () => buddy.tryAllocThp());
    };
    expect(run()).toEqual(run());
  });
});
