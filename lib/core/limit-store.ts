/**
 * Where the abuse limits keep their counters (failure windows, per-address
 * pending counts). No Nest and no Redis in here: the Redis store lives in the
 * `nestjs-socket-auth/redis` entry point.
 */

/**
 * A store's connectivity, for health checks: `up`; `degraded` (its shared
 * backend is unreachable and this node works alone meanwhile, as the Redis
 * stores do); `down` (it cannot serve at all).
 */
export type StoreHealth = 'up' | 'degraded' | 'down';

/** Counters with expiry behind the abuse limits. In memory by default; a shared store gives N nodes one budget. */
export interface LimitStore {
  /** Adds `delta` (may be negative) to `key` and returns the new total. A key that does not exist starts at 0 and expires `ttlMs` after this call; an existing key's expiry is refreshed only when `refresh` is true. May answer synchronously. */
  add(key: string, delta: number, ttlMs: number, refresh?: boolean): number | Promise<number>;
  /** Releases timers or connections. */
  close?(): void | Promise<void>;
  /** Its connectivity now; a store without it counts as `up`. */
  health?(): StoreHealth;
}

interface Counter {
  total: number;
  expiresAt: number;
}

/**
 * The per-process store. A total that falls to zero or below removes the key
 * and answers 0, so a count that drifted (e.g. across a shared store's
 * outage) heals instead of going negative.
 */
export class MemoryLimitStore implements LimitStore {
  private readonly counters = new Map<string, Counter>();
  private sweeper?: ReturnType<typeof setInterval>;

  /**
   * @param sweepIntervalMs How often expired keys are dropped; lookups also ignore them, so this only bounds memory.
   * @param clock Epoch ms now: `Date.now` unless a test moves time on.
   */
  constructor(
    private readonly sweepIntervalMs = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  add(key: string, delta: number, ttlMs: number, refresh = false): number {
    const now = this.clock();
    let counter = this.counters.get(key);
    if (!counter || counter.expiresAt <= now) {
      counter = { total: 0, expiresAt: now + ttlMs };
      this.counters.set(key, counter);
    } else if (refresh) {
      counter.expiresAt = now + ttlMs;
    }
    counter.total += delta;
    if (counter.total <= 0) {
      this.counters.delete(key);
      this.stopWhenEmpty();
      return 0;
    }
    this.startSweeper();
    return counter.total;
  }

  /** Live keys, expired ones included until the next sweep. For leak checks. */
  size(): number {
    return this.counters.size;
  }

  /** Whether the sweep timer is running: only while keys exist. For leak checks. */
  get sweeping(): boolean {
    return this.sweeper !== undefined;
  }

  close(): void {
    this.counters.clear();
    this.stopWhenEmpty();
  }

  private startSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      const now = this.clock();
      for (const [key, counter] of this.counters) if (counter.expiresAt <= now) this.counters.delete(key);
      this.stopWhenEmpty();
    }, this.sweepIntervalMs);
    // Never what keeps a process alive.
    this.sweeper.unref?.();
  }

  private stopWhenEmpty(): void {
    if (this.counters.size > 0 || !this.sweeper) return;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
