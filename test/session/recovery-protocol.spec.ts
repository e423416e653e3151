/**
 * Regressions from the state-machine review, under connection-state recovery:
 * recovery fields are never credentials, and direct emits with an ack reach a
 * pending socket intact.
 */
import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import type { AuthStrategy } from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  createApp,
  once,
  sleep,
  type TestApp,
} from '../support/harness.js';

@WebSocketGateway({ connectionStateRecovery: { maxDisconnectionDuration: 60_000 } })
class RecoveringGateway {
  @WebSocketServer() server!: Server;
}

const seen: unknown[] = [];
const strategy: AuthStrategy = {
  authenticate: async (credentials) => {
    seen.push(credentials);
    return (credentials as { token?: string }).token === 'alice-token' ? { id: 'alice' } : null;
  },
};

const serverSocket = (t: TestApp, id: string): Socket => t.app.get(RecoveringGateway).server.of('/').sockets.get(id)!;

async function dropAndReconnect(c: ReturnType<typeof connect>): Promise<void> {
  const reconnected = once(c, 'connect', 5000);
  (c.io as unknown as { engine: { close(): void } }).engine.close();
  await reconnected;
}

describe('connection-state recovery and the protocol', () => {
  let t: TestApp;
  beforeEach(async () => {
    seen.length = 0;
    t = await createApp({ strategy, timeout: 5000, handshake: true }, { providers: [RecoveringGateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('a client that authenticated by message reconnects with only {pid, offset}: pending, not refused', async () => {
    const c = connect(t.url, { reconnection: true, reconnectionDelay: 50 });
    await authenticate(c, { token: 'alice-token' });
    const refused: unknown[] = [];
    c.on('unauthorized', (e) => refused.push(e));
    await dropAndReconnect(c);
    expect(c.recovered).toBe(true); // the client did send pid and offset
    await sleep(150);
    expect(refused).toEqual([]);
    expect(c.connected).toBe(true);
    expect(seen).toEqual([{ token: 'alice-token' }]); // the strategy never saw the recovery fields
    expect((await authenticate(c, { token: 'alice-token' })).ok).toBe(true);
  });

  it('handshake credentials are re-sent on reconnect without the recovery fields', async () => {
    const c = connect(t.url, { reconnection: true, reconnectionDelay: 50, auth: { token: 'alice-token' } });
    await once(c, 'authenticated');
    const again = once(c, 'authenticated', 5000);
    await dropAndReconnect(c);
    expect(c.recovered).toBe(true);
    await again;
    expect(seen).toEqual([{ token: 'alice-token' }, { token: 'alice-token' }]);
  });

  it('emitWithAck from the server to a pending socket gets its answer, and outgoing listeners see it', async () => {
    const c = connect(t.url);
    await connected(c);
    c.on('ping', (n: number, ack: (r: unknown) => void) => ack({ pong: n }));
    const server = serverSocket(t, c.id!);
    const outgoing: unknown[] = [];
    server.onAnyOutgoing((event) => outgoing.push(event));
    expect(t.auth.isAuthenticated(server)).toBe(false);
    expect(await server.timeout(2000).emitWithAck('ping', 7)).toEqual({ pong: 7 });
    expect(outgoing).toEqual(['ping']);
  });
});
