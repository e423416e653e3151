/**
 * A public socket's place in its connection's session (scope 'connection') is
 * explicit: it never holds the timeout, never hears another socket's timeout
 * or failed guess, and still hears its own outcome.
 */
import { SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Namespace } from 'socket.io';
import { PublicNamespace } from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  connectNamespace,
  createApp,
  once,
  record,
  sleep,
  type TestApp,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@PublicNamespace()
@WebSocketGateway({ namespace: '/lobby' })
class LobbyGateway {
  @WebSocketServer() nsp!: Namespace;

  /** A round trip: once answered, whatever the server wrote to the socket before has arrived. */
  @SubscribeMessage('fence')
  fence(): boolean {
    return true;
  }
}

@WebSocketGateway()
class GatedGateway {}

describe("public sockets and their session's outcomes", () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createApp({ ...tokenAuth, timeout: 400 }, { providers: [LobbyGateway, GatedGateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  /** A connection with a gated socket on '/' and a public one on '/lobby', both connected. */
  async function pair(): Promise<{ gated: ReturnType<typeof connect>; lobby: ReturnType<typeof connect> }> {
    const gated = connect(t.url);
    const lobby = connectNamespace(gated, '/lobby');
    await Promise.all([connected(gated), connected(lobby)]);
    return { gated, lobby };
  }

  it('a public socket is not timed out once the gated socket it shared a session with has left', async () => {
    const left = await pair();
    const stayed = await pair(); // control: its gated socket stays and is timed out at the same moment
    const leftTold = record(left.lobby, 'unauthorized');
    const stayedTold = record(stayed.lobby, 'unauthorized');
    left.gated.disconnect(); // only the '/' socket: the connection and its '/lobby' socket stay
    expect((await once(stayed.gated, 'unauthorized', 3000)).code).toBe('timeout');
    await sleep(200); // the timeout armed for the departed gated socket would have fired by now
    expect(leftTold).toEqual([]);
    expect(stayedTold).toEqual([]); // a public socket does not hear its gated sibling's timeout either
    expect(left.lobby.connected && stayed.lobby.connected).toBe(true);
    const score = once(left.lobby, 'score');
    t.app.get(LobbyGateway).nsp.emit('score', '2-1');
    expect(await score).toBe('2-1');
  });

  // Model counterexample: ["disconnect", false, connect(1, /p), authenticate(1, /, invalid)].
  it("a gated socket's failed guess is told to it alone; a public socket's own failed attempt is told to it", async () => {
    const { gated, lobby } = await pair();
    const lobbyTold = record(lobby, 'unauthorized');
    const gone = once(gated, 'disconnect');
    expect((await authenticate(gated, { token: 'wrong' })).error.code).toBe('invalid_credentials');
    await gone;
    expect(await lobby.timeout(1000).emitWithAck('fence')).toBe(true);
    expect(lobbyTold).toEqual([]);
    // Its own attempt: the public socket hears why, and stays connected, anonymous.
    const told = once(lobby, 'unauthorized');
    expect((await authenticate(lobby, { token: 'wrong' })).error.code).toBe('invalid_credentials');
    expect((await told).code).toBe('invalid_credentials');
    expect(lobby.connected).toBe(true);
  });

  it('a public socket whose session was authenticated hears the revoke that demotes it', async () => {
    const { gated, lobby } = await pair();
    await authenticate(gated, { token: 'alice-token' });
    const told = once(lobby, 'unauthorized');
    const gone = once(gated, 'disconnect');
    await t.auth.revoke('alice');
    expect((await told).code).toBe('revoked');
    await gone;
    expect(lobby.connected).toBe(true);
  });
});
