/**
 * Three Nest apps in one process, each on its own port with its own Redis
 * clients, sharing one Redis through @socket.io/redis-adapter: the layout of
 * socket.io's own redis-adapter test suite.
 */
import { principalRoom } from '../../lib/index.js';
import { authenticate, closeClients, connect, connected, once, record, sleep } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';
import { ChatGateway } from './chat.gateway.js';
import { type ClusterNode, startNode, uniqueKey } from './nodes.js';
import { describeWithRedis } from './redis.js';


const suite = await describeWithRedis();

suite('across three nodes on the Redis adapter', () => {
  let nodes: ClusterNode[];
  let a: ClusterNode, b: ClusterNode, c: ClusterNode;

  beforeAll(async () => {
    const key = uniqueKey('cluster');
    nodes = await Promise.all([0, 1, 2].map(() => startNode(key, { ...tokenAuth, timeout: 5000 }, { providers: [ChatGateway] })));
    [a, b, c] = nodes;
  });
  afterEach(() => closeClients());
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.app.close()));
  });

  it("a broadcast from node A never reaches a socket still pending on node B, and does once it authenticates", async () => {
    const sender = connect(a.url);
    await authenticate(sender, { token: 'alice-token' });
    const pending = connect(b.url);
    await connected(pending);
    const seen = record(pending, 'news');
    const watcher = connect(c.url);
    await authenticate(watcher, { token: 'bob-token' });
    const watcherGot = once(watcher, 'news');
    await sender.timeout(3000).emitWithAck('shout', 'while-pending');
    await watcherGot; // delivered across nodes, so the pending socket had its chance
    await sleep(100);
    expect(seen).toEqual([]);

    await authenticate(pending, { token: 'bob-token' });
    const got = once(pending, 'news');
    await sender.timeout(3000).emitWithAck('shout', 'after');
    expect(await got).toBe('after');
  });

  it("revoke() on node A tells the principal's sockets on every node 'revoked' and disconnects them", async () => {
    const onB = connect(b.url);
    const onC = connect(c.url);
    const bystander = connect(c.url);
    await Promise.all([authenticate(onB, { token: 'alice-token' }), authenticate(onC, { token: 'alice-token' }), authenticate(bystander, { token: 'bob-token' })]);
    const told = [once(onB, 'unauthorized'), once(onC, 'unauthorized')];
    const gone = [once(onB, 'disconnect'), once(onC, 'disconnect')];
    await a.auth.revoke('alice', 'Logged out everywhere');
    for (const payload of await Promise.all(told)) expect(payload).toEqual({ code: 'revoked', message: 'Logged out everywhere' });
    await Promise.all(gone);
    await sleep(100);
    expect(bystander.connected).toBe(true);
  });

  it('fetchSockets() on any node shows authenticated sockets with their auth state, and no pending socket', async () => {
    const authed = connect(b.url);
    await authenticate(authed, { token: 'alice-token', expiresAt: Date.now() + 60_000 });
    const pending = connect(c.url);
    await connected(pending);
    const sockets = await a.app.get(ChatGateway).server.fetchSockets();
    const mine = sockets.find((s) => s.id === authed.id);
    expect(mine?.data.auth).toMatchObject({ state: 'authenticated', principalId: 'alice', authenticatedAt: expect.any(Number), expiresAt: expect.any(Number) });
    expect(sockets.find((s) => s.id === pending.id)).toBeUndefined();
  });

  it("emitting to principalRoom(id) from any node reaches all of that principal's sockets on every node", async () => {
    const onA = connect(a.url);
    const onC = connect(c.url);
    const other = connect(b.url);
    await Promise.all([authenticate(onA, { token: 'bob-token' }), authenticate(onC, { token: 'bob-token' }), authenticate(other, { token: 'alice-token' })]);
    const otherSeen = record(other, 'dm');
    const got = [once(onA, 'dm'), once(onC, 'dm')];
    b.app.get(ChatGateway).server.to(principalRoom('bob')).emit('dm', 'for bob');
    expect(await Promise.all(got)).toEqual(['for bob', 'for bob']);
    await sleep(50);
    expect(otherSeen).toEqual([]);
  });
});
