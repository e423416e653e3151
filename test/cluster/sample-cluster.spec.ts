/**
 * The sample, clustered as `REDIS_URL=… npm start` runs it on two ports: one
 * chat across both, tokens from either node accepted by the other, and
 * logout on one node revoking everywhere; log out everywhere kept in Redis
 * (RedisRevocationStore) through a restart of both nodes. Also: an app
 * bringing its OWN Redis adapter (the Nest docs' RedisIoAdapter pattern)
 * works unchanged.
 */
import { jest } from '@jest/globals';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { Test } from '@nestjs/testing';
import { createAdapter } from '@socket.io/redis-adapter';
import type { AddressInfo } from 'node:net';
import { createClient } from 'redis';
import type { Server, ServerOptions } from 'socket.io';
import { RedisIoAdapter } from '../../lib/redis/index.js';
import { AppModule } from '../../sample/app.module.js';
import { SampleRevocations } from '../../sample/revocations.js';
import { attempt, loginFull, logoutAll, nextSecond, refresh } from '../sample/sample-app.js';
import { closeClients, connect, once, record, sleep } from '../support/harness.js';
import { REDIS_URL, describeWithRedis } from './redis.js';
import { uniqueKey } from './nodes.js';

process.env.AUTH_SECRET ??= 'sample-cluster-test-secret';
const suite = await describeWithRedis();

async function sampleNode(adapterFor: (app: any) => Promise<IoAdapter>) {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  app.useWebSocketAdapter(await adapterFor(app));
  await app.listen(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
}

async function login(url: string, user: string): Promise<string> {
  const res = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: user, password: `${user}-secret` }),
  });
  return (await res.json()).token;
}

async function joinChat(url: string, token: string) {
  const socket = connect(url);
  const ready = once(socket, 'authenticated');
  socket.emit('authentication', { token });
  await ready;
  return socket;
}

suite('the sample on two nodes', () => {
  afterEach(() => closeClients());

  it('is one chat: a token from node 1 works on node 2, messages cross, and logout on node 2 revokes on node 1', async () => {
    process.env.AUTH_SECRET = 'shared-cluster-secret';
    const key = uniqueKey('sample');
    const nodes = await Promise.all(
      [0, 1].map(() =>
        sampleNode(async (app) => {
          const adapter = new RedisIoAdapter(app, { url: REDIS_URL, key });
          await adapter.connect();
          return adapter;
        }),
      ),
    );
    const [one, two] = nodes;
    try {
      const aliceToken = await login(one.url, 'alice');
      const alice = await joinChat(two.url, aliceToken); // issued by node 1, accepted by node 2
      const bob = await joinChat(one.url, await login(one.url, 'bob'));
      const bobGets = once(bob, 'chat:message');
      expect(await alice.timeout(3000).emitWithAck('chat:send', { text: 'across nodes' })).toEqual({ ok: true });
      expect(await bobGets).toEqual({ user: 'Alice', text: 'across nodes' });

      const aliceOnOne = await joinChat(one.url, aliceToken);
      const told = [once(alice, 'unauthorized'), once(aliceOnOne, 'unauthorized')];
      const res = await fetch(`${two.url}/auth/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${aliceToken}` },
      });
      expect(res.status).toBe(200);
      for (const payload of await Promise.all(told)) expect(payload.code).toBe('revoked');
      await sleep(100);
      expect(bob.connected).toBe(true);
    } finally {
      delete process.env.AUTH_SECRET;
      closeClients();
      await Promise.all(nodes.map((n) => n.app.close()));
    }
  });

  it("log out everywhere on node 1 ends the user's socket on node 2, and after both nodes restart the old token and cookie are still refused while a fresh login works", async () => {
    const env = { ...process.env };
    // REDIS_URL: the sample keeps its revocations in Redis (RedisRevocationStore), under this test's own prefix.
    Object.assign(process.env, {
      REDIS_URL,
      REVOCATION_PREFIX: `${uniqueKey('revocations')}:`,
      AUTH_SECRET: 'lifecycle-cluster-secret',
    });
    const key = uniqueKey('lifecycle');
    const start = () =>
      Promise.all(
        [0, 1].map(() =>
          sampleNode(async (app) => {
            const adapter = new RedisIoAdapter(app, { url: REDIS_URL, key });
            await adapter.connect();
            return adapter;
          }),
        ),
      );
    let nodes = await start();
    try {
      const [one, two] = nodes;
      const alice = await loginFull(one.url, 'alice');
      const aliceOnTwo = await joinChat(two.url, alice.token);
      const bob = await joinChat(two.url, (await loginFull(one.url, 'bob')).token);
      expect((await refresh(two.url, alice.cookie)).status).toBe(200); // control: node 2 takes node 1's cookie

      const told = once(aliceOnTwo, 'unauthorized');
      const gone = once(aliceOnTwo, 'disconnect');
      const res = await logoutAll(one.url, alice.token);
      const revokedAt = Date.now();
      expect(res.status).toBe(200);
      expect(await told).toEqual({ code: 'revoked', message: 'Logged out everywhere' });
      await gone;
      expect(await bob.timeout(3000).emitWithAck('chat:send', { text: 'bob stays' })).toEqual({ ok: true });

      // Both nodes go away; each closes its Redis store with the app.
      const closes = nodes.map((n) => jest.spyOn(n.app.get(SampleRevocations).store!, 'close'));
      closeClients();
      await Promise.all(nodes.map((n) => n.app.close()));
      for (const close of closes) expect(close).toHaveBeenCalledTimes(1);

      nodes = await start();
      for (const node of nodes) {
        expect((await attempt(node.url, alice.token)).reply).toMatchObject({ ok: false, error: { code: 'revoked' } });
        expect((await refresh(node.url, alice.cookie)).status).toBe(401);
        // Refused from Redis: the new process has made and heard no revocation of its own.
        expect((node.app.get(SampleRevocations).store as unknown as { knownSize: number }).knownSize).toBe(0);
      }
      // Controls: a fresh login (from the next second: iat has whole seconds) works on both nodes.
      await nextSecond(revokedAt);
      const again = await loginFull(nodes[0].url, 'alice');
      for (const node of nodes) {
        expect((await attempt(node.url, again.token)).reply).toMatchObject({ ok: true, user: { id: 'alice' } });
        expect((await refresh(node.url, again.cookie)).status).toBe(200);
      }
    } finally {
      closeClients();
      await Promise.all(nodes.map((n) => n.app.close()));
      process.env = env;
    }
  });

  it("works with the app's own Redis adapter (the Nest docs pattern), unchanged", async () => {
    class DocsRedisIoAdapter extends IoAdapter {
      private adapterConstructor!: ReturnType<typeof createAdapter>;
      readonly clients: Array<{ quit(): Promise<unknown> }> = [];
      async connectToRedis(key: string): Promise<void> {
        const pub = createClient({ url: REDIS_URL });
        const sub = pub.duplicate();
        this.clients.push(pub, sub);
        await Promise.all([pub.connect(), sub.connect()]);
        this.adapterConstructor = createAdapter(pub, sub, { key });
      }
      createIOServer(port: number, options?: ServerOptions): Server {
        const server = super.createIOServer(port, options) as Server;
        server.adapter(this.adapterConstructor);
        return server;
      }
    }
    const key = uniqueKey('own');
    const adapters: DocsRedisIoAdapter[] = [];
    const nodes = await Promise.all(
      [0, 1].map(() =>
        sampleNode(async (app) => {
          const adapter = new DocsRedisIoAdapter(app);
          await adapter.connectToRedis(key);
          adapters.push(adapter);
          return adapter;
        }),
      ),
    );
    try {
      const pending = connect(nodes[1].url);
      await once(pending, 'connect');
      const pendingSeen = record(pending, 'chat:message');
      const bob = await joinChat(nodes[1].url, await login(nodes[0].url, 'bob'));
      const alice = await joinChat(nodes[0].url, await login(nodes[0].url, 'alice'));
      const bobGets = once(bob, 'chat:message');
      await alice.timeout(3000).emitWithAck('chat:send', { text: 'own adapter' });
      expect(await bobGets).toEqual({ user: 'Alice', text: 'own adapter' });
      await sleep(100);
      expect(pendingSeen).toEqual([]);
    } finally {
      closeClients();
      await sleep(100); // let presence updates from those disconnects go out before Redis closes
      await Promise.all(nodes.map((n) => n.app.close()));
      await Promise.all(adapters.flatMap((a) => a.clients.map((c) => c.quit().catch(() => undefined))));
    }
  });
});
