import { Controller, Get, Injectable, Module } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { MessageBody, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, ServerOptions } from 'socket.io';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { AuthSocketModule, Authenticated, AuthenticatedGuard, type AuthStrategy } from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connectNamespace,
  connected,
  createApp,
  expectMissed,
  freePort,
  once,
  record,
  withApp,
  type TestApp,
} from '../support/harness.js';
import { TokenStrategy, UsersModule, tokenAuth } from '../support/strategies.js';

@WebSocketGateway({ namespace: '/plain' })
class NoServerPropertyGateway {
  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(): string {
    return 'guarded';
  }
}

@WebSocketGateway({ namespace: '/admin' })
class AdminGateway {
  @WebSocketServer() nsp!: any;

  @Authenticated()
  @SubscribeMessage('secret')
  secret(): string {
    return 'admin-secret';
  }
}

@WebSocketGateway()
class RootGateway {
  @WebSocketServer() server!: Server;

  @SubscribeMessage('shout')
  shout(@MessageBody() text: string): void {
    this.server.emit('news', text);
  }
}

@Controller('health')
class HealthController {
  @Get()
  ok(): { ok: true } {
    return { ok: true };
  }
}

/** Two namespaces multiplexed over one client connection, each connected once. */
async function rootAndAdmin(t: TestApp) {
  const root = connect(t.url);
  const admin = connectNamespace(root, '/admin');
  await Promise.all([connected(root), connected(admin)]);
  // One CONNECT per namespace: a second one would leave two server sockets for /admin.
  expect(t.app.get(RootGateway).server.of('/admin').sockets.size).toBe(1);
  return { root, admin };
}

describe('scope', () => {
  afterEach(() => closeClients());

  it("with the default 'connection' scope, authenticating on / authenticates /admin on the same connection", async () => {
    await withApp({ ...tokenAuth, timeout: 3000 }, { providers: [RootGateway, AdminGateway] }, async (t) => {
      const { root, admin } = await rootAndAdmin(t);
      await authenticate(root, { token: 'alice-token' });
      expect(await admin.timeout(3000).emitWithAck('secret')).toBe('admin-secret');
    });
  });

  it("with scope 'namespace', each namespace must authenticate on its own", async () => {
    await withApp(
      { ...tokenAuth, timeout: 3000, scope: 'namespace' },
      { providers: [RootGateway, AdminGateway] },
      async (t) => {
        const { root, admin } = await rootAndAdmin(t);
        await authenticate(root, { token: 'alice-token' });
        expect((await admin.timeout(3000).emitWithAck('secret')).error.code).toBe('unauthenticated');
        await authenticate(admin, { token: 'alice-token' });
        expect(await admin.timeout(3000).emitWithAck('secret')).toBe('admin-secret');
      },
    );
  });
});

describe('wiring', () => {
  afterEach(() => closeClients());

  it('a gateway on its own port is gated', async () => {
    const port = await freePort();
    @WebSocketGateway(port)
    class SidePortGateway {
      @WebSocketServer() server!: Server;
      @SubscribeMessage('shout')
      shout(@MessageBody() text: string): void {
        this.server.emit('side-news', text);
      }
    }
    const t = await createApp({ ...tokenAuth, timeout: 3000 }, { providers: [SidePortGateway] });
    try {
      const url = `http://127.0.0.1:${port}`;
      const alice = connect(url);
      await authenticate(alice, { token: 'alice-token' });
      const pending = connect(url);
      await connected(pending);
      const seen = record(pending, 'side-news');
      const witness = once(alice, 'side-news');
      alice.emit('shout', 'hi');
      await expectMissed(pending, seen, witness);
    } finally {
      closeClients();
      await t.close();
    }
  });

  it('several gateways sharing a namespace are all covered, and each handleAuthenticated runs once', async () => {
    const calls: string[] = [];
    @WebSocketGateway()
    class First {
      handleAuthenticated(): void {
        calls.push('first');
      }
      @Authenticated()
      @SubscribeMessage('first')
      first(): string {
        return 'first ran';
      }
    }
    @WebSocketGateway()
    class Second {
      handleAuthenticated(): void {
        calls.push('second');
      }
      @Authenticated()
      @SubscribeMessage('second')
      second(): string {
        return 'second ran';
      }
    }
    await withApp({ ...tokenAuth, timeout: 3000 }, { providers: [First, Second] }, async (t) => {
      const c = connect(t.url);
      await connected(c);
      expect((await c.timeout(3000).emitWithAck('second')).error.code).toBe('unauthenticated');
      await authenticate(c, { token: 'alice-token' });
      expect(calls.sort()).toEqual(['first', 'second']);
      expect(await c.timeout(3000).emitWithAck('first')).toBe('first ran');
      expect(await c.timeout(3000).emitWithAck('second')).toBe('second ran');
    });
  });

  it('a gateway without @WebSocketServer is gated', async () => {
    await withApp({ ...tokenAuth, timeout: 3000 }, { providers: [NoServerPropertyGateway] }, async (t) => {
      const c = connect(`${t.url}/plain`);
      await connected(c);
      expect((await c.timeout(3000).emitWithAck('whoami')).error.code).toBe('unauthenticated');
      await authenticate(c, { token: 'alice-token' });
      expect(await c.timeout(3000).emitWithAck('whoami')).toBe('guarded');
    });
  });

  it('works inside an app that uses its own IoAdapter subclass', async () => {
    let created = 0;
    const seenByEarlyListener: unknown[] = [];
    class MyIoAdapter extends IoAdapter {
      createIOServer(port: number, options?: ServerOptions): any {
        created++;
        const server = super.createIOServer(port, { ...options, pingInterval: 10_000 } as ServerOptions);
        // A connection listener registered before the module attaches still sees the module's state.
        server.on('connection', (socket: any) => seenByEarlyListener.push(socket.data.auth));
        return server;
      }
    }
    const t = await createApp({ ...tokenAuth, timeout: 800 }, { providers: [RootGateway] }, (app) => {
      app.useWebSocketAdapter(new MyIoAdapter(app));
    });
    try {
      expect(created).toBe(1);
      const alice = connect(t.url);
      await authenticate(alice, { token: 'alice-token' });
      expect(seenByEarlyListener).toEqual([{ state: 'pending' }]);
      const pending = connect(t.url);
      await connected(pending);
      const seen = record(pending, 'news');
      const witness = once(alice, 'news');
      alice.emit('shout', 'hi');
      await expectMissed(pending, seen, witness);
      const timedOut = connect(t.url);
      expect((await once(timedOut, 'unauthorized', 5000)).code).toBe('timeout');
    } finally {
      closeClients();
      await t.close();
    }
  });

  it('leaves HTTP routes without @Authenticated() as in plain Nest, and refuses a marked handler reached outside a gateway', async () => {
    const t = await createApp({ ...tokenAuth }, { controllers: [HealthController], providers: [RootGateway] });
    try {
      expect(await (await fetch(`${t.url}/health`)).json()).toEqual({ ok: true });
      // Start-up refuses @Authenticated() on controllers (startup-mistakes.spec.ts); what it cannot see (an RPC
      // handler, a guard applied by hand) still fails closed: false, which Nest answers with 403 over HTTP.
      class Marked {
        @Authenticated()
        handler(): void {}
      }
      const guard = t.app.get(AuthenticatedGuard);
      for (const type of ['http', 'rpc'] as const) {
        const context = new ExecutionContextHost([{}, {}], Marked, Marked.prototype.handler);
        context.setType(type);
        expect(guard.canActivate(context)).toBe(false);
      }
      const unmarked = new ExecutionContextHost([{}, {}], HealthController, HealthController.prototype.ok);
      unmarked.setType('http');
      expect(guard.canActivate(unmarked)).toBe(true); // control: the refusal is for marked handlers only
    } finally {
      await t.close();
    }
  });

  it('forRootAsync with useFactory and inject configures the module, with the strategy as a class', async () => {
    @Injectable()
    class Config {
      timeout = 300;
    }
    @Module({ providers: [Config], exports: [Config] })
    class ConfigModule {}

    const auth = AuthSocketModule.forRootAsync({
      imports: [ConfigModule, UsersModule],
      strategy: TokenStrategy,
      inject: [Config],
      useFactory: (config: Config) => ({ timeout: config.timeout }),
    });
    await withApp(auth, { providers: [RootGateway] }, async (t) => {
      const ok = connect(t.url);
      expect((await authenticate(ok, { token: 'bob-token' })).ok).toBe(true);
      const slow = connect(t.url);
      expect((await once(slow, 'unauthorized', 3000)).code).toBe('timeout');
    });
  });

  it('accepts the strategy as the token of an existing provider, or from the async factory', async () => {
    const STRATEGY = 'MY_STRATEGY';
    const accepting: AuthStrategy = { authenticate: async () => ({ id: 'token-user' }) };
    @Module({ providers: [{ provide: STRATEGY, useValue: accepting }], exports: [STRATEGY] })
    class StrategyModule {}

    for (const auth of [
      AuthSocketModule.forRoot({ strategy: STRATEGY, imports: [StrategyModule] }),
      AuthSocketModule.forRootAsync({
        imports: [StrategyModule],
        inject: [STRATEGY],
        useFactory: (strategy: AuthStrategy) => ({ strategy, timeout: 2000 }),
      }),
    ]) {
      await withApp(auth, { providers: [RootGateway] }, async (t) => {
        expect(await authenticate(connect(t.url), { any: 1 })).toEqual({
          ok: true,
          sessionId: expect.any(String),
          user: { id: 'token-user' },
        });
      });
    }
  });
});

describe('configuration', () => {
  afterEach(() => closeClients());

  it('renamed wire events are used instead of the defaults', async () => {
    const events = {
      authentication: 'login',
      authenticated: 'welcome',
      unauthorized: 'denied',
      authError: 'login_error',
    };
    await withApp({ ...tokenAuth, timeout: 3000, events }, { providers: [RootGateway] }, async (t) => {
      const ok = connect(t.url);
      await connected(ok);
      const welcomed = once(ok, 'welcome');
      ok.emit('authentication', { token: 'alice-token' }); // the default name now means nothing
      ok.emit('login', { token: 'alice-token' });
      expect(await welcomed).toEqual({ sessionId: expect.any(String), user: { id: 'alice', name: 'Alice' } });
      const bad = connect(t.url);
      await connected(bad);
      const denied = once(bad, 'denied');
      bad.emit('login', { token: 'nope' });
      expect((await denied).code).toBe('invalid_credentials');
    });
  });

  it('forRootAsync accepts an options factory class (useClass)', async () => {
    @Injectable()
    class AuthOptions {
      createAuthSocketOptions() {
        return { timeout: 250 };
      }
    }
    const auth = AuthSocketModule.forRootAsync({
      imports: [UsersModule],
      strategy: TokenStrategy,
      useClass: AuthOptions,
    });
    await withApp(auth, { providers: [RootGateway] }, async (t) => {
      expect((await once(connect(t.url), 'unauthorized', 3000)).code).toBe('timeout');
    });
  });
});
