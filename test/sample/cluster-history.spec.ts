/**
 * The sample's history on two nodes sharing Redis: a message sent through one
 * node is in the history the other sends, and an admin's clear on one node
 * clears it on both.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { RedisIoAdapter } from '../../lib/redis/index.js';
import { uniqueKey } from '../cluster/nodes.js';
import { REDIS_URL, redisReachable } from '../cluster/redis.js';
import { closeClients, connect, once, sleep } from '../support/harness.js';
import { joinAs, login } from './sample-app.js';

const withRedis = (await redisReachable()) ? describe : describe.skip;

withRedis('the sample history across two nodes', () => {
  const env = { ...process.env };
  let nodes: Array<{ app: INestApplication; url: string }> = [];

  beforeAll(async () => {
    // The deny-list stays in memory here (no REDIS_URL): only the socket.io adapter is shared.
    Object.assign(process.env, { AUTH_SECRET: `test-${randomUUID()}` });
    const { AppModule } = await import('../../sample/app.module.js');
    const key = uniqueKey('history');
    for (let i = 0; i < 2; i++) {
      const app = (await Test.createTestingModule({ imports: [AppModule] }).compile()).createNestApplication({
        logger: false,
      });
      const adapter = new RedisIoAdapter(app, { url: REDIS_URL, key });
      await adapter.connect();
      app.useWebSocketAdapter(adapter);
      await app.listen(0, '127.0.0.1');
      nodes.push({ app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` });
    }
  });
  afterAll(async () => {
    closeClients();
    await sleep(100); // presence updates from those disconnects go out before Redis closes
    await Promise.all(nodes.map((n) => n.app.close()));
    nodes = [];
    process.env = env;
  });

  /** The history node `url` sends a socket as it authenticates. */
  async function historyOn(url: string): Promise<Array<{ user: string; text: string }>> {
    const socket = connect(url);
    await once(socket, 'connect');
    const history = once(socket, 'chat:history');
    await socket.timeout(3000).emitWithAck('authentication', { token: await login(url, 'bob') });
    const messages = await history;
    socket.disconnect();
    return messages;
  }

  it('a message sent through node 1 is in node 2 history, and a clear on node 1 empties both', async () => {
    const [one, two] = nodes;
    const alice = await joinAs(one.url, 'alice');
    expect(await alice.timeout(3000).emitWithAck('chat:send', { text: 'from node 1' })).toEqual({ ok: true });
    await sleep(200); // the server-side event crosses Redis
    expect(await historyOn(two.url)).toEqual([{ user: 'Alice', text: 'from node 1' }]);

    expect(await alice.timeout(3000).emitWithAck('chat:clear')).toEqual({ ok: true });
    await sleep(200);
    expect(await historyOn(two.url)).toEqual([]);
    expect(await historyOn(one.url)).toEqual([]);
  });
});
