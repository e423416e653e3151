import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { Authenticated, AuthUser, type AuthPrincipal, type OnGatewayAuthenticated } from '../../lib/index.js';
import {
  authenticate,
  captureLogs,
  closeClients,
  connect,
  connected,
  createApp,
  once,
  record,
  sleep,
  type TestApp,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

const order: string[] = [];

@WebSocketGateway()
class EchoGateway implements OnGatewayAuthenticated {
  @WebSocketServer() server!: Server;

  async handleAuthenticated(client: Socket, principal: AuthPrincipal): Promise<void> {
    await client.join(`user-room:${principal.id}`);
    // Sent from the hook: must arrive before `authenticated`.
    this.server.to(`user-room:${principal.id}`).emit('welcome', principal.id);
  }

  @Authenticated()
  @SubscribeMessage('echo')
  echo(@AuthUser() user: AuthPrincipal, @MessageBody() text: string): string {
    order.push(text);
    return `${user.id}:${text}`;
  }

  @SubscribeMessage('open')
  open(@ConnectedSocket() client: Socket): string {
    return `open:${client.id ? 'yes' : 'no'}`;
  }
}

describe('authentication outcomes on the wire', () => {
  let t: TestApp;
  beforeEach(async () => {
    order.length = 0;
    t = await createApp({ ...tokenAuth, timeout: 400 }, { providers: [EchoGateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('a socket that never authenticates is told timeout, then disconnected by the server', async () => {
    const c = connect(t.url);
    const events: string[] = [];
    c.on('unauthorized', (e) => events.push(`unauthorized:${e.code}`));
    c.on('disconnect', (reason) => events.push(`disconnect:${reason}`));
    await once(c, 'disconnect', 3000);
    expect(events).toEqual(['unauthorized:timeout', 'disconnect:io server disconnect']);
  });

  it('an authenticated socket is not timed out', async () => {
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    await sleep(600);
    expect(c.connected).toBe(true);
  });

  it('bad credentials get invalid_credentials on the ack and the event, then a disconnect', async () => {
    const c = connect(t.url);
    const unauthorized = once(c, 'unauthorized');
    const disconnected = once(c, 'disconnect');
    const ack = await authenticate(c, { token: 'nope' });
    expect(ack).toEqual({ ok: false, error: { code: 'invalid_credentials', message: 'Invalid credentials' } });
    expect(await unauthorized).toEqual({ code: 'invalid_credentials', message: 'Invalid credentials' });
    expect(await disconnected).toBe('io server disconnect');
  });

  it('a strategy throwing a plain Error yields server_error with a generic message, and neither its message nor the token reaches the log', async () => {
    const logs = captureLogs();
    try {
      const c = connect(t.url);
      const ack = await authenticate(c, { token: 'alice-token', throw: 'plain' });
      expect(ack.error).toEqual({ code: 'server_error', message: 'Authentication failed on the server' });
      expect(JSON.stringify(ack)).not.toContain('database exploded');
    } finally {
      logs.restore();
    }
    const text = logs.lines.join('\n');
    expect(text).toContain('strategy threw'); // the capture saw the failure being logged
    // The strategy's message embeds the token, so neither it nor the token itself may reach the log.
    expect(text).not.toContain('database exploded near alice-token');
    expect(text).not.toContain('alice-token');
  });

  it('an AuthenticationError message reaches the client as is', async () => {
    const c = connect(t.url);
    const ack = await authenticate(c, { token: 'alice-token', throw: 'auth' });
    expect(ack.error).toEqual({ code: 'invalid_credentials', message: 'Account locked' });
  });

  it('JSON-string credentials are accepted, and the client gets only the public user', async () => {
    const c = connect(t.url);
    const authenticated = once(c, 'authenticated');
    const ack = await authenticate(c, JSON.stringify({ token: 'alice-token' }));
    expect(ack).toEqual({ ok: true, sessionId: expect.any(String), user: { id: 'alice', name: 'Alice' } });
    expect(await authenticated).toEqual({ sessionId: expect.any(String), user: { id: 'alice', name: 'Alice' } });
  });

  it('messages pipelined behind an in-flight authentication wait, then run in order', async () => {
    const c = connect(t.url);
    await connected(c);
    c.emit('authentication', { token: 'alice-token', delayMs: 150 });
    const replies = await Promise.all(['one', 'two', 'three'].map((m) => c.timeout(3000).emitWithAck('echo', m)));
    expect(replies).toEqual(['alice:one', 'alice:two', 'alice:three']);
    expect(order).toEqual(['one', 'two', 'three']);
  });

  it('a message pipelined behind a failing authentication is refused', async () => {
    const c = connect(t.url);
    await connected(c);
    c.emit('authentication', { token: 'nope', delayMs: 100 });
    const reply = await c.timeout(3000).emitWithAck('echo', 'x');
    expect(reply).toEqual({ ok: false, error: { code: 'unauthenticated', message: 'Not authenticated' } });
    expect(order).toEqual([]);
  });

  it('a guarded handler refuses a pending socket on the ack and with Nest exception event', async () => {
    const c = connect(t.url);
    await connected(c);
    const exception = once(c, 'exception');
    const reply = await c.timeout(3000).emitWithAck('echo', 'x');
    expect(reply).toEqual({ ok: false, error: { code: 'unauthenticated', message: 'Not authenticated' } });
    expect(await exception).toMatchObject({ status: 'error', code: 'unauthenticated' });
  });

  it('a guarded handler refuses a pending socket without ack through the exception event only', async () => {
    const c = connect(t.url);
    await connected(c);
    const exception = once(c, 'exception');
    c.emit('echo', 'no-ack');
    expect(await exception).toEqual({
      status: 'error',
      code: 'unauthenticated',
      message: 'Not authenticated',
      cause: { pattern: 'echo', data: 'no-ack' },
    });
    expect(order).toEqual([]);
  });

  it('an unmarked handler runs for a pending socket', async () => {
    const c = connect(t.url);
    await connected(c);
    expect(await c.timeout(3000).emitWithAck('open')).toBe('open:yes');
  });

  it('handleAuthenticated runs before the client hears authenticated', async () => {
    const c = connect(t.url);
    const seen: string[] = [];
    c.on('welcome', () => seen.push('welcome'));
    c.on('authenticated', () => seen.push('authenticated'));
    await authenticate(c, { token: 'alice-token' });
    await sleep(20);
    expect(seen).toEqual(['welcome', 'authenticated']);
  });

  it('a socketio-auth style client (no ack, plain events) works unchanged', async () => {
    const c = connect(t.url);
    c.on('connect', () => c.emit('authentication', { token: 'bob-token' }));
    expect(await once(c, 'authenticated')).toEqual({ sessionId: expect.any(String), user: { id: 'bob', name: 'Bob' } });
    const bad = connect(t.url);
    bad.on('connect', () => bad.emit('authentication', { token: 'wrong' }));
    expect((await once(bad, 'unauthorized')).code).toBe('invalid_credentials');
  });

  it('the service and socket.data show the principal after authentication', async () => {
    const c = connect(t.url);
    await connected(c);
    const server = t.app.get(EchoGateway).server;
    const socket = server.of('/').sockets.get(c.id!)!;
    expect(t.auth.isAuthenticated(socket)).toBe(false);
    expect(socket.data.auth).toEqual({ state: 'pending' });
    await authenticate(c, { token: 'alice-token' });
    expect(t.auth.isAuthenticated(socket)).toBe(true);
    expect(t.auth.getPrincipal(socket)?.id).toBe('alice');
    expect(socket.data.auth).toMatchObject({
      state: 'authenticated',
      principalId: 'alice',
      authenticatedAt: expect.any(Number),
    });
    const [fetched] = await server.fetchSockets();
    expect(fetched.data.auth.principalId).toBe('alice');
  });
});

describe('timeout disabled', () => {
  it.each([0, false] as const)('timeout: %p never disconnects a pending socket', async (timeout) => {
    const t = await createApp({ ...tokenAuth, timeout }, { providers: [EchoGateway] });
    try {
      const c = connect(t.url);
      await connected(c);
      const gone = record(c, 'unauthorized');
      await sleep(1200);
      expect(c.connected).toBe(true);
      expect(gone).toEqual([]);
    } finally {
      closeClients();
      await t.close();
    }
  });
});
