/**
 * OpenTelemetry metrics and traces (docs/observability.md), observed the way
 * an operator sees them: the OTel SDK's own MeterProvider and TracerProvider
 * registered as the global providers before the Nest app is created, a metric
 * reader collected by hand and an in-memory span exporter, a real Nest app and
 * real socket.io clients over loopback. Every count is exact: each test drives
 * a known script and compares what was recorded with it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Injectable } from '@nestjs/common';
import {
  type Attributes,
  type Context,
  type ContextManager,
  context,
  type Meter,
  type MeterProvider as ApiMeterProvider,
  metrics,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import {
  AggregationTemporality,
  AggregationType,
  DataPointType,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
  type ViewOptions,
} from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  ConnectedSocket,
  type OnGatewayConnection,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { Manager, type Socket as ClientSocket } from 'socket.io-client';
import {
  Authenticated,
  type AuthPrincipal,
  type AuthSocketModuleOptions,
  type AuthStrategy,
  type OnGatewayAuthenticated,
} from '../../lib/index.js';
import {
  authenticate,
  closeClients,
  connect,
  connected,
  createApp,
  once,
  type TestApp,
  until,
} from '../support/harness.js';

// ── what the test app knows: every secret and id below must never reach telemetry ─────────────────────────────

/** token → principal id. Distinctive strings, so a scan of every attribute finds any that leaked. */
const USERS: Record<string, string> = {
  'tok-secret-alice-4f1c9e': 'pid-alice-91d2b7',
  'tok-secret-alice-fresh-5b2a61': 'pid-alice-91d2b7',
  'tok-secret-bob-77ab03': 'pid-bob-3c0e58',
  'tok-secret-carol-0d9e44': 'pid-carol-a5f712',
  'tok-secret-dave-hook-6e21aa': 'pid-dave-hookfail-2b9c',
  'tok-secret-erin-expiring-19cd3f': 'pid-erin-7d40e1',
};
const PASSWORD = 'pw-credential-hunter2-8c1d';
const WRONG = 'tok-secret-wrong-e3b88a';
const jtiOf = (token: string): string => `jti-${token.slice(11)}`;

/** `{ token, password }` of a known user → that principal, with a `tokenId`; `expiresInMs` sets its expiry. */
@Injectable()
class ScriptStrategy implements AuthStrategy {
  async authenticate(credentials: any): Promise<AuthPrincipal | null> {
    if (credentials?.delayMs) await new Promise((resolve) => setTimeout(resolve, credentials.delayMs));
    if (credentials?.query) trace.getTracer('test-strategy').startSpan('strategy query').end(); // e.g. a database
    const id = USERS[credentials?.token];
    if (!id || credentials.password !== PASSWORD) return null;
    return {
      id,
      tokenId: jtiOf(credentials.token),
      roles: credentials.roles ?? [],
      public: { id, name: id.split('-')[1] },
      ...(credentials.expiresInMs ? { expiresAt: Date.now() + credentials.expiresInMs } : {}),
    };
  }
}

const creds = (token: string, extra: object = {}): object => ({ token, password: PASSWORD, ...extra });

/** Spans the test's own "instrumentation" (the socket.use middleware below) starts for `traced` messages. */
const handlerTracer = () => trace.getTracer('test-instrumentation');

@WebSocketGateway()
class Gateway implements OnGatewayAuthenticated, OnGatewayConnection {
  @WebSocketServer() server!: Server;
  hooked = 0;

  handleConnection(socket: Socket): void {
    // What a socket.io instrumentation does: a span per incoming message, active while it is handled.
    socket.use((packet, next) => {
      if (packet[0] !== 'traced') return next();
      const span = handlerTracer().startSpan('handler traced');
      context.with(trace.setSpan(context.active(), span), next);
    });
  }

  async handleAuthenticated(socket: Socket, principal: AuthPrincipal): Promise<void> {
    this.hooked++;
    if (principal.id.includes('hookfail')) throw new Error('hook exploded');
    await socket.join('hooked');
  }

  @Authenticated()
  @SubscribeMessage('traced')
  traced(): string {
    trace.getActiveSpan()?.end();
    return 'ok';
  }

  @Authenticated()
  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() socket: Socket): string {
    return socket.id;
  }
}

/** The same app with no gateway hook. */
@WebSocketGateway()
class PlainGateway {
  @WebSocketServer() server!: Server;
}

// ── the SDK, as an app starts it before NestFactory.create ─────────────────────────────────────────────────────

/** A reader the test collects by hand (cumulative, the SDK default). */
class TestReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** The context manager @opentelemetry/context-async-hooks provides, in a few lines: active spans follow async work. */
class AlsContextManager implements ContextManager {
  private readonly store = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.store.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.store.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (self: unknown, args: unknown[]): unknown =>
      this.with(ctx, () => (target as (...a: unknown[]) => unknown).apply(self, args));
    return function (this: unknown, ...args: unknown[]) {
      return run(this, args);
    } as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.store.disable();
    return this;
  }
}

interface Sdk {
  reader: TestReader;
  exporter: InMemorySpanExporter;
  /** Every instrument the module created, with its kind and options (through a wrapper around the SDK's meter). */
  created: Array<{ name: string; kind: string; unit?: string }>;
  /** The module's metrics, by name (other scopes are ignored). */
  collect(): Promise<Map<string, MetricData>>;
  /** The module's finished spans, once exported. */
  spans(): Promise<ReadableSpan[]>;
  /** Every finished span (the test's own too), once exported. */
  allSpans(): Promise<ReadableSpan[]>;
  shutdown(): Promise<void>;
}

let sdk: Sdk | undefined;
let t: TestApp | undefined;

const SCOPE = 'nestjs-socket-auth';

function installSdk({
  temporality = AggregationTemporality.CUMULATIVE,
  readers = [],
  views,
}: { temporality?: AggregationTemporality; readers?: MetricReader[]; views?: ViewOptions[] } = {}): Sdk {
  const reader = new TestReader({ aggregationTemporalitySelector: () => temporality });
  const meterProvider = new MeterProvider({ readers: [reader, ...readers], views });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const created: Sdk['created'] = [];
  // The SDK's provider, watched: which instruments the module asks for, under which names, kinds and units.
  const watched: ApiMeterProvider = {
    getMeter(name, version, options) {
      const meter = meterProvider.getMeter(name, version, options);
      if (name !== SCOPE) return meter;
      const wrap = (kind: string, create: (n: string, o?: { unit?: string }) => unknown) =>
        function (n: string, o?: { unit?: string }) {
          created.push({ name: n, kind, unit: o?.unit });
          return create.call(meter, n, o);
        };
      return Object.assign(Object.create(meter), {
        createCounter: wrap('counter', meter.createCounter),
        createHistogram: wrap('histogram', meter.createHistogram),
        createObservableGauge: wrap('gauge', meter.createObservableGauge),
        createUpDownCounter: wrap('updowncounter', meter.createUpDownCounter),
        createObservableCounter: wrap('observablecounter', meter.createObservableCounter),
        createObservableUpDownCounter: wrap('observableupdowncounter', meter.createObservableUpDownCounter),
        createGauge: wrap('syncgauge', meter.createGauge),
      }) as Meter;
    },
  };
  expect(metrics.setGlobalMeterProvider(watched)).toBe(true);
  expect(trace.setGlobalTracerProvider(tracerProvider)).toBe(true);
  expect(context.setGlobalContextManager(new AlsContextManager())).toBe(true);
  return {
    reader,
    exporter,
    created,
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      expect(errors).toEqual([]);
      const out = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics.filter((s) => s.scope.name === SCOPE)) {
        expect(scope.scope.version).toBe('0.2.0');
        for (const m of scope.metrics) out.set(m.descriptor.name, m);
      }
      return out;
    },
    async spans() {
      return (await this.allSpans()).filter((s) => s.instrumentationScope.name === SCOPE);
    },
    async allSpans() {
      await tracerProvider.forceFlush();
      return exporter.getFinishedSpans();
    },
    async shutdown() {
      await Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()]);
    },
  };
}

async function app(options: Partial<AuthSocketModuleOptions> = {}, gateway: object = Gateway): Promise<TestApp> {
  t = await createApp({ strategy: ScriptStrategy, timeout: 5000, ...options } as AuthSocketModuleOptions, {
    providers: [gateway as never],
  });
  return t;
}

afterEach(async () => {
  closeClients();
  await t?.close();
  t = undefined;
  await sdk?.shutdown();
  sdk = undefined;
  metrics.disable();
  trace.disable();
  context.disable();
});

// ── reading what was recorded ──────────────────────────────────────────────────────────────────────────────────

type Point = { attributes: Attributes; value: unknown };

const pointsOf = (m: Map<string, MetricData>, name: string): Point[] =>
  (m.get(name)?.dataPoints as Point[] | undefined) ?? [];

/** The points' attributes and values, sorted, for exact comparison. */
const table = (m: Map<string, MetricData>, name: string): Array<[Attributes, unknown]> =>
  pointsOf(m, name)
    .map((p): [Attributes, unknown] => [p.attributes, p.value])
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

/** Histogram counts by attributes. */
const counts = (m: Map<string, MetricData>, name: string): Array<[Attributes, number]> => {
  const metric = m.get(name);
  if (!metric) return [];
  expect(metric.dataPointType).toBe(DataPointType.HISTOGRAM);
  return table(m, name).map(([a, v]) => [a, (v as Histogram).count]);
};

const gauge = (m: Map<string, MetricData>, name: string): unknown => {
  const points = pointsOf(m, name);
  expect(points).toHaveLength(1);
  return points[0]!.value;
};

/** Metric names that recorded anything. */
const recorded = (m: Map<string, MetricData>): string[] =>
  [...m.values()]
    .filter((x) => x.dataPoints.length)
    .map((x) => x.descriptor.name)
    .sort();

const id = (s: ReadableSpan): string => s.spanContext().spanId;
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;
const attempts = (spans: ReadableSpan[]): ReadableSpan[] =>
  spans.filter((s) => s.name === 'socket_auth authenticate' || s.name === 'socket_auth refresh');

/**
 * Every string telemetry carries: span names, attributes (keys and values), status messages, events, links;
 * each metric point's attributes. What a scan for secrets and ids runs over.
 */
function everything(spans: ReadableSpan[], m: Map<string, MetricData>): string {
  const parts: unknown[] = [];
  for (const s of spans)
    parts.push(
      s.name,
      s.attributes,
      s.status,
      s.events,
      s.links.map((l) => l.attributes ?? {}),
    );
  for (const metric of m.values()) for (const p of metric.dataPoints) parts.push(p.attributes);
  return JSON.stringify(parts);
}

const SECRETS = [...Object.keys(USERS), ...Object.values(USERS), ...Object.keys(USERS).map(jtiOf), PASSWORD, WRONG];

function expectNoSecrets(spans: ReadableSpan[], m: Map<string, MetricData>, more: string[] = []): void {
  const text = everything(spans, m);
  const found = [...SECRETS, ...more].filter((secret) => text.includes(secret));
  expect(found).toEqual([]);
  // Not even a fragment: every principal id shares "pid-", every token "tok-secret".
  expect(text).not.toMatch(/pid-|tok-secret|jti-|hunter2/);
}

const serverSocket = (c: ClientSocket): Socket => (t!.app.get(Gateway) as Gateway).server.of('/').sockets.get(c.id!)!;

// ── the scripted run ───────────────────────────────────────────────────────────────────────────────────

describe('the scripted run: 3 successes, 2 invalid_credentials, 1 timeout, 1 refresh, 1 revoke', () => {
  it('counts each exactly, reads the gauges at a point, and traces one span per attempt with its steps', async () => {
    sdk = installSdk();
    await app({ timeout: 1500 });

    // 3 successes
    const alice = connect(t!.url);
    const bob = connect(t!.url);
    const carol = connect(t!.url);
    const acks = [
      await authenticate(alice, creds('tok-secret-alice-4f1c9e')),
      await authenticate(bob, creds('tok-secret-bob-77ab03')),
      await authenticate(carol, creds('tok-secret-carol-0d9e44')),
    ];
    for (const ack of acks) expect(ack).toMatchObject({ ok: true });
    // 2 invalid_credentials (a failed first attempt ends its session: one connection each)
    for (const credentials of [
      { token: WRONG, password: PASSWORD },
      creds('tok-secret-bob-77ab03', { password: 'x' }),
    ]) {
      const wrong = connect(t!.url);
      expect(await authenticate(wrong, credentials)).toMatchObject({
        ok: false,
        error: { code: 'invalid_credentials' },
      });
      await until(() => !wrong.connected, 3000, 'the refused socket to go');
    }
    // 1 timeout: connected, never authenticates
    const silent = connect(t!.url);
    const timedOut = once(silent, 'unauthorized', 5000);
    await connected(silent);

    // The gauges at this point: the silent socket is pending, three are authenticated.
    await until(() => t!.auth.stats().pending === 1, 3000, 'one pending socket');
    const during = await sdk.collect();
    expect(gauge(during, 'socket_auth.sockets.pending')).toBe(1);
    expect(gauge(during, 'socket_auth.sockets.authenticated')).toBe(3);
    expect(pointsOf(during, 'socket_auth.sockets.pending')[0]!.attributes).toEqual({});

    expect(await timedOut).toMatchObject({ code: 'timeout' });
    // 1 refresh: alice sends fresh credentials on her live session
    const refreshed = await alice.timeout(3000).emitWithAck('authentication', creds('tok-secret-alice-fresh-5b2a61'));
    expect(refreshed).toMatchObject({ ok: true });
    // 1 revoke: bob, everywhere
    const bobGone = once(bob, 'unauthorized');
    expect(await t!.auth.revoke('pid-bob-3c0e58')).toMatchObject({ disconnected: 1 });
    expect(await bobGone).toMatchObject({ code: 'revoked' });
    await until(() => t!.auth.stats().authenticated === 2 && t!.auth.stats().pending === 0, 3000, 'bob to go');

    const m = await sdk.collect();
    const ns = { 'socket.io.namespace': '/' };
    expect(table(m, 'socket_auth.attempts')).toEqual(
      [
        [{ ...ns, 'socket_auth.result': 'accepted', 'socket_auth.refresh': false }, 3],
        [{ ...ns, 'socket_auth.result': 'accepted', 'socket_auth.refresh': true }, 1],
        [
          { ...ns, 'socket_auth.result': 'refused', 'socket_auth.refresh': false, 'error.type': 'invalid_credentials' },
          2,
        ],
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    expect(table(m, 'socket_auth.timeouts')).toEqual([[ns, 1]]);
    expect(table(m, 'socket_auth.refreshes')).toEqual([[ns, 1]]);
    expect(table(m, 'socket_auth.revocations')).toEqual([[{ 'socket_auth.revocation.target': 'principal' }, 1]]);
    // Six strategy calls: four accepted (three first ones, the refresh), two refused. Hooks: the three first ones.
    expect(counts(m, 'socket_auth.strategy.duration')).toEqual([
      [{ 'socket_auth.result': 'error' }, 2],
      [{ 'socket_auth.result': 'ok' }, 4],
    ]);
    expect(counts(m, 'socket_auth.hooks.duration')).toEqual([[{ 'socket_auth.result': 'ok' }, 3]]);
    for (const p of pointsOf(m, 'socket_auth.strategy.duration')) {
      const h = p.value as Histogram;
      expect(h.min).toBeGreaterThanOrEqual(0);
      expect(h.max).toBeLessThan(1.5); // seconds, not milliseconds
    }
    expect(gauge(m, 'socket_auth.sockets.pending')).toBe(0);
    expect(gauge(m, 'socket_auth.sockets.authenticated')).toBe(2);
    // Nothing else happened, so nothing else counted.
    expect(recorded(m)).toEqual([
      'socket_auth.attempts',
      'socket_auth.hooks.duration',
      'socket_auth.refreshes',
      'socket_auth.revocations',
      'socket_auth.sockets.authenticated',
      'socket_auth.sockets.pending',
      'socket_auth.strategy.duration',
      'socket_auth.timeouts',
    ]);

    // ── spans ──
    const spans = await sdk.spans();
    const tries = attempts(spans);
    expect(tries.map((s) => s.name).sort()).toEqual([
      ...Array(5).fill('socket_auth authenticate'),
      'socket_auth refresh',
    ]);
    expect(spans).toHaveLength(6 + 6 + 3); // the attempts, a strategy step each, the hooks of three
    for (const s of tries) {
      expect(parentOf(s)).toBeUndefined(); // roots: nothing was active when the message arrived
      expect(Object.keys(s.attributes).sort()).toEqual(
        [
          'socket.io.namespace',
          'socket_auth.source',
          'socket_auth.refresh',
          ...(s.status.code === SpanStatusCode.ERROR ? ['error.type'] : []),
        ].sort(),
      );
      expect(s.attributes).toMatchObject({ ...ns, 'socket_auth.source': 'message' });
      expect(s.attributes['socket_auth.refresh']).toBe(s.name === 'socket_auth refresh');
    }
    const refused = tries.filter((s) => s.status.code === SpanStatusCode.ERROR);
    const accepted = tries.filter((s) => s.status.code === SpanStatusCode.OK);
    expect(refused).toHaveLength(2);
    expect(accepted).toHaveLength(4);
    for (const s of refused) {
      expect(s.attributes['error.type']).toBe('invalid_credentials');
      expect(s.status.message).toBe('invalid_credentials');
    }
    // Each attempt has exactly one strategy child, in its trace; the hooks belong to the three accepted first ones.
    const children = (s: ReadableSpan, name: string) => spans.filter((c) => parentOf(c) === id(s) && c.name === name);
    for (const s of tries) {
      const [step, ...more] = children(s, 'socket_auth strategy');
      expect(more).toEqual([]);
      expect(step!.spanContext().traceId).toBe(s.spanContext().traceId);
      expect(step!.status.code).toBe(
        s.status.code === SpanStatusCode.ERROR ? SpanStatusCode.ERROR : SpanStatusCode.UNSET,
      );
      expect(step!.attributes).toEqual({});
    }
    const firstAccepted = accepted.filter((s) => s.name === 'socket_auth authenticate');
    expect(firstAccepted).toHaveLength(3);
    for (const s of firstAccepted) expect(children(s, 'socket_auth hooks')).toHaveLength(1);
    for (const s of [...refused, ...accepted.filter((x) => x.name === 'socket_auth refresh')])
      expect(children(s, 'socket_auth hooks')).toEqual([]);
    expect(
      spans.filter((s) => s.name === 'socket_auth hooks').every((s) => s.status.code !== SpanStatusCode.ERROR),
    ).toBe(true);
    // The strategy ran inside its attempt: the child's interval lies within its parent's (give or take the SDK's
    // clock: each span anchors its times on Date.now() when it starts, so two spans can disagree by a millisecond).
    const skew = 2e6;
    for (const s of tries) {
      const [step] = children(s, 'socket_auth strategy');
      expect(hr(step!.startTime)).toBeGreaterThanOrEqual(hr(s.startTime) - skew);
      expect(hr(step!.endTime)).toBeLessThanOrEqual(hr(s.endTime) + skew);
    }

    // ── privacy: no token, credential, principal id, token id, session id, socket id or address anywhere ──
    const sessionIds = [...acks, refreshed].map((a) => a.sessionId as string);
    expect(sessionIds.every((x) => typeof x === 'string' && x.length > 8)).toBe(true);
    const socketIds = [alice, carol].map((c) => c.id!);
    expectNoSecrets(spans, m, [...sessionIds, ...socketIds, '127.0.0.1']);
    expect(everything(spans, m)).not.toContain('client.address');
  });
});

const hr = ([s, ns]: [number, number]): number => s * 1e9 + ns;

// ── addresses: opt-in, and on spans only ───────────────────────────────────────────────────────────────────────

describe('client.address', () => {
  it('is on attempt spans only with telemetry: { addresses: true }, and never on a metric', async () => {
    sdk = installSdk();
    await app({ telemetry: { addresses: true } });
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-carol-0d9e44'))).toMatchObject({ ok: true });
    const wrong = connect(t!.url);
    expect(await authenticate(wrong, { token: WRONG })).toMatchObject({ ok: false });
    const m = await sdk.collect();
    const tries = attempts(await sdk.spans());
    expect(tries).toHaveLength(2);
    for (const s of tries) expect(s.attributes['client.address']).toBe('127.0.0.1');
    // Only the attempt spans carry it: not their steps, not a metric point.
    const others = (await sdk.spans()).filter((s) => !tries.includes(s));
    expect(others.length).toBeGreaterThan(0);
    expect(everything(others, m)).not.toMatch(/client\.address|127\.0\.0\.1/);
    expectNoSecrets(await sdk.spans(), m);
  });

  it('is absent by default (control for the test above: same run, option left out)', async () => {
    sdk = installSdk();
    await app();
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-carol-0d9e44'))).toMatchObject({ ok: true });
    const [span] = attempts(await sdk.spans());
    expect(span!.attributes).not.toHaveProperty('client.address');
    expect(everything(await sdk.spans(), await sdk.collect())).not.toContain('127.0.0.1');
  });
});

// ── guarded handlers link to the authentication ────────────────────────────────────────────────────────────────

describe('links from guarded handlers', () => {
  it("an @Authenticated() handler's active span links to the socket's last successful authentication", async () => {
    sdk = installSdk();
    await app();
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-alice-4f1c9e'))).toMatchObject({ ok: true });
    const handlerSpans = async () => (await sdk!.allSpans()).filter((s) => s.name === 'handler traced');
    const linkOf = (s: ReadableSpan) => s.links.map((l) => l.context.spanId);

    expect(await c.timeout(3000).emitWithAck('traced')).toBe('ok');
    const [auth] = attempts(await sdk.spans());
    expect(await handlerSpans()).toHaveLength(1);
    const [first] = await handlerSpans();
    expect(first!.links).toHaveLength(1);
    expect(first!.links[0]!.context).toMatchObject({ spanId: id(auth!), traceId: auth!.spanContext().traceId });
    expect(first!.links[0]!.attributes ?? {}).toEqual({});
    // A link, not a parent: the handler's trace is its own.
    expect(first!.spanContext().traceId).not.toBe(auth!.spanContext().traceId);

    // After a refresh, the link goes to the refresh; a refused refresh does not move it.
    expect(await c.timeout(3000).emitWithAck('authentication', creds('tok-secret-alice-fresh-5b2a61'))).toMatchObject({
      ok: true,
    });
    expect(await c.timeout(3000).emitWithAck('authentication', { token: WRONG })).toMatchObject({ ok: false });
    const refresh = (await sdk.spans()).find(
      (s) => s.name === 'socket_auth refresh' && s.status.code === SpanStatusCode.OK,
    )!;
    expect(refresh).toBeDefined();
    expect(await c.timeout(3000).emitWithAck('traced')).toBe('ok');
    expect(await handlerSpans()).toHaveLength(2);
    expect(linkOf((await handlerSpans())[1]!)).toEqual([id(refresh)]);
  });

  it('a handler with no active span, or a socket never authenticated, gets no link and no error', async () => {
    sdk = installSdk();
    await app();
    const c = connect(t!.url);
    // Pending: the guard refuses, and the span the middleware started has nothing to link to.
    const refusal = await c
      .timeout(3000)
      .emitWithAck('traced')
      .catch((err: Error) => err);
    expect(refusal).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    expect(await authenticate(c, creds('tok-secret-alice-4f1c9e'))).toMatchObject({ ok: true });
    // No span active (the middleware traces only `traced`): nothing to add a link to.
    expect(await c.timeout(3000).emitWithAck('whoami')).toBe(c.id);
    // And through the service directly, inside an active span: the link is added there.
    const tracer = handlerTracer();
    const server = serverSocket(c);
    tracer.startActiveSpan('by hand', (span) => {
      t!.auth.linkToSession(server);
      span.end();
    });
    t!.auth.linkToSession(server); // no active span: nothing happens
    const byHand = (await sdk.allSpans()).find((s) => s.name === 'by hand')!;
    expect(byHand.links.map((l) => l.context.spanId)).toEqual([id(attempts(await sdk.spans())[0]!)]);
    const unauthenticated = (await sdk.allSpans()).filter((s) => s.name === 'handler traced');
    // The refused message's span was never ended by the handler: it is not exported, so it links nowhere.
    expect(unauthenticated).toEqual([]);
  });
});

// ── telemetry: false ───────────────────────────────────────────────────────────────────────────────────────────

/** One success, one refusal, one timeout, one refresh, one revoke. */
async function shortRun(): Promise<void> {
  const ok = connect(t!.url);
  expect(await authenticate(ok, creds('tok-secret-alice-4f1c9e'))).toMatchObject({ ok: true });
  const wrong = connect(t!.url);
  expect(await authenticate(wrong, { token: WRONG })).toMatchObject({ ok: false });
  const silent = connect(t!.url);
  expect(await once(silent, 'unauthorized', 3000)).toMatchObject({ code: 'timeout' });
  expect(await ok.timeout(3000).emitWithAck('authentication', creds('tok-secret-alice-fresh-5b2a61'))).toMatchObject({
    ok: true,
  });
  expect(await ok.timeout(3000).emitWithAck('traced')).toBe('ok');
  await t!.auth.revoke('pid-alice-91d2b7');
}

describe('telemetry: false', () => {
  it('records nothing with an SDK installed: no instrument, no span, no link', async () => {
    sdk = installSdk();
    await app({ telemetry: false, timeout: 300 });
    await shortRun();
    expect(sdk.created).toEqual([]);
    const m = await sdk.collect();
    expect([...m.keys()]).toEqual([]);
    expect(await sdk.spans()).toEqual([]);
    const handler = (await sdk.allSpans()).filter((s) => s.name === 'handler traced');
    expect(handler).toHaveLength(1); // the app's own span is there: the SDK was recording
    expect(handler[0]!.links).toEqual([]);
  });

  it('positive control: the same run with telemetry on records it', async () => {
    sdk = installSdk();
    await app({ timeout: 300 });
    await shortRun();
    const m = await sdk.collect();
    expect(pointsOf(m, 'socket_auth.attempts').reduce((n, p) => n + (p.value as number), 0)).toBe(3);
    expect(table(m, 'socket_auth.timeouts')).toEqual([[{ 'socket.io.namespace': '/' }, 1]]);
    expect(table(m, 'socket_auth.revocations')).toEqual([[{ 'socket_auth.revocation.target': 'principal' }, 1]]);
    expect(attempts(await sdk.spans())).toHaveLength(3);
    const handler = (await sdk.allSpans()).filter((s) => s.name === 'handler traced');
    expect(handler[0]!.links).toHaveLength(1);
  });
});

// ── the other instruments, one scenario each ───────────────────────────────────────────────────────────────────

describe('socket_auth.admission.refusals', () => {
  it('counts connections refused before they were accepted, by wire code and namespace', async () => {
    sdk = installSdk();
    await app({ allowedOrigins: ['https://app.example'], maxPending: 1 });
    // Control: an allowed origin is accepted (and holds the one pending slot).
    const allowed = connect(t!.url, { extraHeaders: { origin: 'https://app.example' } });
    await connected(allowed);
    const evil = connect(t!.url, { extraHeaders: { origin: 'https://evil.example' } });
    expect((await once<any>(evil, 'connect_error')).data).toMatchObject({ code: 'forbidden_origin' });
    const second = connect(t!.url, { extraHeaders: { origin: 'https://app.example' } });
    expect((await once<any>(second, 'connect_error')).data).toMatchObject({ code: 'too_many_pending' });
    const third = connect(t!.url, { extraHeaders: { origin: 'https://app.example' } });
    expect((await once<any>(third, 'connect_error')).data).toMatchObject({ code: 'too_many_pending' });
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.admission.refusals')).toEqual([
      [{ 'error.type': 'forbidden_origin', 'socket.io.namespace': '/' }, 1],
      [{ 'error.type': 'too_many_pending', 'socket.io.namespace': '/' }, 2],
    ]);
    // A refusal at admission is no attempt: no span, no attempt counted.
    expect(pointsOf(m, 'socket_auth.attempts')).toEqual([]);
    expect(await sdk.spans()).toEqual([]);
    expect(t!.auth.health()).toEqual({ limitStore: 'up', revocationStore: 'up', pending: 1, maxPending: 1 });
  });
});

describe('socket_auth.idle_closes', () => {
  it('counts a connection closed because it held no useful socket (it never sent CONNECT)', async () => {
    sdk = installSdk();
    await app({ timeout: 300 });
    // An engine.io connection with no namespace socket: the Manager alone, no io.socket().
    const manager = new Manager(t!.url, { transports: ['websocket'], reconnection: false, autoConnect: false });
    const closed = new Promise<string>((resolve) => manager.on('close', resolve));
    manager.open();
    await new Promise<void>((resolve) => manager.on('open', resolve));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise((resolve) => (timer = setTimeout(() => resolve('still open'), 300 + 500 + 3000)));
    expect(await Promise.race([closed, late])).not.toBe('still open');
    clearTimeout(timer);
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.idle_closes')).toEqual([[{}, 1]]);
    expect(pointsOf(m, 'socket_auth.timeouts')).toEqual([]); // it held no session to time out
  });
});

describe('socket_auth.rooms.refusals', () => {
  it('counts policed joins refused, by namespace and by how the join came', async () => {
    sdk = installSdk();
    await app({ rooms: [{ room: 'admins', require: { roles: ['admin'] } }], clientRooms: true });
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-carol-0d9e44'))).toMatchObject({ ok: true });
    const admin = connect(t!.url);
    expect(await authenticate(admin, creds('tok-secret-alice-4f1c9e', { roles: ['admin'] }))).toMatchObject({
      ok: true,
    });
    // Control: the admin may join; carol may not, through the client protocol or the service.
    expect(await admin.timeout(3000).emitWithAck('join', { room: 'admins' })).toEqual({ ok: true, room: 'admins' });
    expect(await c.timeout(3000).emitWithAck('join', { room: 'admins' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await t!.auth.join(serverSocket(c), 'admins')).toBe(false);
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.rooms.refusals')).toEqual([
      [{ 'socket.io.namespace': '/', 'socket_auth.via': 'client' }, 1],
      [{ 'socket.io.namespace': '/', 'socket_auth.via': 'join' }, 1],
    ]);
    expect(everything(await sdk.spans(), m)).not.toContain('admins'); // the room name is not an attribute either
    expectNoSecrets(await sdk.spans(), m);
  });
});

describe('socket_auth.expiries', () => {
  it('counts sessions whose credentials expired', async () => {
    sdk = installSdk();
    await app({ refreshAhead: false });
    const c = connect(t!.url);
    const expired = once(c, 'unauthorized', 5000);
    expect(await authenticate(c, creds('tok-secret-erin-expiring-19cd3f', { expiresInMs: 400 }))).toMatchObject({
      ok: true,
    });
    expect(await expired).toMatchObject({ code: 'expired' });
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.expiries')).toEqual([[{ 'socket.io.namespace': '/' }, 1]]);
    expect(pointsOf(m, 'socket_auth.timeouts')).toEqual([]);
    expect(pointsOf(m, 'socket_auth.revocations')).toEqual([]);
    expectNoSecrets(await sdk.spans(), m);
  });
});

describe('socket_auth.revocations', () => {
  it('one per revoke() call, by target: principal, token; and one per session ended by end()', async () => {
    sdk = installSdk();
    await app();
    const a = connect(t!.url);
    const b = connect(t!.url);
    const c = connect(t!.url);
    await authenticate(a, creds('tok-secret-alice-4f1c9e'));
    const bAck = await authenticate(b, creds('tok-secret-bob-77ab03'));
    await authenticate(c, creds('tok-secret-carol-0d9e44'));
    await t!.auth.revoke({ tokenId: jtiOf('tok-secret-alice-4f1c9e') });
    expect(await t!.auth.end(bAck.sessionId)).toMatchObject({ ended: true });
    await t!.auth.revoke('pid-carol-a5f712');
    await t!.auth.revoke('pid-nobody-at-all'); // a call that ends nothing still counts: it denies from now on
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.revocations')).toEqual([
      [{ 'socket_auth.revocation.target': 'principal' }, 2],
      [{ 'socket_auth.revocation.target': 'session' }, 1],
      [{ 'socket_auth.revocation.target': 'token' }, 1],
    ]);
    expectNoSecrets(await sdk.spans(), m, [bAck.sessionId, 'pid-nobody-at-all']);
  });
});

describe('socket_auth.hooks.duration and the hooks span', () => {
  it('a failing handleAuthenticated: hooks span ERROR, the attempt refused server_error', async () => {
    sdk = installSdk();
    await app();
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-dave-hook-6e21aa'))).toMatchObject({
      ok: false,
      error: { code: 'server_error' },
    });
    const m = await sdk.collect();
    expect(counts(m, 'socket_auth.hooks.duration')).toEqual([[{ 'socket_auth.result': 'error' }, 1]]);
    expect(counts(m, 'socket_auth.strategy.duration')).toEqual([[{ 'socket_auth.result': 'ok' }, 1]]);
    expect(table(m, 'socket_auth.attempts')).toEqual([
      [
        {
          'socket.io.namespace': '/',
          'socket_auth.result': 'refused',
          'socket_auth.refresh': false,
          'error.type': 'server_error',
        },
        1,
      ],
    ]);
    const [attempt] = attempts(await sdk.spans());
    expect(attempt!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'server_error' });
    const hooks = (await sdk.spans()).find((s) => s.name === 'socket_auth hooks')!;
    expect(parentOf(hooks)).toBe(id(attempt!));
    expect(hooks.status.code).toBe(SpanStatusCode.ERROR);
    expect(everything(await sdk.spans(), m)).not.toContain('hook exploded'); // the error's message stays in the log
    expectNoSecrets(await sdk.spans(), m);
  });

  // LIB BUG (reported): AuthSocketService always passes `beforeAuthenticated` to SocketAuth, so authenticator.ts's
  // `this.parts.hooks ? attempt.trace?.step('hooks') : undefined` is always a step, with or without gateway hooks.
  // `it.failing` until it is fixed: then this fails, and `.failing` goes.
  it('nothing is recorded for hooks when no gateway of the namespace has handleAuthenticated', async () => {
    sdk = installSdk();
    await app({}, PlainGateway);
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-alice-4f1c9e'))).toMatchObject({ ok: true });
    const m = await sdk.collect();
    expect(counts(m, 'socket_auth.strategy.duration')).toEqual([[{ 'socket_auth.result': 'ok' }, 1]]);
    // docs/observability.md: "only when gateways have hooks".
    expect(counts(m, 'socket_auth.hooks.duration')).toEqual([]);
    expect((await sdk.spans()).filter((s) => s.name === 'socket_auth hooks')).toEqual([]);
  });
});

describe("the strategy's own spans", () => {
  it('are not children of the strategy step: the module does not make its step spans active', async () => {
    sdk = installSdk();
    await app();
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-carol-0d9e44', { query: true }))).toMatchObject({ ok: true });
    const all = await sdk.allSpans();
    const query = all.find((s) => s.name === 'strategy query')!;
    const step = all.find((s) => s.name === 'socket_auth strategy')!;
    expect(step).toBeDefined();
    expect(query.parentSpanContext).toBeUndefined(); // a root: nothing was active when the message arrived
    expect(query.spanContext().traceId).not.toBe(step.spanContext().traceId);
  });
});

describe('attempts the module ends by itself', () => {
  it('a timeout that cuts an attempt short ends it with error.type timeout, and counts the timeout', async () => {
    sdk = installSdk();
    await app({ timeout: 300 });
    const c = connect(t!.url);
    await connected(c);
    c.emit('authentication', creds('tok-secret-bob-77ab03', { delayMs: 1000 })); // the strategy outlives the timeout
    expect(await once(c, 'unauthorized')).toMatchObject({ code: 'timeout' });
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.attempts')).toEqual([
      [
        {
          'socket.io.namespace': '/',
          'socket_auth.result': 'refused',
          'socket_auth.refresh': false,
          'error.type': 'timeout',
        },
        1,
      ],
    ]);
    expect(table(m, 'socket_auth.timeouts')).toEqual([[{ 'socket.io.namespace': '/' }, 1]]);
    const [span] = attempts(await sdk.spans());
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'timeout' });
  });

  it('a client that leaves mid-attempt: the attempt ends refused with error.type server_error (no code to tell)', async () => {
    sdk = installSdk();
    await app();
    const c = connect(t!.url);
    await connected(c);
    c.emit('authentication', creds('tok-secret-bob-77ab03', { delayMs: 300 }));
    await until(() => t!.auth.resourceCounts().sessions === 1, 3000, 'the attempt to start');
    await new Promise((resolve) => setTimeout(resolve, 50));
    c.disconnect();
    await until(() => t!.auth.resourceCounts().sessions === 0, 3000, 'the session to end');
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.attempts')).toEqual([
      [
        {
          'socket.io.namespace': '/',
          'socket_auth.result': 'refused',
          'socket_auth.refresh': false,
          'error.type': 'server_error',
        },
        1,
      ],
    ]);
    // Not a failure the module counts: stats() has none, nor is a timeout or anything else recorded.
    expect(t!.auth.stats().failures).toEqual({});
    expect(counts(m, 'socket_auth.strategy.duration')).toEqual([[{ 'socket_auth.result': 'error' }, 1]]); // abandoned
    expect(recorded(m)).toEqual([
      'socket_auth.attempts',
      'socket_auth.sockets.authenticated',
      'socket_auth.sockets.pending',
      'socket_auth.strategy.duration',
    ]);
  });

  it('a second authentication while one is in flight (in_progress) is not an attempt', async () => {
    sdk = installSdk();
    await app();
    const c = connect(t!.url);
    await connected(c);
    const first = c.timeout(3000).emitWithAck('authentication', creds('tok-secret-carol-0d9e44', { delayMs: 100 }));
    expect(await c.timeout(3000).emitWithAck('authentication', creds('tok-secret-carol-0d9e44'))).toMatchObject({
      ok: false,
      error: { code: 'in_progress' },
    });
    expect(await first).toMatchObject({ ok: true });
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.attempts')).toEqual([
      [{ 'socket.io.namespace': '/', 'socket_auth.result': 'accepted', 'socket_auth.refresh': false }, 1],
    ]);
    expect(attempts(await sdk.spans())).toHaveLength(1);
  });

  // LIB BUG (reported): a payload refused by parseCredentials (bad_request: not an object or string, or over
  // maxCredentialsBytes) is refused before `startAttempt`, so it is neither counted nor traced, though the client
  // was refused with a code and stats().failures counts it. `it.failing` until it is fixed.
  it('a malformed payload is a refused attempt with error.type bad_request', async () => {
    sdk = installSdk();
    await app();
    const c = connect(t!.url);
    expect(await authenticate(c, 42)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(t!.auth.stats().failures).toEqual({ bad_request: 1 });
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.attempts')).toEqual([
      [
        {
          'socket.io.namespace': '/',
          'socket_auth.result': 'refused',
          'socket_auth.refresh': false,
          'error.type': 'bad_request',
        },
        1,
      ],
    ]);
  });
});

describe('the gauges', () => {
  it('stop reporting once the app closes', async () => {
    sdk = installSdk({ temporality: AggregationTemporality.DELTA }); // delta: a point only for what was observed since the last collect
    await app();
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-carol-0d9e44'))).toMatchObject({ ok: true });
    expect(gauge(await sdk.collect(), 'socket_auth.sockets.authenticated')).toBe(1);
    closeClients();
    await t!.close();
    t = undefined;
    const m = await sdk.collect();
    expect(pointsOf(m, 'socket_auth.sockets.authenticated')).toEqual([]);
    expect(pointsOf(m, 'socket_auth.sockets.pending')).toEqual([]);
  });
});

describe('handshake attempts', () => {
  it("an attempt from socket.io's handshake auth is traced with socket_auth.source 'handshake'", async () => {
    sdk = installSdk();
    await app({ handshake: true });
    const c = connect(t!.url, { auth: creds('tok-secret-carol-0d9e44') as Record<string, unknown> });
    await once(c, 'authenticated');
    const [span] = attempts(await sdk.spans());
    expect(span!.attributes['socket_auth.source']).toBe('handshake');
    expect(span!.status.code).toBe(SpanStatusCode.OK);
    const m = await sdk.collect();
    expect(table(m, 'socket_auth.attempts')).toEqual([
      [{ 'socket.io.namespace': '/', 'socket_auth.result': 'accepted', 'socket_auth.refresh': false }, 1],
    ]);
    expectNoSecrets(await sdk.spans(), m);
  });
});

describe('Prometheus', () => {
  it('the exporter serves every recorded instrument under the names docs/observability.md gives', async () => {
    const prometheus = new PrometheusExporter({ preventServerStart: true });
    sdk = installSdk({ readers: [prometheus] });
    await app({ timeout: 300 });
    await shortRun();
    // What GET /metrics answers (the handler an app mounts on its own route, as the sample does).
    const body = await new Promise<string>((resolve) =>
      prometheus.getMetricsRequestHandler({} as never, { setHeader() {}, end: resolve } as never),
    );
    const series = (name: string) => body.split('\n').filter((line) => line.startsWith(`${name}{`));
    expect(series('socket_auth_attempts_total')).toHaveLength(3);
    expect(body).toContain(
      'socket_auth_attempts_total{socket_io_namespace="/",socket_auth_result="refused",socket_auth_refresh="false",error_type="invalid_credentials",otel_scope_name="nestjs-socket-auth",otel_scope_version="0.2.0"} 1',
    );
    for (const name of [
      'socket_auth_strategy_duration_count',
      'socket_auth_strategy_duration_bucket',
      'socket_auth_hooks_duration_count',
      'socket_auth_refreshes_total',
      'socket_auth_revocations_total',
      'socket_auth_timeouts_total',
      'socket_auth_sockets_pending',
      'socket_auth_sockets_authenticated',
    ])
      expect(series(name).length).toBeGreaterThan(0);
    expect(body).toContain('# TYPE socket_auth_sockets_pending gauge');
    expect(body).not.toMatch(/pid-|tok-secret|jti-|hunter2|127\.0\.0\.1/);
  });

  // LIB BUG (reported): the histograms are in seconds but give no bucket advice, so the SDK's default boundaries
  // (0, 5, 10, 25 … 10000, meant for milliseconds) apply: every authentication below 5 s lands in one bucket and no
  // percentile can be read from them. `advice: { explicitBucketBoundaries: [0.005, 0.01, …, 10] }` (what the
  // semantic conventions give `http.server.request.duration`) would fix it. `it.failing` until then.
  it('the duration histograms resolve sub-second durations (bucket boundaries in seconds)', async () => {
    sdk = installSdk();
    await app();
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-carol-0d9e44'))).toMatchObject({ ok: true });
    const m = await sdk.collect();
    for (const name of ['socket_auth.strategy.duration', 'socket_auth.hooks.duration']) {
      const [point] = pointsOf(m, name);
      const { boundaries } = (point!.value as Histogram).buckets;
      expect(boundaries.filter((b) => b > 0 && b < 1).length).toBeGreaterThanOrEqual(5);
    }
  });
});

describe('bucket boundaries through a view', () => {
  it("the view docs/observability.md gives puts an authentication's durations in sub-second buckets", async () => {
    const boundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
    sdk = installSdk({
      views: [
        {
          instrumentName: 'socket_auth.*',
          aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries } },
        },
      ],
    });
    await app();
    const c = connect(t!.url);
    expect(await authenticate(c, creds('tok-secret-carol-0d9e44', { delayMs: 30 }))).toMatchObject({ ok: true });
    const m = await sdk.collect();
    const [point] = pointsOf(m, 'socket_auth.strategy.duration');
    const { buckets, count } = point!.value as Histogram;
    expect(count).toBe(1);
    expect(buckets.boundaries).toEqual(boundaries);
    // 30 ms of strategy: in (0.025, 0.05] or, on a slow machine, a later bucket; never the first ones.
    const bucket = buckets.counts.findIndex((n) => n === 1);
    expect(bucket).toBeGreaterThanOrEqual(boundaries.indexOf(0.05));
    expect(bucket).toBeLessThan(boundaries.length); // not the overflow bucket
  });
});

// ── the documentation lists exactly what the module creates ───────────────────────────────────────────────────

describe('docs/observability.md', () => {
  it('lists every instrument the module creates, with its kind and unit, and no other', async () => {
    sdk = installSdk();
    await app();
    const doc = readFileSync(fileURLToPath(new URL('../../docs/observability.md', import.meta.url)), 'utf8');
    // The instruments table: | `name` | kind | `unit` | …
    const rows = [...doc.matchAll(/^\| `(socket_auth\.[a-z_.]+)` \| ([a-z ]+) \| `([^`]+)` \|/gm)].map(
      ([, name, kind, unit]) => ({
        name: name!,
        kind: kind!.trim(),
        unit: unit!,
      }),
    );
    const kinds: Record<string, string> = { counter: 'counter', histogram: 'histogram', gauge: 'observable gauge' };
    const made = sdk.created.map((c) => ({ name: c.name, kind: kinds[c.kind] ?? c.kind, unit: c.unit! }));
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(rows.sort(byName)).toEqual(made.sort(byName));
    expect(made).toHaveLength(12);
    // And the span names.
    for (const name of ['socket_auth authenticate', 'socket_auth refresh', 'socket_auth strategy', 'socket_auth hooks'])
      expect(doc).toContain(`\`${name}\``);
  });
});
