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
    expect(q.armed).toBe(false);
  });

  it("a queue that empties and refills reuses its timer, unref'd while empty, and lets it lapse at its time", () => {
    const fired: string[] = [];
    const q = new DeadlineQueue<string>(
      (x) => fired.push(x),
      () => now,
    );
    const timeout = jest.spyOn(globalThis, 'setTimeout');
    for (let i = 0; i < 100; i++) {
      const e = q.add(`x${i}`, now + 1000);
      expect(q.running).toBe(true);
      q.cancel(e);
      expect(q.running).toBe(false); // held only while something waits
      advance(1);
    }
    expect(timeout).toHaveBeenCalledTimes(1); // control: one timer for 100 items, not one each
    expect(q.armed).toBe(true);
    const last = q.add('last', now + 1000);
    advance(1000 - 100); // the timer fires at its own (first) time, finds 'last' not due, and re-arms
    expect(fired).toEqual([]);
    expect(q.running).toBe(true);
    advance(100);
    expect(fired).toEqual(['last']);
    q.cancel(last);
    expect(q.armed).toBe(false); // nothing waited when it fired: it stopped
    timeout.mockRestore();
  });

  it('clear() ends a lapsing timer at once', () => {
    const q = new DeadlineQueue<string>(
      () => undefined,
      () => now,
    );
    q.cancel(q.add('a', now + 1000));
    expect(q.armed).toBe(true);
    expect(jest.getTimerCount()).toBe(1);
    q.clear();
    expect(q.armed).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
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
