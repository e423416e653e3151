/**
 * Public namespaces beside gated ones: anyone receives their broadcasts, they
 * are never timed out or counted as pending, and their sockets may still
 * authenticate to use `@Authenticated()` handlers there.
 */
import { ConnectedSocket, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Namespace, Server, Socket } from 'socket.io';
import { Authenticated, AuthSocketModule, PublicNamespace } from '../../lib/index.js';
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

@PublicNamespace()
@WebSocketGateway({ namespace: '/lobby' })
class LobbyGateway {
  @WebSocketServer() nsp!: Namespace;

  @Authenticated()
  @SubscribeMessage('post')
  post(@ConnectedSocket() client: Socket): string {
    this.nsp.emit('posted', client.data.auth.principalId);
    return 'posted';
  }
}

@WebSocketGateway()
class GatedGateway {
  @WebSocketServer() server!: Server;
}

describe('public namespaces', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  async function app(scope: 'connection' | 'namespace' = 'connection'): Promise<void> {
    t = await createApp({ ...tokenAuth, timeout: 500, scope }, { providers: [LobbyGateway, GatedGateway] });
  }

  it('an anonymous socket on a public namespace receives its broadcasts; the same on a gated one does not', async () => {
    await app();
    const anonymous = connect(`${t.url}/lobby`);
    const pending = connect(t.url);
    const member = connect(t.url);
    await Promise.all([connected(anonymous), connected(pending), authenticate(member, { token: 'alice-token' })]);
    t.app.get(LobbyGateway).nsp.emit('score', '1-0');
    expect(await once(anonymous, 'score')).toBe('1-0');
    const seen = record(pending, 'score');
    t.app.get(GatedGateway).server.emit('score', 'gated');
    expect(await once(member, 'score')).toBe('gated');
    await sleep(50);
    expect(seen).toEqual([]);
    expect(pending.connected).toBe(true);
  });

  it('is never timed out, counted as pending, or closed as idle; a gated socket is', async () => {
    await app();
    const anonymous = connect(`${t.url}/lobby`);
    const gated = connect(t.url);
    const told = record(anonymous, 'unauthorized');
    await Promise.all([connected(anonymous), connected(gated)]);
    expect(t.auth.stats().pending).toBe(1); // the gated one only
    const timedOut = await once<{ code: string }>(gated, 'unauthorized', 2000);
    expect(timedOut.code).toBe('timeout');
    await sleep(500 + 1000); // past the timeout and the idle close
    expect(anonymous.connected).toBe(true);
    expect(told).toEqual([]);
  });

  it('an anonymous socket is refused by @Authenticated() handlers there, and may authenticate to use them', async () => {
    await app();
    const c = connect(`${t.url}/lobby`);
    await connected(c);
    expect(await c.timeout(2000).emitWithAck('post', {})).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'unauthenticated' }),
    });
    expect((await authenticate(c, { token: 'bob-token' })).ok).toBe(true);
    const posted = once(c, 'posted');
    expect(await c.timeout(2000).emitWithAck('post', {})).toBe('posted');
    expect(await posted).toBe('bob');
  });

  it('a failed attempt on a public namespace leaves the socket connected and anonymous', async () => {
    await app();
    const c = connect(`${t.url}/lobby`);
    await connected(c);
    const reply = await authenticate(c, { token: 'nope' });
    expect(reply).toEqual({ ok: false, error: expect.objectContaining({ code: 'invalid_credentials' }) });
    await sleep(100);
    expect(c.connected).toBe(true);
    t.app.get(LobbyGateway).nsp.emit('score', 'still here');
    expect(await once(c, 'score')).toBe('still here');
    expect((await authenticate(c, { token: 'bob-token' })).ok).toBe(true);
  });

  it("scope 'connection': authenticating on the gated namespace authenticates the public one too", async () => {
    await app('connection');
    const root = connect(t.url);
    const lobby = connectNamespace(root, '/lobby');
    await Promise.all([connected(root), connected(lobby)]);
    expect((await root.timeout(2000).emitWithAck('authentication', { token: 'alice-token' })).ok).toBe(true);
    expect(await lobby.timeout(2000).emitWithAck('post', {})).toBe('posted');
  });

  it("scope 'connection': authenticating on the public namespace releases the gated one", async () => {
    await app('connection');
    const root = connect(t.url);
    const lobby = connectNamespace(root, '/lobby');
    await Promise.all([connected(root), connected(lobby)]);
    const released = once(root, 'authenticated');
    expect((await lobby.timeout(2000).emitWithAck('authentication', { token: 'alice-token' })).ok).toBe(true);
    await released;
    t.app.get(GatedGateway).server.emit('news', 'for members');
    expect(await once(root, 'news')).toBe('for members');
    await sleep(600); // past the timeout: the gated socket is authenticated, so it stays
    expect(root.connected).toBe(true);
  });
});

describe('declaring public namespaces', () => {
  afterEach(() => closeClients());

  it('two gateways on one namespace that disagree fail at start-up, naming both', async () => {
    @PublicNamespace()
    @WebSocketGateway({ namespace: '/mixed' })
    class OpenSide {}
    @WebSocketGateway({ namespace: '/mixed' })
    class ClosedSide {}
    await expect(createApp({ ...tokenAuth }, { providers: [OpenSide, ClosedSide] })).rejects.toThrow(
      /gateways OpenSide \(@PublicNamespace\(\)\) and ClosedSide \(gated\) serve the same namespace "\/mixed"/,
    );
  });

  it('the publicNamespaces option makes a namespace public without the decorator', async () => {
    @WebSocketGateway({ namespace: '/status' })
    class StatusGateway {
      @WebSocketServer() nsp!: Namespace;
    }
    const t = await createApp(
      { ...tokenAuth, timeout: 500, publicNamespaces: ['/status'] },
      { providers: [StatusGateway] },
    );
    try {
      const c = connect(`${t.url}/status`);
      await connected(c);
      t.app.get(StatusGateway).nsp.emit('online', 3);
      expect(await once(c, 'online')).toBe(3);
      await sleep(800);
      expect(c.connected).toBe(true);
    } finally {
      closeClients();
      await t.close();
    }
  });

  it('a bad publicNamespaces entry is refused at start-up', () => {
    expect(() => AuthSocketModule.forRoot({ ...tokenAuth, publicNamespaces: [42 as unknown as string] })).toThrow(
      'AuthSocketModule: option "publicNamespaces" must be an array of namespace names or RegExps',
    );
  });
});

describe('the deprecated @Public() alias', () => {
  it('is @PublicNamespace(), so gateways marked with it before 0.2 stay public', async () => {
    const { Public, PublicNamespace } = await import('../../lib/index.js');
    expect(Public).toBe(PublicNamespace);
  });
});
