import { ConsoleLogger, Logger } from '@nestjs/common';
import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { Authenticated, type AuthOutcome, type AuthSocketModuleOptions } from '../../lib/index.js';
import {
  authenticate,
  captureLogs,
  closeClients,
  connect,
  connected,
  createApp,
  expectMissed,
  once,
  record,
  sleep,
  type TestApp,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class Gateway {
  @WebSocketServer() server!: Server;

  @SubscribeMessage('shout')
  shout(@MessageBody() text: string): void {
    this.server.emit('news', text);
  }

  @Authenticated()
  @SubscribeMessage('guarded')
  guarded(): string {
    return 'ran';
  }
}

const serverSocket = (t: TestApp, id: string): Socket => t.app.get(Gateway).server.of('/').sockets.get(id)!;

async function app(options: Partial<AuthSocketModuleOptions> = {}): Promise<TestApp> {
  return createApp({ ...tokenAuth, timeout: 3000, ...options }, { providers: [Gateway] });
}

describe('expiry', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it("by default an expired session is told 'expired' and disconnected", async () => {
    t = await app();
    const c = connect(t.url);
    const events: string[] = [];
    c.on('unauthorized', (e) => events.push(`unauthorized:${e.code}:${e.reauthenticate ?? false}`));
    const gone = once(c, 'disconnect', 5000);
    await authenticate(c, { token: 'alice-token', expiresAt: Date.now() + 300 });
    await gone;
    expect(events).toEqual(['unauthorized:expired:false']);
  });

  it("with onExpiry 'reauthenticate' the socket stays connected but goes back to pending until it authenticates again", async () => {
    t = await app({ onExpiry: 'reauthenticate', timeout: 1500 });
    const alice = connect(t.url);
    const bob = connect(t.url);
    const expired = once(alice, 'unauthorized', 5000);
    await authenticate(alice, { token: 'alice-token', expiresAt: Date.now() + 200 });
    await authenticate(bob, { token: 'bob-token' });
    expect(await expired).toEqual({ code: 'expired', message: 'Session expired', reauthenticate: true });
    expect(alice.connected).toBe(true);
    // Detached and refused while pending again.
    const news = record(alice, 'news');
    const witness = once(bob, 'news');
    bob.emit('shout', 'while-expired');
    await expectMissed(alice, news, witness);
    expect((await alice.timeout(2000).emitWithAck('guarded')).error.code).toBe('unauthenticated');
    // Re-authenticating restores everything.
    expect((await authenticate(alice, { token: 'alice-token', expiresAt: Date.now() + 60_000 })).ok).toBe(true);
    bob.emit('shout', 'after');
    expect(await once(alice, 'news')).toBe('after');
    expect(await alice.timeout(2000).emitWithAck('guarded')).toBe('ran');
  });

  it("after an 'reauthenticate' expiry the normal timeout applies to the new authentication", async () => {
    t = await app({ onExpiry: 'reauthenticate', timeout: 400 });
    const c = connect(t.url);
    const told = record<{ code: string }>(c, 'unauthorized');
    const gone = once(c, 'disconnect', 5000);
    await authenticate(c, { token: 'alice-token', expiresAt: Date.now() + 100 });
    await gone;
    expect(told.map((e) => e.code)).toEqual(['expired', 'timeout']);
  });

  it('an expiry 30 days ahead, past setTimeout range, does not fire early', async () => {
    t = await app();
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token', expiresAt: new Date(Date.now() + 30 * 24 * 3600 * 1000) });
    await sleep(300);
    expect(c.connected).toBe(true);
    expect(t.auth.isAuthenticated(serverSocket(t, c.id!))).toBe(true);
  });

  it("a principal that is already expired is refused with 'expired'", async () => {
    t = await app();
    const c = connect(t.url);
    expect((await authenticate(c, { token: 'alice-token', expiresAt: Date.now() - 1000 })).error.code).toBe('expired');
  });

  it('accepts expiresAt as a Date or as epoch ms, and shows it in socket.data', async () => {
    t = await app();
    const at = Date.now() + 60_000;
    const a = connect(t.url);
    const b = connect(t.url);
    expect((await authenticate(a, { token: 'alice-token', expiresAt: at })).ok).toBe(true);
    // The test strategy turns an ISO string into a Date.
    expect((await authenticate(b, { token: 'bob-token', expiresAt: new Date(at).toISOString() })).ok).toBe(true);
    expect(serverSocket(t, a.id!).data.auth.expiresAt).toBe(at);
    expect(serverSocket(t, b.id!).data.auth.expiresAt).toBe(at);
  });
});

describe('re-authentication', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('a refreshed token replaces the principal and expiry and sends authenticated again, with the new expiresAt', async () => {
    t = await app();
    const c = connect(t.url);
    const first = Date.now() + 600;
    await authenticate(c, { token: 'alice-token', expiresAt: first });
    const again = once(c, 'authenticated');
    const later = Date.now() + 60_000;
    const ack = await authenticate(c, { token: 'alice-token', expiresAt: later });
    expect(ack).toMatchObject({ ok: true, user: { id: 'alice', name: 'Alice' }, expiresAt: later });
    expect((await again).expiresAt).toBe(later);
    expect(serverSocket(t, c.id!).data.auth.expiresAt).toBe(later);
    await sleep(800); // past the first expiry: the old timer must be gone
    expect(c.connected).toBe(true);
  });

  it("a re-authentication as someone else is refused with 'identity_changed', and the session stays its owner's", async () => {
    t = await app();
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    expect((await authenticate(c, { token: 'bob-token' })).error.code).toBe('identity_changed');
    expect(t.auth.getPrincipal(serverSocket(t, c.id!))?.id).toBe('alice');
    const news = once(c, 'news');
    t.app.get(Gateway).server.emit('news', 'still-here');
    expect(await news).toBe('still-here');
    expect(await c.timeout(2000).emitWithAck('guarded')).toBe('ran');
  });

  it('a failed refresh leaves the session running: still in broadcasts, guarded handlers still run', async () => {
    t = await app();
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    expect((await authenticate(c, { token: 'stale' })).error.code).toBe('invalid_credentials');
    // Without an ack, the refusal comes as auth_error and the session is untouched as well.
    const told = once(c, 'auth_error');
    c.emit('authentication', { token: 'stale' });
    expect(await told).toEqual({ code: 'invalid_credentials', message: 'Invalid credentials' });
    const news = once(c, 'news');
    t.app.get(Gateway).server.emit('news', 'after-failed-refresh');
    expect(await news).toBe('after-failed-refresh');
    expect(await c.timeout(2000).emitWithAck('guarded')).toBe('ran');
    expect(c.connected).toBe(true);
  });
});

describe('concurrent attempts', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it("a second authentication while one is in flight gets 'in_progress' on its ack, and the first completes", async () => {
    t = await app();
    const c = connect(t.url);
    await connected(c);
    const first = c.timeout(3000).emitWithAck('authentication', { token: 'alice-token', delayMs: 200 });
    const second = await c.timeout(3000).emitWithAck('authentication', { token: 'bob-token' });
    expect(second).toEqual({
      ok: false,
      error: { code: 'in_progress', message: 'Authentication already in progress' },
    });
    expect(await first).toEqual({ ok: true, sessionId: expect.any(String), user: { id: 'alice', name: 'Alice' } });
    expect(c.connected).toBe(true);
    expect(t.auth.getPrincipal(serverSocket(t, c.id!))?.id).toBe('alice');
  });

  it("without an ack, the refusal arrives as an 'auth_error' event and nothing else changes", async () => {
    t = await app();
    const c = connect(t.url);
    await connected(c);
    const authenticated = record(c, 'authenticated');
    c.emit('authentication', { token: 'alice-token', delayMs: 200 });
    c.emit('authentication', { token: 'alice-token' });
    expect(await once(c, 'auth_error')).toEqual({ code: 'in_progress', message: 'Authentication already in progress' });
    await once(c, 'authenticated');
    await sleep(100);
    expect(authenticated).toHaveLength(1); // never double-applied
    expect(c.connected).toBe(true);
  });
});

describe('deauthenticate and revoke', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('deauthenticate puts one socket back to pending without disconnecting it', async () => {
    t = await app({ timeout: 5000 });
    const alice = connect(t.url);
    const bob = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    await authenticate(bob, { token: 'bob-token' });
    const told = once(alice, 'unauthorized');
    expect(t.auth.deauthenticate(serverSocket(t, alice.id!))).toBe(true);
    expect(await told).toEqual({
      code: 'deauthenticated',
      message: 'Session ended by the server',
      reauthenticate: true,
    });
    expect(alice.connected).toBe(true);
    const news = record(alice, 'news');
    const witness = once(bob, 'news');
    bob.emit('shout', 'x');
    await expectMissed(alice, news, witness);
    expect((await alice.timeout(2000).emitWithAck('guarded')).error.code).toBe('unauthenticated');
    expect(t.auth.deauthenticate(serverSocket(t, alice.id!))).toBe(false);
    // It may authenticate again, even as someone else.
    expect((await authenticate(alice, { token: 'bob-token' })).ok).toBe(true);
  });

  it("revoke tells every socket of the principal 'revoked' and disconnects them, leaving others alone", async () => {
    t = await app();
    const alice1 = connect(t.url);
    const alice2 = connect(t.url);
    const bob = connect(t.url);
    await Promise.all([
      authenticate(alice1, { token: 'alice-token' }),
      authenticate(alice2, { token: 'alice-token' }),
      authenticate(bob, { token: 'bob-token' }),
    ]);
    const told = [once(alice1, 'unauthorized'), once(alice2, 'unauthorized')];
    const gone = [once(alice1, 'disconnect'), once(alice2, 'disconnect')];
    await t.auth.revoke('alice', 'Logged out');
    for (const payload of await Promise.all(told)) expect(payload).toEqual({ code: 'revoked', message: 'Logged out' });
    await Promise.all(gone);
    await sleep(50);
    expect(bob.connected).toBe(true);
    expect(await bob.timeout(2000).emitWithAck('guarded')).toBe('ran');
  });
});

describe('observability', () => {
  it('every outcome reaches onOutcome and the outcomes stream; stats counts sockets and failures', async () => {
    const hooked: AuthOutcome[] = [];
    const t = await app({ timeout: 500, onOutcome: (o) => hooked.push(o) });
    const streamed: AuthOutcome[] = [];
    const sub = t.auth.outcomes.subscribe((o) => streamed.push(o));
    try {
      const ok = connect(t.url);
      // Listening from the start: under load both may end before this test gets round to awaiting them.
      const expired = once(ok, 'disconnect', 5000);
      await authenticate(ok, { token: 'alice-token', expiresAt: Date.now() + 1000 });
      const pending = connect(t.url);
      const timedOut = once(pending, 'disconnect', 5000);
      await connected(pending);
      expect(t.auth.stats()).toMatchObject({ pending: 1, authenticated: 1 });
      const bad = connect(t.url);
      await authenticate(bad, { token: 'x' });
      await timedOut;
      await expired;
      const bob = connect(t.url);
      await authenticate(bob, { token: 'bob-token' });
      const bobId = bob.id!;
      const told = once(bob, 'unauthorized');
      expect(t.auth.deauthenticate(serverSocket(t, bobId))).toBe(true);
      expect((await told).code).toBe('deauthenticated');
      await authenticate(bob, { token: 'bob-token' });
      await t.auth.revoke('bob');
      await once(bob, 'disconnect');
      const types = hooked.map((o) => (o.type === 'failed' ? `failed:${o.code}` : o.type));
      expect(types).toEqual(
        expect.arrayContaining([
          'authenticated',
          'failed:invalid_credentials',
          'timeout',
          'expired',
          'deauthenticated',
          'revoked',
        ]),
      );
      expect(hooked.find((o) => o.type === 'deauthenticated')).toMatchObject({
        principalId: 'bob',
        socketId: bobId,
        namespace: '/',
      });
      expect(streamed).toEqual(hooked);
      expect(t.auth.stats().failures).toMatchObject({ invalid_credentials: 1, timeout: 1, expired: 1, revoked: 1 });
    } finally {
      sub.unsubscribe();
      closeClients();
      await t.close();
    }
  });

  it('the outcomes stream hears the authentications from when it is subscribed, however late, and none after', async () => {
    // No onOutcome and no telemetry: the stream is the only sink, and outcomes are built only while it is observed.
    const t = await app();
    const streamed: string[] = [];
    try {
      await authenticate(connect(t.url), { token: 'alice-token' });
      const sub = t.auth.outcomes.subscribe((o) => o.type === 'authenticated' && streamed.push(o.principalId));
      await authenticate(connect(t.url), { token: 'bob-token' });
      sub.unsubscribe();
      await authenticate(connect(t.url), { token: 'alice-token' });
      expect(streamed).toEqual(['bob']);
    } finally {
      closeClients();
      await t.close();
    }
  });

  it("logs each authentication at debug level exactly while the app's logger has debug enabled", async () => {
    const t = await app(); // the harness's apps have `logger: false`
    const logs = captureLogs();
    const seen: number[] = [];
    const debugLines = (): number => seen.push(logs.lines.filter((l) => l.includes('authenticated as')).length);
    try {
      await authenticate(connect(t.url), { token: 'alice-token' });
      debugLines();
      t.app.useLogger(new ConsoleLogger({ logLevels: ['error', 'warn', 'log', 'debug'] }));
      await authenticate(connect(t.url), { token: 'bob-token' });
      debugLines();
      t.app.useLogger(new ConsoleLogger({ logLevels: ['error', 'warn', 'log'] }));
      await authenticate(connect(t.url), { token: 'alice-token' });
      debugLines();
      expect(seen).toEqual([0, 1, 1]);
      expect(logs.lines.find((l) => l.includes('authenticated as'))).toMatch(/authenticated as bob/);
    } finally {
      Logger.overrideLogger(false);
      logs.restore();
      closeClients();
      await t.close();
    }
  });
});
