/**
 * The module's abuse limits on a shared RedisLimitStore: two nodes (two Nest
 * apps) give one address one budget, for failures and for pending sockets.
 */
import { WebSocketGateway } from '@nestjs/websockets';
import { randomUUID } from 'node:crypto';
import { RedisLimitStore } from '../../lib/redis/index.js';
import { authenticate, closeClients, connect, connected, createApp, once, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';
import { describeWithRedis, REDIS_URL } from './redis.js';

@WebSocketGateway()
class Gateway {}

const suite = await describeWithRedis();

suite('limits shared through a RedisLimitStore', () => {
  const apps: TestApp[] = [];
  const stores: RedisLimitStore[] = [];

  async function nodes(options: object, shared: boolean): Promise<[TestApp, TestApp]> {
    const prefix = `shared-limits-test:${randomUUID()}:`;
    for (let i = 0; i < 2; i++) {
      const limitStore = shared ? new RedisLimitStore({ url: REDIS_URL, prefix }) : undefined;
      if (limitStore) {
        await limitStore.connect();
        stores.push(limitStore);
      }
      apps.push(
        await createApp(
          { ...tokenAuth, timeout: 5000, ...options, ...(limitStore ? { limitStore } : {}) },
          { providers: [Gateway] },
        ),
      );
    }
    return [apps[apps.length - 2], apps[apps.length - 1]];
  }

  afterEach(async () => {
    closeClients();
    for (const app of apps.splice(0)) await app.close();
    for (const store of stores.splice(0)) await store.close();
  });

  async function guess(t: TestApp): Promise<string> {
    const c = connect(t.url);
    const reply = await authenticate(c, { token: 'guess' });
    return reply.error.code;
  }

  it('failures on one node count on the other: one budget per address', async () => {
    const [a, b] = await nodes({ maxFailuresPerAddress: 3 }, true);
    expect([await guess(a), await guess(a)]).toEqual(['invalid_credentials', 'invalid_credentials']);
    expect([await guess(b), await guess(b)]).toEqual(['invalid_credentials', 'rate_limited']);
    expect(await guess(a)).toBe('rate_limited');
  });

  it('control: with the default in-memory store each node has its own budget', async () => {
    const [a, b] = await nodes({ maxFailuresPerAddress: 3 }, false);
    expect([await guess(a), await guess(a)]).toEqual(['invalid_credentials', 'invalid_credentials']);
    expect([await guess(b), await guess(b), await guess(b)]).toEqual([
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
    ]);
  });

  it('pending sockets of one address count across nodes', async () => {
    const [a, b] = await nodes({ maxPendingPerAddress: 2 }, true);
    await connected(connect(a.url));
    await connected(connect(b.url));
    const third = connect(a.url);
    const error = await once<{ data: { code: string } }>(third, 'connect_error');
    expect(error.data.code).toBe('too_many_pending');
  });
});
