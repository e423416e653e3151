import { jest } from '@jest/globals';
import { MAX_TIMEOUT_MS, setLongTimeout } from './long-timer.js';

describe('setLongTimeout', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('fires at a moment further away than setTimeout can wait (30 days), and not before', () => {
    const fn = jest.fn();
    const thirtyDays = 30 * 24 * 3600 * 1000;
    expect(thirtyDays).toBeGreaterThan(MAX_TIMEOUT_MS);
    setLongTimeout(fn, Date.now() + thirtyDays);
    jest.advanceTimersByTime(MAX_TIMEOUT_MS);
    expect(fn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(thirtyDays - MAX_TIMEOUT_MS - 1);
    expect(fn).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('fires at once for a moment in the past, and never after clear()', () => {
    const past = jest.fn();
    setLongTimeout(past, Date.now() - 10);
    jest.advanceTimersByTime(0);
    expect(past).toHaveBeenCalledTimes(1);

    const cleared = jest.fn();
    const timer = setLongTimeout(cleared, Date.now() + MAX_TIMEOUT_MS * 2);
    jest.advanceTimersByTime(MAX_TIMEOUT_MS + 5);
    timer.clear();
    jest.advanceTimersByTime(MAX_TIMEOUT_MS * 2);
    expect(cleared).not.toHaveBeenCalled();
  });
});
