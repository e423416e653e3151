import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import { type LimitStore, MemoryLimitStore, type StoreHealth } from '../core/limit-store.js';
import { OutageLog, closeClient, type RedisClient, runScript, within } from './outage-log.js';

/** Where `RedisLimitStore` finds Redis, and the key prefix the nodes of one cluster share. */
export interface RedisLimitStoreOptions {
  /** For example `redis://127.0.0.1:6379`. */
  url: string;
  /** Prefix of every counter key; nodes sharing a budget share it. @default 'nestjs-socket-auth:limit:' */
  prefix?: string;
  /** How long one call may wait on Redis before this node counts alone, in ms. @default 500 */
  timeoutMs?: number;
}

/**
 * One INCRBY and its expiry, atomically. A total at or below zero removes the
 * key, as in MemoryLimitStore, so counts that drifted across an outage heal.
 * KEYS[1] key; ARGV delta, ttl ms, refresh ('1' or '0').
 */
const ADD_SCRIPT = `
local existed = redis.call('EXISTS', KEYS[1])
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
if existed == 0 or ARGV[3] == '1' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total`;
const ADD = { source: ADD_SCRIPT, sha: createHash('sha1').update(ADD_SCRIPT).digest('hex') };

/** How long after a Redis call timed out (the connection itself still up) this node tries Redis again. */
const RETRY_AFTER_MS = 1000;

/**
 * The abuse-limit counters in Redis, so N nodes share one budget per address.
 * During a Redis outage each node counts alone in memory (one warning when it
 * starts, one line when Redis is back); the limits stay on, per node.
 *
 * What a node counted alone, Redis never saw: the matching decrements are paid
 * back locally (`owed`) and never reach Redis, where they would pull the other
 * nodes' counts below their live sockets.
 */
export class RedisLimitStore implements LimitStore {
  private readonly outages = new OutageLog(
    'RedisLimitStore',
    { down: 'abuse limits count per node until it returns', back: 'abuse limits are shared again' },
    'warn',
  );
  private readonly fallback = new MemoryLimitStore();
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private client?: RedisClient;
  /** Increments counted alone during an outage, per key, until their decrements or their TTL. */
  private readonly owed = new Map<string, { total: number; expiresAt: number }>();
  /** After a timeout on a connection that stayed up: when Redis is tried again. */
  private retryAt = 0;

  constructor(private readonly options: RedisLimitStoreOptions) {
    this.prefix = options.prefix ?? 'nestjs-socket-auth:limit:';
    this.timeoutMs = options.timeoutMs ?? 500;
  }

  /** Connects the Redis client. Call once before the first `add`. */
  async connect(): Promise<void> {
    // Fail fast while disconnected: a limit check must not wait for Redis to return.
    this.client = createClient({ url: this.options.url, disableOfflineQueue: true });
    this.outages.watch(this.client);
    // Counts taken alone during the outage are not merged back; Redis's own keys still hold.
    this.client.on('ready', () => this.fallback.close());
    await this.client.connect();
  }

  async add(key: string, delta: number, ttlMs: number, refresh = false): Promise<number> {
    const client = this.client;
    if (!client) throw new Error('RedisLimitStore: call connect() before using the store');
    if (!client.isReady || (this.outages.down && Date.now() < this.retryAt))
      return this.alone(key, delta, ttlMs, refresh);
    const remote = delta < 0 ? delta + this.payBack(key, -delta) : delta;
    const args = {
      keys: [this.prefix + key],
      arguments: [String(Math.trunc(remote)), String(Math.ceil(ttlMs)), refresh ? '1' : '0'],
    };
    const work = runScript(client, ADD, args);
    try {
      const total = Number(await within(work, this.timeoutMs));
      this.outages.recovered(); // also after an outage that was only a timeout: the connection never dropped
      return total;
    } catch (err) {
      this.outages.outage(err as Error);
      this.retryAt = Date.now() + RETRY_AFTER_MS;
      if (remote > 0) {
        this.owe(key, remote, ttlMs);
        // A call that timed out may still reach Redis: then Redis did count it, and its decrement must go there.
        work.then(
          () => this.payBack(key, remote),
          () => undefined,
        );
      }
      // A decrement that may not have reached Redis leaves its count high until the TTL: never lower than the truth.
      return this.fallback.add(key, remote, ttlMs, refresh);
    }
  }

  /** Counts on this node only, remembering increments Redis will never see. */
  private alone(key: string, delta: number, ttlMs: number, refresh: boolean): number {
    if (delta > 0) this.owe(key, delta, ttlMs);
    else if (delta < 0) this.payBack(key, -delta);
    return this.fallback.add(key, delta, ttlMs, refresh);
  }

  private owe(key: string, amount: number, ttlMs: number): void {
    if (amount <= 0) return;
    const now = Date.now();
    if (this.owed.size > 1000) for (const [k, o] of this.owed) if (o.expiresAt <= now) this.owed.delete(k);
    const entry = this.owed.get(key);
    const total = (entry && entry.expiresAt > now ? entry.total : 0) + amount;
    this.owed.set(key, { total, expiresAt: now + ttlMs });
  }

  /** Takes up to `amount` from what is owed for `key`; returns how much was paid back. */
  private payBack(key: string, amount: number): number {
    const entry = this.owed.get(key);
    if (!entry) return 0;
    if (entry.expiresAt <= Date.now()) {
      this.owed.delete(key);
      return 0;
    }
    const paid = Math.min(entry.total, amount);
    if (entry.total === paid) this.owed.delete(key);
    else entry.total -= paid;
    return paid;
  }

  /** `up` while Redis answers; `degraded` while this node counts alone (Redis down, or not connected yet). */
  health(): StoreHealth {
    return this.client?.isReady && !this.outages.down ? 'up' : 'degraded';
  }

  async close(): Promise<void> {
    this.fallback.close();
    this.owed.clear();
    await closeClient(this.client);
  }
}
