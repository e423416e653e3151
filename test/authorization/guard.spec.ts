/**
 * `@Authenticated()` carries its own guard: metadata resolved per class and
 * handler, nothing run for unmarked handlers, and authorization on top.
 */
import { ConnectedSocket, MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import type { ExecutionContext } from '@nestjs/common';
import {
  Authenticated,
  AuthenticatedGuard,
  type AuthPredicate,
  type AuthPrincipal,
  type AuthStrategy,
} from '../../lib/index.js';
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

const users: Record<string, AuthPrincipal> = {
  'alice-token': { id: 'alice', roles: ['admin'], scope: 'chat:read chat:write' },
  'bob-token': { id: 'bob', roles: ['member'], scopes: ['chat:read'] },
};
const strategy: AuthStrategy = { authenticate: async (c) => users[(c as { token: string }).token] ?? null };

@WebSocketGateway({ namespace: '/open' })
class BaseGateway {
  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() client: Socket): string {
    return `ran on ${client.nsp.name}`;
  }
}

@Authenticated()
@WebSocketGateway({ namespace: '/secure' })
class SecureGateway extends BaseGateway {}

const predicateCalls: string[] = [];

@WebSocketGateway()
class RulesGateway {
  @SubscribeMessage('free')
  free(): string {
    return 'free';
  }

  @Authenticated({ roles: ['admin'] })
  @SubscribeMessage('kick')
  kick(): string {
    return 'kicked';
  }

  @Authenticated({ scopes: ['chat:write'] })
  @SubscribeMessage('write')
  write(): string {
    return 'written';
  }

  @Authenticated(async (principal, context) => {
    await sleep(5);
    predicateCalls.push(principal.id);
    return context.switchToWs().getData<{ owner: string }>().owner === principal.id;
  })
  @SubscribeMessage('edit')
  edit(@MessageBody() body: { owner: string }): string {
    return `edited ${body.owner}`;
  }

  /** A predicate that answers whatever the message asks it to: every shape an app's predicate might give. */
  @Authenticated(((_principal: AuthPrincipal, context: ExecutionContext) => {
    const { answer } = context.switchToWs().getData<{ answer: string }>();
    if (answer === 'throw') throw new Error('predicate bug');
    if (answer === 'reject') return Promise.reject(new Error('predicate bug'));
    if (answer === 'async-true') return Promise.resolve(true);
    return { true: true, false: false, undefined, null: null, one: 1 }[answer];
  }) as unknown as AuthPredicate)
  @SubscribeMessage('shaped')
  shaped(): string {
    return 'ran';
  }
}

describe('metadata per class and handler', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createApp({ strategy, timeout: 5000, scope: 'namespace' }, { providers: [BaseGateway, SecureGateway] });
  });
  afterEach(async () => {
    closeClients();
    await t.close();
  });

  it('an inherited handler: unmarked base runs for a pending socket, then the marked subclass refuses one', async () => {
    const open = connect(`${t.url}/open`);
    await connected(open);
    expect(await open.timeout(2000).emitWithAck('whoami', {})).toBe('ran on /open');
    const secure = connect(`${t.url}/secure`);
    await connected(secure);
    expect(await secure.timeout(2000).emitWithAck('whoami', {})).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'unauthenticated' }),
    });
  });

  it('the other order: the marked subclass refuses first, then the unmarked base still runs', async () => {
    const secure = connect(`${t.url}/secure`);
    await connected(secure);
    expect(await secure.timeout(2000).emitWithAck('whoami', {})).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'unauthenticated' }),
    });
    const open = connect(`${t.url}/open`);
    await connected(open);
    expect(await open.timeout(2000).emitWithAck('whoami', {})).toBe('ran on /open');
    await authenticate(secure, { token: 'bob-token' });
    expect(await secure.timeout(2000).emitWithAck('whoami', {})).toBe('ran on /secure');
  });
});

describe('authorization', () => {
  let t: TestApp;
  let calls: number;
  const canActivate = AuthenticatedGuard.prototype.canActivate;
  beforeEach(async () => {
    predicateCalls.length = 0;
    calls = 0;
    // Counts guard runs; the real guard still decides.
    AuthenticatedGuard.prototype.canActivate = function (this: AuthenticatedGuard, ...args) {
      calls++;
      return canActivate.apply(this, args);
    };
    t = await createApp({ strategy, timeout: 5000, maxFailuresPerAddress: 1 }, { providers: [RulesGateway] });
  });
  afterEach(async () => {
    AuthenticatedGuard.prototype.canActivate = canActivate;
    closeClients();
    await t.close();
  });

  it('an unmarked handler runs without the guard; a marked one runs it', async () => {
    const c = connect(t.url);
    await authenticate(c, { token: 'alice-token' });
    expect(await c.timeout(2000).emitWithAck('free', {})).toBe('free');
    expect(calls).toBe(0);
    expect(await c.timeout(2000).emitWithAck('kick', {})).toBe('kicked');
    expect(calls).toBe(1);
  });

  it('roles: a principal without the role is refused forbidden, by ack and exception, and stays connected', async () => {
    const bob = connect(t.url);
    await authenticate(bob, { token: 'bob-token' });
    const exception = once(bob, 'exception');
    expect(await bob.timeout(2000).emitWithAck('kick', {})).toEqual({
      ok: false,
      error: { code: 'forbidden', message: 'Not allowed' },
    });
    expect(await exception).toMatchObject({ status: 'error', code: 'forbidden' });
    await sleep(50);
    expect(bob.connected).toBe(true);
    // not a credential failure: with a budget of one failure, bob can still authenticate again
    expect((await authenticate(bob, { token: 'bob-token' })).ok).toBe(true);
    expect(t.auth.stats().failures.forbidden).toBeUndefined();
    const alice = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    expect(await alice.timeout(2000).emitWithAck('kick', {})).toBe('kicked');
  });

  it('scopes: every listed scope is needed, from `scopes` or an OAuth `scope` string', async () => {
    const alice = connect(t.url);
    const bob = connect(t.url);
    await authenticate(alice, { token: 'alice-token' });
    await authenticate(bob, { token: 'bob-token' });
    expect(await alice.timeout(2000).emitWithAck('write', {})).toBe('written');
    expect(await bob.timeout(2000).emitWithAck('write', {})).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'forbidden' }),
    });
  });

  it('a predicate reads the principal and the message, and may be async', async () => {
    const bob = connect(t.url);
    await authenticate(bob, { token: 'bob-token' });
    expect(await bob.timeout(2000).emitWithAck('edit', { owner: 'bob' })).toBe('edited bob');
    expect(await bob.timeout(2000).emitWithAck('edit', { owner: 'alice' })).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'forbidden' }),
    });
    expect(predicateCalls).toEqual(['bob', 'bob']);
  });

  it.each(['false', 'undefined', 'null', 'one', 'throw', 'reject'])(
    'a predicate that answers %s refuses forbidden through the ack, and the socket stays connected',
    async (answer) => {
      const bob = connect(t.url);
      await authenticate(bob, { token: 'bob-token' });
      expect(await bob.timeout(2000).emitWithAck('shaped', { answer })).toEqual({
        ok: false,
        error: { code: 'forbidden', message: 'Not allowed' },
      });
      expect(bob.connected).toBe(true);
    },
  );

  it.each(['true', 'async-true'])('a predicate that answers %s runs the handler (control)', async (answer) => {
    const bob = connect(t.url);
    await authenticate(bob, { token: 'bob-token' });
    expect(await bob.timeout(2000).emitWithAck('shaped', { answer })).toBe('ran');
  });

  it('a pending socket is refused unauthenticated before any requirement is looked at', async () => {
    const c = connect(t.url);
    await connected(c);
    expect(await c.timeout(2000).emitWithAck('edit', { owner: 'x' })).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'unauthenticated' }),
    });
    expect(predicateCalls).toEqual([]);
  });
});
