/**
 * Redis goes away mid-test and comes back: nodes keep serving their own
 * clients, log the outage once rather than per message, raise no unhandled
 * rejection, and resume cross-node delivery when Redis returns.
 */
import { authenticate, captureLogs, closeClients, connect, freePort, once, sleep } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';
import { ChatGateway } from './chat.gateway.js';
import { type ClusterNode, startNode, uniqueKey } from './nodes.js';
import { describeWithRedis, eventually, startRedis } from './redis.js';

const suite = await describeWithRedis();

suite.each(['redis', 'streams'] as const)('a Redis outage on the %s adapter', (kind) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

  it('leaves local service intact, is logged once per node, and cross-node delivery resumes when Redis returns', async () => {
    process.on('unhandledRejection', onUnhandled);
    const port = await freePort();
    let redis = await startRedis(port);
    const logs = captureLogs();
    let nodes: ClusterNode[] = [];
    try {
      const key = uniqueKey('outage');
      nodes = await Promise.all(
        [0, 1].map(() =>
          startNode(
            key,
            { ...tokenAuth, timeout: 5000 },
            { providers: [ChatGateway] },
            `redis://127.0.0.1:${port}`,
            kind,
          ),
        ),
      );
      const [a, b] = nodes;
      const alice = connect(a.url);
      const bob = connect(b.url);
      await Promise.all([authenticate(alice, { token: 'alice-token' }), authenticate(bob, { token: 'bob-token' })]);
      // Waits with margin: on a loaded 2-core machine the streams adapter's first cross-node read can take seconds.
      const crossed = once(bob, 'news', 10_000);
      await alice.timeout(10_000).emitWithAck('shout', 'before');
      expect(await crossed).toBe('before');

      // Redis dies.
      const died = new Promise((resolve) => redis.once('exit', resolve));
      redis.kill('SIGKILL');
      await died;
      await sleep(300);

      // Node A still authenticates, runs guarded handlers and broadcasts locally, message after message.
      const alice2 = connect(a.url);
      expect((await authenticate(alice2, { token: 'alice-token' })).ok).toBe(true);
      for (let i = 0; i < 20; i++) {
        const local = once(alice2, 'news', 10_000);
        expect(await alice.timeout(10_000).emitWithAck('shout', `during-${i}`)).toBe('sent');
        expect(await local).toBe(`during-${i}`);
      }
      const outageLines = logs.lines.filter((l) => l.includes('Redis unavailable'));
      expect(outageLines).toHaveLength(2); // once per node, not per message

      // Redis returns on the same port: cross-node delivery resumes.
      redis = await startRedis(port);
      const resumed = await eventually(async () => {
        const got = once(bob, 'news', 500).then(
          () => true,
          () => false,
        );
        await alice.timeout(3000).emitWithAck('shout', 'after');
        return got;
      }, 15_000);
      expect(resumed).toBe(true);
      // A node that only receives may reconnect its publishing client a moment after delivery resumed.
      expect(
        await eventually(async () => logs.lines.filter((l) => l.includes('Redis is back')).length >= 2, 10_000),
      ).toBe(true);
      expect(unhandled).toEqual([]);
    } finally {
      logs.restore();
      closeClients();
      await Promise.all(nodes.map((n) => n.app.close()));
      redis.kill('SIGKILL');
      process.off('unhandledRejection', onUnhandled);
    }
  }, 60_000);
});
