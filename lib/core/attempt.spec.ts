import { jest } from '@jest/globals';
import { ABANDONED, Attempt, releaseIdleBounds } from './attempt.js';

const TIMED_OUT = Symbol('timed out');
const never = (): Promise<never> => new Promise(() => undefined);
/** How a bounded call ended: its value, or what it rejected with. */
const outcome = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    (value) => ({ value }),
    (reason: unknown) => ({ reason }),
  );

describe('Attempt.bounded', () => {
  // Microtasks stay real: bounded() runs the work a microtask later.
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] }));
  afterEach(() => {
    releaseIdleBounds(); // the lists are per process: no fake timer of one test is left to the next
    jest.useRealTimers();
  });

  it('bounds a thousand calls in flight of one length with one timer, each timing out at its own deadline', async () => {
    const early = Array.from({ length: 500 }, () => outcome(new Attempt().bounded(never, 1000, TIMED_OUT)));
    await jest.advanceTimersByTimeAsync(400);
    const late = Array.from({ length: 500 }, () => outcome(new Attempt().bounded(never, 1000, TIMED_OUT)));
    expect(jest.getTimerCount()).toBe(1); // a setTimeout per call would be 1000

    await jest.advanceTimersByTimeAsync(600);
    expect(await Promise.all(early)).toEqual(early.map(() => ({ reason: TIMED_OUT })));
    let lateDone = false;
    void Promise.all(late).then(() => (lateDone = true));
    await jest.advanceTimersByTimeAsync(399);
    expect(lateDone).toBe(false); // the control: the later calls still have 1 ms
    await jest.advanceTimersByTimeAsync(1);
    expect(await Promise.all(late)).toEqual(late.map(() => ({ reason: TIMED_OUT })));
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps one timer per length, so a shorter bound is not stuck behind a longer one', async () => {
    const long = outcome(new Attempt().bounded(never, 5000, TIMED_OUT));
    const short = outcome(new Attempt().bounded(never, 100, TIMED_OUT));
    expect(jest.getTimerCount()).toBe(2);
    await jest.advanceTimersByTimeAsync(100);
    expect(await short).toEqual({ reason: TIMED_OUT });
    await jest.advanceTimersByTimeAsync(4900);
    expect(await long).toEqual({ reason: TIMED_OUT });
  });

  it('once every call has answered, the timer lapses at its time, or at once on releaseIdleBounds', async () => {
    const calls = Array.from({ length: 20 }, (_, i) =>
      new Attempt().bounded(() => Promise.resolve(i), 1000, TIMED_OUT),
    );
    expect(jest.getTimerCount()).toBe(1);
    expect(await Promise.all(calls)).toEqual(calls.map((_, i) => i));
    // Calls one after another reuse the one timer rather than make one each.
    for (let i = 0; i < 20; i++) await new Attempt().bounded(() => i, 1000, TIMED_OUT);
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(1000);
    expect(jest.getTimerCount()).toBe(0); // it fired with nothing waiting, and stopped
    await new Attempt().bounded(() => 1, 1000, TIMED_OUT);
    expect(jest.getTimerCount()).toBe(1);
    releaseIdleBounds();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('releaseIdleBounds leaves the timer of a call in flight', async () => {
    const pending = outcome(new Attempt().bounded(never, 1000, TIMED_OUT));
    releaseIdleBounds();
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(1000);
    expect(await pending).toEqual({ reason: TIMED_OUT });
  });

  it('abandons the running call when its attempt settles, and leaves no timer', async () => {
    const attempt = new Attempt();
    const call = outcome(attempt.bounded(never, 1000, TIMED_OUT));
    attempt.settle(false);
    expect(await call).toEqual({ reason: ABANDONED });
    releaseIdleBounds(); // as a module's close does: nothing waits, so nothing is left
    expect(jest.getTimerCount()).toBe(0);
    expect(await outcome(attempt.bounded(never, 1000, TIMED_OUT))).toEqual({ reason: ABANDONED });
  });

  it('runs the work after bounded() returns; a synchronous throw rejects, a plain value resolves', async () => {
    const order: string[] = [];
    const thrown = outcome(
      new Attempt().bounded(
        () => {
          order.push('work');
          throw new Error('boom');
        },
        1000,
        TIMED_OUT,
      ),
    );
    order.push('returned');
    expect(((await thrown) as { reason: Error }).reason.message).toBe('boom');
    expect(order).toEqual(['returned', 'work']);
    expect(await new Attempt().bounded(() => 7, 1000, TIMED_OUT)).toBe(7);
    const thenable = { then: (resolve: (v: number) => void) => resolve(8) };
    expect(await new Attempt().bounded(() => thenable as unknown as Promise<number>, 1000, TIMED_OUT)).toBe(8);
  });
});
