import { jest } from '@jest/globals';
import { DeadlineQueue } from './deadline-queue.js';

/** A clock the test moves, and the timers the queue arms run with jest's fake timers in step. */
describe('DeadlineQueue', () => {
  let now = 1_000_000;
  beforeEach(() => {
    jest.useFakeTimers();
    now = 1_000_000;
  });
  afterEach(() => jest.useRealTimers());
  const advance = (ms: number): void => {
    now += ms;
    jest.advanceTimersByTime(ms);
  };

  it('fires each item at its deadline, in order, with one timer for the head', () => {
    const fired: string[] = [];
    const q = new DeadlineQueue<string>(
      (x) => fired.push(x),
      () => now,
    );
    q.add('a', now + 100);
    q.add('b', now + 100);
    q.add('c', now + 200);
    expect(jest.getTimerCount()).toBe(1);
    advance(99);
    expect(fired).toEqual([]);
    advance(1);
    expect(fired).toEqual(['a', 'b']);
    advance(100);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(q.running).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a cancelled item never fires; cancelling the last one stops the timer', () => {
    const fired: string[] = [];
    const q = new DeadlineQueue<string>(
      (x) => fired.push(x),
      () => now,
    );
    const a = q.add('a', now + 100);
    const b = q.add('b', now + 150);
    q.cancel(a);
    advance(120);
    expect(fired).toEqual([]);
    expect(q.size).toBe(1);
    q.cancel(b);
    expect(q.running).toBe(false);
    advance(100);
    expect(fired).toEqual([]);
  });

  it('an item added out of order (an earlier deadline) fires at its own time, not after the tail', () => {
    const fired: string[] = [];
    const q = new DeadlineQueue<string>(
      (x) => fired.push(x),
      () => now,
    );
    q.add('late', now + 1000);
    q.add('early', now + 100);
    advance(100);
    expect(fired).toEqual(['early']);
    advance(900);
    expect(fired).toEqual(['early', 'late']);
  });

  it('an item added while others fire, due later than the rest, leaves the rest on time', () => {
    const fired: string[] = [];
    const q = new DeadlineQueue<string>(
      (x) => {
        fired.push(x);
        if (x === 'a') q.add('added', now + 1000);
      },
      () => now,
    );
    q.add('a', now + 100);
    q.add('b', now + 200);
    advance(100);
    advance(100);
    expect(fired).toEqual(['a', 'b']);
    advance(899);
    expect(fired).toEqual(['a', 'b']); // added at 100 + 1000
    advance(1);
    expect(fired).toEqual(['a', 'b', 'added']);
  });

  it('stays compact: many added and cancelled items leave nothing behind', () => {
    const q = new DeadlineQueue<number>(
      () => undefined,
      () => now,
    );
    for (let i = 0; i < 5000; i++) {
      const e = q.add(i, now + 100 + i);
      if (i % 2) q.cancel(e);
    }
    advance(10_000);
    expect(q.size).toBe(0);
    expect(q.running).toBe(false);
  });
});
