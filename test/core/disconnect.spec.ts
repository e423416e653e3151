import { type OnGatewayDisconnect, WebSocketGateway } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { AuthSocketService, PublicNamespace } from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connectNamespace,
  createApp,
  type TestApp,
  until,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

/** What each gateway's handleDisconnect could still read about the socket that left. */
const seen: Array<{ namespace: string; authenticated: boolean; principal?: string; state?: string }> = [];
let service: AuthSocketService;

function remember(client: Socket): void {
  seen.push({
    namespace: client.nsp.name,
    authenticated: service.isAuthenticated(client),
    principal: service.getPrincipal(client)?.id,
    state: (client.data as { auth?: { state?: string } }).auth?.state,
  });
}

@WebSocketGateway()
class GatedGateway implements OnGatewayDisconnect {
  handleDisconnect(client: Socket): void {
    remember(client);
  }
}

@PublicNamespace()
@WebSocketGateway({ namespace: '/lobby' })
class LobbyGateway implements OnGatewayDisconnect {
  handleDisconnect(client: Socket): void {
    remember(client);
  }
}

describe('disconnect', () => {
  let t: TestApp;
  beforeEach(async () => {
    seen.length = 0;
    t = await createApp({ ...tokenAuth, timeout: 2000 }, { providers: [GatedGateway, LobbyGateway] });
    service = t.auth;
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it("a gateway's handleDisconnect still reads who left, on gated and public namespaces; then the session ends", async () => {
    const root = connect(t.url);
    await authenticate(root, { token: 'alice-token' });
    const lobby = connectNamespace(root, '/lobby');
    await until(() => lobby.connected);
    expect(t.auth.stats().authenticated).toBe(2);

    root.io.engine.close(); // the whole connection goes, both sockets with it
    await until(() => seen.length === 2);
    expect(seen).toEqual(
      expect.arrayContaining([
        { namespace: '/', authenticated: true, principal: 'alice', state: 'authenticated' },
        { namespace: '/lobby', authenticated: true, principal: 'alice', state: 'authenticated' },
      ]),
    );
    await until(() => t.auth.resourceCounts().sessions === 0);
    expect(t.auth.stats()).toMatchObject({ authenticated: 0, pending: 0 });
  });

  it('an unauthenticated socket that leaves is seen as such', async () => {
    const root = connect(t.url);
    await until(() => root.connected);
    root.disconnect();
    await until(() => seen.length === 1);
    expect(seen[0]).toEqual({ namespace: '/', authenticated: false, principal: undefined, state: 'pending' });
    await until(() => t.auth.resourceCounts().sessions === 0);
  });
});
