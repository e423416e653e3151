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
import { Authenticator } from './authenticator.js';
import { childrenOf, installGate } from './broadcast-gate.js';
import { ClusterRevocation, type RevokeResult } from './cluster-revocation.js';
import { ConnectionGuard, type EngineConnection } from './connection-guard.js';
import { Membership } from './membership.js';
import { Outcomes } from './outcomes.js';
import { errorPayload, principalRoom } from './protocol.js';
import { SessionRegistry } from './session-registry.js';
import type { AuthLogger } from './strategy-call.js';

export type { AuthLogger } from './strategy-call.js';
export type { RevokeResult } from './cluster-revocation.js';

export interface SocketAuthDeps {
  options: ResolvedAuthSocketOptions;
  strategy: AuthStrategy;
  logger: AuthLogger;
  /** Runs for each socket of a newly authenticated session, before it is told `authenticated`. */
  beforeAuthenticated?: (socket: Socket, principal: AuthPrincipal) => Promise<void> | void;
  /** Every outcome, after `options.onOutcome`. */
  onOutcome?: (outcome: AuthOutcome) => void;
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

export class SocketAuth {
  /** Sessions, and what the app asks about a socket's: `isAuthenticated`, `getPrincipal`, `whenAuthenticated`. */
  readonly sessions: SessionRegistry;
  private readonly protocol: Authenticator;
  private readonly admission: Admission;
  private readonly guard: ConnectionGuard;
  private readonly membership: Membership;
  private readonly outcomes: Outcomes;
  private readonly cluster: ClusterRevocation;
  private readonly attached = new Set<Namespace>();
  private readonly unwatch: Array<() => void> = [];
  private closed = false;

  constructor(private readonly deps: SocketAuthDeps) {
    const { options, strategy, logger } = deps;
    if (strategy.source === 'request' && !options.allowedOrigins.length) {
      throw new Error(
        'AuthSocketModule: a strategy with source "request" authenticates from cookies, which browsers send by themselves, ' +
          'so any site could open an authenticated socket (cross-site WebSocket hijacking). Set `allowedOrigins`.',
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
    this.outcomes = new Outcomes([options.onOutcome, deps.onOutcome], logger);
    this.sessions = new SessionRegistry(
      options,
      {
        onTimeout: (session) => this.protocol.onTimeout(session),
        onExpiry: (session) => this.protocol.onExpiry(session),
        isGated: (socket) => !this.membership.isPublic(socket),
      },
      (socket) => this.admission.socketAddress(socket),
    );
    const { admission, membership, outcomes } = this;
    const parts = { options, strategy, logger, hooks: deps.beforeAuthenticated, admission, membership, outcomes };
    this.protocol = new Authenticator(parts, this.sessions);
    this.cluster = new ClusterRevocation((id, reason) => this.revokeHere(id, reason));
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

  private register(nsp: Namespace, isPublic: boolean): void {
    if (INSTANCES.get(nsp) === this) return;
    INSTANCES.set(nsp, this);
    this.membership.register(nsp, isPublic, installGate);
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

  /** Ends every session of the principal on every node, each through its own `end()`. */
  async revoke(principalId: string, reason?: string): Promise<RevokeResult> {
    const result = await this.cluster.revoke(principalId, reason);
    // Backstop through the adapter: a cluster adapter sends server-side messages only to the nodes it already knows
    // (its heartbeat), while broadcasts reach every node. Sessions ended above have left the principal's room, so
    // this reaches only sockets on a node that missed the message.
    const room = principalRoom(principalId);
    for (const nsp of this.attached) {
      nsp.to(room).emit(this.deps.options.events.unauthorized, errorPayload('revoked', reason));
      nsp.in(room).disconnectSockets(true);
    }
    this.outcomes.count('revoked');
    this.deps.logger.log(`revoked sessions of ${principalId}${result.complete ? '' : ' (some nodes did not answer)'}`);
    this.outcomes.report({ type: 'revoked', principalId, ...(reason ? { reason } : {}) });
    return result;
  }

  /**
   * Ends every session the principal owns or may resume (demoted ones too,
   * with any re-authentication in flight on them), and marks every other
   * attempt in flight: one that the strategy answers with this principal is
   * refused, since it checked credentials issued before the revoke.
   */
  private revokeHere(principalId: string, reason?: string): number {
    let count = 0;
    for (const session of this.sessions.all()) {
      if (session.owner?.id === principalId) {
        count += session.size;
        this.protocol.end(session, errorPayload('revoked', reason));
      } else if (session.attempt) {
        (session.attempt.revoked ??= new Set()).add(principalId);
      }
    }
    return count;
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
      timers: timers + admission.timers + this.guard.sizes().idleTimers,
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
    this.admission.clear();
    this.membership.clear();
    this.guard.shutdown();
    for (const nsp of this.attached) nsp.off('connection', this.protocol.onConnection);
    this.unwatch.splice(0).forEach((undo) => undo());
    this.cluster.close();
  }
}
