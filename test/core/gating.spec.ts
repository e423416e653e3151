import {
  ConnectedSocket,
  MessageBody,
  type OnGatewayConnection,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { Authenticated } from '../../lib/index.js';
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

const seenInHandleConnection: unknown[] = [];

@WebSocketGateway()
class ChatGateway implements OnGatewayConnection {
  @WebSocketServer() server!: Server;

  handleConnection(client: Socket): void {
    seenInHandleConnection.push(client.data.auth);
    void client.join('lobby');
    // Broadcast from handleConnection: the new socket must not get it.
    this.server.emit('joined', client.id);
  }

  @SubscribeMessage('shout')
  shout(@MessageBody() text: string): void {
    this.server.emit('news', text);
  }

  @SubscribeMessage('lobby')
  lobby(@MessageBody() text: string): void {
    this.server.to('lobby').emit('lobby-news', text);
  }

  @Authenticated()
  @SubscribeMessage('relay')
  relay(@ConnectedSocket() client: Socket, @MessageBody() text: string): void {
    client.broadcast.emit('relayed', text);
  }
}

@WebSocketGateway({ namespace: '/admin' })
class AdminGateway {
  @WebSocketServer() nsp!: any;

  @SubscribeMessage('announce')
  announce(@MessageBody() text: string): void {
    this.nsp.emit('announcement', text);
  }
}

describe('broadcast gating', () => {
  let t: TestApp;

  beforeEach(async () => {
    t = await createApp({ ...tokenAuth, timeout: 3000 }, { providers: [ChatGateway, AdminGateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('a pending socket receives no namespace-wide emit, but does after authenticating', async () => {
    const alice = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    const pending = connect(t.url);
    await connected(pending);
    const seen = record(pending, 'news');
    const witness = once(alice, 'news');
    alice.emit('shout', 'one');
    await expectMissed(pending, seen, witness);

    await authenticate(pending, { token: 'bob-token' });
    alice.emit('shout', 'two');
    await once(pending, 'news');
    expect(seen).toEqual(['two']);
  });

  it("the module's per-socket state exists before the gateway's handleConnection runs", async () => {
    seenInHandleConnection.length = 0;
    const c = connect(t.url);
    await connected(c);
    expect(seenInHandleConnection).toEqual([{ state: 'pending' }]);
  });

  it('a broadcast from handleConnection reaches authenticated sockets but never the socket being connected', async () => {
    const alice = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    const aliceJoined = record<string>(alice, 'joined');
    const a = connect(t.url);
    const joined = record(a, 'joined');
    await connected(a);
    // The broadcast happened: alice heard about a's own connection.
    const witness = (async () => {
      while (!aliceJoined.includes(a.id!)) await once(alice, 'joined');
    })();
    await expectMissed(a, joined, witness);
  });

  it('a pending socket receives no emit to a room it joined in handleConnection', async () => {
    const alice = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    const pending = connect(t.url);
    await connected(pending);
    const seen = record(pending, 'lobby-news');
    const witness = once(alice, 'lobby-news');
    alice.emit('lobby', 'hello lobby');
    await expectMissed(pending, seen, witness);
  });

  it('a pending socket receives no socket.broadcast from another client', async () => {
    const alice = connect(t.url);
    const bob = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    await authenticate(bob, { token: 'bob-token' });
    const pending = connect(t.url);
    await connected(pending);
    const seenPending = record(pending, 'relayed');
    const witness = once(bob, 'relayed');
    alice.emit('relay', 'psst');
    await expectMissed(pending, seenPending, witness);
  });

  it('a pending socket on a second namespace receives no namespace emit', async () => {
    const admin = connect(`${t.url}/admin`);
    await authenticate(admin, { token: 'alice-token' });
    const pending = connect(`${t.url}/admin`);
    await connected(pending);
    const seen = record(pending, 'announcement');
    const witness = once(admin, 'announcement');
    admin.emit('announce', 'maintenance');
    await expectMissed(pending, seen, witness);
  });

  it('a pending socket still sees the rooms it joined through socket.rooms, while the adapter does not list it', async () => {
    const alice = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    const pending = connect(t.url);
    await connected(pending);
    const server = t.app.get(ChatGateway).server;
    const nsp = server.of('/');
    const local = nsp.sockets.get(pending.id!)!;
    expect([...local.rooms].sort()).toEqual([pending.id, 'lobby'].sort());
    // Kept out of the adapter's membership, which every broadcast and fetchSockets() resolve from.
    expect(nsp.adapter.rooms.get('lobby')?.has(pending.id!) ?? false).toBe(false);
    expect(nsp.adapter.sids.has(pending.id!)).toBe(false);
    const fetched = (await server.fetchSockets()).map((s) => s.id);
    expect(fetched).toContain(alice.id); // positive control: an authenticated socket is listed
    expect(fetched).not.toContain(pending.id);

    await authenticate(pending, { token: 'bob-token' });
    expect([...local.rooms]).toEqual(expect.arrayContaining([pending.id, 'lobby']));
    expect(nsp.adapter.rooms.get('lobby')?.has(pending.id!)).toBe(true);
    expect((await server.fetchSockets()).map((s) => s.id)).toContain(pending.id);
  });
});
