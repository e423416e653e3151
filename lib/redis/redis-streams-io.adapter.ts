import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
// Types only: the adapter package is imported when connect() runs, so installing it is needed only to use it.
import type { createAdapter } from '@socket.io/redis-streams-adapter';
import { createClient } from 'redis';
import type { Server, ServerOptions } from 'socket.io';
import { OutageLog, closeClient, connectWithin, guardPublish, type RedisClient } from './outage-log.js';

/** Where the streams adapter finds Redis, and what it shares with its peers. */
export interface RedisStreamsIoAdapterOptions {
  /** For example `redis://127.0.0.1:6379`. */
  url: string;
  /** Stream name, channel prefix and session-key prefix shared by the nodes of one cluster. @default 'socket.io' */
  key?: string;
  /**
   * Anything else `@socket.io/redis-streams-adapter` accepts (maxLen, blockTimeInMs, …).
   * Cluster-wide requests wait as long as the caller's `server.timeout(ms)` (default 5000 ms).
   */
  adapterOptions?: {
    maxLen?: number;
    readCount?: number;
    blockTimeInMs?: number;
    heartbeatInterval?: number;
    heartbeatTimeout?: number;
    [option: string]: unknown;
  };
  /** How long `connect()` waits for Redis before it fails, in ms. @default 10000 */
  connectTimeout?: number;
}

/**
 * `@socket.io/redis-streams-adapter`: broadcasts through a Redis stream, so a
 * client can recover its session (connectionStateRecovery) on another node.
 * The recovered rooms, data and missed packets still wait for re-authentication
 * as the same principal: the broadcast gate holds them whatever the adapter.
 */
export class RedisStreamsIoAdapter extends IoAdapter {
  private readonly health = new OutageLog('RedisStreamsIoAdapter', {
    down: 'serving local clients only until it returns',
    back: 'cross-node delivery resumed',
  });
  private client?: RedisClient;
  /** The adapter's own reading clients (it duplicates ours), closed on dispose. */
  private readonly readers: RedisClient[] = [];
  private createAdapter?: typeof createAdapter;
  private adapterConstructor?: ReturnType<typeof createAdapter>;

  private readonly key: string;

  constructor(
    app: INestApplicationContext,
    private readonly redisOptions: RedisStreamsIoAdapterOptions,
  ) {
    super(app);
    this.key = redisOptions.key ?? 'socket.io';
  }

  /** Connects the Redis client. Call before `app.useWebSocketAdapter()`. */
  async connect(): Promise<void> {
    // Publishing fails fast during an outage (local delivery goes on: the adapter
    // catches the failed XADD), rather than queueing stale broadcasts.
    this.client = createClient({ url: this.redisOptions.url, disableOfflineQueue: true });
    await connectWithin(
      [this.client],
      this.redisOptions.url,
      this.redisOptions.connectTimeout ?? 10_000,
      'RedisStreamsIoAdapter',
    );
    this.createAdapter = (await importAdapter()).createAdapter;
    this.health.watch(this.client);
  }

  /** Nest's server, with the Redis streams adapter set on it. Needs `connect()` first. */
  createIOServer(port: number, options?: ServerOptions): Server {
    if (!this.client || !this.createAdapter)
      throw new Error('RedisStreamsIoAdapter: call connect() before using the adapter');
    // Made with the first server, not in connect(): the adapter starts its stream readers as soon as it is made, and
    // stops them only when its last namespace closes. Made without a server (an app that failed to start after
    // connect()), its read loop would spin on closed clients forever after dispose().
    this.adapterConstructor ??= this.createAdapter(
      this.withQueueingReaders(guardPublish(this.client, (err) => this.health.outage(err))),
      {
        streamName: this.key,
        channelPrefix: this.key,
        sessionKeyPrefix: `${this.key}:session:`,
        ...this.redisOptions.adapterOptions,
      },
    );
    const server = super.createIOServer(port, options) as Server;
    server.adapter(this.adapterConstructor);
    return server;
  }

  /** Closes the servers, then the Redis clients (never waiting more than 2 s on them). */
  async dispose(): Promise<void> {
    // Nest closes the servers first, which stops the adapter's read loop.
    await super.dispose?.();
    for (const reader of this.readers) reader.destroy();
    await closeClient(this.client);
  }

  /**
   * The adapter duplicates our client to read the stream and subscribe. Those
   * must keep the offline queue: its read loop retries at once on an error, so a
   * fast-failing XREAD during an outage would spin without yielding.
   */
  private withQueueingReaders(client: RedisClient): RedisClient {
    const readers = this.readers;
    return new Proxy(client, {
      get(target, prop, receiver) {
        if (prop !== 'duplicate') return Reflect.get(target, prop, receiver);
        return () => {
          const reader = target.duplicate({ disableOfflineQueue: false });
          readers.push(reader);
          return reader;
        };
      },
    });
  }
}

/** The optional peer, loaded on first use, with the install line when it is missing. */
async function importAdapter(): Promise<typeof import('@socket.io/redis-streams-adapter')> {
  try {
    return await import('@socket.io/redis-streams-adapter');
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error(
      'RedisStreamsIoAdapter needs @socket.io/redis-streams-adapter: npm install @socket.io/redis-streams-adapter redis',
      { cause: err },
    );
  }
}
