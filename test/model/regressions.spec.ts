/**
 * Counterexamples the model-based test found, shrunk and written out by hand:
 * first against the landed core, then against the redesign. Each name states
 * the behaviour; the comment gives the shrunk command sequence.
 */
import type { Namespace, Socket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { AuthSocketModuleOptions } from '../../lib/index.js';
import { authenticate, connect, connected, once, sleep, type TestApp } from '../support/harness.js';
import { events, hookDelay, hooks, RegressionApp } from './regression-app.js';

describe('model-based test counterexamples', () => {
  const app = new RegressionApp();
  let t: TestApp;
  let root: Namespace;
  const serverSocket = (nsp: Namespace, id: string): Socket => app.serverSocket(nsp, id);
  const multiplexed = () => app.multiplexed();

  async function start(options: Partial<AuthSocketModuleOptions> = {}, recovery = false): Promise<void> {
    t = await app.start(options, recovery);
    root = app.nsp('/');
  }

  afterEach(() => app.stop());

  // Shrunk: ["disconnect", expire(0, /, alice)] (a broadcast goes out on the tick after `unauthorized`).
  it("a socket told unauthorized {code:'expired'} gets no broadcast sent right after it", async () => {
    await start({ onExpiry: 'disconnect' });
    const bob = connect(t.url);
    await authenticate(bob, { token: 'bob-token' });
    const alice = connect(t.url);
    await connected(alice);
    const seen = events(alice);
    serverSocket(root, alice.id!).onAnyOutgoing((event) => {
      if (event === 'unauthorized') process.nextTick(() => root.emit('bc', 'after-unauthorized'));
    });

    await authenticate(alice, { token: 'alice-token', expiresAt: Date.now() + 150 });
    expect(await once(bob, 'bc')).toBe('after-unauthorized'); // the broadcast went out to authenticated sockets
    await once(alice, 'disconnect');
    // refresh_required halfway through the 150 ms lifetime, then the expiry.
    expect(seen).toEqual(['authenticated', 'refresh_required', 'unauthorized']);
  });

  // Shrunk: ["reauthenticate", expire(0, /, alice, during hooks)].
  it("with onExpiry 'reauthenticate', a session that expires while its hooks run is demoted right after them", async () => {
    await start({ onExpiry: 'reauthenticate' });
    hookDelay.ms = 300;
    const alice = connect(t.url);
    const unauthorized = once(alice, 'unauthorized', 2000);
    expect((await authenticate(alice, { token: 'alice-token', expiresAt: Date.now() + 150 })).ok).toBe(true);
    expect(await unauthorized).toMatchObject({ code: 'expired', reauthenticate: true });
    expect(alice.connected).toBe(true);
    expect(t.auth.isAuthenticated(serverSocket(root, alice.id!))).toBe(false);
    expect(await alice.timeout(1000).emitWithAck('guarded')).toMatchObject({
      ok: false,
      error: { code: 'unauthenticated' },
    });
  });

  // Shrunk: ["disconnect", joinDuringAuth(0, /, alice, in hooks)] with scope 'connection'.
  it("with scope 'connection', a namespace that connects while the connection's hooks run ends authenticated, released and hooked once", async () => {
    await start({ scope: 'connection' });
    hookDelay.ms = 200;
    const { root: first, b: late } = multiplexed();
    first.connect();
    await connected(first);
    const answer = first.timeout(2000).emitWithAck('authentication', { token: 'alice-token' });
    while (!hooks.get(first.id!)) await sleep(2); // the first socket's hook is running
    const lateAuthenticated = once(late, 'authenticated', 2000);
    late.connect();
    await connected(late);
    expect((await answer).ok).toBe(true);
    expect(await lateAuthenticated).toEqual({ sessionId: expect.any(String), user: { id: 'alice', name: 'Alice' } });

    const nsp = app.nsp('/b');
    const lateServer = serverSocket(nsp, late.id!);
    expect(t.auth.isAuthenticated(lateServer)).toBe(true);
    expect(lateServer.data.auth).toMatchObject({ state: 'authenticated', principalId: 'alice' });
    expect(hooks.get(late.id!)).toEqual(['/b alice']);
    const news = once(late, 'bc', 1000);
    nsp.to('team:alice').emit('bc', 'to-team');
    expect(await news).toBe('to-team');
  });

  // Shrunk: ["disconnect", authenticate(1, /, alice), connect(1, /b)] with scope 'connection'.
  it("with scope 'connection', a namespace that connects to an authenticated connection runs its hook once, then gets 'authenticated'", async () => {
    await start({ scope: 'connection' });
    const { root: first, b: late } = multiplexed();
    first.connect();
    expect((await authenticate(first, { token: 'alice-token' })).ok).toBe(true);
    const order: string[] = [];
    late.on('authenticated', () => order.push(`authenticated after hooks ${JSON.stringify(hooks.get(late.id!))}`));
    const lateAuthenticated = once(late, 'authenticated', 2000);
    late.connect();
    expect(await lateAuthenticated).toEqual({ sessionId: expect.any(String), user: { id: 'alice', name: 'Alice' } });
    expect(order).toEqual(['authenticated after hooks ["/b alice"]']);
    const news = once(late, 'bc', 1000);
    app.nsp('/b').to('team:alice').emit('bc', 'to-team'); // joined by its hook
    expect(await news).toBe('to-team');
  });

  /** Alice's room reaches another alice socket but not `socket`, which gets bob's room: it is connected and listening. */
  async function expectOnlyInBobsRooms(socket: ClientSocket): Promise<void> {
    const otherAlice = connect(t.url);
    await authenticate(otherAlice, { token: 'alice-token' });
    const seen = events(socket as ReturnType<typeof connect>);
    root.to('team:alice').emit('bc', 'to-alice');
    expect(await once(otherAlice, 'bc')).toBe('to-alice');
    root.to('team:bob').emit('bc', 'to-bob');
    await once(socket, 'bc');
    expect(seen).toEqual(['bc:to-bob']);
    expect([...serverSocket(root, socket.id!).rooms].filter((room) => room.includes('alice'))).toEqual([]);
  }

  // Shrunk: ["disconnect", authenticate(0, /, bob), deauthenticate(0, /), authenticate(0, /, alice)] (and alice/bob swapped).
  it("after deauthenticate(), a socket that authenticates as another principal is in none of the previous principal's rooms", async () => {
    await start();
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    const demoted = once(c, 'unauthorized');
    expect(t.auth.deauthenticate(serverSocket(root, c.id!))).toBe(true);
    await demoted;
    expect((await authenticate(c, { token: 'bob-token' })).ok).toBe(true);
    await expectOnlyInBobsRooms(c);
  });

  // Shrunk: ["reauthenticate", expire(1, /, alice), authenticate(1, /, bob)].
  it("after expiry with onExpiry 'reauthenticate', re-authenticating as another principal is refused with identity_changed, never let into the previous principal's rooms", async () => {
    await start({ onExpiry: 'reauthenticate' });
    const c = connect(t.url);
    const expired = once(c, 'unauthorized', 2000);
    await authenticate(c, { token: 'alice-token', expiresAt: Date.now() + 150 });
    expect(await expired).toMatchObject({ code: 'expired', reauthenticate: true });
    expect(c.connected).toBe(true);
    const answer = await authenticate(c, { token: 'bob-token' });
    expect(answer).toMatchObject({ ok: false, error: { code: 'identity_changed' } });
  });

  it("after expiry with onExpiry 'reauthenticate', the same principal re-authenticates and is back in the rooms it had", async () => {
    await start({ onExpiry: 'reauthenticate' });
    const c = connect(t.url);
    const expired = once(c, 'unauthorized', 2000);
    await authenticate(c, { token: 'alice-token', expiresAt: Date.now() + 150 });
    // A room no hook joins again: only the session's own memory can give it back.
    await serverSocket(root, c.id!).join('picked-by-alice');
    await expired;
    expect((await authenticate(c, { token: 'alice-token' })).ok).toBe(true);
    const news = once(c, 'bc', 1000);
    root.to('picked-by-alice').emit('bc', 'to-alice');
    expect(await news).toBe('to-alice');
  });

  // Shrunk: [directAck(0, /)] with connection-state recovery on.
  it('with connection-state recovery on, a direct emit with an ack to a pending socket is delivered with its ack', async () => {
    await start({}, true);
    const c = connect(t.url);
    await connected(c);
    const asked: unknown[] = [];
    c.on('ping', (...args: unknown[]) => {
      asked.push(typeof args[0]);
      if (typeof args[0] === 'function') args[0]('pong');
    });
    const answer = await serverSocket(root, c.id!)
      .timeout(1000)
      .emitWithAck('ping')
      .catch((err: Error) => err.message);
    expect(asked).toEqual(['function']);
    expect(answer).toBe('pong');
  });

  // Shrunk: [drop(0), connect(0, /)] with handshake: true and connection-state recovery on.
  it('with handshake: true and recovery on, the pid and offset a client adds on reconnect are not taken as credentials', async () => {
    await start({ handshake: true }, true);
    const c = connect(t.url, { reconnection: true, reconnectionDelay: 50 });
    await authenticate(c, { token: 'alice-token' });
    const seen = events(c);
    const dropped = once(c, 'disconnect');
    (c.io as unknown as { engine: { close(): void } }).engine.close();
    await dropped;
    await once(c, 'connect', 3000);
    expect(c.recovered).toBe(true); // the client did send {pid, offset}
    await sleep(100);
    expect(seen).toEqual([]); // no unauthorized {invalid_credentials}
    expect(c.connected).toBe(true);
    expect((await authenticate(c, { token: 'alice-token' })).ok).toBe(true);
  });

  // ── found against the redesigned core (main at 7636051, and the lead's tree after be9b5af) ──

  // Shrunk: ["disconnect", connect(0, /b), authenticate(0, /, bob), revoke(bob)] with scope 'namespace'.
  it("with scope 'namespace', revoke() ends the principal's sessions only: a pending socket on another namespace of the same connection stays", async () => {
    await start({ scope: 'namespace' });
    const { root: bob, b: other } = multiplexed();
    bob.connect();
    other.connect();
    await connected(other);
    await authenticate(bob, { token: 'bob-token' });
    const revoked = once(bob, 'unauthorized');
    const gone = once(bob, 'disconnect');
    await t.auth.revoke('bob');
    expect(await revoked).toMatchObject({ code: 'revoked' });
    await gone;
    await sleep(50);
    expect(other.connected).toBe(true);
    expect((await authenticate(other, { token: 'alice-token' })).ok).toBe(true);
  });

  // Shrunk: [authenticate(0, /, alice), deauthenticateDuringRefresh(0, /)], either scope; also on the redesign (main 7636051).
  it('a refresh still in the strategy when deauthenticate() runs is answered with a refusal, not left without an ack', async () => {
    await start();
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    const demoted = once(c, 'unauthorized');
    const refresh = c.timeout(1000).emitWithAck('authentication', { token: 'alice-token', delayMs: 150 });
    await sleep(50);
    expect(t.auth.deauthenticate(serverSocket(root, c.id!))).toBe(true);
    expect(await demoted).toMatchObject({ code: 'deauthenticated' });
    await expect(refresh).resolves.toMatchObject({ ok: false });
    expect(c.connected).toBe(true);
    expect(t.auth.isAuthenticated(serverSocket(root, c.id!))).toBe(false);
  });

  // Found against the redesign (main 7636051): [authenticate(1, /, alice), drop(1)], then every client gone.
  it('when the transport drops under an authenticated socket, no timer outlives the closed connection', async () => {
    await start();
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    const dropped = once(c, 'disconnect');
    (c.io as unknown as { engine: { close(): void } }).engine.close();
    await dropped;
    const io = root.server;
    while (io.engine.clientsCount > 0 || root.sockets.size > 0) await sleep(5);
    await sleep(50);
    const { connectionListeners, ...counts } = t.auth.resourceCounts();
    expect(connectionListeners).toBeGreaterThan(0); // the module is still attached: the counts are live
    expect(Object.entries(counts).filter(([, n]) => n !== 0)).toEqual([]);
  });

  // Found against the lead's working tree (be9b5af + changes): [guarded(1, /), drop(1), connect(1, /)], recovery on.
  it('a pending socket that connection-state recovery brings back counts as pending, also towards maxPendingPerAddress', async () => {
    await start({ maxPendingPerAddress: 1 }, true);
    const c = connect(t.url);
    await connected(c);
    // Any packet gives the client an offset, so its next connect is a recovery.
    expect(await c.timeout(1000).emitWithAck('guarded')).toMatchObject({ ok: false });
    const dropped = once(c, 'disconnect');
    (c.io as unknown as { engine: { close(): void } }).engine.close();
    await dropped;
    c.connect();
    await connected(c);
    expect(c.recovered).toBe(true);
    await c.timeout(1000).emitWithAck('guarded'); // a round trip: the server has finished the connection
    expect(t.auth.stats()).toMatchObject({ pending: 1, authenticated: 0 });
    const another = connect(t.url);
    const refused = await once(another, 'connect_error');
    expect(refused.data).toMatchObject({ code: 'too_many_pending' });
  });
});
