/**
 * revoke() reports: it resolves once every node has acted (or after a bounded
 * time) with the number of sockets disconnected cluster-wide and whether every
 * node answered. Node C runs in its own process so it can be frozen (SIGSTOP).
 *
 * Needs the lead's AuthSocketService.revoke() => { disconnected, complete }
 * (serverSideEmitWithAck); fails against the older revoke() that returns void.
 */
import type { ChildProcess } from 'node:child_process';
import { authenticate, closeClients, connect, once, sleep } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';
import { ChatGateway } from './chat.gateway.js';
import { type ClusterNode, startNode, uniqueKey } from './nodes.js';
import { REDIS_URL, describeWithRedis } from './redis.js';
import { spawnNode, stopNode } from './topology.js';

const suite = await describeWithRedis();

suite('revoke() across three nodes reports what happened', () => {
  let a: ClusterNode, b: ClusterNode;
  let c: { child: ChildProcess; url: string };

  beforeAll(async () => {
    const key = uniqueKey('revoke-report');
    [a, b, c] = await Promise.all([
      startNode(key, { ...tokenAuth, timeout: 10_000 }, { providers: [ChatGateway] }),
      startNode(key, { ...tokenAuth, timeout: 10_000 }, { providers: [ChatGateway] }),
      spawnNode({ ADAPTER: 'redis', KEY: key, REDIS_URL }),
    ]);
  }, 60_000);
  afterEach(() => {
    c.child.kill('SIGCONT');
    closeClients();
  });
  afterAll(async () => {
    await Promise.all([a.app.close(), b.app.close(), stopNode(c.child)]);
  });

  it('resolves with every disconnected socket of the principal on every node, and complete: true', async () => {
    const alice = [connect(a.url), connect(b.url), connect(b.url), connect(c.url)];
    const bob = connect(c.url);
    await Promise.all([
      ...alice.map((s) => authenticate(s, { token: 'alice-token' })),
      authenticate(bob, { token: 'bob-token' }),
    ]);
    const gone = alice.map((s) => once(s, 'disconnect', 5000));
    const result = await a.auth.revoke('alice', 'Password changed');
    expect(result).toEqual({ disconnected: 4, inGrace: 0, complete: true });
    await Promise.all(gone); // already acted on every node when revoke() resolved
    await sleep(100);
    expect(bob.connected).toBe(true);
  }, 20_000);

  it('with one node frozen, resolves within a bounded time with complete: false and what the others disconnected', async () => {
    const alice = [connect(a.url), connect(b.url), connect(c.url)];
    await Promise.all(alice.map((s) => authenticate(s, { token: 'alice-token' })));
    c.child.kill('SIGSTOP');
    const started = Date.now();
    const result = await a.auth.revoke('alice');
    const took = Date.now() - started;
    expect(result).toEqual({ disconnected: 2, inGrace: 0, complete: false });
    expect(took).toBeLessThan(10_000);
    expect(alice[0].connected || alice[1].connected).toBe(false);
    c.child.kill('SIGCONT');
    await once(alice[2], 'disconnect', 5000); // the frozen node acts once it runs again
  }, 30_000);
});
