/**
 * Revalidation: the strategy's `revalidate()` re-checks live sessions every
 * `revalidateInterval` and on demand, so a removed role or a locked account
 * takes effect before the token expires.
 */
import { Injectable } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import {
  Authenticated,
  AuthenticationError,
  type AuthPrincipal,
  AuthSocketModule,
  type AuthSocketModuleOptions,
  type AuthStrategy,
  type OnGatewayPrincipalChanged,
  type RevalidationContext,
} from '../../lib/index.js';
import {
  authenticate,
  captureLogs,
  closeClients,
  connect,
  createApp,
  once,
  sleep,
  type TestApp,
  until,
} from '../support/harness.js';

/** The app's view of its users, which the tests change under live sessions. */
@Injectable()
class Directory {
  users = new Map<string, { roles: string[]; name: string }>();
  /** 'hang': revalidate() never answers; 'throw': it throws a plain error; 'lock': AuthenticationError. */
  mode: 'ok' | 'hang' | 'throw' | 'lock' = 'ok';
  delayMs = 0;
  calls: Array<{ id: string; reason: string; at: number }> = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Shorten the session to this (epoch ms), or lengthen it, as revalidate()'s answer. */
  expiresAt?: number;
}

@Injectable()
class DirectoryStrategy implements AuthStrategy {
  constructor(private readonly directory: Directory) {}

  authenticate(credentials: any): AuthPrincipal | null {
    const user = this.directory.users.get(credentials?.token);
    if (!user) return null;
    return { id: credentials.token, roles: user.roles, public: { name: user.name }, expiresAt: credentials.expiresAt };
  }

  async revalidate(principal: AuthPrincipal, context: RevalidationContext): Promise<AuthPrincipal | null> {
    const d = this.directory;
    d.calls.push({ id: principal.id, reason: context.reason, at: Date.now() });
    d.maxInFlight = Math.max(d.maxInFlight, ++d.inFlight);
    try {
      if (d.delayMs) await sleep(d.delayMs);
      if (d.mode === 'hang') await new Promise(() => undefined);
      if (d.mode === 'throw') throw new Error('directory unreachable at 10.0.0.7 with password hunter2');
      if (d.mode === 'lock') throw new AuthenticationError('Account locked', 'revoked');
      const user = d.users.get(principal.id);
      if (!user) return null;
      return {
        id: principal.id,
        roles: user.roles,
        public: { name: user.name },
        ...(d.expiresAt ? { expiresAt: d.expiresAt } : {}),
      };
    } finally {
      d.inFlight--;
    }
  }
}

@WebSocketGateway()
class Gateway implements OnGatewayPrincipalChanged {
  @WebSocketServer() server!: Server;
  changed: string[] = [];

  handlePrincipalChanged(client: Socket, principal: AuthPrincipal): void {
    this.changed.push(`${principal.id}:${(principal.roles as string[]).join(',')}`);
  }

  @Authenticated({ roles: ['editor'] })
  @SubscribeMessage('edit')
  edit(): string {
    return 'edited';
  }
}

async function app(options: Partial<AuthSocketModuleOptions> = {}): Promise<{ t: TestApp; directory: Directory }> {
  const directory = new Directory();
  directory.users.set('alice', { roles: ['editor'], name: 'Alice' });
  directory.users.set('bob', { roles: ['editor'], name: 'Bob' });
  const t = await createApp(
    {
      strategy: DirectoryStrategy,
      extraProviders: [{ provide: Directory, useValue: directory }],
      timeout: 5000,
      strategyTimeout: 300,
      ...options,
    },
    { providers: [Gateway] },
  );
  return { t, directory };
}

describe('revalidation', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('revalidate(principalId) applies removed roles from the next guarded handler on, runs handlePrincipalChanged, and tells the client its new public view', async () => {
    let directory: Directory;
    ({ t, directory } = await app());
    const alice = connect(t.url);
    const bob = connect(t.url);
    await authenticate(alice, { token: 'alice' });
    await authenticate(bob, { token: 'bob' });
    expect(await alice.timeout(2000).emitWithAck('edit')).toBe('edited'); // control

    directory.users.set('alice', { roles: [], name: 'Alice (viewer)' });
    const told = once(alice, 'authenticated');
    expect(await t.auth.revalidate('alice')).toEqual({ sessions: 1, complete: true });
    expect(await told).toEqual({ sessionId: expect.any(String), user: { name: 'Alice (viewer)' } });
    expect(await alice.timeout(2000).emitWithAck('edit')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await bob.timeout(2000).emitWithAck('edit')).toBe('edited'); // bob was not revalidated
    expect(t.app.get(Gateway).changed).toEqual(['alice:']);
    expect(directory.calls.map((c) => `${c.id}:${c.reason}`)).toEqual(['alice:request']);
  });

  it("a revalidation that answers null ends the session with 'invalidated'; one that throws AuthenticationError ends it with its code", async () => {
    let directory: Directory;
    ({ t, directory } = await app());
    const alice = connect(t.url);
    const bob = connect(t.url);
    await authenticate(alice, { token: 'alice' });
    await authenticate(bob, { token: 'bob' });
    directory.users.delete('alice');
    const told = once(alice, 'unauthorized');
    const gone = once(alice, 'disconnect');
    await t.auth.revalidate('alice');
    expect(await told).toEqual({ code: 'invalidated', message: 'Session no longer valid' });
    await gone;

    directory.mode = 'lock';
    const locked = once(bob, 'unauthorized');
    await t.auth.revalidate('bob');
    expect(await locked).toEqual({ code: 'revoked', message: 'Account locked' });
  });

  it('a revalidation that throws or hangs is logged without its message and the session runs on until the next check', async () => {
    let directory: Directory;
    ({ t, directory } = await app());
    const alice = connect(t.url);
    await authenticate(alice, { token: 'alice' });
    const logs = captureLogs();
    try {
      directory.mode = 'throw';
      await t.auth.revalidate('alice');
      directory.mode = 'hang';
      const started = Date.now();
      await t.auth.revalidate('alice'); // bounded by strategyTimeout (300 ms)
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      logs.restore();
    }
    expect(alice.connected).toBe(true);
    expect(await alice.timeout(2000).emitWithAck('edit')).toBe('edited');
    const text = logs.lines.join('\n');
    expect(text).toMatch(/revalidate\(\) threw Error/);
    expect(text).toMatch(/revalidate\(\) did not answer within 300 ms/);
    expect(text).not.toMatch(/hunter2|10\.0\.0\.7/);
  });

  it('a revalidation may end a session sooner, never later', async () => {
    let directory: Directory;
    ({ t, directory } = await app());
    const alice = connect(t.url);
    const bob = connect(t.url);
    const aliceEnd = Date.now() + 60_000;
    await authenticate(alice, { token: 'alice', expiresAt: aliceEnd });
    await authenticate(bob, { token: 'bob', expiresAt: Date.now() + 1500 });

    directory.expiresAt = Date.now() + 800;
    await t.auth.revalidate('alice');
    const gone = await once(alice, 'unauthorized', 3000);
    expect(gone.code).toBe('expired');

    directory.expiresAt = Date.now() + 60_000; // later than bob's own end: ignored
    await t.auth.revalidate('bob');
    expect((await once(bob, 'unauthorized', 3000)).code).toBe('expired');
  });

  it('revalidateInterval checks each session about once per interval, jittered, with at most one call in flight per session', async () => {
    let directory: Directory;
    ({ t, directory } = await app({ revalidateInterval: 200 }));
    directory.delayMs = 250; // longer than the interval: a second call must not start while one runs
    const alice = connect(t.url);
    await authenticate(alice, { token: 'alice' });
    const started = Date.now();
    await until(() => directory.calls.length >= 4, 5000, 'four revalidations');
    expect(directory.maxInFlight).toBe(1);
    expect(directory.calls.every((c) => c.reason === 'interval')).toBe(true);
    // The first check waits about an interval (±15%), and no earlier.
    expect(directory.calls[0].at - started).toBeGreaterThanOrEqual(150);

    directory.delayMs = 0;
    directory.users.set('alice', { roles: [], name: 'Alice' });
    await until(() => t.app.get(Gateway).changed.length > 0, 3000, 'the periodic check to apply the new roles');
    expect(await alice.timeout(2000).emitWithAck('edit')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it('with no authenticated session no revalidation timer runs, and app.close() leaves none', async () => {
    let directory: Directory;
    ({ t, directory } = await app({ revalidateInterval: 100 }));
    const alice = connect(t.url);
    await authenticate(alice, { token: 'alice' });
    await until(() => directory.calls.length >= 1, 3000, 'a revalidation');
    expect(t.auth.resourceCounts().revalidations).toBe(1);
    alice.disconnect();
    // The session ends first; the connection's idle close is dropped when the connection's own close arrives.
    await until(() => t.auth.resourceCounts().sessions === 0, 3000, 'the session to end');
    await until(() => t.auth.resourceCounts().timers === 0, 5000, 'the connection to close');
    expect(t.auth.resourceCounts()).toMatchObject({ revalidations: 0, timers: 0 });
    const calls = directory.calls.length;
    await sleep(300);
    expect(directory.calls.length).toBe(calls);
  });

  it('refuses revalidateInterval for a strategy without revalidate(), and revalidate() calls on it, with a coded error', async () => {
    const noRevalidate = { authenticate: () => ({ id: 'x' }) };
    expect(() => AuthSocketModule.forRoot({ strategy: noRevalidate, revalidateInterval: 1000 })).not.toThrow(); // the strategy's shape is only known once it is resolved: checked at start-up
    await expect(createApp({ strategy: noRevalidate, revalidateInterval: 1000 })).rejects.toMatchObject({
      code: 'AUTH_SOCKET_INVALID_OPTION',
      message: expect.stringContaining('revalidateInterval'),
    });
    t = await createApp({ strategy: noRevalidate }, { providers: [Gateway] });
    await expect(t.auth.revalidate('x')).rejects.toMatchObject({ code: 'AUTH_SOCKET_INVALID_ARGUMENT' });
    expect(() => AuthSocketModule.forRoot({ strategy: noRevalidate, revalidateInterval: 50 })).toThrow(
      /revalidateInterval" must be at least 100 ms/,
    );
    expect(await authenticate(connect(t.url), { token: 'x' })).toMatchObject({ ok: true }); // the app still works
  });

  it('sessions that authenticated together are revalidated spread over ±15% of the interval, not in the same tick', async () => {
    let directory: Directory;
    ({ t, directory } = await app({ revalidateInterval: 1000 }));
    for (let i = 0; i < 30; i++) directory.users.set(`u${i}`, { roles: [], name: `U${i}` });
    await Promise.all(Array.from({ length: 30 }, (_, i) => authenticate(connect(t.url), { token: `u${i}` })));
    await until(() => new Set(directory.calls.map((c) => c.id)).size === 30, 5000, 'every session checked once');
    const firsts = [...new Map(directory.calls.map((c) => [c.id, c.at] as const)).values()];
    // Uniform over 300 ms: 30 draws all within 60 ms of each other would be a one-in-10^20 event.
    expect(Math.max(...firsts) - Math.min(...firsts)).toBeGreaterThan(60);
  });
});
