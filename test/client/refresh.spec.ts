/**
 * The client helper keeps a session alive with no gap: with credentials as a
 * function it refreshes ahead of expiry by itself, and on `refresh_required`
 * after a random delay, so clients told together do not refresh together.
 */
import { WebSocketGateway } from '@nestjs/websockets';
import { authenticate, type AuthClientError, type AuthState } from '../../lib/client/index.js';
import { closeClients, connect, createApp, once, record, sleep, type TestApp, until } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class Gateway {}

describe('client helper: refresh', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  const app = (options = {}): Promise<TestApp> =>
    createApp({ ...tokenAuth, timeout: 3000, ...options }, { providers: [Gateway] });

  it('with credentials as a function, refreshes ahead of every expiry: one authenticated state, no unauthorized, no disconnect', async () => {
    t = await app();
    const socket = connect(t.url);
    let fetched = 0;
    const auth = authenticate(socket, () => (fetched++, { token: 'alice-token', expiresInMs: 1200 }));
    const states: AuthState[] = [];
    auth.onStateChange((s) => states.push(s));
    const unauthorized = record(socket, 'unauthorized');
    await auth;
    expect(auth.expiresAt).toBeGreaterThan(Date.now());
    await until(() => fetched >= 5, 8000, 'four refreshes');
    expect(unauthorized).toEqual([]);
    expect(socket.connected).toBe(true);
    // Each refresh is an `authenticated` again, not a way through pending.
    expect(new Set(states)).toEqual(new Set(['authenticated']));
  });

  it('knows its session id, the one sessions() lists, and keeps it across refreshes', async () => {
    t = await app();
    const socket = connect(t.url);
    const other = connect(t.url);
    const auth = authenticate(socket, () => ({ token: 'alice-token', expiresInMs: 60_000 }));
    expect(auth.sessionId).toBeUndefined();
    await auth;
    await authenticate(other, { token: 'alice-token' });
    const { sessions } = await t.auth.sessions('alice');
    expect(sessions.map((s) => s.id)).toContain(auth.sessionId);
    expect(sessions).toHaveLength(2); // the other tab's session is another one
    const before = auth.sessionId;
    await auth.refresh();
    expect(auth.sessionId).toBe(before);
  });

  it('with static credentials nothing is refreshed: the session expires (the control for the test above)', async () => {
    t = await app();
    const socket = connect(t.url);
    const auth = authenticate(socket, { token: 'alice-token', expiresInMs: 1200 });
    await auth;
    expect((await once(socket, 'unauthorized', 4000)).code).toBe('expired');
    expect(t.app.get(tokenAuth.strategy).calls).toBe(1);
  });

  it("refreshes on refresh_required {code:'revoked'} within the grace, spread over half the time left, and every session survives the grace", async () => {
    t = await app();
    const fetchedAt: number[] = [];
    const sockets = Array.from({ length: 20 }, () => connect(t.url));
    const sessions = sockets.map((socket) =>
      authenticate(socket, () => {
        fetchedAt.push(Date.now());
        return { token: 'alice-token' };
      }),
    );
    await Promise.all(sessions);
    fetchedAt.length = 0;
    const told = Date.now();
    const result = await t.auth.revoke('alice', { graceMs: 2000 });
    expect(result).toMatchObject({ disconnected: 0, inGrace: 20 });
    await until(() => fetchedAt.length === 20, 3000, 'every helper to refresh');
    expect(Math.max(...fetchedAt) - told).toBeLessThan(1100); // within half the grace
    // Twenty uniform draws over 1 s all within 100 ms of each other would be a one-in-10^19 event.
    expect(Math.max(...fetchedAt) - Math.min(...fetchedAt)).toBeGreaterThan(100);
    await sleep(Math.max(0, told + 2300 - Date.now())); // past the grace's end
    expect(sockets.every((s) => s.connected)).toBe(true);
  });

  it('a refused refresh is reported through onRefreshError while the session stays authenticated, until its own end', async () => {
    t = await app();
    const socket = connect(t.url);
    let fetched = 0;
    const auth = authenticate(socket, () =>
      fetched++ === 0 ? { token: 'alice-token', expiresInMs: 2500 } : { token: 'stale' },
    );
    const errors: AuthClientError[] = [];
    auth.onRefreshError((e) => errors.push(e));
    await auth;
    await expect(auth.refresh()).rejects.toMatchObject({ code: 'invalid_credentials' });
    expect(errors.map((e) => e.code)).toEqual(['invalid_credentials']);
    expect(auth.state).toBe('authenticated');
    expect((await once(socket, 'unauthorized', 5000)).code).toBe('expired');
    expect(auth.state).toBe('failed');
  });

  it('refresh() resolves with the user and moves expiresAt; close() stops the refresh timer', async () => {
    t = await app();
    const socket = connect(t.url);
    let ttl = 60_000;
    const auth = authenticate(socket, () => ({ token: 'alice-token', expiresInMs: ttl }));
    await auth;
    const first = auth.expiresAt!;
    ttl = 120_000;
    expect(await auth.refresh()).toEqual({ id: 'alice', name: 'Alice' });
    expect(auth.expiresAt! - first).toBeGreaterThan(50_000);
    ttl = 1500; // its own refresh is then due within a second (the first test shows it happens)
    await auth.refresh();
    auth.close();
    const calls = t.app.get(tokenAuth.strategy).calls;
    await sleep(1300);
    expect(t.app.get(tokenAuth.strategy).calls).toBe(calls);
  });
});
