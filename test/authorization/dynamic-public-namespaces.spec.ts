/**
 * RegExp gateways: Nest hands the module socket.io's parent namespace (named
 * like "/_0"), so publicness is decided for each child namespace, by the
 * gateway's `@PublicNamespace()` or by a `publicNamespaces` entry matching the child's
 * name. A child that matches neither stays gated.
 */
import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Namespace } from 'socket.io';
import { PublicNamespace } from '../../lib/index.js';
import { GatewayHooks } from '../../lib/nest/gateway-hooks.js';
import { closeClients, connect, connected, createApp, once, record, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@PublicNamespace()
@WebSocketGateway({ namespace: /^\/scores-\d+$/ })
class ScoresGateway {
  @WebSocketServer() nsp!: Namespace; // the parent: emitting reaches every child
}

@WebSocketGateway({ namespace: /^\/feed-\d+$/ })
class FeedGateway {
  @WebSocketServer() nsp!: Namespace;
}

@WebSocketGateway({ namespace: /^\/room-\d+$/ })
class RoomGateway {
  @WebSocketServer() nsp!: Namespace;
}

describe('public RegExp namespaces', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createApp(
      { ...tokenAuth, timeout: 300, publicNamespaces: ['/lobby', /^\/feed-\d+$/] },
      { providers: [ScoresGateway, FeedGateway, RoomGateway] },
    );
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('children of a @PublicNamespace() RegExp gateway and of a listed RegExp get broadcasts and are not timed out; others are gated', async () => {
    const scores = connect(`${t.url}/scores-7`);
    const feed = connect(`${t.url}/feed-12`);
    const room = connect(`${t.url}/room-3`); // control: a gated RegExp child
    await Promise.all([connected(scores), connected(feed), connected(room)]);
    const roomSeen = record(room, 'news');
    const got = Promise.all([once(scores, 'news'), once(feed, 'news')]);
    t.app.get(ScoresGateway).nsp.emit('news', 'scores');
    t.app.get(FeedGateway).nsp.emit('news', 'feed');
    t.app.get(RoomGateway).nsp.emit('news', 'room');
    expect(await got).toEqual(['scores', 'feed']);
    expect((await once(room, 'unauthorized', 3000)).code).toBe('timeout'); // the gated child is timed out
    expect(roomSeen).toEqual([]);
    await once(room, 'disconnect').catch(() => undefined);
    expect(scores.connected && feed.connected).toBe(true); // past the same timeout
    expect(t.auth.stats().pending).toBe(0);
  });

  it("a RegExp gateway's child is gated from its creation, before its first socket", () => {
    const before = t.auth.resourceCounts().childNamespaces;
    t.app.get(RoomGateway).nsp.server.of('/room-9'); // socket.io creates the child of the matching parent
    expect(t.auth.resourceCounts().childNamespaces).toBe(before + 1);
  });

  it('looking up gateways for the parent namespace itself fails loudly instead of finding none', () => {
    const parent = t.app.get(ScoresGateway).nsp;
    expect(() => t.app.get(GatewayHooks).isPublic(parent)).toThrow(/parent namespace "\/_\d+" of a RegExp gateway/);
    expect(t.app.get(GatewayHooks).isPublic(parent.server.of('/scores-1'))).toBe(true); // control: its child
  });
});
