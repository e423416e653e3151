/**
 * The client knows its session's end, hears `refresh_required` ahead of it,
 * and a refresh never takes the socket out of its rooms or the broadcast
 * membership. A failed refresh leaves the session running to its own end.
 */
import { Injectable } from '@nestjs/common';
import { ConnectedSocket, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import {
  Authenticated,
  type AuthPrincipal,
  type AuthSocketModuleOptions,
  type AuthStrategy,
  type OnGatewayAuthenticated,
  type OnGatewayPrincipalChanged,
} from '../../lib/index.js';
import { authenticate as authenticateWithHelper } from '../../lib/client/index.js';
import {
  authenticate,
  closeClients,
  connect,
  createApp,
  expectMissed,
  once,
  record,
  sleep,
  type TestApp,
  until,
} from '../support/harness.js';

/** `{ token: id, ttlMs?, expiresAt?, roles? }` → that principal, expiring `ttlMs` after the strategy answers (or at `expiresAt`). `bad` is refused. */
@Injectable()
class TtlStrategy implements AuthStrategy {
  calls = 0;
  authenticate(credentials: any): AuthPrincipal | null {
    this.calls++;
    const id = credentials?.token;
    if (typeof id !== 'string' || id === 'bad') return null;
    return {
      id,
      roles: credentials.roles ?? [],
      ...(credentials.ttlMs ? { expiresAt: Date.now() + credentials.ttlMs } : {}),
      ...(credentials.expiresAt ? { expiresAt: credentials.expiresAt } : {}),
    };
  }
}

/** Joins `team` on authentication, `admins` while the principal has the admin role. */
@WebSocketGateway()
class Gateway implements OnGatewayAuthenticated, OnGatewayPrincipalChanged {
  @WebSocketServer() server!: Server;
  changes: Array<{ previous: unknown; principal: unknown }> = [];
  throwOnChange = false;

  handleAuthenticated(client: Socket, principal: AuthPrincipal): void {
    client.join('team');
    if ((principal.roles as string[]).includes('admin')) client.join('admins');
  }

  handlePrincipalChanged(client: Socket, principal: AuthPrincipal, previous: AuthPrincipal): void {
    this.changes.push({ previous: previous.roles, principal: principal.roles });
    if (this.throwOnChange) throw new Error('room bookkeeping failed');
    if ((principal.roles as string[]).includes('admin')) client.join('admins');
    else client.leave('admins');
  }

  @Authenticated({ roles: ['admin'] })
  @SubscribeMessage('admin-only')
  adminOnly(@ConnectedSocket() client: Socket): string {
    return `ran for ${client.id}`;
  }
}

async function app(options: Partial<AuthSocketModuleOptions> = {}): Promise<TestApp> {
  return createApp({ strategy: TtlStrategy, timeout: 5000, ...options }, { providers: [Gateway] });
}

/** Milliseconds from now until `event` arrives, with its payload. */
async function timed<T = any>(socket: ClientSocket, event: string, ms: number): Promise<{ after: number; payload: T }> {
  const started = Date.now();
  const payload = await once<T>(socket, event, ms);
  return { after: Date.now() - started, payload };
}

describe('the client knows when its session ends', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('authenticated and its ack carry expiresAt and expiresIn when the principal expires, and nothing when it does not', async () => {
    t = await app();
    const timed = connect(t.url);
    const told = once(timed, 'authenticated');
    const ack = await authenticate(timed, { token: 'alice', ttlMs: 60_000 });
    const expiresAt = t.auth.getPrincipal(t.app.get(Gateway).server.sockets.sockets.get(timed.id!)!)!.expiresAt;
    expect(ack).toEqual({
      ok: true,
      sessionId: expect.any(String),
      user: { id: 'alice' },
      expiresAt,
      expiresIn: expect.any(Number),
    });
    expect(ack.expiresIn).toBeGreaterThan(55_000);
    expect(ack.expiresIn).toBeLessThanOrEqual(60_000);
    expect(await told).toMatchObject({ user: { id: 'alice' }, expiresAt });

    const forever = connect(t.url);
    expect(await authenticate(forever, { token: 'bob' })).toEqual({
      ok: true,
      sessionId: expect.any(String),
      user: { id: 'bob' },
    });
  });

  it("a 4-second session hears refresh_required {code:'expiring'} about 2 s in, once, before it expires", async () => {
    t = await app();
    const c = connect(t.url);
    const warnings = record(c, 'refresh_required');
    const ack = await authenticate(c, { token: 'alice', ttlMs: 4000 });
    const started = Date.now();
    const warned = await timed(c, 'refresh_required', 6000);
    // Half the lifetime: 10% would be 400 ms, clamped up to 5 s, then capped at half of 4 s. Timers fire late, never early.
    expect(warned.after).toBeGreaterThanOrEqual(1800);
    expect(warned.payload).toEqual({
      code: 'expiring',
      message: 'Session expiring; send fresh credentials',
      expiresAt: ack.expiresAt,
      expiresIn: expect.any(Number),
      reauthenticate: true,
    });
    expect(warned.payload.expiresIn).toBeLessThanOrEqual(2100);
    const expired = await once(c, 'unauthorized', 6000);
    expect(expired.code).toBe('expired');
    expect(Date.now() - started).toBeGreaterThanOrEqual(3800);
    expect(warnings).toHaveLength(1);
  });

  it('refreshAhead as a number sends the warning that long before the end; false never sends it, and the session still expires', async () => {
    t = await app({ refreshAhead: 500 });
    const fixed = connect(t.url);
    await authenticate(fixed, { token: 'alice', ttlMs: 2500 });
    const warned = await timed(fixed, 'refresh_required', 5000);
    expect(warned.after).toBeGreaterThanOrEqual(1900);
    expect(warned.payload.expiresIn).toBeLessThanOrEqual(600);
    await t.close();

    t = await app({ refreshAhead: false });
    const silent = connect(t.url);
    const warnings = record(silent, 'refresh_required');
    await authenticate(silent, { token: 'alice', ttlMs: 1500 });
    expect((await once(silent, 'unauthorized', 5000)).code).toBe('expired'); // control: the session did end
    expect(warnings).toEqual([]);
  });

  it('after a refresh, refresh_required is due again for the new lifetime', async () => {
    t = await app();
    const c = connect(t.url);
    await authenticate(c, { token: 'alice', ttlMs: 1200 });
    await once(c, 'refresh_required', 3000);
    expect(await authenticate(c, { token: 'alice', ttlMs: 1200 })).toMatchObject({ ok: true });
    expect((await once(c, 'refresh_required', 3000)).code).toBe('expiring');
    expect(c.connected).toBe(true);
  });
});

describe('a refresh with no gap', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('with 2-second tokens over 30 s and 50 broadcasts a second, the client helper and a hand-written client miss no message and are never unauthorized', async () => {
    t = await app();
    const server = t.app.get(Gateway).server;
    const strategy = t.app.get(TtlStrategy);
    const clients = { helper: connect(t.url), manual: connect(t.url), idle: connect(t.url) };
    const seen = Object.fromEntries(Object.keys(clients).map((k) => [k, [] as number[]])) as Record<string, number[]>;
    const unauthorized = Object.fromEntries(Object.keys(clients).map((k) => [k, [] as unknown[]]));
    for (const [name, socket] of Object.entries(clients)) {
      socket.on('seq', (n: number) => seen[name].push(n));
      socket.on('unauthorized', (e: unknown) => unauthorized[name].push(e));
    }
    // The helper refreshes by itself because the credentials are a function.
    await authenticateWithHelper(clients.helper, () => ({ token: 'alice', ttlMs: 2000 }));
    // A plain socket.io client that follows the documented protocol by hand.
    clients.manual.on('refresh_required', () => clients.manual.emit('authentication', { token: 'bob', ttlMs: 2000 }));
    await authenticate(clients.manual, { token: 'bob', ttlMs: 2000 });
    // Control: a client that never refreshes is cut off at its expiry, so the tokens really do expire.
    await authenticate(clients.idle, { token: 'carol', ttlMs: 2000 });

    let n = 0;
    const stream = setInterval(() => server.to('team').emit('seq', n++), 20);
    const callsBefore = strategy.calls;
    await sleep(30_000);
    clearInterval(stream);
    const last = n - 1;
    await until(() => seen.helper.at(-1) === last && seen.manual.at(-1) === last, 3000, 'the last broadcast');

    for (const name of ['helper', 'manual']) {
      const got = seen[name];
      const gaps = got.filter((x, i) => i > 0 && x !== got[i - 1] + 1);
      expect({ name, gaps, first: got[0], unauthorized: unauthorized[name] }).toEqual({
        name,
        gaps: [],
        first: 0,
        unauthorized: [],
      });
      expect(got).toHaveLength(last + 1);
    }
    expect(clients.helper.connected && clients.manual.connected).toBe(true);
    // Each of the two refreshed about every second (2 s tokens): the refreshes really happened.
    expect(strategy.calls - callsBefore).toBeGreaterThanOrEqual(2 * 20);
    expect(unauthorized.idle).toMatchObject([{ code: 'expired' }]);
    expect(seen.idle.length).toBeLessThan(last / 2);
  }, 60_000);

  it('a refreshed socket stays in its rooms: a room broadcast right after the refresh reaches it', async () => {
    t = await app();
    const server = t.app.get(Gateway).server;
    const c = connect(t.url);
    await authenticate(c, { token: 'alice', ttlMs: 60_000 });
    const heard = record(c, 'room');
    const refreshed = authenticate(c, { token: 'alice', ttlMs: 60_000 });
    server.to('team').emit('room', 'during');
    await refreshed;
    server.to('team').emit('room', 'after');
    await until(() => heard.length === 2, 2000, 'both room broadcasts');
    expect(heard).toEqual(['during', 'after']);
  });

  it("a failed refresh leaves the session running until its own expiresAt, then it expires with 'expired'", async () => {
    t = await app();
    const c = connect(t.url);
    const { expiresAt } = await authenticate(c, { token: 'alice', ttlMs: 1500 });
    expect((await authenticate(c, { token: 'bad' })).error).toEqual({
      code: 'invalid_credentials',
      message: 'Invalid credentials',
    });
    const news = once(c, 'room');
    t.app.get(Gateway).server.to('team').emit('room', 'still in');
    expect(await news).toBe('still in');
    const expired = await once(c, 'unauthorized', 5000);
    expect(expired.code).toBe('expired');
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
  });
});

describe('handlePrincipalChanged: rooms follow the principal across a refresh', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('a refresh that drops the admin role runs the hook with both principals, the socket leaves the admins room, and admin handlers refuse it', async () => {
    t = await app();
    const gateway = t.app.get(Gateway);
    const alice = connect(t.url);
    const witness = connect(t.url);
    await authenticate(alice, { token: 'alice', roles: ['admin'] });
    await authenticate(witness, { token: 'root', roles: ['admin'] });
    expect(await alice.timeout(2000).emitWithAck('admin-only')).toMatch(/^ran for/); // control

    expect(await authenticate(alice, { token: 'alice', roles: [] })).toMatchObject({ ok: true });
    expect(gateway.changes).toEqual([{ previous: ['admin'], principal: [] }]);
    expect(await alice.timeout(2000).emitWithAck('admin-only')).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    const heard = record(alice, 'admins');
    gateway.server.to('admins').emit('admins', 'secret');
    await expectMissed(alice, heard, once(witness, 'admins'));
  });

  it('a hook that throws ends the session with server_error: rooms that should have followed may not have', async () => {
    t = await app();
    t.app.get(Gateway).throwOnChange = true;
    const c = connect(t.url);
    await authenticate(c, { token: 'alice', roles: ['admin'] });
    const told = once(c, 'unauthorized');
    const gone = once(c, 'disconnect');
    expect((await authenticate(c, { token: 'alice', roles: [] })).error.code).toBe('server_error');
    expect((await told).code).toBe('server_error');
    await gone;
  });
});

describe('refresh_required and credentials that do not move the end', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('a refresh with the same expiry after the warning gets no second warning; one that extends it does (control)', async () => {
    t = await app();
    const c = connect(t.url);
    const { expiresAt } = await authenticate(c, { token: 'alice', ttlMs: 1500 });
    await once(c, 'refresh_required', 3000);
    const warnings = record(c, 'refresh_required');
    // The same end again (a client that resends the token it has): nothing new to warn about.
    expect(await authenticate(c, { token: 'alice', expiresAt })).toMatchObject({ ok: true, expiresAt });
    expect((await once(c, 'unauthorized', 3000)).code).toBe('expired');
    expect(warnings).toEqual([]);

    const d = connect(t.url);
    await authenticate(d, { token: 'bob', ttlMs: 1200 });
    await once(d, 'refresh_required', 3000);
    await authenticate(d, { token: 'bob', ttlMs: 1200 });
    expect((await once(d, 'refresh_required', 3000)).code).toBe('expiring');
  });
});
