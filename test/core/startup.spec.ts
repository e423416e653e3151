/**
 * What the module refuses at start-up, with a message that says why, and how
 * it finds the gateways a socket belongs to.
 */
import type { INestApplication, WebSocketAdapter } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { AuthSocketModule, type OnGatewayAuthenticated } from '../../lib/index.js';
import { authenticate, closeClients, connect, createApp, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

describe('start-up checks', () => {
  it.each(['disconnect', 'connect', 'connect_error', 'disconnecting', 'newListener'])(
    'an event name socket.io reserves (%s) is refused',
    (name) => {
      expect(() => AuthSocketModule.forRoot({ ...tokenAuth, events: { unauthorized: name } })).toThrow(
        `AuthSocketModule: option "events.unauthorized" must be a name socket.io does not reserve (not "${name}")`,
      );
    },
  );

  it('two wire events with one name are refused', () => {
    expect(() =>
      AuthSocketModule.forRoot({ ...tokenAuth, events: { authenticated: 'auth', authentication: 'auth' } }),
    ).toThrow('AuthSocketModule: option "events" must be distinct names');
  });

  it('a WebSocket adapter that is not socket.io is refused with a clear message', async () => {
    @WebSocketGateway()
    class AnyGateway {}
    // The shape of @nestjs/platform-ws's adapter: a server without namespaces or middleware.
    const wsLike: WebSocketAdapter = {
      create: () => ({ on: () => undefined, close: () => undefined }),
      bindClientConnect: () => undefined,
      bindMessageHandlers: () => undefined,
      close: () => undefined,
    };
    await expect(
      createApp(
        { ...tokenAuth },
        { providers: [AnyGateway] },
        (app: INestApplication) => void app.useWebSocketAdapter(wsLike),
      ),
    ).rejects.toThrow('AuthSocketModule: supports socket.io gateways only');
  });

  it('a strategy that authenticates from the request refuses to start without allowedOrigins', async () => {
    const strategy = { source: 'request' as const, authenticate: async () => null };
    @WebSocketGateway()
    class AnyGateway {}
    await expect(createApp({ strategy }, { providers: [AnyGateway] })).rejects.toThrow(
      /cross-site WebSocket hijacking\)\. Set `allowedOrigins`/,
    );
  });
});

const hooked: string[] = [];

@WebSocketGateway()
class DefaultPathGateway implements OnGatewayAuthenticated {
  handleAuthenticated(client: Socket): void {
    hooked.push(`default:${client.id}`);
  }
}

@WebSocketGateway({ path: '/alt' })
class AltPathGateway implements OnGatewayAuthenticated {
  handleAuthenticated(client: Socket): void {
    hooked.push(`alt:${client.id}`);
  }
}

describe('gateway hooks follow the server path', () => {
  let t: TestApp;
  beforeEach(async () => {
    hooked.length = 0;
    t = await createApp({ ...tokenAuth, timeout: 5000 }, { providers: [DefaultPathGateway, AltPathGateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it("only the gateways on the socket's own path run handleAuthenticated", async () => {
    const onDefault = connect(t.url);
    const onAlt = connect(t.url, { path: '/alt' });
    await authenticate(onDefault, { token: 'alice-token' });
    await authenticate(onAlt, { token: 'bob-token' });
    expect(hooked.sort()).toEqual([`alt:${onAlt.id}`, `default:${onDefault.id}`].sort());
  });
});
