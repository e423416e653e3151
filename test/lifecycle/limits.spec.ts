import { jest } from '@jest/globals';
import { type OnGatewayConnection, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { AUTH_STRATEGY, Authenticated, type AuthSocketModuleOptions, type AuthStrategy } from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  createApp,
  once,
  record,
  sleep,
  type TestApp,
} from '../support/harness.js';
import { type TokenStrategy, tokenAuth } from '../support/strategies.js';

const connections: string[] = [];

@WebSocketGateway()
class Gateway implements OnGatewayConnection {
  @WebSocketServer() server!: Server;

  handleConnection(client: Socket): void {
    connections.push(client.id);
  }

  @Authenticated()
  @SubscribeMessage('guarded')
  guarded(): string {
    return 'ran';
  }
}

async function app(options: Partial<AuthSocketModuleOptions> = {}): Promise<TestApp> {
  connections.length = 0;
  return createApp({ ...tokenAuth, timeout: 3000, ...options } as AuthSocketModuleOptions, { providers: [Gateway] });
}

const strategyOf = (t: TestApp): TokenStrategy => t.app.get(AUTH_STRATEGY);

describe('abuse limits', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('credentials over maxCredentialsBytes are refused with bad_request before the strategy is called', async () => {
    t = await app({ maxCredentialsBytes: 64 });
    const c = connect(t.url);
    const ack = await authenticate(c, { token: 'alice-token', pad: 'x'.repeat(100) });
    expect(ack.error.code).toBe('bad_request');
    expect(strategyOf(t).calls).toBe(0);
  });

  it.each([
    ['a number', 42],
    ['an array', [{ token: 'alice-token' }]],
    ['null', null],
    ['a JSON string holding an array', '["alice-token"]'],
    ['a binary attachment', Buffer.from('{"token":"alice-token"}')],
    ['an object carrying binary', { token: Buffer.from('alice-token') }],
  ])('%s is refused with bad_request', async (_name, payload) => {
    t = await app();
    const c = connect(t.url);
    const told = once(c, 'unauthorized');
    const ack = await authenticate(c, payload);
    expect(ack.error.code).toBe('bad_request');
    expect((await told).code).toBe('bad_request');
    expect(strategyOf(t).calls).toBe(0);
  });

  it('__proto__ and constructor keys never reach the strategy, so merging credentials cannot grant anything', async () => {
    const seen: object[] = [];
    // A careless strategy: it copies the credentials (Object.assign sets the copy's prototype from an own
    // "__proto__" key), then trusts a flag it finds on the copy.
    const careless: AuthStrategy = {
      authenticate: async (credentials) => {
        seen.push(credentials as object);
        const copy = Object.assign({}, credentials) as { isAdmin?: unknown };
        return copy.isAdmin === true ? { id: 'admin' } : null;
      },
    };
    t = await createApp({ strategy: careless, timeout: 3000 }, { providers: [Gateway] });
    const c = connect(t.url);
    await connected(c);
    const ack = await c
      .timeout(3000)
      .emitWithAck('authentication', '{"__proto__":{"isAdmin":true},"constructor":{"prototype":{"isAdmin":true}}}');
    expect(seen).toHaveLength(1); // the strategy did run, on what was left
    expect(ack).toMatchObject({ ok: false, error: { code: 'invalid_credentials' } });
    expect(Object.getPrototypeOf(seen[0])).toBe(Object.prototype);
    expect(Object.getOwnPropertyNames(seen[0])).toEqual([]);
  });

  it('connections over maxPendingPerAddress are refused at connect with too_many_pending, never half-accepted', async () => {
    t = await app({ maxPendingPerAddress: 2 });
    const a = connect(t.url);
    const b = connect(t.url);
    await Promise.all([connected(a), connected(b)]);
    const c = connect(t.url);
    const err = await once<Error & { data: any }>(c, 'connect_error');
    expect(err.data).toEqual({ code: 'too_many_pending', message: 'Too many unauthenticated connections' });
    expect(connections).toHaveLength(2); // handleConnection never ran for the refused socket
    // Authenticating frees a slot.
    await authenticate(a, { token: 'alice-token' });
    const d = connect(t.url);
    await connected(d);
  });

  it('connections over maxPending are refused at connect with too_many_pending', async () => {
    t = await app({ maxPending: 1, maxPendingPerAddress: 0 });
    const a = connect(t.url);
    await connected(a);
    const b = connect(t.url);
    expect((await once<any>(b, 'connect_error')).data.code).toBe('too_many_pending');
  });

  it('after maxFailuresPerAddress failures, attempts get rate_limited without reaching the strategy', async () => {
    t = await app({ maxFailuresPerAddress: 3 });
    for (let i = 0; i < 3; i++)
      expect((await authenticate(connect(t.url), { token: 'wrong' })).error.code).toBe('invalid_credentials');
    const callsBefore = strategyOf(t).calls;
    const ack = await authenticate(connect(t.url), { token: 'alice-token' });
    expect(ack.error).toEqual({ code: 'rate_limited', message: 'Too many failed attempts; try again later' });
    expect(strategyOf(t).calls).toBe(callsBefore);
  });

  it('the failure window ends: attempts are allowed again after failureWindowMs', async () => {
    t = await app({ maxFailuresPerAddress: 1, failureWindowMs: 300 });
    await authenticate(connect(t.url), { token: 'wrong' });
    expect((await authenticate(connect(t.url), { token: 'alice-token' })).error.code).toBe('rate_limited');
    await sleep(350);
    expect((await authenticate(connect(t.url), { token: 'alice-token' })).ok).toBe(true);
  });

  it('trustProxy takes the client address from X-Forwarded-For, so limits apply per real client', async () => {
    t = await app({ trustProxy: true, maxFailuresPerAddress: 1 });
    const from = (ip: string) => connect(t.url, { extraHeaders: { 'x-forwarded-for': `6.6.6.6, ${ip}` } });
    await authenticate(from('10.0.0.1'), { token: 'wrong' });
    expect((await authenticate(from('10.0.0.1'), { token: 'alice-token' })).error.code).toBe('rate_limited');
    expect((await authenticate(from('10.0.0.2'), { token: 'alice-token' })).ok).toBe(true);
    expect(strategyOf(t).contexts.at(-1)?.address).toBe('10.0.0.2');
  });

  it('without trustProxy, X-Forwarded-For is ignored', async () => {
    t = await app({ maxFailuresPerAddress: 1 });
    await authenticate(connect(t.url, { extraHeaders: { 'x-forwarded-for': '10.0.0.1' } }), { token: 'wrong' });
    const ack = await authenticate(connect(t.url, { extraHeaders: { 'x-forwarded-for': '10.0.0.2' } }), {
      token: 'alice-token',
    });
    expect(ack.error.code).toBe('rate_limited');
  });

  it('a strategy that hangs past strategyTimeout fails with server_error, and its late answer changes nothing', async () => {
    let release!: () => void;
    const late = new Promise<void>((r) => (release = r));
    let answered = false;
    const hanging: AuthStrategy = {
      authenticate: async () => {
        await late;
        answered = true;
        return { id: 'late' };
      },
    };
    t = await createApp({ strategy: hanging, timeout: 3000, strategyTimeout: 200 }, { providers: [Gateway] });
    const c = connect(t.url);
    const authenticated = record(c, 'authenticated');
    const ack = await authenticate(c, { token: 'x' });
    expect(ack.error.code).toBe('server_error');
    release();
    await sleep(50);
    expect(answered).toBe(true);
    expect(authenticated).toEqual([]);
    expect(t.auth.stats()).toMatchObject({ authenticated: 0 });
  });

  it("the largest accepted timeout does not fire at once (Node's timer limit); a short one does (control)", async () => {
    t = await app({ timeout: 2 ** 31 - 1 - 500 });
    const short = await app({ timeout: 200 });
    try {
      const patient = connect(t.url);
      const control = connect(short.url);
      await Promise.all([connected(patient), connected(control)]);
      expect((await once(control, 'unauthorized', 3000)).code).toBe('timeout');
      await sleep(300); // past the idle close of a timeout that fired at once (delay 1 ms + 500 ms)
      expect(patient.connected).toBe(true);
    } finally {
      closeClients();
      await short.close();
    }
  });

  it('the strategy timeout never exceeds the auth timeout', async () => {
    const hanging: AuthStrategy = { authenticate: () => new Promise(() => undefined) };
    t = await createApp({ strategy: hanging, timeout: 300, strategyTimeout: 10_000 }, { providers: [Gateway] });
    const c = connect(t.url);
    await connected(c);
    const started = Date.now();
    c.emit('authentication', { token: 'x' });
    // Whichever of the two fires first, the client hears within the auth timeout, not 10 s later.
    expect(['timeout', 'server_error']).toContain((await once(c, 'unauthorized', 3000)).code);
    expect(Date.now() - started).toBeLessThan(1500);
    await sleep(100);
    // Only the failure window's counter is left: an attempt that did not succeed keeps its budget slot.
    expect(t.auth.resourceCounts()).toMatchObject({ timers: 1, limitCounters: 1, sessions: 0 });
  });

  it('allowedOrigins refuses other origins at connect, allows listed ones and origin-less clients', async () => {
    t = await app({ allowedOrigins: ['https://chat.example.com'] });
    const evil = connect(t.url, { extraHeaders: { origin: 'https://evil.example.com' } });
    expect((await once<any>(evil, 'connect_error')).data.code).toBe('forbidden_origin');
    const good = connect(t.url, { extraHeaders: { origin: 'https://chat.example.com' } });
    await connected(good);
    const cli = connect(t.url);
    await connected(cli);
  });
});

describe('handshake credentials', () => {
  let t: TestApp;
  afterEach(async () => {
    closeClients();
    await t?.close();
  });

  it('with handshake:true, credentials in socket.io auth authenticate at connect time', async () => {
    t = await app({ handshake: true });
    const c = connect(t.url, { auth: { token: 'alice-token' } });
    expect(await once(c, 'authenticated')).toEqual({
      sessionId: expect.any(String),
      user: { id: 'alice', name: 'Alice' },
    });
    expect(await c.timeout(2000).emitWithAck('guarded')).toBe('ran');
    expect(strategyOf(t).contexts[0].source).toBe('handshake');
  });

  it('with handshake:true, a message pipelined behind handshake authentication waits for it', async () => {
    t = await app({ handshake: true });
    const c = connect(t.url, { auth: { token: 'alice-token', delayMs: 150 } });
    expect(await c.timeout(3000).emitWithAck('guarded')).toBe('ran');
  });

  it('with handshake:true, bad handshake credentials get the same codes and a disconnect', async () => {
    t = await app({ handshake: true });
    const c = connect(t.url, { auth: { token: 'nope' } });
    const told = once(c, 'unauthorized');
    const gone = once(c, 'disconnect');
    expect(await told).toEqual({ code: 'invalid_credentials', message: 'Invalid credentials' });
    expect(await gone).toBe('io server disconnect');
  });

  it('without handshake:true the auth option is ignored, and query strings are never read', async () => {
    t = await app();
    const c = connect(t.url, { auth: { token: 'alice-token' }, query: { token: 'alice-token' } });
    await connected(c);
    await sleep(100);
    expect(strategyOf(t).calls).toBe(0);
    expect((await c.timeout(2000).emitWithAck('guarded')).error.code).toBe('unauthenticated');
    const q = connect(t.url, { query: { token: 'alice-token' } });
    await connected(q);
    expect(strategyOf(t).calls).toBe(0);
  });

  it('with handshake:true, an empty auth object leaves the socket pending for a message', async () => {
    t = await app({ handshake: true });
    const c = connect(t.url);
    await connected(c);
    expect(strategyOf(t).calls).toBe(0);
    expect((await authenticate(c, { token: 'bob-token' })).ok).toBe(true);
  });
});

describe('strategy answering after the socket left', () => {
  it('sends nothing, calls no hook, and leaves nothing behind', async () => {
    const hook = jest.fn();
    @WebSocketGateway({ namespace: '/late' })
    class LateGateway {
      handleAuthenticated = hook;
    }
    const t = await createApp({ ...tokenAuth, timeout: 3000 }, { providers: [LateGateway] });
    try {
      const c = connect(`${t.url}/late`);
      await connected(c);
      c.emit('authentication', { token: 'alice-token', delayMs: 200 });
      await sleep(50);
      c.disconnect();
      await sleep(300);
      expect(hook).not.toHaveBeenCalled();
      // The failure window keeps the abandoned attempt's slot (and the store its sweep timer); nothing else is left.
      expect(t.auth.resourceCounts()).toMatchObject({
        sessions: 0,
        timers: 1,
        limitCounters: 1,
        heldSockets: 0,
        pendingTotal: 0,
      });
    } finally {
      closeClients();
      await t.close();
    }
  });
});
