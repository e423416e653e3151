/**
 * The apps under test, one per variant. Used out of process by server.ts and
 * in process by micro.ts, so both measure the same code:
 *   bare            plain socket.io, no Nest (the floor)
 *   nest            the same gateway in Nest, no module
 *   middleware      Nest with an io.use() handshake-token check (@thream/socketio-jwt style)
 *   nest-guard      Nest, io.use() sets a flag, a hand-written guard checks it: what a user writes without this module
 *   ours            Nest with AuthSocketModule and an @Authenticated() handler
 *   ours-handshake  the same with `handshake: true`
 *   ours-unmarked   the module present, the handler unmarked: what every other handler pays
 *   handwritten     Nest, a hand-written post-connect check: an `authentication` listener that verifies the token
 *                   and emits `authenticated`, with no gate and no timers (message mode with nothing else)
 * Every variant checks tokens the same cheap way, so only the gate differs.
 * Only the public API is used: the module may register its guard however it likes.
 * With `lifecycle` (scenarios/lifecycle.ts) the `ours*` variants get
 * LifecycleStrategy instead: the same check, tokens that carry their own
 * expiry, a revalidate(), and its calls counted.
 * With `rooms` (scenarios/rooms.ts) they get ROOM_POLICIES, and every
 * principal holds the role `staff`.
 * With `authDelayMs` (scenarios/storm.ts) every check that can be delayed
 * waits that long first, as a database call would: the `ours*` strategy, the
 * `middleware` middleware and the `handwritten` listener.
 */
import 'reflect-metadata';
import {
  type CanActivate,
  type ExecutionContext,
  type INestApplication,
  Injectable,
  Module,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IoAdapter } from '@nestjs/platform-socket.io';
import {
  MessageBody,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import { createAdapter } from '@socket.io/redis-adapter';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'redis';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import {
  Authenticated,
  AuthSocketModule,
  AuthSocketService,
  type AuthContext,
  type AuthPrincipal,
  type AuthStrategy,
  type RoomPolicy,
} from '../lib/index.js';
import { RedisIoAdapter } from '../lib/redis/index.js';

export const VARIANTS = [
  'bare',
  'nest',
  'middleware',
  'nest-guard',
  'ours',
  'ours-handshake',
  'ours-unmarked',
  'handwritten',
] as const;
export type Variant = (typeof VARIANTS)[number];

export interface AppOptions {
  /** The module's authentication timeout, ms. */
  timeout?: number;
  /** Cluster mode: every node of one cluster shares `key`. */
  redis?: { url: string; key: string };
  /** The session-lifecycle scenarios: LifecycleStrategy instead of BenchStrategy. */
  lifecycle?: boolean;
  /** The room-policy scenarios: ROOM_POLICIES, and principals holding the role `staff`. */
  rooms?: boolean;
  /** The connect storm: the token check waits this long first (an async, database-like call). */
  authDelayMs?: number;
  /**
   * The connect storm: the listen queue's length (Node's default is 511; the
   * kernel caps it at net.core.somaxconn). A storm that overflows it drops
   * SYNs, and the clients' retries after a second then decide its time.
   */
  backlog?: number;
}

export interface BenchApp {
  io: Server;
  port: number;
  /** Present for the `ours*` variants. */
  auth?: AuthSocketService;
  /** With `lifecycle`: what the strategy was asked. */
  calls?: StrategyCalls;
  close(): Promise<void>;
}

/** The shared token check: `tok-<id>` is principal `<id>`. */
export function check(token: unknown): AuthPrincipal | null {
  return typeof token === 'string' && token.startsWith('tok-') ? { id: token.slice(4) } : null;
}

@Injectable()
class BenchStrategy implements AuthStrategy {
  async authenticate(credentials: unknown): Promise<AuthPrincipal | null> {
    return check((credentials as { token?: unknown } | null)?.token);
  }
}

/** The connect storm's wait before a check: `await`ed, as a database call would be. */
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** BenchStrategy's check after `ms` of waiting (scenarios/storm.ts). */
class DelayedStrategy implements AuthStrategy {
  constructor(private readonly ms: number) {}
  async authenticate(credentials: unknown): Promise<AuthPrincipal | null> {
    await delay(this.ms);
    return check((credentials as { token?: unknown } | null)?.token);
  }
}

/**
 * The `handwritten` variant's check, what message mode costs with nothing
 * else: one `authentication` listener per socket that verifies the token and
 * emits `authenticated` (the principal, as the module's payload carries it),
 * or disconnects. No gate on other handlers, no timers, no session.
 */
function handwrittenCheck(socket: Socket, delayMs = 0): void {
  socket.on('authentication', async (body: { token?: unknown } | null) => {
    if (delayMs) await delay(delayMs);
    const user = check(body?.token);
    if (!user) return void socket.disconnect(true);
    (socket.data as { user?: AuthPrincipal }).user = user;
    socket.emit('authenticated', { user });
  });
}

/** BenchStrategy's check, the principal holding the role `staff` (what the roles policies ask). */
@Injectable()
class StaffStrategy implements AuthStrategy {
  async authenticate(credentials: unknown): Promise<AuthPrincipal | null> {
    const principal = check((credentials as { token?: unknown } | null)?.token);
    return principal && { ...principal, roles: ['staff'] };
  }
}

/**
 * The room name prefixes of scenarios/rooms.ts. Every room is `<prefix><name>`,
 * so each join can enter a room of its own: `open:` matches no policy (a
 * plain socket.io room, though the policies are still looked up), `staff:` a
 * roles policy (decided inside socket.join()), `team:` an async predicate
 * (socket.join() returns a promise), `board:` a role nobody holds (the
 * control: a join there must be refused, or the policies are not in force).
 */
export const ROOMS = { unpoliced: 'open:', roles: 'staff:', async: 'team:', refused: 'board:' } as const;

/**
 * The policies, in the order an app would list them. The async predicate
 * does no I/O: what it costs is the module's promise path, not a database.
 * The unpoliced rooms are tested against every pattern before they pass.
 */
export const ROOM_POLICIES: RoomPolicy[] = [
  { room: /^staff:/, require: { roles: ['staff'] } },
  {
    room: /^team:(?<team>[\w-]+)$/,
    require: async (principal, { match }) =>
      match?.groups?.team !== undefined && (principal.roles as string[] | undefined)?.includes('staff') === true,
  },
  { room: /^board:/, require: { roles: ['board'] } },
];

/**
 * `exp-<id>.<expiresAt epoch ms>` is principal `<id>` until then (harness.ts
 * mints them); anything else as check(). As cheap as check(): no signature,
 * since what is measured is the module's lifecycle, not token crypto.
 */
export function checkExpiring(token: unknown): AuthPrincipal | null {
  if (typeof token !== 'string' || !token.startsWith('exp-')) return check(token);
  const dot = token.lastIndexOf('.');
  const expiresAt = Number(token.slice(dot + 1));
  return dot > 4 && Number.isFinite(expiresAt) ? { id: token.slice(4, dot), expiresAt } : null;
}

/** What LifecycleStrategy counts: authenticate() calls in epoch-aligned 100 ms buckets, and revalidate() calls. */
export class StrategyCalls {
  static readonly BUCKET_MS = 100;
  readonly buckets = new Map<number, number>();
  authenticate = 0;
  /** authenticate() calls for an authenticated session (`context.current`): refreshes. */
  refreshes = 0;
  revalidate = 0;

  authenticated(refresh: boolean): void {
    const bucket = Math.floor(Date.now() / StrategyCalls.BUCKET_MS);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + 1);
    this.authenticate++;
    if (refresh) this.refreshes++;
  }

  /** Calls per bucket from `from` to `to` (epoch ms), empty buckets included. */
  between(from: number, to: number): number[] {
    const [first, last] = [from, to].map((t) => Math.floor(t / StrategyCalls.BUCKET_MS));
    return Array.from({ length: Math.max(0, last - first + 1) }, (_, i) => this.buckets.get(first + i) ?? 0);
  }
}

/** BenchStrategy's check with expiring tokens, counted, and a revalidate() that looks the principal up as cheaply. */
class LifecycleStrategy implements AuthStrategy {
  constructor(private readonly calls: StrategyCalls) {}
  async authenticate(credentials: unknown, context: AuthContext): Promise<AuthPrincipal | null> {
    this.calls.authenticated(context.current !== undefined);
    return checkExpiring((credentials as { token?: unknown } | null)?.token);
  }
  async revalidate(principal: AuthPrincipal): Promise<AuthPrincipal> {
    this.calls.revalidate++;
    return { ...principal };
  }
}

/** The hand-written guard of the `nest-guard` baseline. */
@Injectable()
class FlagGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return (context.switchToWs().getClient<Socket>().data as { authed?: boolean }).authed === true;
  }
}

/** Nest's IoAdapter on the plain Redis adapter: the cluster baseline without the module. */
class PlainRedisIoAdapter extends IoAdapter {
  // Typed loosely: redis's client generics do not line up with the adapter's parameter types.
  private clients: { connect(): Promise<unknown>; quit(): Promise<unknown> }[] = [];
  private adapterConstructor?: ReturnType<typeof createAdapter>;
  async connect(url: string, key: string): Promise<void> {
    const pub = createClient({ url });
    const sub = pub.duplicate();
    this.clients = [pub, sub];
    await Promise.all(this.clients.map((c) => c.connect()));
    this.adapterConstructor = createAdapter(pub as never, sub as never, { key });
  }
  createIOServer(port: number, options?: ServerOptions): Server {
    const server = super.createIOServer(port, options) as Server;
    server.adapter(this.adapterConstructor!);
    return server;
  }
  async dispose(): Promise<void> {
    await super.dispose?.();
    await Promise.all(this.clients.map((c) => c.quit().catch(() => undefined)));
  }
}

export async function createBenchApp(variant: Variant, options: AppOptions = {}): Promise<BenchApp> {
  if (variant === 'bare') return bareApp();
  const holder: { io?: Server } = {};
  const ours = variant.startsWith('ours');

  // Classes are made per app so several apps can live in one process (micro.ts).
  @WebSocketGateway()
  class OpenGateway implements OnGatewayInit {
    @WebSocketServer() server!: Server;
    afterInit(server: Server): void {
      holder.io = server;
      const delayMs = options.authDelayMs;
      if (variant === 'middleware' && delayMs)
        server.use(async (s, next) => {
          await delay(delayMs);
          if (check(s.handshake.auth?.token)) next();
          else next(new Error('unauthorized'));
        });
      else if (variant === 'middleware')
        server.use((s, next) => (check(s.handshake.auth?.token) ? next() : next(new Error('unauthorized'))));
      // A plain socket.io listener, not a @SubscribeMessage handler: the least a hand-written check can cost in Nest.
      if (variant === 'handwritten') server.on('connection', (socket) => handwrittenCheck(socket, delayMs));
      if (variant === 'nest-guard') {
        server.use((s, next) => {
          const data = s.data as { authed?: boolean; user?: AuthPrincipal | null };
          data.user = check(s.handshake.auth?.token);
          data.authed = data.user !== null;
          next();
        });
      }
    }
    @SubscribeMessage('echo')
    echo(@MessageBody() body: unknown): unknown {
      return body;
    }
  }

  @WebSocketGateway()
  class HandGuardedGateway extends OpenGateway {
    @UseGuards(FlagGuard)
    @SubscribeMessage('echo')
    echo(@MessageBody() body: unknown): unknown {
      return body;
    }
  }

  @WebSocketGateway()
  class GuardedGateway implements OnGatewayInit {
    @WebSocketServer() server!: Server;
    afterInit(server: Server): void {
      holder.io = server;
    }
    @Authenticated()
    @SubscribeMessage('echo')
    echo(@MessageBody() body: unknown): unknown {
      return body;
    }
  }

  const calls = ours && options.lifecycle ? new StrategyCalls() : undefined;
  const gateway =
    variant === 'nest-guard' ? HandGuardedGateway : ours && variant !== 'ours-unmarked' ? GuardedGateway : OpenGateway;
  @Module({
    imports: ours
      ? [
          AuthSocketModule.forRoot({
            strategy: calls
              ? new LifecycleStrategy(calls)
              : options.authDelayMs
                ? new DelayedStrategy(options.authDelayMs)
                : options.rooms
                  ? StaffStrategy
                  : BenchStrategy,
            handshake: variant === 'ours-handshake',
            timeout: options.timeout ?? 60_000,
            maxPending: 0,
            maxPendingPerAddress: 0,
            maxFailuresPerAddress: 0,
            ...(options.rooms ? { rooms: ROOM_POLICIES } : {}),
          }),
        ]
      : [],
    providers: [gateway, FlagGuard],
  })
  class BenchModule {}

  const app: INestApplication = await NestFactory.create(BenchModule, { logger: false });
  if (options.redis) {
    if (ours) {
      const adapter = new RedisIoAdapter(app, { url: options.redis.url, key: options.redis.key });
      await adapter.connect();
      app.useWebSocketAdapter(adapter);
    } else {
      const adapter = new PlainRedisIoAdapter(app);
      await adapter.connect(options.redis.url, options.redis.key);
      app.useWebSocketAdapter(adapter);
    }
  }
  if (options.backlog)
    // Nest passes its arguments on to http.Server#listen(port, host, backlog); its types know no backlog.
    await (app as unknown as { listen(port: number, host: string, backlog: number): Promise<unknown> }).listen(
      0,
      '127.0.0.1',
      options.backlog,
    );
  else await app.listen(0, '127.0.0.1');
  return {
    io: holder.io!,
    port: (app.getHttpServer().address() as AddressInfo).port,
    auth: ours ? app.get(AuthSocketService) : undefined,
    calls,
    close: () => app.close(),
  };
}

async function bareApp(): Promise<BenchApp> {
  const http = createServer();
  const io = new Server(http);
  io.on('connection', (socket) => socket.on('echo', (body, ack) => ack?.(body)));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    io,
    port: (http.address() as AddressInfo).port,
    close: () => new Promise((resolve) => io.close(() => resolve())),
  };
}
