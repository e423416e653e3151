/**
 * Connection-state recovery across nodes on @socket.io/redis-streams-adapter:
 * a session persisted by node 0 is restored by node 1 (through Redis), and
 * its rooms, data and missed packets still wait for re-authentication as the
 * same principal.
 */
import {
  MessageBody,
  type OnGatewayConnection,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  ConnectedSocket,
} from '@nestjs/websockets';
import { createServer, type Server as TcpServer, connect as tcpConnect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server, Socket } from 'socket.io';
import { Authenticated } from '../../lib/index.js';
import { authenticate, closeClients, connect, once, record, sleep } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';
import { type ClusterNode, startNode, uniqueKey } from './nodes.js';
import { describeWithRedis } from './redis.js';

@WebSocketGateway({ connectionStateRecovery: { maxDisconnectionDuration: 60_000 } })
class RecoveringGateway implements OnGatewayConnection {
  @WebSocketServer() server!: Server;

  handleConnection(client: Socket): void {
    if (!client.recovered) void client.join('news-room');
  }

  @Authenticated()
  @SubscribeMessage('publish')
  publish(@MessageBody() text: string): string {
    this.server.to('news-room').emit('news', text);
    return 'sent';
  }

  @Authenticated()
  @SubscribeMessage('note:set')
  setNote(@ConnectedSocket() client: Socket, @MessageBody() note: string): string {
    client.data.note = note;
    return 'kept';
  }

  @Authenticated()
  @SubscribeMessage('note:get')
  getNote(@ConnectedSocket() client: Socket): { note: unknown } {
    return { note: client.data.note ?? null };
  }
}

/** A TCP front whose backend can be switched: the "load balancer" that sends a reconnect elsewhere. */
async function switchingProxy(port: number): Promise<{ url: string; target: { port: number }; server: TcpServer }> {
  const target = { port };
  const server = createServer((downstream) => {
    const upstream = tcpConnect(target.port, '127.0.0.1');
    downstream.pipe(upstream).pipe(downstream);
    downstream.on('error', () => upstream.destroy());
    upstream.on('error', () => downstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, target, server };
}

const portOf = (node: ClusterNode): number => Number(new URL(node.url).port);
const socketsOf = (node: ClusterNode) => node.app.get(RecoveringGateway).server.sockets.sockets;

const suite = await describeWithRedis();

suite('connection-state recovery across nodes on the Redis streams adapter', () => {
  let nodes: ClusterNode[];
  let proxy: Awaited<ReturnType<typeof switchingProxy>>;

  beforeAll(async () => {
    const key = uniqueKey('streams-recovery');
    nodes = await Promise.all(
      [0, 1, 2].map(() =>
        startNode(key, { ...tokenAuth, timeout: 5000 }, { providers: [RecoveringGateway] }, undefined, 'streams'),
      ),
    );
    proxy = await switchingProxy(portOf(nodes[0]));
  }, 30_000);
  afterEach(() => closeClients());
  afterAll(async () => {
    proxy.server.close();
    await Promise.all(nodes.map((n) => n.app.close()));
  });

  it('a client recovered on another node gets nothing until it re-authenticates as alice, then its rooms, data and missed packets', async () => {
    proxy.target.port = portOf(nodes[0]);
    const alice = connect(proxy.url, { reconnection: true, reconnectionDelay: 50 });
    const bob = connect(nodes[2].url);
    await Promise.all([authenticate(alice, { token: 'alice-token' }), authenticate(bob, { token: 'bob-token' })]);
    expect(socketsOf(nodes[0]).has(alice.id!)).toBe(true);
    expect(await alice.timeout(3000).emitWithAck('note:set', 'alice-note')).toBe('kept');
    const news = record<string>(alice, 'news');
    const before = once(alice, 'news');
    await bob.timeout(3000).emitWithAck('publish', 'before');
    await before;

    proxy.target.port = portOf(nodes[1]); // the next connection lands on node 1
    const dropped = once(alice, 'disconnect');
    (alice.io as any).engine.close();
    await dropped;
    const bobGot = once(bob, 'news');
    await bob.timeout(3000).emitWithAck('publish', 'missed');
    await bobGot;
    await once(alice, 'connect', 5000);
    expect(alice.recovered).toBe(true);
    const restored = socketsOf(nodes[1]).get(alice.id!);
    expect(restored?.recovered).toBe(true); // node 1 restored node 0's session

    // Pending: no replay, no room broadcast (bob's copy is the positive control), no data.
    const whilePending = once(bob, 'news');
    await bob.timeout(3000).emitWithAck('publish', 'while-pending');
    await whilePending;
    await sleep(150);
    expect(news).toEqual(['before']);
    expect(alice.connected).toBe(true);
    expect(restored!.data.note).toBeUndefined();
    expect(restored!.rooms.has('news-room')).toBe(false);

    expect((await authenticate(alice, { token: 'alice-token' })).ok).toBe(true);
    await sleep(150);
    expect(news.slice(0, 2)).toEqual(['before', 'missed']);
    expect(await alice.timeout(3000).emitWithAck('note:get')).toEqual({ note: 'alice-note' });
    const after = once(alice, 'news');
    await bob.timeout(3000).emitWithAck('publish', 'after');
    expect(await after).toBe('after'); // room membership restored
  });

  it("another principal presenting alice's pid and offset on another node gets none of her rooms, data or missed packets", async () => {
    const alice = connect(nodes[0].url);
    const bob = connect(nodes[2].url);
    await Promise.all([authenticate(alice, { token: 'alice-token' }), authenticate(bob, { token: 'bob-token' })]);
    await alice.timeout(3000).emitWithAck('note:set', 'alice-secret');
    const first = once(alice, 'news');
    await bob.timeout(3000).emitWithAck('publish', 'seen-by-alice');
    await first; // gives alice an offset
    const { id: aliceId, _pid: pid, _lastOffset: offset } = alice as any;
    expect(typeof pid).toBe('string');
    expect(typeof offset).toBe('string');
    const dropped = once(alice, 'disconnect');
    (alice.io as any).engine.close();
    await dropped;
    const bobGot = once(bob, 'news');
    await bob.timeout(3000).emitWithAck('publish', 'for-alice-only');
    await bobGot;

    const mallory = connect(nodes[1].url, { auth: { pid, offset } });
    const seen = record<string>(mallory, 'news');
    await once(mallory, 'connect');
    expect(mallory.id).toBe(aliceId); // the stolen pid/offset did restore alice's session on node 1
    await sleep(150);
    expect(seen).toEqual([]);
    expect((await authenticate(mallory, { token: 'bob-token' })).ok).toBe(true);

    const later = once(bob, 'news');
    await bob.timeout(3000).emitWithAck('publish', 'later');
    await later; // bob is in the room, so mallory would have had it too
    await sleep(150);
    expect(seen).toEqual([]);
    expect(mallory.connected).toBe(true);
    expect(await mallory.timeout(3000).emitWithAck('note:get')).toEqual({ note: null });
    expect(socketsOf(nodes[1]).get(mallory.id!)?.rooms.has('news-room')).toBe(false);
  });
});
