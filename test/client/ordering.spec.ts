/**
 * The client helper on the paths where order matters: messages the app emits
 * before the connection opens, and namespaces that join an authenticated
 * connection.
 */
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { io, Manager } from 'socket.io-client';
import type { Socket } from 'socket.io';
import { authenticate } from '../../lib/client/index.js';
import { AUTH_STRATEGY, Authenticated } from '../../lib/index.js';
import { closeClients, createApp, sleep, type TestApp } from '../support/harness.js';
import { type TokenStrategy, tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class RootGateway {
  @Authenticated()
  @SubscribeMessage('guarded')
  guarded(@ConnectedSocket() client: Socket, @MessageBody() text: string): string {
    return `${client.data.auth.principalId}:${text}`;
  }
}

@WebSocketGateway({ namespace: '/b' })
class SecondGateway {
  @Authenticated()
  @SubscribeMessage('guarded')
  guarded(@ConnectedSocket() client: Socket): string {
    return `b:${client.data.auth.principalId}`;
  }
}

describe('client helper ordering', () => {
  let t: TestApp;
  const managers: Manager[] = [];
  beforeEach(async () => {
    t = await createApp({ ...tokenAuth, timeout: 3000 }, { providers: [RootGateway, SecondGateway] });
  });
  afterEach(async () => {
    managers.splice(0).forEach((m) => m.engine?.close());
    closeClients();
    await t.close();
  });

  it('a guarded message emitted right after authenticate(), before the connection opened, runs after the credentials', async () => {
    const socket = io(t.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    managers.push(socket.io);
    const session = authenticate(socket, { token: 'alice-token' });
    expect(socket.connected).toBe(false);
    const reply = socket.timeout(3000).emitWithAck('guarded', 'early');
    await session;
    expect(await reply).toBe('alice:early');
    expect(t.app.get<TokenStrategy>(AUTH_STRATEGY).calls).toBe(1);
  });

  it("a namespace joining an authenticated connection is told authenticated without sending credentials (scope 'connection')", async () => {
    const manager = new Manager(t.url, { transports: ['websocket'], reconnection: false });
    managers.push(manager);
    const root = manager.socket('/');
    await authenticate(root, { token: 'alice-token' });
    const b = manager.socket('/b');
    const sent: unknown[] = [];
    b.onAnyOutgoing((event) => sent.push(event));
    const user = await authenticate(b, { token: 'alice-token' });
    expect(user).toEqual({ id: 'alice', name: 'Alice' });
    expect(sent).toEqual([]);
    expect(t.app.get<TokenStrategy>(AUTH_STRATEGY).calls).toBe(1);
    expect(await b.timeout(3000).emitWithAck('guarded', {})).toBe('b:alice');
  });

  it("with scope 'namespace' the helper sends credentials on every namespace", async () => {
    await t.close();
    t = await createApp(
      { ...tokenAuth, timeout: 3000, scope: 'namespace' },
      { providers: [RootGateway, SecondGateway] },
    );
    const manager = new Manager(t.url, { transports: ['websocket'], reconnection: false });
    managers.push(manager);
    await authenticate(manager.socket('/'), { token: 'alice-token' }, { scope: 'namespace' });
    const b = manager.socket('/b');
    await authenticate(b, { token: 'bob-token' }, { scope: 'namespace' });
    await sleep(20);
    expect(await b.timeout(3000).emitWithAck('guarded', {})).toBe('b:bob');
  });
});
