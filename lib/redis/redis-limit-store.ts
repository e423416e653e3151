import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import { type LimitStore, MemoryLimitStore } from '../core/limit-store.js';
import { OutageLog, closeClient, type RedisClient } from './outage-log.js';

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
const ADD_SHA = createHash('sha1').update(ADD_SCRIPT).digest('hex');

/**
 * The abuse-limit counters in Redis, so N nodes share one budget per address.
 * During a Redis outage each node counts alone in memory (one warning when it
 * starts, one line when Redis is back); the limits stay on, per node.
 */
export class RedisLimitStore implements LimitStore {
  private readonly health = new OutageLog(
    'RedisLimitStore',
    { down: 'abuse limits count per node until it returns', back: 'abuse limits are shared again' },
    'warn',
  );
  private readonly fallback = new MemoryLimitStore();
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private client?: RedisClient;

  constructor(private readonly options: RedisLimitStoreOptions) {
    this.prefix = options.prefix ?? 'nestjs-socket-auth:limit:';
    this.timeoutMs = options.timeoutMs ?? 500;
  }

  /** Connects the Redis client. Call once before the first `add`. */
  async connect(): Promise<void> {
    // Fail fast while disconnected: a limit check must not wait for Redis to return.
    this.client = createClient({ url: this.options.url, disableOfflineQueue: true });
    this.health.watch(this.client);
    // Counts taken alone during the outage are not merged back; Redis's own keys still hold.
    this.client.on('ready', () => this.fallback.close());
    await this.client.connect();
  }

  async add(key: string, delta: number, ttlMs: number, refresh = false): Promise<number> {
    const client = this.client;
    if (!client) throw new Error('RedisLimitStore: call connect() before using the store');
    if (this.health.down || !client.isReady) return this.fallback.add(key, delta, ttlMs, refresh);
    const args = {
      keys: [this.prefix + key],
      arguments: [String(Math.trunc(delta)), String(Math.ceil(ttlMs)), refresh ? '1' : '0'],
    };
    try {
      return Number(await this.withTimeout(this.evalAdd(client, args)));
    } catch (err) {
      this.health.outage(err as Error);
      return this.fallback.add(key, delta, ttlMs, refresh);
    }
  }

  async close(): Promise<void> {
    this.fallback.close();
    await closeClient(this.client);
  }

  private async evalAdd(client: RedisClient, args: { keys: string[]; arguments: string[] }): Promise<unknown> {
    try {
      return await client.evalSha(ADD_SHA, args);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith('NOSCRIPT')) throw err;
      return client.eval(ADD_SCRIPT, args);
    }
  }

  private withTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    work.catch(() => undefined); // a late failure after the timeout is not unhandled
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}
