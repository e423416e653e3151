/**
 * Revocation that persists, on one node with the default (in-memory) store:
 * `revoke()` ends the live sessions it covers and the store then refuses the
 * credentials it covers on every later authentication and refresh, while
 * credentials it does not cover keep working. Real Nest app, real
 * socket.io-client, real @nestjs/jwt through JwtSocketStrategy (jti → tokenId,
 * iat → issuedAt).
 */
import { randomUUID } from 'node:crypto';
import { JwtModule, JwtService } from '@nestjs/jwt';
import type { Socket as ClientSocket } from 'socket.io-client';
import { JwtSocketStrategy } from '../../lib/jwt/index.js';
import type { AuthSocketModuleOptions } from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  createApp,
  once,
  record,
  sleep,
  trackLibResources,
  until,
  type TestApp,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';
import { acceptedAndLive, claimsOf, jwtOptions, NewsGateway, refusalOf } from '../strategies/jwt-fixtures.js';

/** The grace of the `graceMs` tests: long enough to refresh in on a busy machine, short enough to wait out. */
const GRACE_MS = 1500;

const REVOKED = { code: 'revoked', message: 'Session revoked' };

/** Resolves once `socket` hears the broadcast `news` carrying `text` (other broadcasts are ignored). */
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
/** Positive control that a socket is still authenticated: a namespace broadcast (shouted by `from`) reaches it. */
async function receivesBroadcasts(socket: ClientSocket, from: ClientSocket = socket): Promise<void> {
  const text = `broadcast-${++shouts}`;
  const heard = hears(socket, text);
  from.emit('shout', text);
  await heard;
}

/** What ending looks like from the client: `unauthorized` (with when it came) and the server's disconnect. */
function endOf(socket: ClientSocket, ms = 5000): Promise<{ unauthorized: any; at: number; reason: string }> {
  let at = 0;
  const told = once(socket, 'unauthorized', ms).then((payload) => {
    at = Date.now();
    return payload;
  });
  const gone = once<string>(socket, 'disconnect', ms);
  return Promise.all([told, gone]).then(([unauthorized, reason]) => ({ unauthorized, at, reason }));
}

/** Waits until Date.now() is in a later whole second than `after`: a JWT signed then has `iat * 1000 > after`. */
async function nextSecond(after = Date.now()): Promise<void> {
  const boundary = Math.floor(after / 1000) * 1000 + 1000;
  await sleep(Math.max(0, boundary - Date.now()) + 20);
  expect(Date.now()).toBeGreaterThanOrEqual(boundary);
}

/** Waits until the clock's milliseconds-within-the-second reach `ms` (so the next whole second comes soon after). */
async function atMillisecond(ms: number): Promise<void> {
  await sleep((ms - (Date.now() % 1000) + 1000) % 1000);
}

describe('revocation that persists (single node, in-memory store, JwtSocketStrategy)', () => {
  let t: TestApp;
  let jwt: JwtService;

  /** A token for `sub` with a fresh jti. */
  const sign = (sub: string, options: Record<string, unknown> = {}): Promise<string> =>
    jwt.signAsync({ sub }, { jwtid: randomUUID(), ...options });

  async function start(options: Partial<AuthSocketModuleOptions> = {}): Promise<void> {
    // maxFailuresPerAddress 0: every refusal below comes from 127.0.0.1 and must reach the revocation check.
    t = await createApp(
      { strategy: JwtSocketStrategy, maxFailuresPerAddress: 0, timeout: 5000, ...options },
      { imports: [JwtModule.register(jwtOptions)], providers: [NewsGateway] },
    );
    jwt = t.app.get(JwtService);
  }

  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  describe('what revoke() ends, and what the store refuses afterwards', () => {
    beforeEach(() => start());

    it('revoke({ tokenId, expiresAt }) ends the socket of that token and refuses it on a new socket; another token of the same user still authenticates', async () => {
      const revokedToken = await sign('alice');
      const otherToken = await sign('alice');
      const { jti, exp } = claimsOf(revokedToken);
      const { socket: withRevoked } = await acceptedAndLive(t.url, { token: revokedToken });
      const { socket: withOther } = await acceptedAndLive(t.url, { token: otherToken });
      const ended = endOf(withRevoked);
      const otherHeard = record(withOther, 'unauthorized');

      const result = await t.auth.revoke({ tokenId: jti, expiresAt: exp * 1000 });
      expect(result).toEqual({ disconnected: 1, inGrace: 0, complete: true });
      expect(await ended).toMatchObject({ unauthorized: REVOKED, reason: 'io server disconnect' });

      // Persisted: the same token is refused on a new socket...
      const refused = await refusalOf(t.url, { token: revokedToken });
      expect(refused.ack).toEqual({ ok: false, error: REVOKED });
      expect(refused.unauthorized).toEqual(REVOKED);
      expect(refused.disconnected).toBe(true);
      // ...while the live socket of the other token was untouched, and that token opens new sockets.
      expect(otherHeard).toEqual([]);
      await receivesBroadcasts(withOther);
      expect((await acceptedAndLive(t.url, { token: otherToken })).ack.ok).toBe(true);
    });

    it("revoke('alice') ends her live sockets and refuses her tokens issued before it, accepts one issued after it, and leaves bob alone", async () => {
      const before = await sign('alice');
      const bobToken = await sign('bob');
      const { socket: alice1 } = await acceptedAndLive(t.url, { token: before });
      const { socket: alice2 } = await acceptedAndLive(t.url, { token: before });
      const { socket: bob } = await acceptedAndLive(t.url, { token: bobToken });
      const ended = [endOf(alice1), endOf(alice2)];
      const bobHeard = record(bob, 'unauthorized');

      const result = await t.auth.revoke('alice');
      const revokedAt = Date.now();
      expect(result).toEqual({ disconnected: 2, inGrace: 0, complete: true });
      for (const end of await Promise.all(ended)) expect(end.unauthorized).toEqual(REVOKED);

      expect((await refusalOf(t.url, { token: before })).ack).toEqual({ ok: false, error: REVOKED });
      // JWT iat has whole seconds: a token minted in the revoke's second counts as issued before it.
      await nextSecond(revokedAt);
      const after = await sign('alice');
      expect(claimsOf(after).iat * 1000).toBeGreaterThan(revokedAt);
      expect((await acceptedAndLive(t.url, { token: after })).ack).toMatchObject({
        ok: true,
        user: { id: 'alice' },
      });

      // Control: bob's socket and tokens were never covered.
      expect(bobHeard).toEqual([]);
      await receivesBroadcasts(bob);
      expect((await acceptedAndLive(t.url, { token: bobToken })).ack.ok).toBe(true);
    });

    it('revoke({ principalId, until }) refuses every token of the user until then, even one minted after the revoke, and accepts them afterwards', async () => {
      const old = await sign('alice');
      const bobToken = await sign('bob');
      const { socket: alice } = await acceptedAndLive(t.url, { token: old });
      const ended = endOf(alice);

      const deniedUntil = Date.now() + 1500;
      expect(await t.auth.revoke({ principalId: 'alice', until: deniedUntil })).toEqual({
        disconnected: 1,
        inGrace: 0,
        complete: true,
      });
      expect((await ended).unauthorized).toEqual(REVOKED);

      const minted = await sign('alice'); // after the revoke: an "issued before" cut-off would not cover it
      expect((await refusalOf(t.url, { token: minted })).ack).toEqual({ ok: false, error: REVOKED });
      expect((await refusalOf(t.url, { token: old })).ack).toEqual({ ok: false, error: REVOKED });
      // Both refusals came while the denial held (else this test proves nothing on a slow machine).
      expect(Date.now()).toBeLessThan(deniedUntil);
      // Control during the denial: another user authenticates.
      expect((await acceptedAndLive(t.url, { token: bobToken })).ack.ok).toBe(true);

      await sleep(deniedUntil - Date.now() + 300);
      expect((await acceptedAndLive(t.url, { token: minted })).ack).toMatchObject({ ok: true, user: { id: 'alice' } });
      expect((await acceptedAndLive(t.url, { token: old })).ack.ok).toBe(true);
    });

    it('a refresh with a revoked token is refused and the session runs on to its own end, while a refresh with a fresh token succeeds', async () => {
      // The sessions' own end: this token's exp, 3–4 s away.
      const short = await sign('alice', { expiresIn: 4 });
      const ownEnd = claimsOf(short).exp * 1000;
      const revokedToken = await sign('alice');
      const fresh = await sign('alice');
      const { socket: refused } = await acceptedAndLive(t.url, { token: short });
      const { socket: refreshed } = await acceptedAndLive(t.url, { token: short });
      const refusedEnd = endOf(refused, 8000);
      const refreshedHeard = record(refreshed, 'unauthorized');

      const { jti, exp } = claimsOf(revokedToken);
      // No live session uses that token: nothing to end, only the store to fill.
      expect(await t.auth.revoke({ tokenId: jti, expiresAt: exp * 1000 })).toEqual({
        disconnected: 0,
        inGrace: 0,
        complete: true,
      });

      expect(await refused.timeout(3000).emitWithAck('authentication', { token: revokedToken })).toEqual({
        ok: false,
        error: REVOKED,
      });
      // Positive control: the refused refresh left the session authenticated.
      await receivesBroadcasts(refused);
      expect(refused.connected).toBe(true);

      expect(await refreshed.timeout(3000).emitWithAck('authentication', { token: fresh })).toEqual({
        ok: true,
        sessionId: expect.any(String),
        user: { id: 'alice' },
        expiresAt: claimsOf(fresh).exp * 1000,
        expiresIn: expect.any(Number),
      });
      expect(Date.now()).toBeLessThan(ownEnd - 500); // both refreshes came well before the sessions' end

      // The refused one ends at its own expiry, as expired (not revoked, not earlier).
      const end = await refusedEnd;
      expect(end.unauthorized).toEqual({ code: 'expired', message: 'Session expired' });
      expect(end.at).toBeGreaterThanOrEqual(ownEnd - 20);
      // The refreshed one outlives the old token's end.
      await sleep(Math.max(0, ownEnd + 300 - Date.now()));
      expect(refreshed.connected).toBe(true);
      expect(refreshedHeard).toEqual([]);
      await receivesBroadcasts(refreshed);
    }, 15_000);

    it('isRevoked() answers true for a revoked token id and false for another one', async () => {
      const { jti, exp } = claimsOf(await sign('alice'));
      const other = claimsOf(await sign('alice')).jti;
      const issuedAt = Date.now();
      expect(await t.auth.isRevoked({ id: 'alice', tokenId: jti, issuedAt })).toBe(false); // control: not yet
      await t.auth.revoke({ tokenId: jti, expiresAt: exp * 1000 });
      expect(await t.auth.isRevoked({ id: 'alice', tokenId: jti, issuedAt })).toBe(true);
      expect(await t.auth.isRevoked({ id: 'alice', tokenId: other, issuedAt })).toBe(false);
      expect(await t.auth.isRevoked({ id: 'bob', tokenId: jti, issuedAt })).toBe(true); // the token, whoever holds it
    });

    it('bad input is rejected with AUTH_SOCKET_INVALID_ARGUMENT naming the field, records nothing, and the app keeps working', async () => {
      const token = await sign('alice');
      const { socket: alice } = await acceptedAndLive(t.url, { token });
      const aliceHeard = record(alice, 'unauthorized');
      const revoke = (target: unknown, options?: unknown): Promise<unknown> =>
        t.auth.revoke(target as never, options as never);
      const invalid = (field: RegExp) =>
        expect.objectContaining({
          name: 'AuthSocketConfigError',
          code: 'AUTH_SOCKET_INVALID_ARGUMENT',
          message: expect.stringMatching(field),
        });

      await expect(revoke('')).rejects.toEqual(invalid(/principal id/));
      await expect(revoke({})).rejects.toEqual(invalid(/principalId/));
      await expect(revoke({ tokenId: 5 })).rejects.toEqual(invalid(/tokenId/));
      await expect(revoke('alice', { graceMs: -1 })).rejects.toEqual(invalid(/graceMs/));
      await expect(revoke({ principalId: 'alice', until: 'soon' })).rejects.toEqual(invalid(/until/));

      // Nothing was ended or recorded: alice's live socket and her token are still good.
      expect(aliceHeard).toEqual([]);
      await receivesBroadcasts(alice);
      expect((await acceptedAndLive(t.url, { token })).ack.ok).toBe(true);
      expect(await t.auth.isRevoked({ id: 'alice', tokenId: claimsOf(token).jti, issuedAt: Date.now() - 60_000 })).toBe(
        false,
      );
      // And a valid call still works afterwards.
      const ended = endOf(alice);
      expect((await t.auth.revoke('alice')).disconnected).toBe(2);
      expect((await ended).unauthorized).toEqual(REVOKED);
    });
  });

  describe("revoke(…, { graceMs }): refresh_required {code:'revoked'}, then the cut-off", () => {
    beforeEach(() => start());

    /** Alice (old token) and bob live; revoke('alice') with a grace; checks the warning and the result. */
    async function revokeWithGrace(
      aliceSockets = 1,
    ): Promise<{ alice: ClientSocket[]; bob: ClientSocket; graceEnd: number; revokedAt: number; old: string }> {
      const old = await sign('alice');
      const alice: ClientSocket[] = [];
      for (let i = 0; i < aliceSockets; i++) alice.push((await acceptedAndLive(t.url, { token: old })).socket);
      const { socket: bob } = await acceptedAndLive(t.url, { token: await sign('bob') });
      const warned = alice.map((s) => once(s, 'refresh_required'));
      const bobWarned = record(bob, 'refresh_required');

      const before = Date.now();
      const result = await t.auth.revoke('alice', { graceMs: GRACE_MS });
      const after = Date.now();
      expect(result).toEqual({ disconnected: 0, inGrace: aliceSockets, complete: true });
      let graceEnd = 0;
      for (const payload of await Promise.all(warned)) {
        expect(payload).toEqual({
          code: 'revoked',
          message: 'Session revoked',
          reauthenticate: true,
          expiresAt: expect.any(Number),
          expiresIn: expect.any(Number),
        });
        expect(payload.expiresAt).toBeGreaterThanOrEqual(before + GRACE_MS);
        expect(payload.expiresAt).toBeLessThanOrEqual(after + GRACE_MS);
        expect(payload.expiresIn).toBeLessThanOrEqual(GRACE_MS);
        expect(payload.expiresIn).toBeGreaterThan(GRACE_MS - 500);
        graceEnd = payload.expiresAt;
      }
      // Still authenticated during the grace: broadcasts reach them.
      for (const socket of alice) await receivesBroadcasts(socket, bob);
      expect(Date.now()).toBeLessThan(graceEnd);
      expect(bobWarned).toEqual([]);
      return { alice, bob, graceEnd, revokedAt: after, old };
    }

    it('(a) a refresh in time with a token issued after the revoke keeps the socket connected past the grace end', async () => {
      // Revoke late in a second, so the next whole second (the first a fresh JWT's iat can pass) comes soon.
      await atMillisecond(600);
      const {
        alice: [refreshing, idle],
        graceEnd,
        revokedAt,
      } = await revokeWithGrace(2);
      const heard = record(refreshing, 'unauthorized');
      const idleEnd = endOf(idle);
      await nextSecond(revokedAt);
      const fresh = await sign('alice');
      const authenticated = once(refreshing, 'authenticated');
      expect(await refreshing.timeout(3000).emitWithAck('authentication', { token: fresh })).toMatchObject({
        ok: true,
        user: { id: 'alice' },
        expiresAt: claimsOf(fresh).exp * 1000,
      });
      expect((await authenticated).user).toEqual({ id: 'alice' });
      expect(Date.now()).toBeLessThan(graceEnd); // refreshed in time

      // Control: the socket of the same session kind that did not refresh is cut at the grace end...
      expect((await idleEnd).unauthorized).toEqual(REVOKED);
      // ...and the refreshed one is not.
      await sleep(Math.max(0, graceEnd + 500 - Date.now()));
      expect(refreshing.connected).toBe(true);
      expect(heard).toEqual([]);
      await receivesBroadcasts(refreshing);
    });

    it("(b) a refresh with the old token is refused, and the socket is cut off with unauthorized {code:'revoked'} at the grace end", async () => {
      const {
        alice: [alice],
        bob,
        graceEnd,
        old,
      } = await revokeWithGrace();
      const ended = endOf(alice);
      expect(await alice.timeout(3000).emitWithAck('authentication', { token: old })).toEqual({
        ok: false,
        error: REVOKED,
      });
      // The refused refresh changed nothing: still live until the grace end.
      await receivesBroadcasts(alice, bob);
      expect(Date.now()).toBeLessThan(graceEnd);
      const end = await ended;
      expect(end.unauthorized).toEqual(REVOKED);
      expect(end.reason).toBe('io server disconnect');
      expect(end.at).toBeGreaterThanOrEqual(graceEnd - 20);
      expect(end.at).toBeLessThan(graceEnd + 1500);
      // Control: bob is still there.
      await receivesBroadcasts(bob);
    });

    it('(c) doing nothing cuts the socket off at the grace end; the user who was not revoked stays', async () => {
      const {
        alice: [alice],
        bob,
        graceEnd,
      } = await revokeWithGrace();
      const bobHeard = record(bob, 'unauthorized');
      const end = await endOf(alice);
      expect(end.unauthorized).toEqual(REVOKED);
      expect(end.reason).toBe('io server disconnect');
      expect(end.at).toBeGreaterThanOrEqual(graceEnd - 20);
      expect(end.at).toBeLessThan(graceEnd + 1500);
      expect(bobHeard).toEqual([]);
      await receivesBroadcasts(bob);
    });
  });

  it('after app.close(), nothing is left of the grace timers or the revocation store', async () => {
    const tracked = trackLibResources();
    let closed = false;
    try {
      await start();
      const bobToken = await sign('bob');
      const { socket: bob } = await acceptedAndLive(t.url, { token: bobToken });
      await acceptedAndLive(t.url, { token: await sign('alice') });
      // A grace (a timer per session) and a stored token revocation (the store's sweeper).
      expect((await t.auth.revoke('alice', { graceMs: 60_000 })).inGrace).toBe(1);
      const { jti, exp } = claimsOf(await sign('carol'));
      await t.auth.revoke({ tokenId: jti, expiresAt: exp * 1000 });

      const during = t.auth.resourceCounts();
      expect(during.sessions).toBe(2);
      expect(during.timers).toBeGreaterThanOrEqual(2); // alice's grace, bob's expiry
      const live = tracked.liveTimers();
      expect(live).toEqual(expect.arrayContaining([expect.stringContaining('MemoryRevocationStore.startSweeper')]));
      expect(live.length).toBeGreaterThanOrEqual(3);
      await receivesBroadcasts(bob); // control: the app works up to the close

      await t.close();
      closed = true;
      closeClients();
      await until(() => tracked.liveTimers().length === 0, 2000).catch(() => undefined);
      expect(tracked.liveTimers()).toEqual([]);
      expect(Object.fromEntries(Object.entries(t.auth.resourceCounts()).filter(([, n]) => n !== 0))).toEqual({});
    } finally {
      tracked.restore();
      closeClients();
      if (!closed) await t?.close();
      t = undefined as unknown as TestApp; // closed here: afterEach has nothing to close
    }
  });
});

describe('revocation with a strategy that gives no tokenId or issuedAt (tokenAuth)', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it("revoke('alice') ends her sockets, and the same static credentials authenticate again afterwards (the authentication time stands in for issuedAt)", async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000, maxFailuresPerAddress: 0 }, { providers: [NewsGateway] });
    const alice = [connect(t.url), connect(t.url)];
    const bob = connect(t.url);
    for (const socket of alice) expect((await authenticate(socket, { token: 'alice-token' })).ok).toBe(true);
    expect((await authenticate(bob, { token: 'bob-token' })).ok).toBe(true);
    const ended = alice.map((s) => endOf(s));
    const bobHeard = record(bob, 'unauthorized');

    expect(await t.auth.revoke('alice')).toEqual({ disconnected: 2, inGrace: 0, complete: true });
    for (const end of await Promise.all(ended)) expect(end.unauthorized).toEqual(REVOKED);

    // Authenticated after the revoke: not covered by it.
    const again = connect(t.url);
    expect(await authenticate(again, { token: 'alice-token' })).toEqual({
      ok: true,
      sessionId: expect.any(String),
      user: { id: 'alice', name: 'Alice' },
    });
    await receivesBroadcasts(again);
    expect(await t.auth.isRevoked({ id: 'alice', issuedAt: Date.now() })).toBe(false);
    // The revocation is kept all the same: a credential issued before it would be refused.
    expect(await t.auth.isRevoked({ id: 'alice', issuedAt: Date.now() - 60_000 })).toBe(true);
    // Control: bob was untouched.
    expect(bobHeard).toEqual([]);
    await receivesBroadcasts(bob);
  });
});
