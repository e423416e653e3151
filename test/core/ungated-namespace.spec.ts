/**
 * A namespace no gateway serves (`io.of('/admin')` from @socket.io/admin-ui's
 * instrument(), say) is not the module's: its sockets keep their connection,
 * while a pending socket on a gated namespace is still timed out beside it.
 */
import { type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Server } from 'socket.io';
import { closeClients, connect, connected, createApp, once, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

@WebSocketGateway()
class Gateway implements OnGatewayInit {
  afterInit(server: Server): void {
    server.of('/plain').on('connection', (socket) => socket.on('ping', (ack: (x: string) => void) => ack('pong')));
  }
}

describe('a namespace no gateway serves', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('keeps its sockets connected past the timeout and the idle close; a pending gated socket is timed out (control)', async () => {
    t = await createApp({ ...tokenAuth, timeout: 300 }, { providers: [Gateway] });
    const plain = connect(`${t.url}/plain`);
    const gated = connect(t.url);
    await Promise.all([connected(plain), connected(gated)]);
    // The control: the gated socket never authenticates and is told so after the timeout.
    expect((await once(gated, 'unauthorized', 5000)).code).toBe('timeout');
    // Well past timeout + the idle close's slack (300 + 500 ms): the plain socket's connection is still open.
    await new Promise((r) => setTimeout(r, 1500));
    expect(plain.connected).toBe(true);
    expect(await plain.timeout(3000).emitWithAck('ping')).toBe('pong');
  });
});
