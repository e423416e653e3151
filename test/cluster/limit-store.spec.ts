/**
 * RedisLimitStore on a real redis-server of its own: two store instances
 * (two nodes) share one budget; when Redis dies each counts alone in memory
 * with one warning; when Redis returns they share again.
 */
import { RedisLimitStore } from '../../lib/redis/index.js';
import { captureLogs, freePort, sleep } from '../support/harness.js';
import { describeWithRedis, eventually, killRedis, startRedis } from './redis.js';

const suite = await describeWithRedis();

suite('RedisLimitStore', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  let port: number;
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let stores: RedisLimitStore[] = [];

  async function twoNodes(prefix = 'nodes-test:'): Promise<[RedisLimitStore, RedisLimitStore]> {
    const made = [0, 1].map(() => new RedisLimitStore({ url: `redis://127.0.0.1:${port}`, prefix }));
    await Promise.all(made.map((s) => s.connect()));
    stores.push(...made);
    return made as [RedisLimitStore, RedisLimitStore];
  }

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    port = await freePort();
    redis = await startRedis(port);
  });
  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
    stores = [];
  });
  afterAll(async () => {
    await killRedis(redis);
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  it('gives two nodes one budget per key', async () => {
    const [a, b] = await twoNodes();
    expect(await a.add('203.0.113.7', 1, 10_000)).toBe(1);
    expect(await b.add('203.0.113.7', 1, 10_000)).toBe(2);
    expect(await a.add('203.0.113.7', 1, 10_000)).toBe(3);
    expect(await b.add('198.51.100.1', 1, 10_000)).toBe(1);
    expect(await b.add('203.0.113.7', -1, 10_000)).toBe(2);
  });

  /** A third client, to pause Redis or drop another client's connection. */
  async function admin(): Promise<{ sendCommand(args: string[]): Promise<unknown> }> {
    const store = new RedisLimitStore({ url: `redis://127.0.0.1:${port}`, prefix: 'admin:' });
    await store.connect();
    stores.push(store);
    return (store as unknown as { client: { sendCommand(args: string[]): Promise<unknown> } }).client;
  }
  const clientOf = (store: RedisLimitStore) =>
    (store as unknown as { client: { isReady: boolean; sendCommand(args: string[]): Promise<unknown> } }).client;

  it("what a node counted alone while its connection was down is paid back locally, never taken from other nodes' counts", async () => {
    const logs = captureLogs();
    try {
      const [a, b] = await twoNodes('owed-test:');
      const key = 'pending:203.0.113.9';
      expect(await b.add(key, 5, 60_000, true)).toBe(5); // node B's five live sockets
      expect(await a.add(key, 1, 60_000, true)).toBe(6); // control: A's counted one reaches Redis
      // A's connection drops; Redis and its keys stay.
      const id = String(await clientOf(a).sendCommand(['CLIENT', 'ID']));
      await (await admin()).sendCommand(['CLIENT', 'KILL', 'ID', id]);
      expect(await a.add(key, 3, 60_000, true)).toBe(3); // counted alone
      expect(await eventually(async () => clientOf(a).isReady, 10_000)).toBe(true);
      expect(await a.add(key, -3, 60_000, true)).toBe(6); // paid back here: Redis never saw them
      expect(await a.add(key, -1, 60_000, true)).toBe(5); // control: this one Redis did see
      expect(await b.add(key, 0, 60_000, true)).toBe(5); // B's sockets are all still counted
    } finally {
      logs.restore();
    }
  });

  it('a call that timed out but reached Redis later is decremented in Redis, and a timeout-only outage ends', async () => {
    const logs = captureLogs();
    try {
      const [a, b] = await twoNodes('late-test:');
      const key = 'pending:203.0.113.10';
      expect(await b.add(key, 5, 60_000, true)).toBe(5);
      await (await admin()).sendCommand(['CLIENT', 'PAUSE', '1200', 'WRITE']); // answers wait; the connection stays
      expect(await a.add(key, 3, 60_000, true)).toBe(3); // no answer within 500 ms: counted alone meanwhile
      await sleep(1200 + 1000 + 100); // the pause is over, the queued call ran, and A's retry delay has passed
      expect(await b.add(key, 0, 60_000, true)).toBe(8); // it did reach Redis
      expect(await a.add(key, -3, 60_000, true)).toBe(5); // so its decrement goes there too
      expect(logs.lines.filter((l) => l.includes('Redis is back'))).toHaveLength(1);
    } finally {
      logs.restore();
    }
  });

  it('counts atomically: concurrent adds from two nodes lose no update', async () => {
    const [a, b] = await twoNodes();
    const totals = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).add('burst', 1, 10_000)));
    expect(Math.max(...totals)).toBe(200);
    expect(new Set(totals).size).toBe(200); // every caller saw a distinct total
  });

  it("expires a key ttlMs after its creation, refreshing an existing key's expiry only when asked", async () => {
    const [a, b] = await twoNodes();
    await a.add('fixed', 1, 300);
    await a.add('refreshed', 1, 300);
    await sleep(150);
    await b.add('fixed', 1, 300);
    await b.add('refreshed', 1, 300, true);
    await sleep(200); // 350 ms after creation, 200 ms after the refresh
    expect(await a.add('fixed', 1, 300)).toBe(1);
    expect(await a.add('refreshed', 1, 300)).toBe(3);
  });

  it('removes a key that falls to zero, and keeps nodes with different prefixes apart', async () => {
    const [a, b] = await twoNodes();
    await a.add('k', 2, 10_000);
    expect(await b.add('k', -5, 10_000)).toBe(0);
    expect(await a.add('k', 1, 10_000)).toBe(1);
    const [other] = await twoNodes('other-cluster:');
    expect(await other.add('k', 1, 10_000)).toBe(1);
  });

  it('during a Redis outage counts per node with one warning each, and shares again once Redis is back', async () => {
    const logs = captureLogs();
    try {
      const [a, b] = await twoNodes('outage:');
      expect(await a.add('addr', 1, 60_000)).toBe(1);
      expect(await b.add('addr', 1, 60_000)).toBe(2);

      await killRedis(redis);
      await sleep(300);
      // Each node now has its own budget, and answers without waiting on Redis.
      const started = Date.now();
      for (let i = 1; i <= 5; i++) expect(await a.add('addr', 1, 60_000)).toBe(i);
      expect(await b.add('addr', 1, 60_000)).toBe(1);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(logs.lines.filter((l) => l.includes('Redis unavailable'))).toHaveLength(2); // once per node, not per call

      redis = await startRedis(port); // empty: the old counts died with it
      let attempt = 0;
      const shared = await eventually(async () => {
        const key = `after-${attempt++}`; // a fresh key each time: an attempt still half in memory must not count
        return (await a.add(key, 1, 60_000)) === 1 && (await b.add(key, 1, 60_000)) === 2;
      }, 15_000);
      expect(shared).toBe(true);
      expect(logs.lines.filter((l) => l.includes('Redis is back'))).toHaveLength(2);
    } finally {
      logs.restore();
    }
  }, 30_000);
});
