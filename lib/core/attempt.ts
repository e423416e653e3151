/**
 * One attempt at authenticating a session: the client's ack, the handlers
 * waiting on it, and the bounded calls (strategy, hooks) it runs. Apart from
 * the session (session.ts) because it has a life of its own: it settles once,
 * and whatever it started must not outlive that.
 */
import type { Socket } from 'socket.io';
import type { AttemptTrace } from './telemetry.js';
import type { Revocation } from './revocation-store.js';
import { DeadlineQueue, type QueueEntry } from './deadline-queue.js';

/** What a bounded call rejects with once its attempt settled without it. */
export const ABANDONED = Symbol('abandoned');

/** The bounded call running: how to reject it, and its place in the shared deadline list of its length. */
interface Running {
  reject: (reason: unknown) => void;
  timedOut: unknown;
  entry: QueueEntry<Running> | undefined;
  /** The shared list the entry is in: looked up once per call. */
  queue: DeadlineQueue<Running>;
}

/**
 * The bounds of every call in flight, one deadline list (and so one timer) per
 * length, shared by all attempts in the process: calls of one length end in
 * the order they started, which is what a DeadlineQueue wants, and a process
 * uses one or two lengths (strategyTimeout, and the session timeout if shorter).
 * No Timeout object per attempt; each list's timer holds the process only
 * while a call of that length is in flight, and lapses at its time after
 * (or at `releaseIdleBounds`, when a module closes).
 */
const BOUNDS = new Map<number, DeadlineQueue<Running>>();

/**
 * Ends the timers of the lists with no call in flight. Called when a module
 * closes, so nothing it started outlives `app.close()`. Lists with calls in
 * flight belong to another app in the process, and stay.
 */
export function releaseIdleBounds(): void {
  for (const queue of BOUNDS.values()) if (queue.size === 0) queue.clear();
}

function deadlines(ms: number): DeadlineQueue<Running> {
  let queue = BOUNDS.get(ms);
  if (!queue) BOUNDS.set(ms, (queue = new DeadlineQueue<Running>((call) => call.reject(call.timedOut))));
  return queue;
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * One strategy call and the hooks after it, or one joining socket's hooks.
 * What it holds, and who clears each:
 *   - `ack`: the client's callback for this attempt, answered once (`answer`),
 *     by the outcome or by whatever ended the attempt;
 *   - `waiters`: `@Authenticated()` handlers that arrived meanwhile; `settle`
 *     runs them in arrival order with the verdict;
 *   - the running call's deadline and rejection: one bounded call at a time
 *     (strategy, then each hook), each cleaning up only after itself;
 *   - `origin`: the socket that started it, the only public socket that hears
 *     its failure (a public socket never hears another socket's outcome);
 *   - `revocations`: what was revoked while it was in flight: if the strategy
 *     answers with a principal one of them covers, the attempt is refused.
 * Settling is final: a late answer from the strategy changes nothing.
 */
export class Attempt {
  private waiters?: Array<(ok: boolean) => void>;
  private ack?: (response: unknown) => void;
  private running?: Running;
  revocations?: Revocation[];
  settled = false;
  /** When it started: for credentials without an issue time, what a revocation's "issued before" compares. */
  readonly startedAt = Date.now();
  /** Its metrics and span, when the app records telemetry. */
  trace?: AttemptTrace;

  constructor(
    ack?: (response: unknown) => void,
    readonly origin?: Socket,
  ) {
    this.ack = ack;
  }

  /** Whether the client gave an ack that is still unanswered. */
  get hasAck(): boolean {
    return this.ack !== undefined;
  }

  /** Answers the client's ack, once. */
  answer(response: unknown): void {
    const ack = this.ack;
    this.ack = undefined;
    ack?.(response);
  }

  wait(): Promise<boolean> {
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  /**
   * Races `work` against `ms`. The deadline is the attempt's and dies with it,
   * and settling the attempt abandons the work, so a strategy that never
   * answers holds nothing once the session is gone. Each call keeps its own
   * deadline entry and clears only its own (`running === call`), so a call's
   * cleanup that runs late, after the next call started, cannot clear the next
   * call's deadline: nothing here depends on the order of microtasks.
   */
  bounded<T>(work: () => T | Promise<T>, ms: number, timedOut: unknown): Promise<T> {
    if (this.settled) return Promise.reject(ABANDONED);
    return new Promise<T>((resolve, reject) => {
      const call: Running = { reject, timedOut, entry: undefined, queue: deadlines(ms) };
      call.entry = call.queue.add(call, Date.now() + ms);
      this.running = call;
      const done = (): void => {
        call.queue.cancel(call.entry);
        if (this.running === call) this.running = undefined;
      };
      // `work` runs after this returns (a microtask later), so a synchronous throw is a rejection like any other.
      queueMicrotask(() => {
        let result: T | Promise<T>;
        try {
          result = work();
        } catch (err) {
          done();
          return reject(err);
        }
        if (!isThenable(result)) {
          done();
          return resolve(result);
        }
        (result instanceof Promise ? result : Promise.resolve(result)).then(
          (value) => {
            done();
            resolve(value);
          },
          (err: unknown) => {
            done();
            reject(err);
          },
        );
      });
    });
  }

  settle(ok: boolean): void {
    if (this.settled) return;
    this.settled = true;
    const running = this.running;
    this.running = undefined;
    if (running) {
      running.queue.cancel(running.entry);
      running.reject(ABANDONED);
    }
    const waiters = this.waiters;
    this.waiters = undefined;
    // In arrival order, so pipelined messages run in the order they were sent.
    waiters?.forEach((resolve) => resolve(ok));
  }
}
