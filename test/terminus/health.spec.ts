/**
 * AuthSocketHealthIndicator with the real @nestjs/terminus: a Nest app with
 * TerminusModule and a health controller, asked over HTTP. Memory stores are
 * up; real Redis stores are up while Redis answers, 503 (degraded) while it is
 * unreachable, up again once it is back; the pending-socket pressure turns it
 * down at the threshold and up again below it.
 *
 * The outage is the stores' only: they reach Redis through a small TCP proxy
 * started here, which the test stops (connections cut, connects refused) and
 * starts again on the same port.
 */
import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { WebSocketGateway } from '@nestjs/websockets';
import type { Socket as ClientSocket } from 'socket.io-client';
import { type AuthSocketModuleOptions, MemoryLimitStore, type StoreHealth } from '../../lib/index.js';
import { RedisLimitStore, RedisRevocationStore } from '../../lib/redis/index.js';
import { AuthSocketHealthIndicator } from '../../lib/terminus/index.js';
import { REDIS_URL, describeWithRedis } from '../cluster/redis.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  createApp,
  freePort,
  sleep,
  type TestApp,
  until,
} from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';
import { TcpProxy } from '../support/tcp-proxy.js';

@WebSocketGateway()
class Gateway {}

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly socketAuth: AuthSocketHealthIndicator,
  ) {}

  /** The defaults: degraded is down, pressure at 0.9 of maxPending. */
  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.socketAuth.isHealthy()]);
  }

  @Get('pressure')
  @HealthCheck()
  pressure() {
    return this.health.check([() => this.socketAuth.isHealthy('socket_auth', { pendingThreshold: 0.5 })]);
  }

  @Get('lenient')
  @HealthCheck()
  lenient() {
    return this.health.check([() => this.socketAuth.isHealthy('sockets', { degradedIsDown: false })]);
  }

  @Get('invalid')
  @HealthCheck()
  invalid() {
    return this.health.check([() => this.socketAuth.isHealthy('socket_auth', { pendingThreshold: 1.5 })]);
  }
}

/** The app under test: the module, TerminusModule, the indicator and the controller. */
function start(options: Partial<AuthSocketModuleOptions> = {}): Promise<TestApp> {
  return createApp({ ...tokenAuth, timeout: 30_000, ...options } as AuthSocketModuleOptions, {
    imports: [TerminusModule.forRoot({ logger: false })],
    providers: [Gateway, AuthSocketHealthIndicator],
    controllers: [HealthController],
  });
}

interface Probe {
  status: number;
  body: any;
}

async function probe(t: TestApp, path = '/health'): Promise<Probe> {
  const res = await fetch(`${t.url}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.json() };
}

/** Polls `path` until `check` holds of the answer (every 100 ms, up to `ms`); returns that answer. */
async function probeUntil(t: TestApp, check: (p: Probe) => boolean, ms: number, path = '/health'): Promise<Probe> {
  const deadline = Date.now() + ms;
  let last: Probe | undefined;
  while (Date.now() < deadline) {
    last = await probe(t, path);
    if (check(last)) return last;
    await sleep(100);
  }
  throw new Error(`${path} did not answer as expected within ${ms} ms; last: ${JSON.stringify(last)}`);
}

const UP_IN_MEMORY = { limitStore: 'up', revocationStore: 'up' };

/** A memory store whose reported connectivity the test sets, for a state no built-in store reaches (`down`). */
class SwitchableLimitStore extends MemoryLimitStore {
  state: StoreHealth = 'up';
  health(): StoreHealth {
    return this.state;
  }
}

describe('AuthSocketHealthIndicator with memory stores', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    closeClients();
    await t?.close();
    t = undefined;
  });

  it('is up, with both stores up and the pending count', async () => {
    t = await start();
    const { status, body } = await probe(t);
    expect(status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.info).toEqual({
      socket_auth: { status: 'up', ...UP_IN_MEMORY, pending: 0, maxPending: 10_000 },
    });
    expect(body.error).toEqual({});
    // The details follow the process: one unauthenticated socket is counted, then not once it authenticated.
    const socket = connect(t.url);
    await connected(socket);
    await until(() => t!.auth.stats().pending === 1, 5000, 'one pending socket');
    expect((await probe(t)).body.info.socket_auth.pending).toBe(1);
    expect((await authenticate(socket, { token: 'alice-token' })).ok).toBe(true);
    expect((await probe(t)).body.info.socket_auth).toEqual({
      status: 'up',
      ...UP_IN_MEMORY,
      pending: 0,
      maxPending: 10_000,
    });
  });

  it('turns down once pending sockets reach pendingThreshold × maxPending, and up again below it', async () => {
    t = await start({ maxPending: 4 });
    const app = t;
    const sockets: ClientSocket[] = [];
    const open = async (): Promise<void> => {
      const socket = connect(app.url);
      sockets.push(socket);
      await connected(socket);
      await until(() => app.auth.stats().pending === sockets.length, 5000, `${sockets.length} pending sockets`);
    };

    // Positive control: one pending socket is below 0.5 × 4.
    await open();
    const below = await probe(t, '/health/pressure');
    expect(below.status).toBe(200);
    expect(below.body.info.socket_auth).toEqual({ status: 'up', ...UP_IN_MEMORY, pending: 1, maxPending: 4 });

    // Two reach it: 503, with the same details and why.
    await open();
    const at = await probe(t, '/health/pressure');
    expect(at.status).toBe(503);
    expect(at.body.status).toBe('error');
    expect(at.body.error.socket_auth).toEqual({
      status: 'down',
      ...UP_IN_MEMORY,
      pending: 2,
      maxPending: 4,
      reason: expect.stringContaining('2 pending sockets'),
    });
    expect(at.body.details.socket_auth).toEqual(at.body.error.socket_auth);
    // The default threshold (0.9 × 4) is not reached by the same two sockets.
    expect((await probe(t)).status).toBe(200);

    // A third is past it too.
    await open();
    expect((await probe(t, '/health/pressure')).body.error.socket_auth.pending).toBe(3);

    // Two authenticate: one pending socket is left, below the threshold again.
    for (const socket of sockets.slice(0, 2))
      expect((await authenticate(socket, { token: 'alice-token' })).ok).toBe(true);
    await until(() => app.auth.stats().pending === 1, 5000, 'one pending socket left');
    const after = await probe(t, '/health/pressure');
    expect(after.status).toBe(200);
    expect(after.body.info.socket_auth.pending).toBe(1);
  });

  it('with maxPending 0 there is no pressure check', async () => {
    t = await start({ maxPending: 0 });
    for (let i = 0; i < 2; i++) await connected(connect(t.url));
    await until(() => t!.auth.stats().pending === 2, 5000, 'two pending sockets');
    const { status, body } = await probe(t, '/health/pressure');
    expect(status).toBe(200);
    expect(body.info.socket_auth).toEqual({ status: 'up', ...UP_IN_MEMORY, pending: 2, maxPending: 0 });
  });

  it('a store that is down is down even with degradedIsDown false; a degraded one only with it', async () => {
    const limitStore = new SwitchableLimitStore();
    t = await start({ limitStore });
    try {
      // Control: the store's own state is what the indicator reads.
      expect((await probe(t)).status).toBe(200);
      expect((await probe(t, '/health/lenient')).status).toBe(200);

      limitStore.state = 'degraded';
      const degraded = await probe(t);
      expect(degraded.status).toBe(503);
      expect(degraded.body.error.socket_auth).toMatchObject({
        limitStore: 'degraded',
        reason: 'limitStore is degraded',
      });
      expect((await probe(t, '/health/lenient')).body.info.sockets).toMatchObject({
        status: 'up',
        limitStore: 'degraded',
      });

      limitStore.state = 'down';
      for (const path of ['/health', '/health/lenient']) {
        const down = await probe(t, path);
        expect(down.status).toBe(503);
        expect(Object.values(down.body.error)).toEqual([
          expect.objectContaining({
            status: 'down',
            limitStore: 'down',
            revocationStore: 'up',
            reason: 'limitStore is down',
          }),
        ]);
      }

      limitStore.state = 'up';
      expect((await probe(t)).status).toBe(200);
    } finally {
      limitStore.close();
    }
  });

  it('a pendingThreshold outside (0, 1] is refused, not silently ignored', async () => {
    t = await start();
    const { status } = await probe(t, '/health/invalid');
    expect(status).toBe(500);
    const indicator = t.app.get(AuthSocketHealthIndicator);
    for (const pendingThreshold of [0, -0.1, 1.5, Number.NaN])
      await expect(indicator.isHealthy('socket_auth', { pendingThreshold })).rejects.toMatchObject({
        name: 'AuthSocketConfigError',
        code: 'AUTH_SOCKET_INVALID_ARGUMENT',
      });
    // Control: the bounds themselves are fine.
    await expect(indicator.isHealthy('k', { pendingThreshold: 1 })).resolves.toMatchObject({ k: { status: 'up' } });
  });
});

const withRedis = await describeWithRedis();

withRedis('AuthSocketHealthIndicator with Redis stores', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  it('is up while Redis answers, 503 with degraded details while it is unreachable, and up again once it is back', async () => {
    const target = new URL(REDIS_URL);
    const proxy = new TcpProxy(await freePort(), { host: target.hostname, port: Number(target.port || 6379) });
    await proxy.start();
    const prefix = `nsa-test-health-${process.pid}-${Date.now()}:`;
    const limitStore = new RedisLimitStore({ url: proxy.url, prefix: `${prefix}limit:` });
    const revocationStore = new RedisRevocationStore({ url: proxy.url, prefix: `${prefix}revoked:` });
    let t: TestApp | undefined;
    try {
      await Promise.all([limitStore.connect(), revocationStore.connect()]);
      t = await start({ limitStore, revocationStore });
      const app = t;

      const up = await probe(t);
      expect(up.status).toBe(200);
      expect(up.body.info.socket_auth).toEqual({
        status: 'up',
        limitStore: 'up',
        revocationStore: 'up',
        pending: 0,
        maxPending: 10_000,
      });

      await proxy.stop();
      const down = await probeUntil(
        t,
        (p) =>
          p.status === 503 &&
          p.body.error.socket_auth?.limitStore === 'degraded' &&
          p.body.error.socket_auth?.revocationStore === 'degraded',
        15_000,
      );
      expect(down.body.status).toBe('error');
      expect(down.body.error.socket_auth).toEqual({
        status: 'down',
        limitStore: 'degraded',
        revocationStore: 'degraded',
        pending: 0,
        maxPending: 10_000,
        reason: 'limitStore is degraded; revocationStore is degraded',
      });
      // Readiness, not liveness: the node still authenticates meanwhile, counting alone.
      const socket = connect(app.url);
      expect((await authenticate(socket, { token: 'alice-token' }, 10_000)).ok).toBe(true);
      // With degradedIsDown false the same state is up, and says it is degraded.
      const lenient = await probe(t, '/health/lenient');
      expect(lenient.status).toBe(200);
      expect(lenient.body.info.sockets).toEqual({
        status: 'up',
        limitStore: 'degraded',
        revocationStore: 'degraded',
        pending: 0,
        maxPending: 10_000,
      });

      await proxy.start();
      const back = await probeUntil(t, (p) => p.status === 200, 20_000);
      expect(back.body.status).toBe('ok');
      expect(back.body.info.socket_auth).toEqual({
        status: 'up',
        limitStore: 'up',
        revocationStore: 'up',
        pending: 0,
        maxPending: 10_000,
      });
    } finally {
      closeClients();
      await t?.close();
      // A store the app passed is the app's to close.
      await Promise.all([limitStore.close(), revocationStore.close()]);
      await proxy.stop();
    }
  }, 60_000);
});
