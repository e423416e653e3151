/**
 * `nestjs-socket-auth/redis`: an IoAdapter wired to `@socket.io/redis-adapter`
 * with the `redis` client, for apps without a Redis adapter of their own. Both
 * packages are optional peer dependencies; the core never imports this file.
 */
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import type { Server, ServerOptions } from 'socket.io';

export interface RedisIoAdapterOptions {
  /** For example `redis://127.0.0.1:6379`. */
  url: string;
  /** Channel prefix shared by the nodes of one cluster. @default 'socket.io' */
  key?: string;
  /** How long a cluster-wide request (fetchSockets, serverSideEmitWithAck) waits for other nodes, in ms. @default 5000 */
  requestsTimeout?: number;
}

type RedisClient = ReturnType<typeof createClient>;

export class RedisIoAdapter extends IoAdapter {
  private readonly redisLogger = new Logger('RedisIoAdapter');
  private pubClient?: RedisClient;
  private subClient?: RedisClient;
  private adapterConstructor?: ReturnType<typeof createAdapter>;
  private down = false;

  constructor(
    app: INestApplicationContext,
    private readonly redisOptions: RedisIoAdapterOptions,
  ) {
    super(app);
  }

  /** Connects both Redis clients. Call before `app.useWebSocketAdapter()`. */
  async connect(): Promise<void> {
    // Without the offline queue, a publish during an outage fails at once (and is
    // caught below) instead of piling up and replaying stale broadcasts later.
    this.pubClient = createClient({ url: this.redisOptions.url, disableOfflineQueue: true });
    this.subClient = this.pubClient.duplicate();
    for (const client of [this.pubClient, this.subClient]) {
      client.on('error', (err: Error) => this.outage(err));
      client.on('ready', () => this.recovered());
    }
    await Promise.all([this.pubClient.connect(), this.subClient.connect()]);
    this.adapterConstructor = createAdapter(guardPublish(this.pubClient, (err) => this.outage(err)), this.subClient, {
      key: this.redisOptions.key,
      requestsTimeout: this.redisOptions.requestsTimeout,
    });
  }

  createIOServer(port: number, options?: ServerOptions): Server {
    if (!this.adapterConstructor) throw new Error('RedisIoAdapter: call connect() before using the adapter');
    const server = super.createIOServer(port, options) as Server;
    server.adapter(this.adapterConstructor);
    return server;
  }

  async dispose(): Promise<void> {
    await super.dispose?.();
    await Promise.all([this.pubClient, this.subClient].map((c) => (c?.isOpen ? c.quit().catch(() => undefined) : undefined)));
  }

  /** Logged once per outage, not once per message. */
  private outage(err: Error): void {
    if (this.down) return;
    this.down = true;
    this.redisLogger.error(`Redis unavailable (${err.message}); serving local clients only until it returns`);
  }

  private recovered(): void {
    if (!this.down) return;
    this.down = false;
    this.redisLogger.log('Redis is back; cross-node delivery resumed');
  }
}

/** The adapter publishes without awaiting; a rejected publish must not become an unhandled rejection. */
function guardPublish(client: RedisClient, onError: (err: Error) => void): RedisClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== 'publish' && prop !== 'sPublish') return typeof value === 'function' ? value.bind(target) : value;
      return (...args: unknown[]) => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((err: Error) => onError(err));
    },
  });
}
