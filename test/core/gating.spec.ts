import { ConnectedSocket, MessageBody, type OnGatewayConnection, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { Authenticated } from '../../lib/index.js';
import { authenticate, closeClients, connect, connected, createApp, once, record, sleep, type TestApp } from '../support/harness.js';
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
    alice.emit('shout', 'one');
    await once(alice, 'news');
    await sleep(50);
    expect(seen).toEqual([]);

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

  it('a broadcast from handleConnection never reaches the socket being connected', async () => {
    const a = connect(t.url);
    const joined = record(a, 'joined');
    await connected(a);
    await sleep(50);
    expect(joined).toEqual([]);
  });

  it('a pending socket receives no emit to a room it joined in handleConnection', async () => {
    const alice = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    const pending = connect(t.url);
    await connected(pending);
    const seen = record(pending, 'lobby-news');
    alice.emit('lobby', 'hello lobby');
    await once(alice, 'lobby-news');
    await sleep(50);
    expect(seen).toEqual([]);
  });

  it('a pending socket receives no socket.broadcast from another client', async () => {
    const alice = connect(t.url);
    const bob = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    await authenticate(bob, { token: 'bob-token' });
    const pending = connect(t.url);
    await connected(pending);
    const seenPending = record(pending, 'relayed');
    alice.emit('relay', 'psst');
    await once(bob, 'relayed');
    await sleep(50);
    expect(seenPending).toEqual([]);
  });

  it('a pending socket on a second namespace receives no namespace emit', async () => {
    const admin = connect(`${t.url}/admin`);
    await authenticate(admin, { token: 'alice-token' });
    const pending = connect(`${t.url}/admin`);
    await connected(pending);
    const seen = record(pending, 'announcement');
    admin.emit('announce', 'maintenance');
    await once(admin, 'announcement');
    await sleep(50);
    expect(seen).toEqual([]);
  });

  it('a pending socket still sees the rooms it joined through socket.rooms', async () => {
    const pending = connect(t.url);
    await connected(pending);
    const server = t.app.get(ChatGateway).server;
    const [socket] = (await server.fetchSockets()).filter(() => false);
    expect(socket).toBeUndefined(); // pending sockets are absent from fetchSockets
    const local = server.of('/').sockets.get(pending.id!)!;
    expect([...local.rooms].sort()).toEqual([pending.id, 'lobby'].sort());
  });
});
