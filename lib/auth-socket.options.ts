import type { AuthOutcome } from './auth-outcome.interface.js';
import type { LimitStore } from './core/limit-store.js';
import type { RevocationStore } from './core/revocation-store.js';
import type { RoomPolicy } from './core/room-policies.js';
import type { TelemetryOptions } from './core/telemetry.js';
import { fromConfigStrings, refuseUnknownNames, validate } from './auth-socket-options.validation.js';

/**
 * Behaviour options, with every default in one place. `forRoot()` merges what
 * the app gives over `new AuthSocketDefaults()`.
 */
export class AuthSocketDefaults {
  /**
   * Milliseconds a socket may stay unauthenticated before it is told
   * `unauthorized {code:'timeout'}` and disconnected. `0` or `false` disables it.
   * At most 2147483147 (about 24.8 days: Node's timer limit, less the idle
   * close's 500 ms); larger values are refused at start-up.
   * @default 1000
   */
  timeout: number | false = 1000;

  /**
   * `'connection'`: authenticating on any namespace authenticates every namespace
   * of that client connection. `'namespace'`: each namespace authenticates alone.
   * @default 'connection'
   */
  scope: 'connection' | 'namespace' = 'connection';

  /**
   * Also accept credentials from socket.io's `auth` handshake option (sent in the
   * CONNECT packet, never in the URL). Authentication then starts at connect time.
   * @default false
   */
  handshake = false;

  /**
   * What happens when the principal's `expiresAt` passes: `'disconnect'` sends
   * `unauthorized {code:'expired'}` and disconnects; `'reauthenticate'` puts the
   * socket back to pending and asks it to authenticate again.
   * @default 'disconnect'
   */
  onExpiry: 'disconnect' | 'reauthenticate' = 'disconnect';

  /**
   * How long before a session's `expiresAt` the server sends `refresh_required
   * {code:'expiring', expiresAt}`, once per lifetime (again after each
   * refresh). `'auto'`: 10% of the lifetime, at least 5 s and at most 5 min. A
   * number: that many ms. Either way never more than half the lifetime, so a
   * 4-second token still hears about it 2 s in. `false`: never sent.
   * @default 'auto'
   */
  refreshAhead: number | 'auto' | false = 'auto';

  /**
   * Milliseconds between calls to the strategy's `revalidate(principal)` for
   * each authenticated session (jittered by ±15%, at most one in flight per
   * session, bounded by `strategyTimeout`). The load is sessions ÷ interval
   * calls per second. Requires a strategy with `revalidate()`. `false`: only
   * on demand, through `AuthSocketService.revalidate(principalId)`.
   * @default false
   */
  revalidateInterval: number | false = false;

  /**
   * Where revocations live, consulted on every authentication and refresh.
   * In memory by default (per process, forgotten on restart); give every node
   * `RedisRevocationStore` from `nestjs-socket-auth/redis` so a revoke holds
   * on all of them and survives restarts.
   * @default in memory
   */
  revocationStore?: RevocationStore;

  /**
   * How long a revocation is kept when it does not say until when the
   * credentials it covers can be valid (`revoke(principalId)`, `issuedBefore`,
   * a `tokenId` without `expiresAt`): at least the lifetime of the longest
   * credential you issue, refresh tokens included if they are checked here.
   * @default 86400000 (24 h)
   */
  revocationTtl = 86_400_000;

  /**
   * Rooms a principal may be in only when it meets a requirement: by exact
   * name or RegExp, the first matching entry deciding. `require` is `true`
   * (any authenticated principal), `{ roles, scopes }` as in
   * `@Authenticated()`, or a predicate `(principal, { room, match, socket })`,
   * sync or async. Every way into a policed room is checked (`socket.join`,
   * `socketsJoin` from any node, recovery, re-authentication), and again when
   * the principal changes: a socket that no longer qualifies leaves and hears
   * `room_left {room, code:'forbidden'}`. With an async predicate,
   * `socket.join()` returns a promise and the room is entered only once it
   * allows; `AuthSocketService.join()` answers the verdict. Rooms that match
   * no entry are plain socket.io rooms. See docs/rooms.md.
   * @default []
   */
  rooms: RoomPolicy[] = [];

  /**
   * Lets clients ask to join and leave policed rooms themselves: `join
   * {room}` and `leave {room}`, answered on the ack with `{ok:true, room}` or
   * `{ok:false, error:{code}}` (`forbidden`, `unauthenticated`,
   * `bad_request`, `rate_limited`). Only rooms that a `rooms` entry polices
   * can be joined this way.
   * @default false
   */
  clientRooms = false;

  /**
   * Most policed rooms one socket may be in when it asks through the client
   * protocol: past it, `join` answers `rate_limited`, so no client can make
   * the server hold rooms without bound. Joins by the app are not counted
   * against it.
   * @default 100
   */
  maxClientRooms = 100;

  /**
   * Most authenticated sessions one principal may hold at once, across every
   * node sharing the `limitStore`. A session is one client connection (with
   * scope 'connection': a browser tab or a device, every namespace it opens),
   * which is what users mean by "devices". `0` disables.
   * @default 0
   */
  maxSessionsPerPrincipal = 0;

  /**
   * What a new session past `maxSessionsPerPrincipal` gets: `'reject'`
   * refuses it with `too_many_sessions`; `'evict-oldest'` accepts it and ends
   * the principal's oldest sessions with `unauthorized {code:'revoked'}`.
   * @default 'reject'
   */
  onSessionLimit: 'reject' | 'evict-oldest' = 'reject';

  /**
   * Largest accepted credentials payload, measured on its JSON form, in bytes.
   * @default 16384
   */
  maxCredentialsBytes = 16 * 1024;

  /**
   * Most unauthenticated sockets one address may hold; more are refused at
   * connect with `connect_error` `data.code === 'too_many_pending'`. `0` disables.
   * @default 50
   */
  maxPendingPerAddress = 50;

  /**
   * Most sockets one address may hold on public namespaces (which never time
   * out, so without a cap one client could open them until memory runs out);
   * more are refused at connect with `connect_error`
   * `data.code === 'too_many_connections'`. Counted like `maxPendingPerAddress`:
   * per process, or across nodes with a shared `limitStore`. `0` disables.
   * @default 200
   */
  maxPublicPerAddress = 200;

  /**
   * Most unauthenticated sockets in this process. `0` disables.
   * @default 10000
   */
  maxPending = 10_000;

  /**
   * The IPv6 prefix length per-address limits count under: an IPv6 client
   * usually holds a whole /64, so per /128 it would get a budget per address
   * it cares to use (as express-rate-limit's `ipv6Subnet`). `false` counts each
   * IPv6 address alone. IPv4-mapped addresses (`::ffff:a.b.c.d`) count as IPv4.
   * @default 64
   */
  ipv6Subnet: number | false = 64;

  /**
   * Failed attempts one address may make per `failureWindowMs`; past that,
   * attempts get `rate_limited` without reaching the strategy. `0` disables.
   * @default 20
   */
  maxFailuresPerAddress = 20;

  /**
   * Length of the failure-counting window, in ms.
   * @default 60000
   */
  failureWindowMs = 60_000;

  /**
   * Milliseconds the strategy may take before the attempt fails with
   * `server_error`. Never longer than `timeout` when that is shorter. The
   * gateways' `handleAuthenticated` hooks get the same bound, separately.
   * At most 2147483647 (Node's timer limit); larger values are refused at start-up.
   * @default 5000
   */
  strategyTimeout = 5000;

  /**
   * Binds each engine.io connection to the client that opened it, so that a
   * leaked session id (the `sid` in long-polling URLs) is useless elsewhere.
   * `'address'` refuses requests and upgrades carrying a sid from another client
   * address (with `trustProxy`, the forwarded one). `'cookie'` also sets a random
   * HttpOnly, SameSite=Strict cookie at the handshake and requires it on every
   * later request of that sid (browsers on the same site only). `false` disables.
   * @default 'address'
   */
  bindConnection: 'address' | 'cookie' | false = 'address';

  /**
   * Where the per-address counters of `maxFailuresPerAddress` and
   * `maxPendingPerAddress` live. In memory by default (each process counts
   * alone); give every node the same shared store (`RedisLimitStore` from
   * `nestjs-socket-auth/redis`) and they share one budget per address.
   * @default in memory
   */
  limitStore?: LimitStore;

  /**
   * Most sockets one engine.io connection may open across dynamic namespaces
   * (a connection holds at most one socket per namespace in any case).
   * @default 16
   */
  maxNamespacesPerConnection = 16;

  /**
   * Read the client address from `X-Forwarded-For`. `true` trusts one proxy (the
   * right-most entry); a number trusts that many hops. Only enable behind proxies
   * that set the header themselves.
   * @default false
   */
  trustProxy: boolean | number = false;

  /**
   * Exact origins allowed to open a socket (for example `https://chat.example.com`).
   * Handshakes with another `Origin` header are refused with `forbidden_origin`;
   * handshakes without one (non-browser clients) are allowed. Empty allows all.
   * @default []
   */
  allowedOrigins: string[] = [];

  /**
   * Namespaces whose sockets are public: never held from broadcasts, never timed
   * out, not counted as pending; they may still authenticate to use
   * `@Authenticated()` handlers. The same as `@PublicNamespace()` on their gateways.
   * Every other namespace is gated.
   * @default []
   */
  publicNamespaces: Array<string | RegExp> = [];

  /**
   * Development switch: log a strategy's own error messages (and stacks) when
   * it throws something other than `AuthenticationError`, instead of
   * "message withheld". Clients still only ever get `server_error`. Leave it
   * off in production, where messages may quote credentials or internals; a
   * common setting is `process.env.NODE_ENV === 'development'`.
   * @default false
   */
  exposeStrategyErrors = false;

  /**
   * Event names on the wire. Defaults match socketio-auth, so its clients work unchanged.
   */
  events: AuthEventNames = {
    authentication: 'authentication',
    authenticated: 'authenticated',
    unauthorized: 'unauthorized',
    authError: 'auth_error',
    refreshRequired: 'refresh_required',
    join: 'join',
    leave: 'leave',
    roomLeft: 'room_left',
  };

  /**
   * OpenTelemetry metrics and traces (docs/observability.md), recorded
   * through `@opentelemetry/api` when the app has it and has started an SDK
   * (before the Nest app is created). `{ addresses: true }` also puts the
   * client address on attempt spans (never on metrics). `false` records
   * nothing even with an SDK.
   * @default true
   */
  telemetry: boolean | TelemetryOptions = true;

  /**
   * Called for every outcome: authenticated, failed, timed out, expired,
   * deauthenticated and revoked. `AuthSocketService.outcomes` streams the same.
   * @default undefined
   */
  onOutcome?: (outcome: AuthOutcome) => void;
}

/** The event names on the wire; rename them with the `events` option. */
export interface AuthEventNames {
  /** client → server: the credentials. */
  authentication: string;
  /** server → client: `{ user }` on success. */
  authenticated: string;
  /** server → client: `{ code, message }`, then the server disconnects unless `reauthenticate` is set. */
  unauthorized: string;
  /** server → client: a refusal that leaves the session as it was (`in_progress`, a failed refresh) when no ack was given. */
  authError: string;
  /** server → client: `{ code, expiresAt, expiresIn }`: send fresh credentials before `expiresAt`. */
  refreshRequired: string;
  /** client → server, with `clientRooms`: `{ room }`, answered on the ack. */
  join: string;
  /** client → server, with `clientRooms`: `{ room }`, answered on the ack. */
  leave: string;
  /** server → client: `{ room, code:'forbidden', message }`: the socket was taken out of a policed room. */
  roomLeft: string;
}

/** What an app may pass: any subset of the defaults. */
export type AuthSocketOptions = Partial<Omit<AuthSocketDefaults, 'events'>> & { events?: Partial<AuthEventNames> };

/** Options after merging with the defaults. */
export type ResolvedAuthSocketOptions = AuthSocketDefaults;

export function resolveOptions(given: AuthSocketOptions = {}): ResolvedAuthSocketOptions {
  const defaults = new AuthSocketDefaults();
  refuseUnknownNames(given, defaults);
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined));
  const options = {
    ...defaults,
    ...defined,
    events: { ...defaults.events, ...given.events },
  } as ResolvedAuthSocketOptions;
  fromConfigStrings(options);
  validate(options);
  return options;
}
