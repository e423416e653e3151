/**
 * Room policies, the session view and per-principal session limits on two
 * nodes over Redis (@socket.io/redis-adapter): `sessions()` and `end()` reach
 * the other node, `maxSessionsPerPrincipal` is one budget through a shared
 * RedisLimitStore, and `socketsJoin` issued on node A applies the policies to
 * node B's sockets.
 */
import { Injectable } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { randomUUID } from 'node:crypto';
import type { Server, Socket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import {
  Authenticated,
  type AuthPrincipal,
  type AuthSocketModuleOptions,
  type AuthStrategy,
  principalRoom,
  type RoomPolicy,
} from '../../lib/index.js';
import { RedisLimitStore } from '../../lib/redis/index.js';
import { authenticate, closeClients, connect, connected, once, until } from '../support/harness.js';
import { type ClusterNode, startNode, uniqueKey } from './nodes.js';
import { describeWithRedis, REDIS_URL } from './redis.js';

/** `{ token: id, roles?, teams? }` → that principal; `bad` is refused. */
@Injectable()
class RoleStrategy implements AuthStrategy {
  authenticate(credentials: any): AuthPrincipal | null {
    const id = credentials?.token;
    if (typeof id !== 'string' || id === 'bad') return null;
    return { id, roles: credentials.roles ?? [], teams: credentials.teams ?? [] };
  }
}

@WebSocketGateway()
class Gateway {
  @WebSocketServer() server!: Server;

  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(): string {
    return 'in';
  }
}

const ROOMS: RoomPolicy[] = [
  { room: 'admins', require: { roles: ['admin'] } },
  {
    room: /^team:(?<team>[a-z]+)$/,
    require: async (p, { match }) => {
      await new Promise((r) => setTimeout(r, 20)); // async: decided after socket.join() returns
      return (p.teams as string[]).includes(match!.groups!.team);
    },
  },
  { room: 'lobby', require: true },
];

const suite = await describeWithRedis();

const serverOf = (node: ClusterNode): Server => node.app.get(Gateway).server;
const socketOn = (node: ClusterNode, c: ClientSocket): Socket | undefined => serverOf(node).of('/').sockets.get(c.id!);

async function user(node: ClusterNode, credentials: object): Promise<ClientSocket> {
  const c = connect(node.url);
  expect(await authenticate(c, credentials, 8000)).toMatchObject({ ok: true });
  return c;
}

let probes = 0;
/**
 * Broadcasts to `room` from `from`: every member (on any node) gets it; every
 * outsider gets a later message to its own id room, sent the same way
 * (through Redis for another node's sockets, which keeps their order), and
 * not the broadcast.
 */
async function reaches(
  from: ClusterNode,
  room: string,
  members: ClientSocket[],
  outsiders: ClientSocket[] = [],
): Promise<void> {
  const n = ++probes;
  const heard = new Map<ClientSocket, string[]>();
  const off: Array<() => void> = [];
  for (const c of [...members, ...outsiders]) {
    const got: string[] = [];
    heard.set(c, got);
    const handler = (p: { n: number; kind: string }): void => void (p?.n === n && got.push(p.kind));
    c.on('probe', handler);
    off.push(() => c.off('probe', handler));
  }
  serverOf(from).to(room).emit('probe', { n, kind: 'room' });
  for (const o of outsiders) serverOf(from).to(o.id!).emit('probe', { n, kind: 'fence' });
  try {
    await until(
      () =>
        members.every((m) => heard.get(m)!.includes('room')) && outsiders.every((o) => heard.get(o)!.includes('fence')),
      10_000,
      `the probe of ${room}`,
    );
  } finally {
    off.forEach((f) => f());
  }
  expect({ room, outsiders: outsiders.map((o) => heard.get(o)) }).toEqual({
    room,
    outsiders: outsiders.map(() => ['fence']),
  });
}

async function pair(name: string, options: Partial<AuthSocketModuleOptions>, sharedLimits = false) {
  const key = uniqueKey(name);
  const prefix = `rooms-sessions-test:${randomUUID()}:`;
  const stores: RedisLimitStore[] = [];
  const start = async (): Promise<ClusterNode> => {
    let limitStore: RedisLimitStore | undefined;
    if (sharedLimits) {
      limitStore = new RedisLimitStore({ url: REDIS_URL, prefix });
      await limitStore.connect();
      stores.push(limitStore);
    }
    return startNode(
      key,
      {
        strategy: RoleStrategy,
        timeout: 10_000,
        rooms: ROOMS,
        ...options,
        ...(limitStore ? { limitStore } : {}),
      } as AuthSocketModuleOptions,
      { providers: [Gateway] },
    );
  };
  const [a, b] = await Promise.all([start(), start()]);
  // Both adapters see each other before the test asks anything of the cluster.
  for (let i = 0; i < 100 && (await serverOf(a).of('/').adapter.serverCount()) < 2; i++)
    await new Promise((r) => setTimeout(r, 50));
  return {
    a,
    b,
    close: async () => {
      closeClients();
      await Promise.all([a.app.close(), b.app.close()]);
      for (const store of stores) await store.close();
    },
  };
}

suite('sessions() and end() across two nodes', () => {
  let a: ClusterNode, b: ClusterNode, close: () => Promise<void>;
  beforeAll(async () => {
    ({ a, b, close } = await pair('sessions', {}));
  }, 30_000);
  afterEach(() => closeClients());
  afterAll(async () => close());

  it('sessions() on node A lists the sessions on both nodes, complete, each with its own node', async () => {
    const onA = connect(a.url, { extraHeaders: { 'user-agent': 'RoomsTest/1.0 (on A)' } });
    const onB = connect(b.url, { extraHeaders: { 'user-agent': 'RoomsTest/1.0 (on B)' } });
    const [ackA, ackB] = await Promise.all([
      authenticate(onA, { token: 'alice' }, 8000),
      authenticate(onB, { token: 'alice' }, 8000),
    ]);
    await user(b, { token: 'bob' });

    const fromA = await a.auth.sessions('alice');
    const fromB = await b.auth.sessions('alice');
    expect(fromA.complete).toBe(true);
    expect(fromB.complete).toBe(true);
    const byId = new Map(fromA.sessions.map((s) => [s.id, s]));
    expect([...byId.keys()].sort()).toEqual([ackA.sessionId, ackB.sessionId].sort());
    expect(byId.get(ackA.sessionId)).toMatchObject({
      namespaces: ['/'],
      userAgent: 'RoomsTest/1.0 (on A)',
      address: '127.0.0.1',
    });
    expect(byId.get(ackB.sessionId)).toMatchObject({
      namespaces: ['/'],
      userAgent: 'RoomsTest/1.0 (on B)',
      address: '127.0.0.1',
    });
    expect(byId.get(ackA.sessionId)!.node).not.toBe(byId.get(ackB.sessionId)!.node);
    expect(new Set(fromB.sessions.map((s) => s.id))).toEqual(new Set(byId.keys()));
    expect((await a.auth.sessions('bob')).sessions).toHaveLength(1);
  }, 30_000);

  it("end() on node A ends a session held by node B with 'revoked' and the reason; the user's session on A works on", async () => {
    const onA = await user(a, { token: 'carol' });
    const onB = connect(b.url);
    const { sessionId } = await authenticate(onB, { token: 'carol' }, 8000);
    const told = once(onB, 'unauthorized', 8000);
    const gone = once(onB, 'disconnect', 8000);
    expect(await a.auth.end(sessionId, 'Ended from the other node')).toEqual({ ended: true, complete: true });
    expect(await told).toEqual({ code: 'revoked', message: 'Ended from the other node' });
    await gone;
    expect(await onA.timeout(5000).emitWithAck('whoami')).toBe('in'); // control
    const news = once(onA, 'news', 8000);
    serverOf(b).to(principalRoom('carol')).emit('news', 'still here');
    expect(await news).toBe('still here');
    const { sessions } = await a.auth.sessions('carol');
    expect(sessions.map((s) => s.id)).not.toContain(sessionId);
    expect(sessions).toHaveLength(1);
    expect(await a.auth.end('unknown')).toEqual({ ended: false, complete: true });
  }, 30_000);
});

suite('policies across two nodes', () => {
  let a: ClusterNode, b: ClusterNode, close: () => Promise<void>;
  beforeAll(async () => {
    ({ a, b, close } = await pair('policies', { clientRooms: true }));
  }, 30_000);
  afterEach(() => closeClients());
  afterAll(async () => close());

  it("io.in(x).socketsJoin(policed) issued on node A applies the policy to node B's sockets", async () => {
    const adminOnB = await user(b, { token: 'alice', roles: ['admin'], teams: ['red'] });
    const userOnB = await user(b, { token: 'bob', teams: ['blue'] });
    const adminOnA = await user(a, { token: 'root', roles: ['admin'], teams: ['red'] });
    const pendingOnB = connect(b.url);
    await connected(pendingOnB);
    for (const [node, c] of [
      [b, adminOnB],
      [b, userOnB],
      [a, adminOnA],
      [b, pendingOnB],
    ] as const)
      void socketOn(node, c)!.join('plain');

    serverOf(a).in('plain').socketsJoin(['admins', 'team:red', 'lobby']);
    // The request reaches node B, which applies it to all its sockets in one go; the async team policy answers later.
    await until(() => !!socketOn(b, adminOnB)?.rooms.has('team:red'), 10_000, 'node B to apply the socketsJoin');
    await until(() => !!socketOn(b, userOnB)?.rooms.has('lobby'), 10_000, 'node B to apply the socketsJoin');
    expect(socketOn(b, userOnB)!.rooms.has('admins')).toBe(false);
    await reaches(a, 'admins', [adminOnA, adminOnB], [userOnB]);
    await reaches(a, 'team:red', [adminOnA, adminOnB], [userOnB]);
    await reaches(a, 'lobby', [adminOnA, adminOnB, userOnB]);
    // The pending socket on B got none of them, even once it authenticates as an admin.
    await authenticate(pendingOnB, { token: 'dave', roles: ['admin'], teams: ['red'] }, 8000);
    await reaches(a, 'plain', [adminOnB, pendingOnB]); // control: its unpoliced room was kept
    await reaches(a, 'admins', [adminOnA], [pendingOnB]);
  }, 30_000);

  it('with a catch-all policy, a client on node A cannot join the id room of a socket on node B through the protocol', async () => {
    // A second pair: the catch-all makes every room policed.
    const cluster = await pair('catch-all', { clientRooms: true, rooms: [{ room: /.*/, require: true }] });
    try {
      const alice = await user(cluster.a, { token: 'alice' });
      const bob = await user(cluster.b, { token: 'bob' });
      expect(await alice.timeout(5000).emitWithAck('join', { room: 'anything' })).toEqual({
        ok: true,
        room: 'anything',
      }); // control
      const answer = await alice.timeout(5000).emitWithAck('join', { room: bob.id });
      expect(answer).toEqual({ ok: false, error: { code: 'forbidden', message: expect.any(String) } });
      await reaches(cluster.b, bob.id!, [bob], [alice]);
    } finally {
      await cluster.close();
    }
  }, 30_000);
});

suite('maxSessionsPerPrincipal shared through RedisLimitStore', () => {
  it("'reject': one budget across both nodes; once a session ends, a new one is accepted", async () => {
    const { a, b, close } = await pair('limit-reject', { maxSessionsPerPrincipal: 2, onSessionLimit: 'reject' }, true);
    try {
      await user(a, { token: 'alice' });
      const onB = await user(b, { token: 'alice' });
      const third = connect(a.url);
      const told = once(third, 'unauthorized', 8000);
      expect(await authenticate(third, { token: 'alice' }, 8000)).toEqual({
        ok: false,
        error: { code: 'too_many_sessions', message: expect.any(String) },
      });
      expect((await told).code).toBe('too_many_sessions');
      const onBToo = connect(b.url);
      expect((await authenticate(onBToo, { token: 'alice' }, 8000)).error.code).toBe('too_many_sessions');
      await user(b, { token: 'bob' }); // another principal: its own budget

      onB.disconnect();
      await until(() => b.auth.stats().authenticated === 1, 8000, "the session on B to end (bob's stays)");
      const again = connect(a.url);
      expect(await authenticate(again, { token: 'alice' }, 8000)).toMatchObject({ ok: true });
    } finally {
      await close();
    }
  }, 30_000);

  it("'evict-oldest': a new session on node B ends the oldest one on node A", async () => {
    const { a, b, close } = await pair(
      'limit-evict',
      { maxSessionsPerPrincipal: 1, onSessionLimit: 'evict-oldest' },
      true,
    );
    try {
      const onA = await user(a, { token: 'alice' });
      const bobOnA = await user(a, { token: 'bob' });
      const told = once(onA, 'unauthorized', 8000);
      const gone = once(onA, 'disconnect', 8000);
      const onB = connect(b.url);
      expect(await authenticate(onB, { token: 'alice' }, 8000)).toMatchObject({ ok: true });
      expect(await told).toEqual({ code: 'revoked', message: expect.any(String) });
      await gone;
      expect(await onB.timeout(5000).emitWithAck('whoami')).toBe('in');
      expect(await bobOnA.timeout(5000).emitWithAck('whoami')).toBe('in'); // another principal untouched
      const { sessions, complete } = await a.auth.sessions('alice');
      expect(complete).toBe(true);
      expect(sessions).toHaveLength(1);
    } finally {
      await close();
    }
  }, 30_000);

  it("'reject': authentications racing on both nodes for the last slot: only one wins", async () => {
    const { a, b, close } = await pair('limit-race', { maxSessionsPerPrincipal: 1, onSessionLimit: 'reject' }, true);
    try {
      const racers = [a, b, a, b, a, b].map((node) => connect(node.url));
      await Promise.all(racers.map((c) => connected(c, 8000)));
      const acks = await Promise.all(racers.map((c) => authenticate(c, { token: 'alice' }, 8000)));
      expect(acks.filter((x) => !x.ok).map((x) => x.error.code)).toEqual(Array(5).fill('too_many_sessions'));
      const { sessions, complete } = await a.auth.sessions('alice');
      expect({ sessions: sessions.length, complete }).toEqual({ sessions: 1, complete: true });
    } finally {
      await close();
    }
  }, 30_000);

  it('control: without a shared store each node counts alone', async () => {
    const { a, b, close } = await pair('limit-alone', { maxSessionsPerPrincipal: 1, onSessionLimit: 'reject' }, false);
    try {
      await user(a, { token: 'alice' });
      // Node B's own count is empty, but the cluster-wide list still shows alice's session on A.
      const onB = connect(b.url);
      const ack = await authenticate(onB, { token: 'alice' }, 8000);
      expect(ack).toMatchObject({ ok: true });
    } finally {
      await close();
    }
  }, 30_000);
});
