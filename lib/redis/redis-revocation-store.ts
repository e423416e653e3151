import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import {
  MemoryRevocationStore,
  type Revocation,
  type RevocationStore,
  type RevocationSubject,
} from '../core/revocation-store.js';
import type { StoreHealth } from '../core/limit-store.js';
import { OutageLog, closeClient, connectWithin, type RedisClient, runScript, within } from './outage-log.js';

/** Where `RedisRevocationStore` finds Redis, and the key prefix the nodes of one cluster share. */
export interface RedisRevocationStoreOptions {
  /** For example `redis://127.0.0.1:6379`. */
  url: string;
  /** Prefix of every key; nodes that share revocations share it. @default 'nestjs-socket-auth:revoked:' */
  prefix?: string;
  /** How long one check may wait on Redis before this node answers from what it knows itself, in ms. @default 500 */
  timeoutMs?: number;
  /** How long `connect()` waits for Redis before it fails with `AUTH_SOCKET_REDIS_UNREACHABLE`, in ms. @default 10000 */
  connectTimeout?: number;
}

/**
 * Keeps the larger value and the longer expiry, atomically: a later "issued
 * before" cut-off covers an earlier one, and an entry lives as long as the
 * longest revocation that needed it. KEYS[1] key; ARGV value, ttl ms.
 */
const KEEP_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local value = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local left = redis.call('PTTL', KEYS[1])
if value > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(ttl, left))
elseif ttl > left then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1`;
const KEEP = { source: KEEP_SCRIPT, sha: createHash('sha1').update(KEEP_SCRIPT).digest('hex') };

/**
 * Revocations in Redis, so every node refuses what one revoked, and a
 * restart of every node forgets nothing. Each entry is a key that Redis
 * expires once no credential it covers can still be valid: a credential id
 * (`t:`), a principal's "issued before" cut-off (`b:`), a principal denied
 * entirely (`p:`). A check is one MGET.
 *
 * **Outages** follow the limit store's policy: the node carries on with what
 * it knows itself. Every revocation this node made or heard of through the
 * cluster (every node hears each `revoke()`) is kept in memory too, and
 * checks answer from that while Redis is out (fail open only for entries
 * made before this node started); revocations made during the outage are
 * written to Redis once it is back.
 */
export class RedisRevocationStore implements RevocationStore {
  private readonly outages = new OutageLog(
    'RedisRevocationStore',
    {
      down: "revocations are checked against this node's own copy until it returns",
      back: 'revocations are shared again',
    },
    'warn',
  );
  /** What this node made or heard of: the answer during an outage. */
  private readonly known = new MemoryRevocationStore();
  /** Revocations Redis has not acknowledged yet: written again once it is back. */
  private readonly unwritten = new Set<Revocation>();
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private client?: RedisClient;

  constructor(private readonly options: RedisRevocationStoreOptions) {
    this.prefix = options.prefix ?? 'nestjs-socket-auth:revoked:';
    this.timeoutMs = options.timeoutMs ?? 500;
  }

  /** Connects the Redis client. Call once before the module starts, e.g. in a `forRootAsync` factory. */
  async connect(): Promise<void> {
    // Fail fast while disconnected: a check must not wait for Redis to return.
    const client = createClient({ url: this.options.url, disableOfflineQueue: true }) as unknown as RedisClient;
    this.client = client;
    this.outages.watch(client);
    client.on('ready', () => void this.flush());
    await connectWithin([client], this.options.url, this.options.connectTimeout ?? 10_000, 'RedisRevocationStore');
  }

  async add(revocation: Revocation): Promise<void> {
    this.known.add(revocation);
    this.unwritten.add(revocation);
    await this.flush();
  }

  remember(revocation: Revocation): void {
    this.known.add(revocation);
  }

  async isRevoked(subject: RevocationSubject): Promise<boolean> {
    const client = this.ready();
    if (!client) return this.known.isRevoked(subject);
    const keys = [this.key('p', subject.principalId), this.key('b', subject.principalId)];
    if (subject.tokenId !== undefined) keys.push(this.key('t', subject.tokenId));
    try {
      const [entirely, before, token] = await within(client.mGet(keys), this.timeoutMs);
      this.outages.recovered();
      if (entirely !== null || (token !== null && token !== undefined)) return true;
      return (before !== null && subject.issuedAt < Number(before)) || this.known.isRevoked(subject);
    } catch (err) {
      this.outages.outage(err as Error);
      return this.known.isRevoked(subject);
    }
  }

  /** Entries this node keeps in memory. For tests. */
  get knownSize(): number {
    return this.known.size;
  }

  /** `up` while Redis answers; `degraded` while this node counts alone (Redis down, or not connected yet). */
  health(): StoreHealth {
    return this.client?.isReady && !this.outages.down ? 'up' : 'degraded';
  }

  async close(): Promise<void> {
    this.known.close();
    this.unwritten.clear();
    await closeClient(this.client);
  }

  /** Writes every revocation Redis has not acknowledged; what fails stays for the next try. */
  private async flush(): Promise<void> {
    const client = this.ready();
    if (!client) return;
    for (const revocation of [...this.unwritten]) {
      const ttl = Math.ceil(revocation.until - Date.now());
      if (ttl <= 0) {
        this.unwritten.delete(revocation);
        continue;
      }
      const [kind, id, value] =
        revocation.kind === 'token'
          ? ['t', revocation.tokenId, 1]
          : revocation.kind === 'issued-before'
            ? ['b', revocation.principalId, revocation.before]
            : ['p', revocation.principalId, revocation.until];
      try {
        await within(
          runScript(client, KEEP, { keys: [this.key(kind, id)], arguments: [String(value), String(ttl)] }),
          this.timeoutMs,
        );
        this.unwritten.delete(revocation);
        this.outages.recovered();
      } catch (err) {
        this.outages.outage(err as Error);
        return;
      }
    }
  }

  private ready(): RedisClient | undefined {
    const client = this.client;
    if (!client) throw new Error('RedisRevocationStore: call connect() before using the store');
    return client.isReady ? client : undefined;
  }

  private key(kind: string, id: string): string {
    return `${this.prefix}${kind}:${id}`;
  }
}
