/**
 * Regressions from the state-machine review: rooms and data follow the
 * principal they were joined for, never the socket.
 */
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { type AuthPrincipal, type OnGatewayAuthenticated } from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  createApp,
  once,
  record,
  sleep,
  type TestApp,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class RoomsGateway implements OnGatewayAuthenticated {
  @WebSocketServer() server!: Server;

  async handleAuthenticated(client: Socket, principal: AuthPrincipal): Promise<void> {
    await client.join(`user:${principal.id}`);
  }

  @SubscribeMessage('join')
  join(@ConnectedSocket() client: Socket, @MessageBody() room: string): void {
    void client.join(room);
  }
}

const serverSocket = (t: TestApp, id: string): Socket => t.app.get(RoomsGateway).server.of('/').sockets.get(id)!;

describe('rooms follow the principal', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it("a socket deauthenticated as alice and authenticated as bob is in none of alice's rooms", async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000 }, { providers: [RoomsGateway] });
    const server = t.app.get(RoomsGateway).server;
    const other = connect(t.url);
    await authenticate(other, { token: 'alice-token' }); // control: a real alice socket
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    c.emit('join', 'alice-private');
    await sleep(50);
    expect(t.auth.deauthenticate(serverSocket(t, c.id!))).toBe(true);
    const reply = await authenticate(c, { token: 'bob-token' });
    expect(reply.ok).toBe(true);

    const seen = record<string>(c, 'msg');
    server.to('user:alice').emit('msg', 'for-alice');
    server.to('alice-private').emit('msg', 'alice-private');
    expect(await once(other, 'msg')).toBe('for-alice'); // it was sent
    server.to('user:bob').emit('msg', 'for-bob');
    expect(await once(c, 'msg')).toBe('for-bob'); // bob's own room works, and nothing came before it
    expect(seen).toEqual(['for-bob']);
    expect([...serverSocket(t, c.id!).rooms].sort()).toEqual(
      [c.id, 'nestjs-socket-auth:principal:bob', 'user:bob'].sort(),
    );
  });

  it('the same principal authenticating again gets its rooms back', async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000 }, { providers: [RoomsGateway] });
    const server = t.app.get(RoomsGateway).server;
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    c.emit('join', 'alice-private');
    await sleep(50);
    t.auth.deauthenticate(serverSocket(t, c.id!));
    await authenticate(c, { token: 'alice-token' });
    server.to('alice-private').emit('msg', 'again');
    expect(await once(c, 'msg')).toBe('again');
  });

  it("after an expiry with onExpiry 'reauthenticate', authenticating as someone else is identity_changed", async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000, onExpiry: 'reauthenticate' }, { providers: [RoomsGateway] });
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token', expiresAt: Date.now() + 200 });
    const expired = await once(c, 'unauthorized');
    expect(expired).toMatchObject({ code: 'expired', reauthenticate: true });
    const reply = await authenticate(c, { token: 'bob-token' });
    expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: 'identity_changed' }) });
  });

  it("after an expiry with onExpiry 'reauthenticate', the same principal may renew", async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000, onExpiry: 'reauthenticate' }, { providers: [RoomsGateway] });
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token', expiresAt: Date.now() + 200 });
    await once(c, 'unauthorized');
    expect((await authenticate(c, { token: 'alice-token' })).ok).toBe(true);
  });
});

describe('socket.data.auth', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('carries the id, the public view and timestamps, never the whole principal; getPrincipal has it all', async () => {
    const strategy = {
      authenticate: async () => ({ id: 'carol', passwordHash: 'x'.repeat(40), public: { id: 'carol', name: 'Carol' } }),
    };
    t = await createApp({ strategy, timeout: 5000 }, { providers: [RoomsGateway] });
    const c = connect(t.url);
    await authenticate(c, { token: 'anything' });
    const [remote] = await t.app.get(RoomsGateway).server.fetchSockets();
    expect(remote.data.auth).toEqual({
      state: 'authenticated',
      sessionId: expect.any(String),
      principalId: 'carol',
      user: { id: 'carol', name: 'Carol' },
      authenticatedAt: expect.any(Number),
    });
    expect(JSON.stringify(remote.data)).not.toContain('passwordHash');
    expect(t.auth.getPrincipal(serverSocket(t, c.id!))).toMatchObject({ passwordHash: 'x'.repeat(40) });
  });

  it('expiresAt: null means no expiry', async () => {
    const strategy = { authenticate: async () => ({ id: 'dave', expiresAt: null as unknown as number }) };
    t = await createApp({ strategy, timeout: 5000 }, { providers: [RoomsGateway] });
    const c = connect(t.url);
    const reply = await authenticate(c, { token: 'anything' });
    expect(reply.ok).toBe(true);
    expect(serverSocket(t, c.id!).data.auth.expiresAt).toBeUndefined();
    await sleep(100);
    expect(c.connected).toBe(true);
    expect(t.auth.isAuthenticated(serverSocket(t, c.id!))).toBe(true);
  });
});
