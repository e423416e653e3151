/**
 * RedisRevocationStore with two real nodes (Nest apps on the Redis adapter),
 * each with a store of its own on one shared prefix: a revocation made on one
 * node holds on the other and outlives every node; its Redis keys expire once
 * nothing they cover can still be valid; and while one store's Redis is
 * unreachable its node still refuses what it revoked or heard of, and writes
 * what it revoked meanwhile once Redis is back.
 *
 * The outage is one store's only: that store reaches Redis through a small TCP
 * proxy started here, which the test stops (connections cut, connects refused)
 * and starts again on the same port. Redis itself, its keys, the adapters and
 * the other store carry on.
 */
import { randomUUID } from 'node:crypto';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { createClient } from 'redis';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { AuthSocketModuleOptions } from '../../lib/index.js';
import { JwtSocketStrategy } from '../../lib/jwt/index.js';
import { RedisRevocationStore } from '../../lib/redis/index.js';
import { captureLogs, closeClients, freePort, once, sleep } from '../support/harness.js';
import { acceptedAndLive, claimsOf, jwtOptions, refusalOf } from '../strategies/jwt-fixtures.js';
import { ChatGateway } from './chat.gateway.js';
import { type ClusterNode, startNode, uniqueKey } from './nodes.js';
import { REDIS_URL, describeWithRedis, eventually } from './redis.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const suite = await describeWithRedis();

const REVOKED = { code: 'revoked', message: 'Session revoked' };

/** The store's Redis client (private), to see whether it is connected. */
const clientOf = (store: RedisRevocationStore) => (store as unknown as { client: { isReady: boolean } }).client;

/** Resolves once `socket` hears the broadcast `news` carrying `text`. */
function hears(socket: ClientSocket, text: string, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('news', handler);
      reject(new Error(`socket did not hear "${text}" within ${ms} ms`));
    }, ms);
    const handler = (payload: unknown): void => {
      if (payload !== text) return;
      clearTimeout(timer);
      socket.off('news', handler);
      resolve();
    };
    socket.on('news', handler);
  });
}

let shouts = 0;
/** Positive control: a broadcast the socket shouts itself (through the cluster's adapter) reaches it. */
async function receivesBroadcasts(socket: ClientSocket): Promise<void> {
  const text = `broadcast-${++shouts}`;
  const heard = hears(socket, text);
  socket.emit('shout', text);
  await heard;
}

suite('RedisRevocationStore shared by two nodes', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  const jwt = new JwtService(jwtOptions);
  const nodes: ClusterNode[] = [];
  const stores: RedisRevocationStore[] = [];
  let redis: ReturnType<typeof createClient>;
  let prefixes = 0;

  const sign = (sub: string, options: Record<string, unknown> = {}): Promise<string> =>
    jwt.signAsync({ sub }, { jwtid: randomUUID(), ...options });
  const uniquePrefix = (): string => `nsa-test-revoked-${process.pid}-${Date.now()}-${++prefixes}:`;

  /** A node (Nest app on the Redis adapter `key`) with its own connected RedisRevocationStore on `prefix`. */
  async function startStoreNode(
    key: string,
    prefix: string,
    options: Partial<AuthSocketModuleOptions> = {},
    storeUrl = REDIS_URL,
  ): Promise<ClusterNode & { store: RedisRevocationStore }> {
    const store = new RedisRevocationStore({ url: storeUrl, prefix });
    await store.connect();
    stores.push(store);
    const node = await startNode(
      key,
      { strategy: JwtSocketStrategy, maxFailuresPerAddress: 0, timeout: 5000, revocationStore: store, ...options },
      { imports: [JwtModule.register(jwtOptions)], providers: [ChatGateway] },
    );
    nodes.push(node);
    return { ...node, store };
  }

  /** Closes the apps, then their stores (the module does not close a store it was given). */
  async function stopAll(): Promise<void> {
    closeClients();
    await Promise.all(nodes.splice(0).map((n) => n.app.close()));
    await Promise.all(stores.splice(0).map((s) => s.close()));
  }

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    redis = createClient({ url: REDIS_URL });
    redis.on('error', () => undefined);
    await redis.connect();
  });
  afterEach(stopAll);
  afterAll(async () => {
    // Some keys would outlive the run (a cut-off is kept for the default revocationTtl, 24 h): remove this run's.
    for await (const keys of redis.scanIterator({ MATCH: `nsa-test-revoked-${process.pid}-*`, COUNT: 100 }))
      if (keys.length) await redis.del(keys);
    await redis.quit();
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  it('a token revoked on node A is refused on node B, and its live socket on B ends', async () => {
    const key = uniqueKey('revocation-store');
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([startStoreNode(key, prefix), startStoreNode(key, prefix)]);
    const revokedToken = await sign('alice');
    const otherToken = await sign('alice');
    const { jti, exp } = claimsOf(revokedToken);
    const { socket: onB } = await acceptedAndLive(b.url, { token: revokedToken });
    const { socket: otherOnB } = await acceptedAndLive(b.url, { token: otherToken });
    const told = once(onB, 'unauthorized', 5000);
    const gone = once(onB, 'disconnect', 5000);

    expect(await a.auth.revoke({ tokenId: jti, expiresAt: exp * 1000 })).toEqual({
      disconnected: 1,
      inGrace: 0,
      complete: true,
    });
    expect(await told).toEqual(REVOKED);
    expect(await gone).toBe('io server disconnect');
    expect(await redis.exists(`${prefix}t:${jti}`)).toBe(1);

    expect((await refusalOf(b.url, { token: revokedToken })).ack).toEqual({ ok: false, error: REVOKED });
    expect((await refusalOf(a.url, { token: revokedToken })).ack).toEqual({ ok: false, error: REVOKED });
    // Control: alice's other token, live and new, on both nodes.
    expect(otherOnB.connected).toBe(true);
    await receivesBroadcasts(otherOnB);
    expect((await acceptedAndLive(b.url, { token: otherToken })).ack.ok).toBe(true);
    expect((await acceptedAndLive(a.url, { token: otherToken })).ack.ok).toBe(true);
  }, 20_000);

  it('persists: two fresh nodes with new stores on the same prefix still refuse what was revoked before', async () => {
    const prefix = uniquePrefix();
    const first = uniqueKey('revocation-store-first');
    const [a] = await Promise.all([startStoreNode(first, prefix), startStoreNode(first, prefix)]);
    const revokedToken = await sign('alice');
    const carolBefore = await sign('carol');
    const { jti, exp } = claimsOf(revokedToken);
    await a.auth.revoke({ tokenId: jti, expiresAt: exp * 1000 });
    await a.auth.revoke('carol');
    const revokedAt = Date.now();
    await stopAll();

    // Another cluster key: the fresh nodes can have heard nothing of the revokes, only Redis knows.
    const second = uniqueKey('revocation-store-second');
    const [c, d] = await Promise.all([startStoreNode(second, prefix), startStoreNode(second, prefix)]);
    expect(c.store.knownSize + d.store.knownSize).toBe(0);
    for (const node of [c, d]) {
      expect((await refusalOf(node.url, { token: revokedToken })).ack).toEqual({ ok: false, error: REVOKED });
      expect((await refusalOf(node.url, { token: carolBefore })).ack).toEqual({ ok: false, error: REVOKED });
    }
    // Controls: a fresh token of alice, and a token of carol issued after her revoke (JWT iat: whole seconds).
    expect((await acceptedAndLive(c.url, { token: await sign('alice') })).ack.ok).toBe(true);
    await sleep(Math.max(0, Math.floor(revokedAt / 1000) * 1000 + 1020 - Date.now()));
    const carolAfter = await sign('carol');
    expect(claimsOf(carolAfter).iat * 1000).toBeGreaterThan(revokedAt);
    expect((await acceptedAndLive(d.url, { token: carolAfter })).ack.ok).toBe(true);
  }, 20_000);

  it("keys expire: a token's with the token's remaining life, an issuedBefore cut-off's after revocationTtl", async () => {
    const key = uniqueKey('revocation-store-ttl');
    const prefix = uniquePrefix();
    const revocationTtl = 5000;
    const [a] = await Promise.all([
      startStoreNode(key, prefix, { revocationTtl }),
      startStoreNode(key, prefix, { revocationTtl }),
    ]);
    const token = await sign('alice', { expiresIn: 120 });
    const { jti, exp } = claimsOf(token);
    const daveBefore = await sign('dave');
    const ttlOnly = claimsOf(await sign('alice')).jti;

    await a.auth.revoke({ tokenId: jti, expiresAt: exp * 1000 });
    const tokenLeft = exp * 1000 - Date.now();
    const tokenPttl = await redis.pTTL(`${prefix}t:${jti}`);
    expect(tokenPttl).toBeLessThanOrEqual(tokenLeft + 50);
    expect(tokenPttl).toBeGreaterThan(tokenLeft - 1500);
    expect(tokenPttl).toBeGreaterThan(100_000); // the token's life (2 min), not revocationTtl

    // A token id without expiresAt: kept for revocationTtl.
    await a.auth.revoke({ tokenId: ttlOnly });
    const ttlOnlyPttl = await redis.pTTL(`${prefix}t:${ttlOnly}`);
    expect(ttlOnlyPttl).toBeLessThanOrEqual(revocationTtl);
    expect(ttlOnlyPttl).toBeGreaterThan(revocationTtl - 1500);

    const beforeRevoke = Date.now();
    await a.auth.revoke('dave');
    const cutOffPttl = await redis.pTTL(`${prefix}b:dave`);
    expect(cutOffPttl).toBeLessThanOrEqual(revocationTtl);
    expect(cutOffPttl).toBeGreaterThan(revocationTtl - 1500);
    const cutOff = Number(await redis.get(`${prefix}b:dave`));
    expect(cutOff).toBeGreaterThanOrEqual(beforeRevoke);
    expect(cutOff).toBeLessThanOrEqual(Date.now());

    const deniedUntil = Date.now() + 20_000;
    await a.auth.revoke({ principalId: 'erin', until: deniedUntil });
    const untilPttl = await redis.pTTL(`${prefix}p:erin`);
    expect(untilPttl).toBeLessThanOrEqual(deniedUntil - Date.now() + 50);
    expect(untilPttl).toBeGreaterThan(20_000 - 1500);

    // While kept, dave's old token is refused; once the cut-off's key expired (and each node's copy with it), it is not.
    expect((await refusalOf(a.url, { token: daveBefore })).ack).toEqual({ ok: false, error: REVOKED });
    expect(await eventually(async () => (await redis.pTTL(`${prefix}b:dave`)) === -2, revocationTtl + 3000)).toBe(true);
    await sleep(100);
    for (const node of nodes) expect((await acceptedAndLive(node.url, { token: daveBefore })).ack.ok).toBe(true);
    // Control: the token revocation, kept for the token's life, still holds.
    expect((await refusalOf(a.url, { token })).ack).toEqual({ ok: false, error: REVOKED });
  }, 30_000);

  it("during one store's Redis outage its node refuses what it revoked or heard of, fails open only for what it never knew, and writes its own revocations once Redis is back", async () => {
    const logs = captureLogs();
    const target = new URL(REDIS_URL);
    const proxy = new TcpProxy(await freePort(), { host: target.hostname, port: Number(target.port || 6379) });
    await proxy.start();
    try {
      const key = uniqueKey('revocation-store-outage');
      const prefix = uniquePrefix();
      const tokens = {
        unknown: await sign('alice'), // revoked before node A started: A never heard of it
        own: await sign('alice'), // revoked through A before the outage
        heard: await sign('alice'), // revoked through B, A heard of it through the cluster
        during: await sign('alice'), // revoked through A during the outage
        fresh: await sign('alice'), // never revoked
      };
      const revoke = (node: ClusterNode, token: string) => {
        const { jti, exp } = claimsOf(token);
        return node.auth.revoke({ tokenId: jti, expiresAt: exp * 1000 });
      };
      const tokenKey = (token: string): string => `${prefix}t:${claimsOf(token).jti}`;

      const b = await startStoreNode(key, prefix);
      await revoke(b, tokens.unknown);
      // Node A's store reaches Redis through the proxy.
      const a = await startStoreNode(key, prefix, {}, proxy.url);
      expect(a.store.knownSize).toBe(0);
      expect((await revoke(a, tokens.own)).complete).toBe(true);
      expect((await revoke(b, tokens.heard)).complete).toBe(true); // B asked A, and A answered: it has heard
      // Before the outage, A refuses all three, the first one from Redis alone.
      for (const token of [tokens.unknown, tokens.own, tokens.heard])
        expect((await refusalOf(a.url, { token })).ack).toEqual({ ok: false, error: REVOKED });

      await proxy.stop();
      expect(await eventually(async () => !clientOf(a.store).isReady, 5000)).toBe(true);

      // A answers from what it knows: its own revocation and the one it heard of are still refused...
      expect((await refusalOf(a.url, { token: tokens.own })).ack).toEqual({ ok: false, error: REVOKED });
      expect((await refusalOf(a.url, { token: tokens.heard })).ack).toEqual({ ok: false, error: REVOKED });
      // ...a revocation it never knew is not (fail open, as documented), while B, whose Redis is up, still refuses it...
      expect((await acceptedAndLive(a.url, { token: tokens.unknown })).ack.ok).toBe(true);
      expect((await refusalOf(b.url, { token: tokens.unknown })).ack).toEqual({ ok: false, error: REVOKED });
      // ...and a token nobody revoked authenticates (control).
      expect((await acceptedAndLive(a.url, { token: tokens.fresh })).ack.ok).toBe(true);

      // A revokes during its outage: it holds on both nodes at once, but Redis has not got it yet.
      expect(await revoke(a, tokens.during)).toEqual({ disconnected: 0, inGrace: 0, complete: true });
      expect((await refusalOf(a.url, { token: tokens.during })).ack).toEqual({ ok: false, error: REVOKED });
      expect((await refusalOf(b.url, { token: tokens.during })).ack).toEqual({ ok: false, error: REVOKED });
      expect(await redis.exists(tokenKey(tokens.during))).toBe(0);
      expect(await redis.exists(tokenKey(tokens.own))).toBe(1); // control: what A wrote before the outage is there
      expect(logs.lines.filter((l) => l.includes('Redis unavailable') && l.includes('revocations'))).toHaveLength(1);

      await proxy.start();
      // Written once Redis is back, without another revoke to push it.
      expect(await eventually(async () => (await redis.exists(tokenKey(tokens.during))) === 1, 15_000)).toBe(true);
      const pttl = await redis.pTTL(tokenKey(tokens.during));
      expect(pttl).toBeGreaterThan(claimsOf(tokens.during).exp * 1000 - Date.now() - 1500);
      expect(await eventually(async () => clientOf(a.store).isReady, 5000)).toBe(true);
      // A is back on Redis: it refuses what it never knew again.
      expect((await refusalOf(a.url, { token: tokens.unknown })).ack).toEqual({ ok: false, error: REVOKED });

      // A fresh node on the same prefix (another cluster: it can only know through Redis) refuses it too.
      const fresh = await startStoreNode(uniqueKey('revocation-store-after'), prefix);
      expect(fresh.store.knownSize).toBe(0);
      expect((await refusalOf(fresh.url, { token: tokens.during })).ack).toEqual({ ok: false, error: REVOKED });
      expect((await acceptedAndLive(fresh.url, { token: tokens.fresh })).ack.ok).toBe(true);
    } finally {
      logs.restore();
      await stopAll();
      await proxy.stop();
    }
  }, 60_000);
});
