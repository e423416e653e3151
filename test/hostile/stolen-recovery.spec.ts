/**
 * A stolen connection-state recovery `pid`/`offset` on a public namespace: the
 * attacker, who never authenticates as the victim, gets none of the victim's
 * rooms, data or missed packets. What an anonymous socket had still comes back
 * to it, and the victim's own comes back once the same principal authenticates.
 */
import { ConnectedSocket, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import type { Socket as ClientSocket } from 'socket.io-client';
import { type OnGatewayAuthenticated, principalRoom, PublicNamespace } from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  createApp,
  expectMissed,
  once,
  record,
  type TestApp,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@PublicNamespace()
@WebSocketGateway({ namespace: '/lobby', connectionStateRecovery: { maxDisconnectionDuration: 60_000 } })
class LobbyGateway implements OnGatewayAuthenticated {
  @WebSocketServer() nsp!: Namespace;

  handleAuthenticated(client: Socket, principal: { id: string }): void {
    void client.join(`team:${principal.id}`);
    client.data.secret = `${principal.id}-secret`;
  }

  /** Anyone may join the public scoreboard room. */
  @SubscribeMessage('watch')
  watch(@ConnectedSocket() client: Socket): boolean {
    void client.join('scores');
    return true;
  }
}

type Recovery = { pid: string; offset: string };
const recoveryOf = (c: ClientSocket): Recovery => {
  const raw = c as unknown as { _pid?: string; _lastOffset?: string };
  return { pid: raw._pid!, offset: raw._lastOffset! };
};

describe('stolen recovery identifiers on a public namespace', () => {
  let t: TestApp;
  const lobby = (): Namespace => t.app.get(LobbyGateway).nsp;
  beforeEach(async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000 }, { providers: [LobbyGateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  /** Drops the client's transport for good (no reconnection): socket.io keeps its session for recovery. */
  async function drop(c: ClientSocket): Promise<Recovery> {
    const stolen = recoveryOf(c);
    const gone = once(c, 'disconnect');
    (c.io as unknown as { engine: { close(): void } }).engine.close();
    await gone;
    return stolen;
  }

  /**
   * A new client that presents someone else's recovery identifiers in its
   * CONNECT. `listen` runs first: socket.io-client emits replayed packets
   * before its 'connect' event.
   */
  async function connectWith(stolen: Recovery, listen?: (c: ClientSocket) => void): Promise<ClientSocket> {
    const c = connect(`${t.url}/lobby`, { autoConnect: false });
    Object.assign(c as unknown as Record<string, string>, { _pid: stolen.pid, _lastOffset: stolen.offset });
    listen?.(c);
    c.connect();
    await connected(c);
    return c;
  }

  it("an attacker with the victim's pid and offset gets neither its rooms, its data nor its missed packets", async () => {
    const victim = connect(`${t.url}/lobby`);
    await authenticate(victim, { token: 'alice-token' });
    const witness = connect(`${t.url}/lobby`); // control: alice's other device, still connected
    await authenticate(witness, { token: 'alice-token' });
    lobby().to('team:alice').emit('private', 'before');
    await once(victim, 'private');

    const stolen = await drop(victim);
    lobby().to('team:alice').emit('private', 'missed');
    await once(witness, 'private');
    let seen: string[] = [];
    const attacker = await connectWith(stolen, (c) => (seen = record(c, 'private')));
    expect(attacker.recovered).toBe(true); // socket.io did recover: the screen is what keeps the victim's out

    const server = lobby().sockets.get(attacker.id!)!;
    expect(server.data).toEqual({ auth: { state: 'pending' } });
    expect([...server.rooms]).toEqual([attacker.id]);
    const live = once(witness, 'private');
    lobby().to('team:alice').emit('private', 'live');
    lobby().to(principalRoom('alice')).emit('private', 'to-alice');
    await expectMissed(attacker, seen, live);
    // Authenticating as someone else does not hand them over either.
    await authenticate(attacker, { token: 'bob-token' });
    const later = once(witness, 'private');
    lobby().to('team:alice').emit('private', 'later');
    await expectMissed(attacker, seen, later);
    expect(server.data.secret).toBe('bob-secret');
  });

  it('the victim gets its rooms, data and missed packets back once it authenticates again as the same principal', async () => {
    const victim = connect(`${t.url}/lobby`);
    await authenticate(victim, { token: 'alice-token' });
    const stolen = await drop(victim);
    lobby().to('team:alice').emit('private', 'missed');
    let seen: string[] = [];
    const back = await connectWith(stolen, (c) => (seen = record(c, 'private'))); // the victim itself, reconnecting
    expect(seen).toEqual([]); // held while it is anonymous
    const replayed = once(back, 'private');
    await authenticate(back, { token: 'alice-token' });
    await replayed;
    expect(seen).toEqual(['missed']);
    const server = lobby().sockets.get(back.id!)!;
    expect(server.data.secret).toBe('alice-secret');
    expect(server.rooms.has('team:alice')).toBe(true);
  });

  it('an anonymous socket recovers what it joined anonymously, as socket.io would restore it', async () => {
    const viewer = connect(`${t.url}/lobby`);
    await connected(viewer);
    expect(await viewer.timeout(1000).emitWithAck('watch')).toBe(true);
    const first = once(viewer, 'score'); // a packet with an offset: the client has something to recover from
    lobby().to('scores').emit('score', '0-0');
    await first;
    const stolen = await drop(viewer);
    lobby().to('scores').emit('score', 'missed 1-0');
    let scores: string[] = [];
    const back = await connectWith(stolen, (c) => (scores = record(c, 'score')));
    expect(back.recovered).toBe(true);
    lobby().to('scores').emit('score', 'live 2-0');
    await once(back, 'score');
    expect(scores).toEqual(['missed 1-0', 'live 2-0']);
  });
});
