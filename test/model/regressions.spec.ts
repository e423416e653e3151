/**
 * Counterexamples the model-based test found, shrunk and written out by hand.
 * Each name states the behaviour; the comment gives the shrunk command sequence.
 */
import { ConnectedSocket, type OnGatewayAuthenticated, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Namespace, Server, Socket } from 'socket.io';
import { Authenticated, type AuthPrincipal, type AuthSocketModuleOptions } from '../../lib/index.js';
import { authenticate, closeClients, connect, connected, createApp, once, sleep, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

/** Hook runs, as `${namespace} ${principal}`, per server socket id. */
const hooks = new Map<string, string[]>();
let hookDelayMs = 0;

async function joinTeam(client: Socket, principal: AuthPrincipal): Promise<void> {
  hooks.set(client.id, [...(hooks.get(client.id) ?? []), `${client.nsp.name} ${principal.id}`]);
  if (hookDelayMs) await sleep(hookDelayMs);
  await client.join(`team:${principal.id}`);
}

@WebSocketGateway()
class RootGateway implements OnGatewayAuthenticated {
  @WebSocketServer() server!: Server;

  handleAuthenticated(client: Socket, principal: AuthPrincipal): Promise<void> {
    return joinTeam(client, principal);
  }

  @Authenticated()
  @SubscribeMessage('guarded')
  guarded(@ConnectedSocket() client: Socket): string {
    return client.id;
  }
}

@WebSocketGateway({ namespace: '/b' })
class BGateway implements OnGatewayAuthenticated {
  handleAuthenticated(client: Socket, principal: AuthPrincipal): Promise<void> {
    return joinTeam(client, principal);
  }
}

describe('model-based test counterexamples', () => {
  let t: TestApp;
  let root: Namespace;
  const serverSocket = (nsp: Namespace, id: string): Socket => nsp.sockets.get(id)!;

  async function start(options: Partial<AuthSocketModuleOptions> = {}): Promise<void> {
    t = await createApp({ ...tokenAuth, timeout: 10_000, ...options }, { providers: [RootGateway, BGateway] });
    root = t.app.get(RootGateway).server.of('/');
  }

  /** Every event `client` receives, in order, as `event` or `event:payload` for broadcasts. */
  function events(client: ReturnType<typeof connect>): string[] {
    const seen: string[] = [];
    client.onAny((event: string, payload: unknown) => seen.push(event === 'bc' ? `bc:${payload}` : event));
    return seen;
  }

  beforeEach(() => {
    hooks.clear();
    hookDelayMs = 0;
  });
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  // Shrunk: ["disconnect", expire(0, /, alice)] (a broadcast goes out on the tick after `unauthorized`).
  it("a socket told unauthorized {code:'expired'} gets no broadcast sent right after it", async () => {
    await start({ onExpiry: 'disconnect' });
    const bob = connect(t.url);
    await authenticate(bob, { token: 'bob-token' });
    const alice = connect(t.url);
    await connected(alice);
    const seen = events(alice);
    serverSocket(root, alice.id!).onAnyOutgoing((event) => {
      if (event === 'unauthorized') process.nextTick(() => root.emit('bc', 'after-unauthorized'));
    });

    await authenticate(alice, { token: 'alice-token', expiresAt: Date.now() + 150 });
    expect(await once(bob, 'bc')).toBe('after-unauthorized'); // the broadcast went out to authenticated sockets
    await once(alice, 'disconnect');
    expect(seen).toEqual(['authenticated', 'unauthorized']);
  });
});
