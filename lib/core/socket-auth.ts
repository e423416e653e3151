/**
 * Post-connection authentication for socket.io, without Nest: what a plain
 * socket.io app (socketio-auth's old audience) or the Nest glue holds. It
 * wires the parts together and attaches them to namespaces; the protocol
 * itself is authenticator.ts.
 *
 * Order at attach, and why: the admission middleware first, so a refused socket
 * is a clean `connect_error` and never half-connected; the protocol's
 * connection listener prepended, so a gateway's `handleConnection` sees our
 * state.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { AuthErrorCode } from '../auth-errors.js';
import type { AuthOutcome } from '../auth-outcome.interface.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import { Admission } from './admission.js';
import { Authenticator, type ChangedHooks } from './authenticator.js';
import { releaseIdleBounds } from './attempt.js';
import { childrenOf, gateOf, installGate, onEveryNamespace } from './broadcast-gate.js';
import type { ClusterCommands } from './cluster-commands.js';
import { refreshAhead } from '../client/index.js';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import { MemoryRevocationStore, type RevocationStore } from './revocation-store.js';
import type { StoreHealth } from './limit-store.js';
import { Revalidation } from './revalidation.js';
import { Revocations, type RevokeOptions, type RevokeTarget } from './revocations.js';
import { ConnectionGuard, type EngineConnection } from './connection-guard.js';
import { Membership } from './membership.js';
import { Outcomes } from './outcomes.js';
import { errorPayload } from './protocol.js';
import { SessionRegistry } from './session-registry.js';
import {
  SessionCommands,
  type EndResult,
  type RevalidateResult,
  type RevokeResult,
  type SessionsResult,
} from './session-commands.js';
import { RoomGuard, type RoomRefusedVia } from './room-guard.js';
import { RoomPolicies } from './room-policies.js';
import { type HeldSlots, SessionLimit } from './session-limit.js';
import { randomBytes } from 'node:crypto';
import type { AuthLogger } from './strategy-call.js';
import { NO_TELEMETRY, type Telemetry, type TelemetryGauges } from './telemetry.js';

export type { AuthLogger } from './strategy-call.js';
export type { EndResult, RevalidateResult, RevokeResult, SessionsResult } from './session-commands.js';

/** What `health()` reports of this process. */
export interface AuthSocketHealth {
  /** The `limitStore`'s connectivity: a shared store that is `degraded` counts per node meanwhile. */
  limitStore: StoreHealth;
  /** The `revocationStore`'s connectivity: a shared store that is `degraded` answers from what this node knows. */
  revocationStore: StoreHealth;
  /** Unauthenticated sockets now, against `maxPending` (0: no limit). */
  pending: number;
  maxPending: number;
}

export interface SocketAuthDeps {
  options: ResolvedAuthSocketOptions;
  strategy: AuthStrategy;
  logger: AuthLogger;
  /** Runs for each socket of a newly authenticated session, before it is told `authenticated`. */
  beforeAuthenticated?: (socket: Socket, principal: AuthPrincipal) => Promise<void> | void;
  /** Whether any `beforeAuthenticated` work exists for the socket (the hooks step is timed only then). */
  hasHooks?: (socket: Socket) => boolean;
  /** Runs for each socket whose principal was replaced in place (refresh, revalidation), where gateways listen. */
  principalChanged?: ChangedHooks;
  /** Every outcome, after `options.onOutcome`. */
  onOutcome?: (outcome: AuthOutcome) => void;
  /** Whether `onOutcome` has anyone to tell now; without it, always. */
  outcomesObserved?: () => boolean;
  /** Builds the metrics and traces, given what the gauges read; without it, nothing is recorded. */
  telemetry?: (gauges: TelemetryGauges) => Telemetry;
}

/** Whether a namespace is public; for a RegExp gateway, asked of each child namespace. */
export type Publicness = (nsp: Namespace) => boolean;

/** Which instance gates a namespace, so decorators can find a socket's principal. */
const INSTANCES = new WeakMap<Namespace, SocketAuth>();

/** The principal of an authenticated socket, for code that has only the socket (e.g. `@AuthUser()`). */
export function principalOf(socket: Socket): AuthPrincipal | undefined {
  const sessions = INSTANCES.get(socket.nsp)?.sessions;
  return sessions?.isAuthenticated(socket) ? sessions.getPrincipal(socket) : undefined;
}

/** What the per-address limits count a socket under (`trustProxy`, `ipv6Subnet` applied), or undefined off the module. */
export function clientKeyOf(socket: Socket): string | undefined {
  return INSTANCES.get(socket.nsp)?.clientKey(socket);
}

export class SocketAuth {
  /** Sessions, and what the app asks about a socket's: `isAuthenticated`, `getPrincipal`, `whenAuthenticated`. */
  readonly sessions: SessionRegistry;
  private readonly protocol: Authenticator;
  private readonly admission: Admission;
  private readonly guard: ConnectionGuard;
  private readonly membership: Membership;
  private readonly outcomes: Outcomes;
  private readonly cluster: ClusterCommands;
  private readonly commands: SessionCommands;
  private readonly revocations: Revocations;
  private readonly revalidation: Revalidation;
  private readonly rooms: RoomGuard;
  private readonly policies: RoomPolicies;
  private readonly limit: SessionLimit;
  /** Metrics and traces (NO_TELEMETRY when the app records none). */
  readonly telemetry: Telemetry;
  /** This process's id among the nodes: the prefix of its session ids. */
  readonly node = randomBytes(6).toString('base64url');
  /** The store the module made (no `revocationStore` given): the module closes it. */
  private readonly ownStore?: MemoryRevocationStore;
  private readonly attached = new Set<Namespace>();
  private readonly unwatch: Array<() => void> = [];
  private readonly watchedServers = new WeakSet<Server>();
  private closed = false;

  constructor(private readonly deps: SocketAuthDeps) {
    const { options, strategy, logger } = deps;
    if (strategy.source === 'request' && !options.allowedOrigins.length) {
      throw new Error(
        'AuthSocketModule: a strategy with source "request" authenticates from cookies, which browsers send by themselves, ' +
          'so any site could open an authenticated socket (cross-site WebSocket hijacking). Set `allowedOrigins`.',
      );
    }
    if (options.revalidateInterval !== false && typeof strategy.revalidate !== 'function') {
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_OPTION',
        `option "revalidateInterval" is ${options.revalidateInterval} ms, but the strategy has no revalidate(principal, context) ` +
          'method: add one, or leave the option out',
      );
    }
    const requireOrigin = strategy.source === 'request';
    this.admission = new Admission(options, requireOrigin);
    const addressOf = this.admission.addressOf.bind(this.admission);
    this.guard = new ConnectionGuard(
      options,
      addressOf,
      logger,
      (conn) => this.membership.hasUseful(conn),
      (conn) => !this.membership.socketsOf(conn).length,
      (conn) => this.timeOutIdle(conn),
      requireOrigin,
    );
    this.membership = new Membership(this.guard, this.admission, (socket) => this.protocol.onDisconnect(socket));
    this.telemetry =
      deps.telemetry?.({
        pending: () => this.admission.pendingCount,
        authenticated: () => this.sessions.counts().authenticatedSockets,
      }) ?? NO_TELEMETRY;
    const telemetry = this.telemetry;
    this.outcomes = new Outcomes(
      [options.onOutcome, deps.onOutcome, telemetry === NO_TELEMETRY ? undefined : (o) => telemetry.outcome(o)],
      logger,
      // Outcomes are built only when someone hears them: the service's stream is there always, observed rarely.
      !options.onOutcome && telemetry === NO_TELEMETRY && deps.outcomesObserved ? deps.outcomesObserved : undefined,
    );
    this.sessions = new SessionRegistry(
      options,
      {
        onTimeout: (session) => this.protocol.onTimeout(session),
        onLifetime: (session, event) => this.protocol.onLifetime(session, event),
        node: this.node,
        isGated: (socket) => !this.membership.isPublic(socket),
        refreshAhead: (lifetime) =>
          options.refreshAhead === false
            ? undefined
            : refreshAhead(lifetime, options.refreshAhead === 'auto' ? undefined : options.refreshAhead),
      },
      (socket) => this.admission.socketAddress(socket),
    );
    if (!options.revocationStore) this.ownStore = new MemoryRevocationStore();
    this.revocations = new Revocations(options.revocationStore ?? this.ownStore!, options.revocationTtl, logger);
    this.revalidation = new Revalidation(options, strategy, logger, (session) => {
      void this.protocol.revalidate(session, 'interval');
    });
    this.rooms = new RoomGuard({
      policies: (this.policies = new RoomPolicies(options.rooms, options.strategyTimeout)),
      maxClientRooms: options.maxClientRooms,
      principalOf: (socket) => (this.sessions.isAuthenticated(socket) ? this.sessions.getPrincipal(socket) : undefined),
      whenAuthenticated: (socket) => this.sessions.whenAuthenticated(socket),
      isSilenced: (socket) => this.membership.isSilenced(socket),
      events: options.events,
      refused: (socket, room, via) => this.roomRefused(socket, room, via),
    });
    if (options.rooms.length) this.membership.recoverRooms = (socket, rooms) => this.rooms.recover(socket, rooms);
    this.limit = new SessionLimit({
      options,
      store: { add: (key, delta, ttl, refresh) => this.admission.add(key, delta, ttl, refresh) },
      list: (principalId) => this.listSessions(principalId),
      held: async (principalId) => {
        const { answers, complete } = await this.cluster.gather('held', principalId);
        const held = { counted: 0, admitting: [] as string[], complete };
        for (const answer of answers as Array<Partial<HeldSlots> | null>) {
          held.counted += typeof answer?.counted === 'number' ? answer.counted : 0;
          if (Array.isArray(answer?.admitting)) held.admitting.push(...answer.admitting.map(String));
        }
        return held;
      },
      evict: (sessionId) => this.end(sessionId, 'Signed in on another device'),
    });
    const { admission, membership, outcomes, revocations, revalidation, rooms, limit } = this;
    this.protocol = new Authenticator(
      {
        options,
        strategy,
        logger,
        hooks: deps.beforeAuthenticated,
        hasHooks: deps.hasHooks,
        changedHooks: deps.principalChanged,
        admission,
        membership,
        outcomes,
        revocations,
        revalidation,
        rooms,
        limit,
        telemetry,
      },
      this.sessions,
    );
    this.commands = new SessionCommands({
      options,
      strategy,
      logger,
      sessions: this.sessions,
      revocations,
      outcomes,
      protocol: () => this.protocol,
      attached: this.attached,
      node: this.node,
      heldHere: (principalId) =>
        this.limit.heldHere(principalId, this.sessions.all().filter((s) => s.counted === principalId).length),
    });
    this.cluster = this.commands.cluster;
  }

  /**
   * Gates a namespace (or a Server's root namespace). Idempotent. Public
   * namespaces are never held or timed out. `isPublic` may be decided per
   * namespace: for a RegExp (parent) namespace it is asked of each child.
   */
  attach(target: Namespace | Server, { isPublic = false }: { isPublic?: boolean | Publicness } = {}): void {
    const nsp = 'of' in target && typeof target.of === 'function' ? (target as Server).of('/') : (target as Namespace);
    if (this.attached.has(nsp)) return;
    this.attached.add(nsp);
    const publicness: Publicness = typeof isPublic === 'function' ? isPublic : () => isPublic;
    const children = childrenOf(nsp);
    if (children) this.watchChildren(nsp, children, publicness);
    else this.register(nsp, publicness(nsp));
    this.guard.attach(nsp.server);
    this.watchUngated(nsp.server);
    this.cluster.listen(nsp.server);
    // Per namespace, so the dynamic children a regex namespace creates copy it.
    nsp.use(this.admitter(publicness));
    nsp.prependListener('connection', this.protocol.onConnection);
  }

  /**
   * A RegExp gateway's parent namespace holds no socket: each child is decided
   * and registered on its own, when socket.io creates it. That is before the
   * child's first CONNECT, so a first socket that arrives by connection-state
   * recovery (which skips middlewares) still meets the recovery screen.
   */
  private watchChildren(parent: Namespace, children: ReadonlySet<Namespace>, publicness: Publicness): void {
    const decide = (child: Namespace): void => {
      try {
        this.register(child, publicness(child));
      } catch (err) {
        // Thrown inside socket.io's createChild, this would take the process down: gate the child (fail closed).
        this.deps.logger.error(`namespace ${child.name} is gated: ${(err as Error).message}`);
        this.register(child, false);
      }
    };
    children.forEach(decide);
    const onNew = (child: Namespace): void => {
      if (children.has(child)) decide(child);
    };
    const root = parent.server.of('/');
    root.on('new_namespace', onNew);
    this.unwatch.push(() => root.off('new_namespace', onNew));
  }

  /**
   * Namespaces no gateway serves (`io.of('/admin')` from @socket.io/admin-ui's
   * `instrument()`, say) are none of the module's business: their sockets
   * keep their connection open, as a public namespace's do, instead of the
   * connection being closed as idle. One listener per namespace, not per socket.
   */
  private watchUngated(server: Server): void {
    if (this.watchedServers.has(server)) return;
    this.watchedServers.add(server);
    const onConnection = this.onUngatedConnection;
    const watched: Namespace[] = [];
    this.unwatch.push(
      onEveryNamespace(server, (nsp) => {
        if (INSTANCES.get(nsp) === this) return;
        nsp.on('connection', onConnection);
        watched.push(nsp);
      }),
      () => watched.forEach((nsp) => nsp.off('connection', onConnection)),
    );
  }

  private readonly onUngatedConnection = (socket: Socket): void => {
    if (INSTANCES.get(socket.nsp) !== this) this.guard.useful(socket.client.conn as unknown as EngineConnection);
  };

  private register(nsp: Namespace, isPublic: boolean): void {
    if (INSTANCES.get(nsp) === this) return;
    INSTANCES.set(nsp, this);
    // A namespace a gateway serves: the watch for namespaces nobody serves (watchUngated) has nothing to do there.
    nsp.off('connection', this.onUngatedConnection);
    this.membership.register(nsp, isPublic, installGate);
    // Only with policies: without, joins cost nothing more than socket.io's own.
    if (this.deps.options.rooms.length) {
      const gate = gateOf(nsp)!;
      gate.screen = this.rooms.screen;
      gate.policed = this.rooms.policed;
    }
  }

  /** Middleware: refuse before accepting, so a refused socket is never half-connected. */
  private admitter(publicness: Publicness) {
    return (socket: Socket, next: (err?: Error) => void): void => {
      if (this.closed) return next();
      if (INSTANCES.get(socket.nsp) !== this) this.register(socket.nsp, publicness(socket.nsp));
      const decision = this.admission.admit(socket, !this.membership.isPublic(socket));
      if (typeof decision === 'object') void decision.then((refused) => this.decide(socket, refused, next));
      else this.decide(socket, decision, next);
    };
  }

  private decide(socket: Socket, refused: AuthErrorCode | undefined, next: (err?: Error) => void): void {
    if (!refused) return next();
    this.outcomes.count(refused);
    this.telemetry.admissionRefused(refused, socket.nsp.name);
    if (refused === 'forbidden_origin') this.noticeOrigin(socket);
    const payload = errorPayload(refused);
    // socket.io sends `data` to the client with its connect_error; then a
    // connection with nothing else on it is closed once that has gone out.
    next(Object.assign(new Error(payload.message), { data: payload }));
    setImmediate(() => this.membership.closeIfEmpty(socket));
  }

  /** A browser on an origin missing from `allowedOrigins` is the usual first-hour mistake: say which origin. */
  private noticeOrigin(socket: Socket): void {
    const { allowedOrigins } = this.deps.options;
    this.outcomes.notice('forbidden_origin', () => {
      const origin = socket.handshake.headers.origin;
      const seen = typeof origin === 'string' ? JSON.stringify(origin.slice(0, 200)) : 'none';
      return (
        `refused a handshake on ${socket.nsp.name} with forbidden_origin: Origin ${seen}, allowedOrigins ` +
        `${JSON.stringify(allowedOrigins)}` +
        (allowedOrigins.length ? '' : ' (a cookie strategy needs an Origin or Sec-Fetch-Site: same-origin)')
      );
    });
  }

  /** A connection with no useful socket reached its limit: its sessions time out now, then it closes. */
  private timeOutIdle(conn: EngineConnection): void {
    this.telemetry.idleClosed();
    for (const socket of this.membership.socketsOf(conn)) {
      const session = this.sessions.of(socket);
      if (session && session.state !== 'authenticated') this.protocol.onTimeout(session);
    }
  }

  deauthenticate(socket: Socket, message?: string): boolean {
    const session = this.sessions.of(socket);
    if (!session || session.state !== 'authenticated') return false;
    const principalId = session.principal!.id;
    this.protocol.demote(session, errorPayload('deauthenticated', message, true), false);
    this.outcomes.report({ type: 'deauthenticated', socketId: socket.id, namespace: socket.nsp.name, principalId });
    return true;
  }

  /**
   * Denies the target from now on (the revocation store, consulted on every
   * authentication and refresh), then ends the live sessions it covers on
   * every node, or gives them `graceMs` to refresh (session-commands.ts).
   */
  revoke(target: RevokeTarget, given?: string | RevokeOptions): Promise<RevokeResult> {
    return this.commands.revoke(target, given);
  }

  /** Whether the revocation store denies these credentials now: for the app's own HTTP endpoints (refresh, logout). */
  isRevoked(principal: Pick<AuthPrincipal, 'id' | 'tokenId' | 'issuedAt'>): Promise<boolean> {
    return this.commands.isRevoked(principal);
  }

  /** Revalidates every session of the principal on every node, now; resolves once each node has applied its answers. */
  revalidate(principalId: string): Promise<RevalidateResult> {
    return this.commands.revalidate(principalId);
  }

  /** The principal's live sessions on every node. */
  listSessions(principalId: string): Promise<SessionsResult> {
    return this.commands.listSessions(principalId);
  }

  /** Ends one session wherever it is: its sockets hear `unauthorized {code:'revoked'}` with the reason. */
  end(sessionId: string, reason?: string): Promise<EndResult> {
    return this.commands.end(sessionId, reason);
  }

  /** @internal */
  clientKey(socket: Socket): string {
    return this.admission.clientKey(socket);
  }

  /** Joins a room past its policy (unpoliced rooms join as `socket.join` would); resolves whether the socket is in it. */
  join(socket: Socket, room: string): Promise<boolean> {
    if (typeof room !== 'string' || !room)
      throw new AuthSocketConfigError('AUTH_SOCKET_INVALID_ARGUMENT', 'join(): the room must be a non-empty string');
    return this.rooms.join(socket, room);
  }

  private roomRefused(socket: Socket, room: string, via: RoomRefusedVia): void {
    const principalId = this.sessions.getPrincipal(socket)?.id;
    this.outcomes.report({
      type: 'room_refused',
      socketId: socket.id,
      namespace: socket.nsp.name,
      ...(principalId !== undefined ? { principalId } : {}),
      room: room.slice(0, 200),
      via,
    });
  }

  /** The stores' connectivity and the pending-socket pressure in this process, for health checks. */
  health(): AuthSocketHealth {
    const { limitStore, revocationStore, maxPending } = this.deps.options;
    return {
      limitStore: limitStore?.health?.() ?? 'up',
      revocationStore: (revocationStore as RevocationStore | undefined)?.health?.() ?? 'up', // in memory: always up
      pending: this.admission.pendingCount,
      maxPending,
    };
  }

  /** Unauthenticated sockets on gated namespaces, authenticated sockets, and failures by code since start. */
  stats(): { pending: number; authenticated: number; failures: Partial<Record<AuthErrorCode, number>> } {
    const { authenticatedSockets } = this.sessions.counts();
    return {
      pending: this.admission.pendingCount,
      authenticated: authenticatedSockets,
      failures: this.outcomes.failures(),
    };
  }

  /** Live entry and timer counts, so tests can prove nothing is left behind. */
  resourceCounts(): Record<string, number> {
    const { sessions, timers } = this.sessions.counts();
    const admission = this.admission.sizes();
    const listening = [...this.attached].filter((nsp) =>
      nsp.listeners('connection').includes(this.protocol.onConnection),
    );
    return {
      sessions,
      timers:
        timers +
        admission.timers +
        this.guard.sizes().idleTimers +
        (this.revalidation.size ? 1 : 0) +
        this.policies.pending,
      revalidations: this.revalidation.size,
      admittingSessions: this.limit.size,
      roomVerdicts: this.policies.pending,
      pendingTotal: admission.pendingSockets,
      publicTotal: admission.publicSockets,
      limitCounters: admission.limitCounters,
      ...this.membership.sizes(this.attached),
      connectionListeners: listening.length,
    };
  }

  /** Stops all timers and forgets all state; the server is closing the sockets. */
  shutdown(): void {
    this.closed = true;
    this.protocol.shutdown();
    this.sessions.clear();
    this.admission.clear();
    this.membership.clear();
    this.guard.shutdown();
    for (const nsp of this.attached) nsp.off('connection', this.protocol.onConnection);
    this.unwatch.splice(0).forEach((undo) => undo());
    this.cluster.close();
    this.revalidation.clear();
    this.policies.close();
    this.telemetry.close();
    this.ownStore?.close();
    releaseIdleBounds();
  }
}
