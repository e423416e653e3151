import {
  MessageBody,
  type OnGatewayConnection,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import {
  authenticate,
  closeClients,
  connect,
  createApp,
  expectMissed,
  once,
  record,
  sleep,
  type TestApp,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@WebSocketGateway({ connectionStateRecovery: { maxDisconnectionDuration: 60_000 } })
class RecoveringGateway implements OnGatewayConnection {
  @WebSocketServer() server!: Server;

  handleConnection(client: Socket): void {
    if (!client.recovered) void client.join('news-room');
  }

  @SubscribeMessage('publish')
  publish(@MessageBody() text: string): void {
    this.server.to('news-room').emit('news', text);
  }
}

/** Drops the transport under the client so socket.io treats it as a recoverable disconnect. */
async function dropAndRecover(c: ReturnType<typeof connect>): Promise<void> {
  const reconnected = once(c, 'connect', 5000);
  (c.io as any).engine.close();
  await reconnected;
}

describe('connection state recovery', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createApp({ ...tokenAuth, timeout: 3000 }, { providers: [RecoveringGateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('a recovered socket starts pending and gets no missed packet until it re-authenticates as the same principal', async () => {
    const alice = connect(t.url, { reconnection: true, reconnectionDelay: 50 });
    const bob = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    await authenticate(bob, { token: 'bob-token' });
    const news = record<string>(alice, 'news');
    bob.emit('publish', 'before');
    await once(alice, 'news');

    const disconnected = once(alice, 'disconnect');
    (alice.io as any).engine.close();
    await disconnected;
    bob.emit('publish', 'missed');
    await once(bob, 'news');
    await once(alice, 'connect', 5000);
    expect(alice.recovered).toBe(true);

    await sleep(100);
    expect(news).toEqual(['before']); // nothing replayed to an unauthenticated socket
    expect(alice.connected).toBe(true);
    const sinceRecovery = record<string>(alice, 'news');
    const witness = once(bob, 'news');
    bob.emit('publish', 'while-pending');
    await expectMissed(alice, sinceRecovery, witness);

    await authenticate(alice, { token: 'alice-token' });
    await sleep(50);
    expect(news).toEqual(['before', 'missed']); // missed packet delivered after re-authentication
    bob.emit('publish', 'after');
    await once(alice, 'news');
    expect(news).toEqual(['before', 'missed', 'after']); // room membership restored
  });

  it('a recovered session authenticated as another principal gets neither the missed packets nor the rooms', async () => {
    const c = connect(t.url, { reconnection: true, reconnectionDelay: 50 });
    const bob = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    await authenticate(bob, { token: 'bob-token' });
    const news = record<string>(c, 'news');
    const disconnected = once(c, 'disconnect');
    (c.io as any).engine.close();
    await disconnected;
    bob.emit('publish', 'for-alice-only');
    await once(bob, 'news');
    await once(c, 'connect', 5000);
    expect(c.recovered).toBe(true);
    await authenticate(c, { token: 'bob-token' });
    const witness = once(bob, 'news');
    bob.emit('publish', 'later');
    await expectMissed(c, news, witness);
  });

  it('a recovered socket that never authenticates is timed out and leaves nothing behind', async () => {
    await t.close();
    t = await createApp({ ...tokenAuth, timeout: 400 }, { providers: [RecoveringGateway] });
    const c = connect(t.url, { reconnection: true, reconnectionDelay: 50 });
    await authenticate(c, { token: 'alice-token' });
    await dropAndRecover(c);
    expect(c.recovered).toBe(true);
    expect((await once(c, 'unauthorized', 3000)).code).toBe('timeout');
    await sleep(100);
    expect(t.auth.resourceCounts()).toMatchObject({ sessions: 0, heldSockets: 0, recoveries: 0 });
  });
});
