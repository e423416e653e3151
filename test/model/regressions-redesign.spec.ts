/**
 * Counterexamples the model-based test found against the redesigned core
 * (main at 7636051 and the lead's tree after be9b5af), shrunk and written out by hand.
 */
import type { Namespace, Socket } from 'socket.io';
import type { AuthSocketModuleOptions } from '../../lib/index.js';
import { authenticate, connect, connected, once, sleep, type TestApp } from '../support/harness.js';
import { RegressionApp } from './regression-app.js';

describe('model-based test counterexamples on the redesign', () => {
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
