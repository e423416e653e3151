/**
 * A test node in its own process, started with `--import ./ts-register.mjs`.
 *   ADAPTER=redis|streams  one Nest app listening on a free port (REDIS_URL, KEY)
 *   ADAPTER=cluster        a node:cluster primary on one port with WORKERS workers
 * Prints one JSON line `{"port":…}` once every node is ready.
 */
import 'reflect-metadata';
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setupClusterPrimary, ClusterIoAdapter } from '../../../lib/cluster/index.js';
import { AuthSocketModule } from '../../../lib/index.js';
import { RedisIoAdapter, RedisStreamsIoAdapter } from '../../../lib/redis/index.js';
import { tokenAuth } from '../../support/strategies.js';
import { ChatGateway } from '../chat.gateway.js';
import { ControlGateway } from './control.gateway.js';

@Module({
  imports: [AuthSocketModule.forRoot({ ...tokenAuth, timeout: Number(process.env.AUTH_TIMEOUT_MS ?? 10_000) })],
  providers: [ChatGateway, ControlGateway],
})
class NodeModule {}

const adapter = process.env.ADAPTER ?? 'redis';

async function app(): Promise<INestApplication> {
  const nest = await NestFactory.create(NodeModule, { logger: false });
  if (adapter === 'cluster') {
    nest.useWebSocketAdapter(new ClusterIoAdapter(nest));
  } else {
    const options = {
      url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      key: process.env.KEY,
      requestsTimeout: 1000,
    };
    const io = adapter === 'streams' ? new RedisStreamsIoAdapter(nest, options) : new RedisIoAdapter(nest, options);
    await io.connect();
    nest.useWebSocketAdapter(io);
  }
  return nest;
}

if (adapter === 'cluster' && cluster.isPrimary) {
  const http = createServer();
  // Round-robin makes placement predictable enough for `socketOn(node)` to find each worker quickly.
  setupClusterPrimary(http, { loadBalancingMethod: 'round-robin' });
  const count = Number(process.env.WORKERS ?? 3);
  let ready = 0;
  for (let i = 0; i < count; i++) {
    cluster.fork({ NODE_NAME: String(i) }).on('message', (message: { type?: string }) => {
      if (message?.type === 'test:ready' && ++ready === count) {
        http.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (http.address() as AddressInfo).port })));
      }
    });
  }
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    process.exit(0);
  });
} else if (adapter === 'cluster') {
  const nest = await app();
  await nest.init(); // no listen: the primary hands connections over
  process.send!({ type: 'test:ready' });
} else {
  const nest = await app();
  await nest.listen(0, '127.0.0.1');
  console.log(JSON.stringify({ port: (nest.getHttpServer().address() as AddressInfo).port }));
  process.on('SIGTERM', () => void nest.close().then(() => process.exit(0)));
}
