import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import { AuthSocketModule, AuthSocketService, type AuthSocketModuleOptions } from '../../lib/index.js';
import { RedisIoAdapter, RedisStreamsIoAdapter } from '../../lib/redis/index.js';
import { REDIS_URL } from './redis.js';

export interface ClusterNode {
  app: INestApplication;
  url: string;
  auth: AuthSocketService;
}

/** The Redis-backed adapters a node can run: pub/sub or streams. */
export type RedisAdapterKind = 'redis' | 'streams';

/** One Nest app with its own Redis clients, on its own port, sharing `key` with its peers. */
export async function startNode(
  key: string,
  options: AuthSocketModuleOptions,
  metadata: ModuleMetadata,
  redisUrl = REDIS_URL,
  kind: RedisAdapterKind = 'redis',
): Promise<ClusterNode> {
  const moduleRef = await Test.createTestingModule({
    imports: [...(options ? [AuthSocketModule.forRoot(options)] : []), ...(metadata.imports ?? [])],
    providers: metadata.providers ?? [],
    controllers: metadata.controllers ?? [],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  const adapter =
    kind === 'streams'
      ? new RedisStreamsIoAdapter(app, { url: redisUrl, key })
      : new RedisIoAdapter(app, { url: redisUrl, key, requestsTimeout: 1000 });
  await adapter.connect();
  app.useWebSocketAdapter(adapter);
  await app.listen(0, '127.0.0.1');
  return {
    app,
    url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
    auth: app.get(AuthSocketService),
  };
}

export const uniqueKey = (name: string): string => `nsa-test-${name}-${process.pid}-${Date.now()}`;
