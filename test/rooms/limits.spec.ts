/**
 * `maxSessionsPerPrincipal` on one node: a session is one authenticated client
 * connection (every namespace of it), and past the limit the new one is
 * refused (`reject`) or the oldest is ended (`evict-oldest`).
 */
import { Injectable } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import {
  Authenticated,
  type AuthPrincipal,
  type AuthSocketModuleOptions,
  type AuthStrategy,
  principalRoom,
} from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  connectNamespace,
  createApp,
  once,
  type TestApp,
  until,
} from '../support/harness.js';

/** `{ token: id, delayMs? }` → that principal after `delayMs`; `bad` is refused. */
@Injectable()
class IdStrategy implements AuthStrategy {
  async authenticate(credentials: any): Promise<AuthPrincipal | null> {
    if (credentials?.delayMs) await new Promise((r) => setTimeout(r, credentials.delayMs));
    const id = credentials?.token;
    return typeof id === 'string' && id !== 'bad' ? { id } : null;
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

@WebSocketGateway({ namespace: '/chat' })
class ChatGateway {}

let t: TestApp;

async function app(options: Partial<AuthSocketModuleOptions>): Promise<TestApp> {
  return createApp({ strategy: IdStrategy, timeout: 5000, ...options } as AuthSocketModuleOptions, {
    providers: [Gateway, ChatGateway],
  });
}

const server = (): Server => t.app.get(Gateway).server;

async function session(token: string): Promise<ClientSocket> {
  const c = connect(t.url);
  expect(await authenticate(c, { token })).toMatchObject({ ok: true });
  return c;
}

/** Every socket in `live` gets a broadcast to the principal's room. */
async function principalReaches(principalId: string, live: ClientSocket[]): Promise<void> {
  const arrivals = live.map((c) => once(c, 'to-principal', 8000));
  server().to(principalRoom(principalId)).emit('to-principal', principalId);
  expect(await Promise.all(arrivals)).toEqual(live.map(() => principalId));
}

const nonZero = (counts: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0));

afterEach(async () => {
  closeClients();
  await t?.close();
});

describe("maxSessionsPerPrincipal with 'reject'", () => {
  it('the session past the limit is refused with too_many_sessions and disconnected; other principals are not affected', async () => {
    t = await app({ maxSessionsPerPrincipal: 2, onSessionLimit: 'reject' });
    const first = await session('alice');
    const second = await session('alice');
    const third = connect(t.url);
    await connected(third);
    const told = once(third, 'unauthorized');
    const gone = once(third, 'disconnect');
    expect(await authenticate(third, { token: 'alice' })).toEqual({
      ok: false,
      error: { code: 'too_many_sessions', message: expect.any(String) },
    });
    expect((await told).code).toBe('too_many_sessions');
    await gone;
    // The two sessions within the limit work on, and the limit is per principal.
    await principalReaches('alice', [first, second]);
    await session('bob');
    await session('bob');
  });

  it('once a session ends, a new one is accepted', async () => {
    t = await app({ maxSessionsPerPrincipal: 2 }); // 'reject' is the default
    const first = await session('alice');
    await session('alice');
    const refused = connect(t.url);
    expect((await authenticate(refused, { token: 'alice' })).error.code).toBe('too_many_sessions');

    first.disconnect();
    await until(() => t.auth.stats().authenticated === 1, 5000, 'the first session to end');
    const again = connect(t.url);
    expect(await authenticate(again, { token: 'alice' })).toMatchObject({ ok: true });
    const over = connect(t.url);
    expect((await authenticate(over, { token: 'alice' })).error.code).toBe('too_many_sessions'); // and the limit holds again
  });

  it('a refresh and a second namespace of the same connection are the same session, not new ones', async () => {
    t = await app({ maxSessionsPerPrincipal: 1 });
    const root = await session('alice');
    expect(await authenticate(root, { token: 'alice' })).toMatchObject({ ok: true }); // refresh at the limit
    const chat = connectNamespace(root, '/chat');
    await connected(chat);
    expect(await authenticate(chat, { token: 'alice' })).toMatchObject({ ok: true });
    expect(await root.timeout(3000).emitWithAck('whoami')).toBe('in');
    const other = connect(t.url);
    expect((await authenticate(other, { token: 'alice' })).error.code).toBe('too_many_sessions'); // control: the limit is on
  });

  it("a refusal for too_many_sessions counts nothing against the address's failure budget", async () => {
    t = await app({ maxSessionsPerPrincipal: 1, maxFailuresPerAddress: 2 });
    await session('alice');
    for (let i = 0; i < 3; i++) {
      const refused = connect(t.url);
      expect((await authenticate(refused, { token: 'alice' })).error.code).toBe('too_many_sessions');
    }
    // Control: the budget is live, and untouched by the three refusals above.
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) codes.push((await authenticate(connect(t.url), { token: 'bad' })).error.code);
    expect(codes).toEqual(['invalid_credentials', 'invalid_credentials', 'rate_limited']);
  });

  it("with scope 'namespace', each namespace socket is a session of its own", async () => {
    t = await app({ maxSessionsPerPrincipal: 1, scope: 'namespace' });
    const root = await session('alice');
    const chat = connectNamespace(root, '/chat');
    await connected(chat);
    expect((await authenticate(chat, { token: 'alice' })).error.code).toBe('too_many_sessions');
    expect(await root.timeout(3000).emitWithAck('whoami')).toBe('in'); // the first session is untouched
  });

  it('authentications racing for the last slot: only one wins', async () => {
    t = await app({ maxSessionsPerPrincipal: 1 });
    const racers = [connect(t.url), connect(t.url), connect(t.url)];
    await Promise.all(racers.map((c) => connected(c)));
    const acks = await Promise.all(racers.map((c) => authenticate(c, { token: 'alice', delayMs: 200 })));
    expect(acks.filter((a) => a.ok)).toHaveLength(1);
    expect(acks.filter((a) => !a.ok).map((a) => a.error.code)).toEqual(['too_many_sessions', 'too_many_sessions']);
    await until(() => t.auth.stats().authenticated === 1, 5000, 'one authenticated session');
  });

  it('a refused attempt and pending sockets take no slot; with the limit off (0, the default) there is none', async () => {
    t = await app({ maxSessionsPerPrincipal: 1 });
    for (let i = 0; i < 3; i++) await connected(connect(t.url)); // pending
    const bad = connect(t.url);
    expect((await authenticate(bad, { token: 'bad' })).ok).toBe(false);
    await session('alice');
    const over = connect(t.url);
    expect((await authenticate(over, { token: 'alice' })).error.code).toBe('too_many_sessions'); // control: the limit is on
    await t.close();

    t = await app({});
    const many = await Promise.all(Array.from({ length: 5 }, () => session('alice')));
    await principalReaches('alice', many);
  });

  it('after app.close() nothing of the limit is left', async () => {
    t = await app({ maxSessionsPerPrincipal: 1 });
    await session('alice');
    const refused = connect(t.url);
    expect((await authenticate(refused, { token: 'alice' })).error.code).toBe('too_many_sessions');
    expect(t.auth.resourceCounts().sessions).toBeGreaterThan(0);
    const closing = t;
    t = undefined!; // closed here, not again in afterEach
    await closing.close();
    closeClients();
    expect(nonZero(closing.auth.resourceCounts())).toEqual({});
  });
});

describe("maxSessionsPerPrincipal with 'evict-oldest'", () => {
  it("the oldest session is told unauthorized {code:'revoked'} and disconnected; the new one is accepted", async () => {
    t = await app({ maxSessionsPerPrincipal: 2, onSessionLimit: 'evict-oldest' });
    const oldest = await session('alice');
    const middle = await session('alice');
    const bob = await session('bob');
    const told = once(oldest, 'unauthorized', 8000);
    const gone = once(oldest, 'disconnect', 8000);
    const newest = connect(t.url);
    expect(await authenticate(newest, { token: 'alice' }, 8000)).toMatchObject({ ok: true });
    expect(await told).toEqual({ code: 'revoked', message: expect.any(String) });
    await gone;
    await principalReaches('alice', [middle, newest]);
    expect(await middle.timeout(3000).emitWithAck('whoami')).toBe('in');
    await principalReaches('bob', [bob]); // another principal's session is untouched

    // Again: now the middle one is the oldest.
    const middleTold = once(middle, 'unauthorized', 8000);
    const fourth = connect(t.url);
    expect(await authenticate(fourth, { token: 'alice' }, 8000)).toMatchObject({ ok: true });
    expect((await middleTold).code).toBe('revoked');
    await principalReaches('alice', [newest, fourth]);
    await until(() => t.auth.stats().authenticated === 3, 5000, 'two alice sessions and bob');
  });

  it('racing authentications end with at most the limit of sessions alive', async () => {
    t = await app({ maxSessionsPerPrincipal: 1, onSessionLimit: 'evict-oldest' });
    const racers = [connect(t.url), connect(t.url), connect(t.url)];
    await Promise.all(racers.map((c) => connected(c)));
    await Promise.all(racers.map((c) => authenticate(c, { token: 'alice', delayMs: 200 }, 8000)));
    await until(() => racers.filter((c) => c.connected).length <= 1, 8000, 'at most one alice session');
    await until(() => t.auth.stats().authenticated === 1, 5000, 'one authenticated session on the server');
    const survivor = racers.find((c) => c.connected)!;
    expect(survivor).toBeDefined();
    await principalReaches('alice', [survivor]);
  });
});
