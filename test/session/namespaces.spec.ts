/**
 * Regressions from the state-machine review: namespaces that join a
 * connection while it authenticates, or after, end in the same state as the
 * rest of the connection, with their hooks run exactly once.
 */
import { IoAdapter } from '@nestjs/platform-socket.io';
import { ConnectedSocket, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { Namespace, Server, ServerOptions, Socket } from 'socket.io';
import { Authenticated, type OnGatewayAuthenticated } from '../../lib/index.js';
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

const hookRuns: string[] = [];
let hookDelayMs = 0;

@WebSocketGateway()
class RootGateway implements OnGatewayAuthenticated {
  @WebSocketServer() server!: Server;
  async handleAuthenticated(client: Socket): Promise<void> {
    hookRuns.push(`${client.nsp.name}:${client.id}`);
    if (hookDelayMs) await new Promise((r) => setTimeout(r, hookDelayMs));
  }
}

@WebSocketGateway({ namespace: '/b' })
class SecondGateway implements OnGatewayAuthenticated {
  @WebSocketServer() nsp!: Namespace;
  handleAuthenticated(client: Socket): void {
    hookRuns.push(`${client.nsp.name}:${client.id}`);
  }

  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() client: Socket): string {
    return client.data.auth.principalId;
  }
}

describe("scope 'connection': namespaces joining a connection", () => {
  let t: TestApp;
  beforeEach(async () => {
    hookRuns.length = 0;
    hookDelayMs = 0;
    t = await createApp(
      { ...tokenAuth, timeout: 5000, scope: 'connection' },
      { providers: [RootGateway, SecondGateway] },
    );
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  async function expectReleasedOnB(b: ClientSocket): Promise<void> {
    const nsp = t.app.get(SecondGateway).nsp;
    const server = nsp.sockets.get(b.id!)!;
    expect(t.auth.isAuthenticated(server)).toBe(true);
    expect(server.data.auth).toMatchObject({ state: 'authenticated', principalId: 'alice' });
    nsp.emit('b-news', 'hello');
    expect(await once(b, 'b-news')).toBe('hello');
    expect(hookRuns.filter((r) => r === `/b:${server.id}`)).toHaveLength(1);
  }

  it('a namespace that connects while the strategy runs ends authenticated, released and hooked once', async () => {
    const root = connect(t.url);
    await connected(root);
    const reply = root.timeout(3000).emitWithAck('authentication', { token: 'alice-token', delayMs: 300 });
    await sleep(50);
    const b = connectNamespace(root, '/b');
    const told = once(b, 'authenticated');
    await connected(b);
    expect((await reply).ok).toBe(true);
    expect(await told).toEqual({ sessionId: expect.any(String), user: { id: 'alice', name: 'Alice' } });
    await expectReleasedOnB(b);
  });

  it('a namespace that connects while handleAuthenticated runs ends authenticated, released and hooked once', async () => {
    hookDelayMs = 300;
    const root = connect(t.url);
    await connected(root);
    const reply = root.timeout(3000).emitWithAck('authentication', { token: 'alice-token' });
    await sleep(100);
    const b = connectNamespace(root, '/b');
    const told = once(b, 'authenticated');
    await connected(b);
    expect((await reply).ok).toBe(true);
    await told;
    await expectReleasedOnB(b);
  });

  it('a namespace that joins an authenticated connection runs its hook, then hears authenticated, then may talk', async () => {
    const root = connect(t.url);
    await connected(root);
    expect((await root.timeout(3000).emitWithAck('authentication', { token: 'alice-token' })).ok).toBe(true);
    const b = connectNamespace(root, '/b');
    const seen = record(b, 'authenticated');
    await once(b, 'authenticated');
    expect(seen).toEqual([{ sessionId: expect.any(String), user: { id: 'alice', name: 'Alice' } }]);
    expect(await b.timeout(3000).emitWithAck('whoami')).toBe('alice');
    await expectReleasedOnB(b);
  });
});

@WebSocketGateway({ namespace: /^\/room-\d+$/ })
class DynamicGateway {}

describe('dynamic (regex) namespaces', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('revoke tells a socket on a dynamic namespace once', async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000, scope: 'namespace' }, { providers: [DynamicGateway] });
    const c = connect(`${t.url}/room-1`);
    await authenticate(c, { token: 'alice-token' });
    const told = record(c, 'unauthorized');
    const gone = once(c, 'disconnect');
    const result = await t.auth.revoke('alice');
    await gone;
    expect(told).toEqual([{ code: 'revoked', message: 'Session revoked' }]);
    expect(result).toEqual({ disconnected: 1, inGrace: 0, complete: true });
  });

  it('with cleanupEmptyChildNamespaces, a removed child namespace is forgotten', async () => {
    t = await createApp({ ...tokenAuth, timeout: 5000, scope: 'namespace' }, { providers: [DynamicGateway] }, (app) => {
      app.useWebSocketAdapter(
        new (class extends IoAdapter {
          createIOServer(port: number, options?: ServerOptions) {
            return super.createIOServer(port, { ...options, cleanupEmptyChildNamespaces: true } as ServerOptions);
          }
        })(app),
      );
    });
    const c = connect(`${t.url}/room-7`);
    await authenticate(c, { token: 'alice-token' });
    expect(t.auth.resourceCounts().childNamespaces).toBe(1);
    c.disconnect();
    await sleep(100);
    expect(t.auth.resourceCounts().childNamespaces).toBe(0);
  });
});
