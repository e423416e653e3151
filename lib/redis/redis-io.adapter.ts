import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
// Types only: the adapter package is imported when connect() runs, so installing it is needed only to use it.
import type { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import type { Server, ServerOptions } from 'socket.io';
import { OutageLog, closeClient, connectWithin, guardPublish, type RedisClient } from './outage-log.js';

export interface RedisIoAdapterOptions {
  /** For example `redis://127.0.0.1:6379`. */
  url: string;
  /** Channel prefix shared by the nodes of one cluster. @default 'socket.io' */
  key?: string;
  /** How long a cluster-wide request (fetchSockets, serverSideEmitWithAck) waits for other nodes, in ms. @default 5000 */
  requestsTimeout?: number;
  /** How long `connect()` waits for Redis before it fails, in ms. @default 10000 */
  connectTimeout?: number;
}

/** `@socket.io/redis-adapter` (Redis pub/sub) with the `redis` client. */
export class RedisIoAdapter extends IoAdapter {
  private readonly health = new OutageLog('RedisIoAdapter', {
    down: 'serving local clients only until it returns',
    back: 'cross-node delivery resumed',
  });
  private pubClient?: RedisClient;
  private subClient?: RedisClient;
  private adapterConstructor?: ReturnType<typeof createAdapter>;

  constructor(
    app: INestApplicationContext,
    private readonly redisOptions: RedisIoAdapterOptions,
  ) {
    super(app);
  }

  /** Connects both Redis clients. Call before `app.useWebSocketAdapter()`. */
  async connect(): Promise<void> {
    // Without the offline queue, a publish during an outage fails at once (and is
    // caught) instead of piling up and replaying stale broadcasts later.
    this.pubClient = createClient({ url: this.redisOptions.url, disableOfflineQueue: true });
    this.subClient = this.pubClient.duplicate();
    await connectWithin(
      [this.pubClient, this.subClient],
      this.redisOptions.url,
      this.redisOptions.connectTimeout ?? 10_000,
      'RedisIoAdapter',
    );
    for (const client of [this.pubClient, this.subClient]) this.health.watch(client);
    const { createAdapter } = await importAdapter();
    this.adapterConstructor = createAdapter(
      guardPublish(this.pubClient, (err) => this.health.outage(err)),
      this.subClient,
      {
        key: this.redisOptions.key,
        requestsTimeout: this.redisOptions.requestsTimeout,
      },
    );
  }

  /** Nest's server, with the Redis adapter set on it. Needs `connect()` first. */
  createIOServer(port: number, options?: ServerOptions): Server {
    if (!this.adapterConstructor) throw new Error('RedisIoAdapter: call connect() before using the adapter');
    const server = super.createIOServer(port, options) as Server;
    server.adapter(this.adapterConstructor);
    return server;
  }

  /** Closes the servers, then both Redis clients (never waiting more than 2 s on them). */
  async dispose(): Promise<void> {
    await super.dispose?.();
    await Promise.all([this.pubClient, this.subClient].map((c) => closeClient(c)));
  }
}

/** The optional peer, loaded on first use, with the install line when it is missing. */
async function importAdapter(): Promise<typeof import('@socket.io/redis-adapter')> {
  try {
    return await import('@socket.io/redis-adapter');
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error('RedisIoAdapter needs @socket.io/redis-adapter: npm install @socket.io/redis-adapter redis', {
      cause: err,
    });
  }
}
