import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Test } from '@nestjs/testing';
import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { AuthClientError, authenticate, type AuthState } from '../../lib/client/index.js';
import {
  AUTH_STRATEGY,
  AuthSocketModule,
  AuthUser,
  Authenticated,
  type AuthPrincipal,
  type AuthSocketModuleOptions,
} from '../../lib/index.js';
import { closeClients, connect, connected, once, sleep, until } from '../support/harness.js';
import { type TokenStrategy, tokenAuth } from '../support/strategies.js';

/** What the guarded handler ran for, in order. */
const ran: string[] = [];

@WebSocketGateway()
class Gateway {
  @Authenticated()
  @SubscribeMessage('guarded')
  guarded(@AuthUser() user: AuthPrincipal, @MessageBody() text: string): string {
    ran.push(text);
    return `${user.id}:${text}`;
  }
}

async function start(
  options: Partial<AuthSocketModuleOptions> = {},
  port = 0,
): Promise<{ app: INestApplication; url: string; port: number; strategy: TokenStrategy }> {
  const moduleRef = await Test.createTestingModule({
    imports: [AuthSocketModule.forRoot({ ...tokenAuth, timeout: 3000, ...options } as AuthSocketModuleOptions)],
    providers: [Gateway],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(port, '127.0.0.1');
  const actual = (app.getHttpServer().address() as AddressInfo).port;
  return { app, port: actual, url: `http://127.0.0.1:${actual}`, strategy: app.get(AUTH_STRATEGY) };
}

const reconnecting = { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 };

describe('client helper', () => {
  afterEach(() => closeClients());

  it('resolves with the user and sends credentials exactly once per connection, including after a server restart', async () => {
    let server = await start();
    const socket = connect(server.url, reconnecting);
    const auth = authenticate(socket, { token: 'alice-token' });
    let authenticatedEvents = 0;
    socket.on('authenticated', () => authenticatedEvents++);
    expect(await auth).toEqual({ id: 'alice', name: 'Alice' });
    expect(auth.state).toBe('authenticated');
    expect(server.strategy.calls).toBe(1);

    const port = server.port;
    const gone = once(socket, 'disconnect');
    await server.app.close();
    await gone;
    expect(auth.state).toBe('pending');
    server = await start({}, port);
    await once(socket, 'authenticated', 5000);
    await sleep(200);
    expect(server.strategy.calls).toBe(1); // once on the new connection, not once per listener
    expect(authenticatedEvents).toBe(2);
    expect(auth.state).toBe('authenticated');
    auth.close();
    await server.app.close();
  });

  it('calls the credentials function again for each reconnection, so refreshed tokens are used', async () => {
    let server = await start();
    const tokens = ['alice-token', 'bob-token'];
    let calls = 0;
    const socket = connect(server.url, reconnecting);
    const auth = authenticate(socket, async () => ({ token: tokens[calls++] }));
    expect(await auth).toMatchObject({ id: 'alice' });
    const port = server.port;
    await server.app.close();
    server = await start({}, port);
    await once(socket, 'authenticated', 5000);
    expect(calls).toBe(2);
    expect(auth.user).toMatchObject({ id: 'bob' });
    auth.close();
    await server.app.close();
  });

  it("re-authenticates with fresh credentials on 'expired' with reauthenticate, without dropping the connection", async () => {
    const server = await start({ onExpiry: 'reauthenticate' });
    try {
      const socket = connect(server.url);
      let fetched = 0;
      // refresh: false, so the helper lets the session expire instead of refreshing it ahead of time.
      const auth = authenticate(
        socket,
        () => ({ token: 'alice-token', expiresAt: Date.now() + (fetched++ === 0 ? 200 : 60_000) }),
        { refresh: false },
      );
      const states: AuthState[] = [];
      auth.onStateChange((s) => states.push(s));
      let disconnects = 0;
      socket.on('disconnect', () => disconnects++);
      await auth;
      // The second authentication, after expiry (it may already be done: the expiry is 200 ms away).
      await until(() => states.length >= 3, 5000, 'a second authentication');
      expect(fetched).toBe(2);
      expect(states).toEqual(['authenticated', 'pending', 'authenticated']);
      expect(disconnects).toBe(0);
      expect(auth.state).toBe('authenticated');
    } finally {
      await server.app.close();
    }
  });

  it('rejects with a typed error carrying the server code on a refusal', async () => {
    const server = await start();
    try {
      const auth = authenticate(connect(server.url), { token: 'wrong' });
      const error = await auth.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AuthClientError);
      expect(error).toMatchObject({ code: 'invalid_credentials', message: 'Invalid credentials' });
      expect(auth.state).toBe('failed');
    } finally {
      await server.app.close();
    }
  });

  it("rejects with 'too_many_pending' when the server refuses the connection at its limits", async () => {
    const server = await start({ maxPendingPerAddress: 1 });
    try {
      const hog = connect(server.url);
      await connected(hog);
      const auth = authenticate(connect(server.url), { token: 'alice-token' });
      await expect(auth).rejects.toMatchObject({ name: 'AuthClientError', code: 'too_many_pending' });
    } finally {
      await server.app.close();
    }
  });

  it("stops on 'revoked': reports it and does not authenticate again on a later reconnection", async () => {
    const server = await start();
    try {
      const socket = connect(server.url, reconnecting);
      const auth = authenticate(socket, { token: 'alice-token' });
      await auth;
      const failed = new Promise<void>((resolve) => auth.onStateChange((s) => s === 'failed' && resolve()));
      await server.app.get((await import('../../lib/index.js')).AuthSocketService).revoke('alice');
      await failed;
      expect(auth.error).toMatchObject({ code: 'revoked' });
      const callsBefore = server.strategy.calls;
      socket.connect();
      await connected(socket);
      await sleep(150);
      expect(server.strategy.calls).toBe(callsBefore);
    } finally {
      await server.app.close();
    }
  });

  it('messages emitted right after authenticate() on a connected socket are held by the server until the outcome', async () => {
    const server = await start();
    try {
      ran.length = 0;
      const socket = connect(server.url);
      await connected(socket);
      const heard: string[] = [];
      socket.on('authenticated', () => heard.push('authenticated'));
      // The strategy takes 200 ms: both messages reach the server while the attempt is in flight.
      const auth = authenticate(socket, { token: 'bob-token', delayMs: 200 });
      const replies = ['one', 'two'].map((text) =>
        socket
          .timeout(3000)
          .emitWithAck('guarded', text)
          .then((reply: unknown) => (heard.push(String(reply)), reply)),
      );
      expect(ran).toEqual([]);
      expect(await auth).toEqual({ id: 'bob', name: 'Bob' });
      expect(await Promise.all(replies)).toEqual(['bob:one', 'bob:two']);
      expect(heard).toEqual(['authenticated', 'bob:one', 'bob:two']);
      expect(ran).toEqual(['one', 'two']);

      // After a refusal, the held messages are refused and their handler never runs.
      const refusedSocket = connect(server.url);
      await connected(refusedSocket);
      const refused = authenticate(refusedSocket, { token: 'wrong', delayMs: 200 });
      const reply = refusedSocket.timeout(3000).emitWithAck('guarded', 'three');
      await expect(refused).rejects.toMatchObject({ code: 'invalid_credentials' });
      expect(await reply).toEqual({ ok: false, error: { code: 'unauthenticated', message: 'Not authenticated' } });
      expect(ran).toEqual(['one', 'two']);
    } finally {
      await server.app.close();
    }
  });
});
