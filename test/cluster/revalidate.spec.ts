/**
 * `AuthSocketService.revalidate(principalId)` on two nodes over Redis: the
 * node asked re-checks the principal's sessions on every node, and resolves
 * once each has applied its answer.
 */
import { Injectable } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Authenticated, type AuthPrincipal, type AuthStrategy } from '../../lib/index.js';
import { authenticate, closeClients, connect, once } from '../support/harness.js';
import { type ClusterNode, startNode, uniqueKey } from './nodes.js';
import { describeWithRedis } from './redis.js';

/** Every node reads the same directory, as nodes share a database. */
const roles = new Map<string, string[]>();

@Injectable()
class DirectoryStrategy implements AuthStrategy {
  authenticate(credentials: any): AuthPrincipal | null {
    const id = credentials?.token;
    return roles.has(id) ? { id, roles: roles.get(id)! } : null;
  }

  revalidate(principal: AuthPrincipal): AuthPrincipal | null {
    return roles.has(principal.id) ? { id: principal.id, roles: roles.get(principal.id)! } : null;
  }
}

@WebSocketGateway()
class Gateway {
  @Authenticated({ roles: ['editor'] })
  @SubscribeMessage('edit')
  edit(): string {
    return 'edited';
  }
}

const suite = await describeWithRedis();

suite('revalidate() across two nodes', () => {
  let a: ClusterNode, b: ClusterNode;

  beforeAll(async () => {
    const key = uniqueKey('revalidate');
    const options = { strategy: DirectoryStrategy, timeout: 10_000 };
    [a, b] = await Promise.all([
      startNode(key, options, { providers: [Gateway] }),
      startNode(key, options, { providers: [Gateway] }),
    ]);
  }, 30_000);
  afterEach(() => closeClients());
  afterAll(async () => {
    await Promise.all([a.app.close(), b.app.close()]);
  });

  it("a role removed and revalidated on node A is refused on node B's socket at once; a removed user is ended on both", async () => {
    roles.set('alice', ['editor']).set('bob', ['editor']);
    const onA = connect(a.url);
    const onB = connect(b.url);
    const bob = connect(b.url);
    await Promise.all([
      authenticate(onA, { token: 'alice' }),
      authenticate(onB, { token: 'alice' }),
      authenticate(bob, { token: 'bob' }),
    ]);
    expect(await onB.timeout(2000).emitWithAck('edit')).toBe('edited'); // control

    roles.set('alice', []);
    expect(await a.auth.revalidate('alice')).toEqual({ sessions: 2, complete: true });
    expect(await onB.timeout(2000).emitWithAck('edit')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await onA.timeout(2000).emitWithAck('edit')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await bob.timeout(2000).emitWithAck('edit')).toBe('edited');

    roles.delete('alice');
    const endedOnB = once(onB, 'unauthorized');
    const endedOnA = once(onA, 'unauthorized');
    await a.auth.revalidate('alice');
    expect((await endedOnB).code).toBe('invalidated');
    expect((await endedOnA).code).toBe('invalidated');
    expect(bob.connected).toBe(true);
  }, 20_000);
});
