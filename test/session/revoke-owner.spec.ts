/**
 * `revoke()` asks the session's one owner: it ends sessions the principal owns
 * or may resume (demoted by an expiry with 'reauthenticate'), the
 * re-authentication in flight on them, and any fresh attempt the strategy
 * answers with that principal while the revoke lands.
 */
import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { AUTH_STRATEGY, type OnGatewayAuthenticated, principalRoom } from '../../lib/index.js';
import { authenticate, closeClients, connect, createApp, once, type TestApp, until } from '../support/harness.js';
import { type TokenStrategy, tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class TeamGateway implements OnGatewayAuthenticated {
  @WebSocketServer() server!: Server;
  handleAuthenticated(client: Socket, principal: { id: string }): void {
    void client.join(`team:${principal.id}`);
  }
}

describe('revoke and the session owner', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createApp({ ...tokenAuth, timeout: 10_000, onExpiry: 'reauthenticate' }, { providers: [TeamGateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  const rooms = (): Map<string, Set<string>> => t.app.get(TeamGateway).server.of('/').adapter.rooms;
  const serverSocket = (id: string): Socket => t.app.get(TeamGateway).server.of('/').sockets.get(id)!;
  /** Resolves once the strategy has been called `n` more times: the attempts are in flight. */
  function strategyCalled(n: number): () => Promise<void> {
    const strategy = t.app.get<TokenStrategy>(AUTH_STRATEGY);
    const from = strategy.calls;
    return () => until(() => strategy.calls >= from + n, 3000, `${n} strategy calls`);
  }

  /** Slow attempts for alice and bob; revoke('alice') lands while the strategy runs both: only alice's is refused. */
  async function revokeAliceWhileBothInFlight(
    alice: ReturnType<typeof connect>,
    bob: ReturnType<typeof connect>,
  ): Promise<void> {
    const inFlight = strategyCalled(2);
    const aliceReply = authenticate(alice, { token: 'alice-token', delayMs: 400 });
    const bobReply = authenticate(bob, { token: 'bob-token', delayMs: 400 });
    await inFlight();
    await t.auth.revoke('alice');
    expect(await aliceReply).toEqual({ ok: false, error: expect.objectContaining({ code: 'revoked' }) });
    expect((await bobReply).ok).toBe(true);
  }

  /** Authenticates with a short expiry and waits for the demotion ('reauthenticate'): still connected, pending. */
  async function demoted(token: string): Promise<ReturnType<typeof connect>> {
    const c = connect(t.url);
    const expired = once(c, 'unauthorized', 5000);
    await authenticate(c, { token, expiresAt: Date.now() + 300 });
    expect(await expired).toMatchObject({ code: 'expired', reauthenticate: true });
    return c;
  }

  // Model counterexample: ["reauthenticate", false, expire(0, /, bob), revoke(bob)].
  it("revoke ends a session demoted by expiry ('reauthenticate'): told revoked, disconnected, its held rooms gone", async () => {
    const alice = await demoted('alice-token');
    const bob = await demoted('bob-token'); // control: another principal's demoted session is untouched
    const aliceServer = serverSocket(alice.id!);
    expect(aliceServer.rooms.has('team:alice')).toBe(true); // held for the owner while demoted

    const told = once(alice, 'unauthorized');
    const gone = once(alice, 'disconnect');
    const result = await t.auth.revoke('alice');
    expect(await told).toMatchObject({ code: 'revoked' });
    await gone;
    expect(result.disconnected).toBe(1);
    expect(bob.connected).toBe(true);
    expect((await authenticate(bob, { token: 'bob-token' })).ok).toBe(true); // bob may still resume
    await until(() => !rooms().has('team:alice'));
  });

  it('a re-authentication in flight when the revoke lands is refused and never rejoins the principal room', async () => {
    const alice = await demoted('alice-token');
    const bob = await demoted('bob-token'); // control: the same slow re-authentication succeeds without a revoke
    await revokeAliceWhileBothInFlight(alice, bob);
    await until(() => !alice.connected, 3000, 'alice disconnected');
    expect(rooms().get(principalRoom('alice'))).toBeUndefined();
    expect(rooms().get(principalRoom('bob'))?.size).toBe(1);
  });

  // Model counterexample: ["disconnect", false, revokeDuringAttempt(0, /, alice)].
  it('a first authentication that the strategy answers with the revoked principal while the revoke lands is refused', async () => {
    const alice = connect(t.url);
    const bob = connect(t.url); // control: an attempt in flight for someone else still succeeds
    await revokeAliceWhileBothInFlight(alice, bob);
    expect(rooms().get(principalRoom('alice'))).toBeUndefined();
    // A new attempt after the revoke is the app's to refuse (its strategy): this one is accepted.
    const again = connect(t.url);
    expect((await authenticate(again, { token: 'alice-token' })).ok).toBe(true);
  });
});
