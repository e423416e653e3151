/**
 * The sample's rooms and devices on two nodes sharing a Redis adapter: a
 * direct message from a user on node 1 reaches its recipient on node 2
 * (socketsJoin crosses nodes, the policy checked there), and the devices view
 * on one node lists and signs out a session held by the other.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Socket as ClientSocket } from 'socket.io-client';
import { RedisIoAdapter } from '../../lib/redis/index.js';
import { uniqueKey } from '../cluster/nodes.js';
import { REDIS_URL, redisReachable } from '../cluster/redis.js';
import { closeClients, connect, once, record } from '../support/harness.js';
import { loginFull, refresh, type Login } from './sample-app.js';

const withRedis = (await redisReachable()) ? describe : describe.skip;

withRedis('the sample rooms and devices across two nodes', () => {
  const env = { ...process.env };
  let nodes: Array<{ app: INestApplication; url: string }> = [];

  beforeAll(async () => {
    // Revocations stay in each node's memory (no REDIS_URL): the nodes tell each other through the adapter.
    for (const name of ['REDIS_URL', 'MAX_SESSIONS_PER_USER', 'TOKEN_TTL_SECONDS']) delete process.env[name];
    Object.assign(process.env, { AUTH_SECRET: `test-${randomUUID()}` });
    const { AppModule } = await import('../../sample/app.module.js');
    const key = uniqueKey('rooms');
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
  afterEach(() => closeClients());
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.app.close()));
    nodes = [];
    process.env = env;
  });

  /** A socket on `url` authenticated with a login made on `url`. */
  async function device(url: string, user: string): Promise<{ socket: ClientSocket; reply: any; login: Login }> {
    const login = await loginFull(url, user);
    const socket = connect(url);
    await once(socket, 'connect');
    const reply = await socket.timeout(3000).emitWithAck('authentication', { token: login.token });
    expect(reply.ok).toBe(true);
    return { socket, reply, login };
  }

  it('a DM from node 1 puts the recipient on node 2 in the room and reaches them there; a third user on node 2 is not', async () => {
    const [one, two] = nodes;
    const alice = await device(one.url, 'alice');
    const carol = await device(two.url, 'carol');
    const bob = await device(two.url, 'bob');
    const bobSeen = record(bob.socket, 'room:message');
    const got = once(carol.socket, 'room:message');
    expect(await alice.socket.timeout(3000).emitWithAck('dm:send', { to: 'carol', text: 'across nodes' })).toEqual({
      ok: true,
      room: 'dm:alice:carol',
    });
    expect(await got).toEqual({ room: 'dm:alice:carol', user: 'Alice', text: 'across nodes' });
    // In the room on node 2: her reply there reaches alice on node 1.
    const reply = once(alice.socket, 'room:message');
    expect(
      await carol.socket.timeout(3000).emitWithAck('room:send', { room: 'dm:alice:carol', text: 'back across' }),
    ).toEqual({ ok: true });
    expect(await reply).toMatchObject({ user: 'Carol', text: 'back across' });
    // Control for bob's silence: a message to everyone, sent after, reaches him.
    const control = once(bob.socket, 'chat:message');
    await alice.socket.timeout(3000).emitWithAck('chat:send', { text: 'to everyone' });
    await control;
    expect(bobSeen).toEqual([]);
  });

  it("node 1's devices view lists alice's session on node 2 and signs it out there; its cookie is refused by both nodes, her node-1 session goes on", async () => {
    const [one, two] = nodes;
    const phone = await device(one.url, 'alice');
    const laptop = await device(two.url, 'alice');
    const auth = `Bearer ${phone.login.token}`;
    const listed = await (await fetch(`${one.url}/auth/sessions`, { headers: { authorization: auth } })).json();
    expect(listed.complete).toBe(true);
    const byId = new Map<string, any>(listed.sessions.map((s: any) => [s.id, s]));
    expect([...byId.keys()].sort()).toEqual([phone.reply.sessionId, laptop.reply.sessionId].sort());
    expect(byId.get(phone.reply.sessionId).node).not.toBe(byId.get(laptop.reply.sessionId).node);
    expect(byId.get(laptop.reply.sessionId).browser).toEqual(expect.any(String)); // read from node 2's socket.data

    const told = once(laptop.socket, 'unauthorized');
    const res = await fetch(`${one.url}/auth/sessions/${laptop.reply.sessionId}/end`, {
      method: 'POST',
      headers: { authorization: auth },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, ended: [laptop.reply.sessionId], complete: true });
    expect(await told).toEqual({ code: 'revoked', message: 'Signed out from another device' });
    for (const node of nodes) expect((await refresh(node.url, laptop.login.cookie)).status).toBe(401);
    // Controls: the phone chats on, and its cookie works on both nodes.
    expect(await phone.socket.timeout(3000).emitWithAck('chat:send', { text: 'still here' })).toEqual({ ok: true });
    for (const node of nodes) expect((await refresh(node.url, phone.login.cookie)).status).toBe(200);
  });
});
