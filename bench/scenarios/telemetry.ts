/**
 * telemetry_cost: what the module's OpenTelemetry instrumentation costs, in one
 * run, on the same app (one @Authenticated() handler, a token check):
 *
 * In process (the goals), as jwks.ts measures: two apps in this process, which
 * registers no SDK, one with `telemetry: false`, one with the default
 * (`telemetry: true`, @opentelemetry/api installed, every instrument the API's
 * no-op): what an app that has the package, through another dependency, but
 * never starts an SDK pays. tinybench, rounds alternating which side goes first,
 * the ratio on/off of the per-round medians, a guarded round trip and a
 * connect + authenticate (client, loopback and server in the process). Goal: the
 * same within noise. One process holds both sides, so whatever mode its heap
 * settles in (below), both share it.
 *
 * Server processes (reported, no goal), as throughput.ts and connect.ts measure:
 *   off      `telemetry: false`, no SDK;
 *   api      `telemetry: true`, no SDK;
 *   sdk-off  an SDK registered before the app, `telemetry: false`;
 *   sdk      an SDK registered, `telemetry: true`: the module records.
 * The SDK is what an app registers: a MeterProvider (a periodic reader, once a
 * minute, whose exporter drops everything) and a TracerProvider (every span
 * sampled, a BatchSpanProcessor, an exporter that drops them); no context
 * manager and no socket.io instrumentation, so no span per message. Per round:
 * guarded round trips per server CPU-second (telemetry adds only the guard's
 * link lookup), then server CPU per connect + authenticate (with an SDK: an
 * attempt span and its strategy and hooks children, a counter, two histograms).
 * `sdk` / `sdk-off` is what recording costs given an SDK; `sdk-off` / `off` what
 * the SDK's presence costs the process, the module doing nothing. The rounds are
 * spread over fresh sets of processes (harness.ts acrossProcesses). Fresh
 * processes of this app fall into a fast or a slow mode (about 0.6 of the
 * round-trip rate, with garbage surviving every scavenge): with the SDK
 * registered they mostly run slow, whatever the module does, which is why these
 * rows decide nothing. Every server loads @opentelemetry/api and the module's
 * recorder before it builds the app, whatever its variant (see serve()).
 *
 * The servers are this file run as a script (`node telemetry.js serve <variant>`),
 * so the scenario needs nothing from app.ts or server.ts. A broken harness fails
 * the run: a refused token, an echo that does not come back, a server that
 * recorded when it should not have or did not when it should (spans exported and
 * attempts counted by the SDK), a module instrumented against its option, or an
 * SDK registered in this process.
 */
import 'reflect-metadata';
import { type INestApplication, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MessageBody, type OnGatewayInit, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Server } from 'socket.io';
import type { Socket } from 'socket.io-client';
import { Bench } from 'tinybench';
import {
  Authenticated,
  AuthSocketModule,
  AuthSocketService,
  type AuthPrincipal,
  type AuthStrategy,
} from '../../lib/index.js';
import { C, quick } from '../config.js';
import {
  acrossProcesses,
  Ipc,
  live,
  open,
  openMany,
  pin,
  progress,
  SERVER_CORE,
  sleep,
  spawnNode,
} from '../harness.js';
import { pick, recordRatio, type Result } from '../record.js';
import { bootstrap, type Goal, median, pairedRatios } from '../stats.js';

type Variant = 'off' | 'api' | 'sdk-off' | 'sdk';
const VARIANTS: Variant[] = ['off', 'api', 'sdk-off', 'sdk'];
/** The variants with `telemetry` on. */
const INSTRUMENTED: Variant[] = ['api', 'sdk'];
/** "The same within noise": a ratio whose whole interval lies within 3% of 1. */
const SAME: Goal = { op: 'within', lo: 0.97, hi: 1.03 };

// ── the server (this file as a script) ───────────────────────────────────────

/** The SDK as an app registers it before NestFactory.create. Answers what it recorded, to prove it did. */
async function installSdk(): Promise<() => Promise<{ spans: number; points: number }>> {
  const { metrics, trace } = await import('@opentelemetry/api');
  const { MeterProvider, MetricReader, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
  const { BatchSpanProcessor, TracerProvider } = await import('@opentelemetry/sdk-trace');
  const exporter = { export: (_m: unknown, done: (r: { code: 0 }) => void) => done({ code: 0 }) };
  const periodic = new PeriodicExportingMetricReader({
    exporter: { ...exporter, forceFlush: async () => {}, shutdown: async () => {} },
    exportIntervalMillis: 60_000,
  });
  // A second reader, collected only by the check at the end: what the module recorded.
  class CheckReader extends MetricReader {
    protected async onForceFlush(): Promise<void> {}
    protected async onShutdown(): Promise<void> {}
  }
  const check = new CheckReader();
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [periodic, check] }));
  let spans = 0;
  const processor = new BatchSpanProcessor({
    exporter: {
      export: (batch, done) => {
        spans += batch.length;
        done({ code: 0 });
      },
      shutdown: async () => {},
    },
    scheduledDelayMillis: 1000,
  });
  trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [processor] }));
  return async () => {
    await processor.forceFlush();
    const { resourceMetrics } = await check.collect();
    const points = resourceMetrics.scopeMetrics
      .filter((s) => s.scope.name === 'nestjs-socket-auth')
      .flatMap((s) => s.metrics)
      .filter((m) => m.descriptor.name === 'socket_auth.attempts')
      .reduce((sum, m) => sum + m.dataPoints.reduce((k, p) => k + (p.value as number), 0), 0);
    return { spans, points };
  };
}

/** `tok-<id>` is principal `<id>`: app.ts's check, so only the telemetry differs from the other scenarios. */
@Injectable()
class TokenCheck implements AuthStrategy {
  async authenticate(credentials: unknown): Promise<AuthPrincipal | null> {
    const token = (credentials as { token?: unknown } | null)?.token;
    return typeof token === 'string' && token.startsWith('tok-') ? { id: token.slice(4) } : null;
  }
}

interface App {
  app: INestApplication;
  io(): Server;
  url: string;
  /** Whether the module built its OpenTelemetry recorder (an internal, read only by this check). */
  instrumented: boolean;
}

/** The app under test: one @Authenticated() handler, the module with `telemetry` on or off. */
async function createApp(telemetry: boolean): Promise<App> {
  const holder: { io?: Server } = {};
  @WebSocketGateway()
  class Gateway implements OnGatewayInit {
    afterInit(server: Server): void {
      holder.io = server;
    }
    @Authenticated()
    @SubscribeMessage('echo')
    echo(@MessageBody() body: unknown): unknown {
      return body;
    }
  }
  @Module({
    imports: [
      AuthSocketModule.forRoot({
        strategy: TokenCheck,
        telemetry,
        timeout: 60_000,
        maxPending: 0,
        maxPendingPerAddress: 0,
        maxFailuresPerAddress: 0,
      }),
    ],
    providers: [Gateway],
  })
  class TelemetryBenchModule {}
  const app = await NestFactory.create(TelemetryBenchModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const service = app.get(AuthSocketService) as unknown as { authenticator: { telemetry: object } };
  return {
    app,
    io: () => holder.io!,
    url: `http://127.0.0.1:${port}`,
    instrumented: service.authenticator.telemetry.constructor.name === 'OpenTelemetry',
  };
}

async function serve(variant: Variant): Promise<void> {
  // Every variant loads the same modules, here, before the app, so that only the option and the SDK differ. Left to
  // the module, @opentelemetry/api and its recorder load during Nest's start-up in the `telemetry: true` variants
  // only, and those processes then ran in the slow mode (see the header) in 17 of 18 sets of processes, against 0 of
  // 18 for `telemetry: false`; loaded here in every variant, 4 of 24 and 2 of 24. See docs/benchmarks.md.
  await import('@opentelemetry/api');
  await import('../../lib/telemetry/open-telemetry.js');
  const recorded = variant.startsWith('sdk') ? await installSdk() : undefined;
  const { io, url, instrumented } = await createApp(INSTRUMENTED.includes(variant));
  process.on('message', async (msg: { id: number; cmd: string }) => {
    const reply = (value: unknown): void => void process.send!({ id: msg.id, value });
    switch (msg.cmd) {
      case 'cpu': {
        const { user, system } = process.cpuUsage();
        return reply(user + system);
      }
      case 'count':
        return reply(io().of('/').sockets.size);
      case 'recorded':
        return reply({ ...((await recorded?.()) ?? { spans: 0, points: 0 }), instrumented });
    }
  });
  process.on('SIGINT', () => process.exit(0));
  process.send!({ ready: Number(new URL(url).port) });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'serve') {
  await serve(process.argv[3] as Variant);
}

// ── the load generator ───────────────────────────────────────────────────────

class TelemetryServer extends Ipc {
  constructor(
    child: ChildProcess,
    readonly url: string,
  ) {
    super(child);
  }
  static async start(variant: Variant): Promise<TelemetryServer> {
    const child = spawnNode('./scenarios/telemetry.js', ['serve', variant]);
    live.add(child);
    child.once('exit', () => live.delete(child));
    const port = await Ipc.ready<number>(child, `telemetry ${variant} server`);
    pin(child, SERVER_CORE);
    return new TelemetryServer(child, `http://127.0.0.1:${port}`);
  }
  cpu(): Promise<number> {
    return this.call<number>('cpu');
  }
  async settle(left: number): Promise<void> {
    for (let i = 0; i < 400 && (await this.call<number>('count')) > left; i++) await sleep(25);
  }
  stop(): void {
    this.child.kill('SIGKILL');
  }
}

type Fleet = Map<Variant, { server: TelemetryServer; sockets: Socket[] }>;

async function start(): Promise<Fleet> {
  const servers = await Promise.all(VARIANTS.map((v) => TelemetryServer.start(v)));
  const fleet: Fleet = new Map();
  for (const [i, v] of VARIANTS.entries()) {
    const server = servers[i]!;
    fleet.set(v, { server, sockets: await openMany(server.url, C.telemetry.clients, 'message') });
  }
  return fleet;
}

async function stop(fleet: Fleet): Promise<void> {
  try {
    for (const [v, { server }] of fleet) {
      // Proof that each variant ran as described: only the SDK records; the module instruments except with `off`.
      const r = await server.call<{ spans: number; points: number; instrumented: boolean }>('recorded');
      const recording = r.spans > 0 && r.points > 0;
      if (recording !== (v === 'sdk'))
        throw new Error(`telemetry_cost: the ${v} server recorded ${r.spans} spans, ${r.points} attempts`);
      if (r.instrumented !== INSTRUMENTED.includes(v))
        throw new Error(`telemetry_cost: the ${v} server is ${r.instrumented ? '' : 'not '}instrumented`);
    }
  } finally {
    for (const { server, sockets } of fleet.values()) {
      sockets.forEach((s) => s.disconnect());
      server.stop();
    }
  }
}

async function roundTrips(sockets: Socket[], ms: number): Promise<number> {
  let count = 0;
  const end = performance.now() + ms;
  await Promise.all(
    sockets.map(async (s) => {
      while (performance.now() < end) {
        if ((await s.timeout(10_000).emitWithAck('echo', 1)) !== 1) throw new Error('telemetry_cost: echo failed');
        count++;
      }
    }),
  );
  return count;
}

async function measure(fleet: Fleet, v: Variant): Promise<Record<string, number>> {
  const { server, sockets } = fleet.get(v)!;
  // The guarded round trip, on the clients that stay.
  await roundTrips(sockets, quick ? 30 : 100); // warm the path after the other variants ran
  let cpu0 = await server.cpu();
  let t0 = performance.now();
  const count = await roundTrips(sockets, C.telemetry.ms);
  const rtSeconds = (performance.now() - t0) / 1000;
  const rtCpuSeconds = ((await server.cpu()) - cpu0) / 1e6;
  // Connect + authenticate n more, then let them go.
  const n = C.telemetry.n;
  cpu0 = await server.cpu();
  t0 = performance.now();
  const more = await openMany(server.url, n, 'message');
  const connectMs = performance.now() - t0;
  const connectCpuUs = (await server.cpu()) - cpu0;
  more.forEach((s) => s.disconnect());
  await server.settle(sockets.length);
  return {
    rt: count / rtCpuSeconds,
    rtWall: count / rtSeconds,
    connectCpu: connectCpuUs / n,
    connectWall: connectMs,
  };
}

/** The medians behind a row, since a run with `--only` writes no results. */
const medians = (r: Result): void =>
  console.error(
    `    medians: ${Object.entries(r.variants)
      .map(([k, x]) => `${k} ${x}`)
      .join(' · ')}`,
  );

const wall = (samples: Record<string, number[]>, ours: Variant, base: Variant) => {
  const e = bootstrap(pairedRatios(samples[ours]!, samples[base]!));
  return { ratio: Number(e.value.toFixed(3)), ci: e.ci.map((x) => Number(x.toFixed(3))) };
};

// ── in process: both apps in this process, which registers no SDK (as jwks.ts) ──

type Side = 'off' | 'api';

/** Median µs per call of `run` over one tinybench run. */
async function timeOne(label: string, run: () => unknown): Promise<number> {
  const { time } = C.telemetry.inProcess;
  const bench = new Bench({ time, warmupTime: time / 4, iterations: 10 });
  bench.add(label, run);
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (!('latency' in r)) throw new Error(`telemetry_cost: ${label} did not complete (${r.state})`);
  return r.latency.p50 * 1000;
}

/** Both sides, `rounds` times, alternating which goes first. */
async function sides(label: string, ops: Record<Side, () => unknown>): Promise<Record<Side, number[]>> {
  const us: Record<Side, number[]> = { off: [], api: [] };
  const { rounds } = C.telemetry.inProcess;
  const t0 = performance.now();
  for (let round = 0; round < rounds; round++) {
    for (const side of (round % 2 ? ['api', 'off'] : ['off', 'api']) as Side[]) {
      us[side].push(await timeOne(`${label} ${side}`, ops[side]));
      await sleep(20);
    }
    progress(`telemetry_cost in process, ${label}: round ${round + 1}/${rounds}`, t0);
  }
  return us;
}

async function inProcess(): Promise<Record<'rt' | 'connect', Record<Side, number[]>>> {
  const { metrics, trace, ProxyTracerProvider } = await import('@opentelemetry/api');
  const noSdk = (): boolean => {
    const tracer = trace.getTracerProvider();
    return (
      metrics.getMeterProvider().constructor.name === 'NoopMeterProvider' &&
      tracer instanceof ProxyTracerProvider &&
      tracer.getDelegate().constructor.name === 'NoopTracerProvider'
    );
  };
  if (!noSdk()) throw new Error('telemetry_cost: an SDK is registered in the load generator');
  const apps: Record<Side, App> = { off: await createApp(false), api: await createApp(true) };
  const sockets: Socket[] = [];
  try {
    if (apps.off.instrumented || !apps.api.instrumented)
      throw new Error('telemetry_cost: the in-process apps are not instrumented as their options say');
    const socketOf: Record<Side, Socket> = {
      off: await open(apps.off.url, 'message'),
      api: await open(apps.api.url, 'message'),
    };
    sockets.push(socketOf.off, socketOf.api);
    const echo = (side: Side) => async () => {
      if ((await socketOf[side].timeout(10_000).emitWithAck('echo', 1)) !== 1)
        throw new Error('telemetry_cost: echo failed');
    };
    const rt = await sides('guarded round trip', { off: echo('off'), api: echo('api') });
    const connect = (side: Side) => async () => (await open(apps[side].url, 'message')).disconnect();
    const connects = await sides('connect + authenticate', { off: connect('off'), api: connect('api') });
    if (!noSdk()) throw new Error('telemetry_cost: an SDK was registered in the load generator meanwhile');
    return { rt, connect: connects };
  } finally {
    sockets.forEach((s) => s.disconnect());
    for (const { app } of Object.values(apps)) await app.close().catch(() => undefined);
  }
}

export async function telemetryCost(): Promise<void> {
  // In process first: the goals. One process holds both apps, so whatever mode its heap is in, both share it.
  const here = await inProcess();
  medians(
    recordRatio(
      {
        name: 'telemetry_roundtrip',
        variant: 'in process, no SDK: telemetry on / off',
        n: 1,
        unit: 'µs per guarded round trip (client, loopback and server in one process)',
        samples: here.rt,
      },
      'api',
      'off',
      SAME,
    ),
  );
  medians(
    recordRatio(
      {
        name: 'telemetry_connect',
        variant: 'in process, no SDK: telemetry on / off',
        n: 1,
        unit: 'µs per connect + authenticate (client, loopback and server in one process)',
        samples: here.connect,
      },
      'api',
      'off',
      SAME,
    ),
  );

  // Server processes: the server's own CPU, with and without an SDK. No goals: see the header.
  const { generations, rounds, clients, n } = C.telemetry;
  const { samples, generation } = await acrossProcesses(
    'telemetry_cost',
    VARIANTS,
    generations,
    rounds,
    start,
    stop,
    measure,
  );
  const rtUnit = 'guarded round trips per server CPU-second';
  const connectUnit = 'server CPU µs per connect + authenticate';
  const rows: Array<[string, string, Variant, Variant]> = [];
  for (const name of ['telemetry_roundtrip', 'telemetry_connect'])
    rows.push(
      [name, 'server, no SDK: telemetry on / off', 'api', 'off'],
      [name, 'server, SDK: telemetry on / off', 'sdk', 'sdk-off'],
      [name, 'server, telemetry off: SDK / no SDK', 'sdk-off', 'off'],
    );
  for (const [name, variant, ours, base] of rows) {
    const roundtrip = name === 'telemetry_roundtrip';
    const metric = roundtrip ? samples.rt! : samples.connectCpu!;
    const wallMetric = roundtrip ? samples.rtWall! : samples.connectWall!;
    medians(
      recordRatio(
        {
          name,
          variant,
          n: roundtrip ? clients : n,
          unit: roundtrip ? rtUnit : connectUnit,
          samples: pick(metric, [base, ours]),
          extra: {
            wall: wall(wallMetric, ours, base),
            wallUnit: roundtrip ? 'round trips per second' : `ms to open ${n}`,
            wallMedians: Object.fromEntries(VARIANTS.map((v) => [v, Math.round(median(wallMetric[v]!))])),
          },
        },
        ours,
        base,
        undefined,
        generation,
      ),
    );
  }
}
