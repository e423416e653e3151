/**
 * Attaches post-connection authentication to socket.io namespaces. No Nest in
 * here: a plain socket.io app can use it, and it can be tested on a bare server.
 *
 * Order of events for one socket, which is the point of this file:
 *   1. `admit` middleware: origin and pending-connection limits, before the
 *      socket is accepted, so a refusal is a clean `connect_error`.
 *   2. socket.io's Socket#_onconnect joins the socket's own room: the gate
 *      holds it (see broadcast-gate.ts).
 *   3. `onConnection`, registered ahead of every gateway's listener: session,
 *      timeout and `authentication` listener exist before `handleConnection`.
 *   4. On success: gate released (broadcasts flow) → principal room joined →
 *      `beforeAuthenticated` hooks (gateways' `handleAuthenticated`) →
 *      `authenticated` sent → waiting `@Authenticated()` handlers run.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { AuthErrorCode, AuthErrorPayload } from '../auth-errors.js';
import { AuthenticationError } from '../auth-errors.js';
import type { AuthOutcome } from '../auth-outcome.interface.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { AuthContext, AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import { gateOf, installGate } from './broadcast-gate.js';
import { setLongTimeout } from './long-timer.js';
import { errorPayload, parseCredentials, principalRoom, refusal, splitAck } from './protocol.js';
import type { SocketAuthData } from './session.js';
import { Attempt, Session } from './session.js';

export interface AuthLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
  debug?(message: string): void;
}

export interface AuthenticatorDeps {
  options: ResolvedAuthSocketOptions;
  strategy: AuthStrategy;
  logger: AuthLogger;
  /** Runs for each socket of a newly authenticated session, before the client hears `authenticated`. */
  beforeAuthenticated?: (socket: Socket, principal: AuthPrincipal) => Promise<void> | void;
  /** Every outcome, after `options.onOutcome`. */
  onOutcome?: (outcome: AuthOutcome) => void;
}

/** Which authenticator gates a namespace, so decorators can find a socket's principal. */
const AUTHENTICATORS = new WeakMap<Namespace, Authenticator>();

/** The principal of an authenticated socket, for code that has only the socket (e.g. `@AuthUser()`). */
export function principalOf(socket: Socket): AuthPrincipal | undefined {
  const authenticator = AUTHENTICATORS.get(socket.nsp);
  return authenticator?.isAuthenticated(socket) ? authenticator.getPrincipal(socket) : undefined;
}

/** Failures that count towards `maxFailuresPerAddress`. */
const CREDENTIAL_FAILURES = new Set<AuthErrorCode>(['invalid_credentials', 'bad_request', 'identity_changed', 'expired']);
const STRATEGY_TIMED_OUT = Symbol('strategy timed out');

export class Authenticator {
  private readonly options: ResolvedAuthSocketOptions;
  private readonly namespaces = new Set<Namespace>();
  private readonly sessions = new Map<object, Session>();
  private readonly pendingByAddress = new Map<string, number>();
  private pendingTotal = 0;
  private readonly failureWindows = new Map<string, { count: number; resetAt: number }>();
  private failureSweep?: ReturnType<typeof setInterval>;
  private readonly strategyTimers = new Set<ReturnType<typeof setTimeout>>();
  private readonly failuresByCode: Partial<Record<AuthErrorCode, number>> = {};
  private closed = false;

  constructor(private readonly deps: AuthenticatorDeps) {
    this.options = deps.options;
  }

  // ── attaching ─────────────────────────────────────────────────────────────

  /** Gates a namespace (or a Server's root namespace). Idempotent. */
  attach(target: Namespace | Server): void {
    const nsp = 'of' in target && typeof target.of === 'function' ? (target as Server).of('/') : (target as Namespace);
    if (this.namespaces.has(nsp)) return;
    this.namespaces.add(nsp);
    AUTHENTICATORS.set(nsp, this);
    installGate(nsp);
    nsp.use(this.admit);
    // Ahead of the gateway's own listener, so handleConnection sees our state.
    nsp.prependListener('connection', this.onConnection);
  }

  /** Middleware: refuse before accepting, so a refused socket is never half-connected. */
  private readonly admit = (socket: Socket, next: (err?: Error) => void): void => {
    if (this.closed) return next();
    // Dynamic (regex/function) namespaces create children that copy this middleware.
    this.namespaces.add(socket.nsp);
    AUTHENTICATORS.set(socket.nsp, this);
    installGate(socket.nsp);
    const refusal = this.admissionRefusal(socket);
    if (!refusal) return next();
    this.count(refusal);
    const payload = errorPayload(refusal);
    // socket.io sends `data` to the client with its connect_error.
    next(Object.assign(new Error(payload.message), { data: payload }));
  };

  private admissionRefusal(socket: Socket): AuthErrorCode | undefined {
    const { allowedOrigins, maxPending, maxPendingPerAddress, scope } = this.options;
    const origin = socket.handshake.headers.origin;
    if (allowedOrigins.length && origin !== undefined && !allowedOrigins.includes(origin)) return 'forbidden_origin';
    // A further namespace of an already-known connection adds no pending session.
    if (scope === 'connection' && this.sessions.has(socket.client)) return undefined;
    if (maxPending && this.pendingTotal >= maxPending) return 'too_many_pending';
    const address = this.addressOf(socket);
    if (maxPendingPerAddress && (this.pendingByAddress.get(address) ?? 0) >= maxPendingPerAddress) return 'too_many_pending';
    return undefined;
  }

  private readonly onConnection = (socket: Socket): void => {
    if (this.closed) return;
    installGate(socket.nsp);
    const key = this.options.scope === 'connection' ? socket.client : socket;
    let session = this.sessions.get(key);
    if (!session) {
      session = new Session(key, this.addressOf(socket));
      this.sessions.set(key, session);
      this.enterPending(session);
    }
    session.sockets.push(socket);
    if (session.state === 'authenticated') {
      this.admitSocket(socket, session);
    } else {
      socket.data.auth = { state: 'pending' } satisfies SocketAuthData;
    }
    // Shared listeners (socket.io calls them with the socket as `this`): no closures per socket.
    socket.on(this.options.events.authentication, this.authenticationListener);
    socket.on('disconnect', this.disconnectListener); // fires once; `on` avoids once()'s per-socket wrapper

    const auth = socket.handshake.auth;
    if (this.options.handshake && session.state === 'pending' && auth && Object.keys(auth).length > 0) {
      void this.attempt(session, socket, auth, 'handshake');
    }
  };

  private readonly authenticationListener = ((authenticator: Authenticator) =>
    function (this: Socket, ...args: unknown[]): void {
      authenticator.onAuthentication(this, args);
    })(this);

  private readonly disconnectListener = ((authenticator: Authenticator) =>
    function (this: Socket): void {
      authenticator.onDisconnect(this);
    })(this);

  /**
   * The socket's session, looked up rather than stored on the socket: a
   * property added to every socket costs more heap than the lookup.
   */
  private sessionOf(socket: Socket): Session | undefined {
    return this.sessions.get(this.options.scope === 'connection' ? socket.client : socket);
  }

  // ── the protocol ──────────────────────────────────────────────────────────

  private onAuthentication(socket: Socket, args: unknown[]): void {
    const session = this.sessionOf(socket);
    const { payload, ack } = splitAck(args);
    if (!session || session.state === 'closed') return;
    if (session.inFlight) {
      // Refused without touching the session or the attempt in flight (graphql-ws does the same).
      const error = errorPayload('in_progress');
      this.count('in_progress');
      if (ack) ack(refusal(error));
      else socket.emit(this.options.events.authError, error);
      return;
    }
    void this.attempt(session, socket, payload, 'message', ack);
  }

  private async attempt(
    session: Session,
    socket: Socket,
    payload: unknown,
    source: AuthContext['source'],
    ack?: (response: unknown) => void,
  ): Promise<void> {
    const address = session.address;
    if (this.isRateLimited(address)) return this.fail(session, 'rate_limited', ack);
    const parsed = parseCredentials(payload, this.options.maxCredentialsBytes);
    if (!parsed.ok) return this.fail(session, parsed.code, ack);

    const attempt = new Attempt();
    session.inFlight = attempt;
    const refreshing = session.state === 'authenticated';
    if (!refreshing) session.state = 'authenticating';

    let principal: AuthPrincipal | null | false;
    try {
      principal = await this.callStrategy(parsed.credentials, {
        socket,
        namespace: socket.nsp.name,
        address,
        source,
        current: refreshing ? session.principal : undefined,
      });
    } catch (err) {
      if (session.inFlight !== attempt || session.state === 'closed') return;
      if (err instanceof AuthenticationError) return this.fail(session, err.code, ack, err.message);
      if (err === STRATEGY_TIMED_OUT) {
        this.deps.logger.error(`strategy did not answer within ${this.strategyTimeout()} ms (socket ${socket.id})`);
      } else {
        const e = err instanceof Error ? err : new Error(String(err));
        // The error only: never the credentials.
        this.deps.logger.error(`strategy threw for socket ${socket.id}: ${e.message}`, e.stack);
      }
      return this.fail(session, 'server_error', ack);
    }
    // A late answer (the socket left, timed out, or was revoked meanwhile) changes nothing.
    if (session.inFlight !== attempt || session.state === 'closed') return;

    if (!principal) return this.fail(session, 'invalid_credentials', ack);
    if (typeof principal !== 'object' || typeof principal.id !== 'string' || principal.id === '') {
      this.deps.logger.error(`strategy returned a principal without a string id (socket ${socket.id})`);
      return this.fail(session, 'server_error', ack);
    }
    const expiresAt = principal.expiresAt === undefined ? undefined : +principal.expiresAt;
    if (expiresAt !== undefined && Number.isNaN(expiresAt)) {
      this.deps.logger.error(`strategy returned an expiresAt that is not a date or epoch ms (socket ${socket.id})`);
      return this.fail(session, 'server_error', ack);
    }
    if (expiresAt !== undefined && expiresAt <= Date.now()) return this.fail(session, 'expired', ack);
    if (refreshing && principal.id !== session.principal!.id) return this.fail(session, 'identity_changed', ack);

    await this.succeed(session, attempt, principal, expiresAt, refreshing, ack);
  }

  private async callStrategy(credentials: Record<string, unknown>, context: AuthContext): Promise<AuthPrincipal | null | false> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(STRATEGY_TIMED_OUT), this.strategyTimeout());
      this.strategyTimers.add(timer);
    });
    try {
      return await Promise.race([Promise.resolve().then(() => this.deps.strategy.authenticate(credentials, context)), timeout]);
    } finally {
      clearTimeout(timer);
      this.strategyTimers.delete(timer!);
    }
  }

  private strategyTimeout(): number {
    const { strategyTimeout, timeout } = this.options;
    return timeout ? Math.min(strategyTimeout, timeout) : strategyTimeout;
  }

  private async succeed(
    session: Session,
    attempt: Attempt,
    principal: AuthPrincipal,
    expiresAt: number | undefined,
    refreshed: boolean,
    ack?: (response: unknown) => void,
  ): Promise<void> {
    session.principal = principal;
    session.authenticatedAt = Date.now();
    session.expiresAt = expiresAt;
    this.scheduleExpiry(session);

    if (!refreshed) {
      this.leavePending(session);
      for (const socket of session.sockets) this.admitSocket(socket, session);
      // handleAuthenticated runs before the client is told, so rooms it joins are
      // in effect when the client starts talking (socketio-auth#33, #34).
      try {
        for (const socket of [...session.sockets]) await this.deps.beforeAuthenticated?.(socket, principal);
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        this.deps.logger.error(`handleAuthenticated threw: ${e.message}`, e.stack);
        if (session.state !== 'closed') this.fail(session, 'server_error', ack);
        return;
      }
      if (session.state === 'closed' || session.inFlight !== attempt) return;
      session.state = 'authenticated';
    } else {
      for (const socket of session.sockets) socket.data.auth = this.authData(session);
    }
    session.inFlight = undefined;

    const user = principal.public ?? { id: principal.id };
    for (const socket of session.sockets) socket.emit(this.options.events.authenticated, { user });
    ack?.({ ok: true, user });
    const [first] = session.sockets;
    this.deps.logger.debug?.(`socket ${first?.id} authenticated as ${principal.id}${refreshed ? ' (refreshed)' : ''}`);
    this.outcome({
      type: 'authenticated',
      socketId: first?.id ?? '',
      namespace: first?.nsp.name ?? '',
      principalId: principal.id,
      address: session.address,
      refreshed,
    });
    attempt.settle(true);
  }

  /** Lets one socket of an authenticated session receive broadcasts. */
  private admitSocket(socket: Socket, session: Session): void {
    gateOf(socket.nsp)?.release(socket);
    void socket.join(principalRoom(session.principal!.id));
    socket.data.auth = this.authData(session);
    this.restoreRecovered(socket, session);
  }

  /** Recovered rooms, data and missed packets go only to the principal they belonged to. */
  private restoreRecovered(socket: Socket, session: Session): void {
    const gate = gateOf(socket.nsp);
    const recovery = gate?.takeRecovery(socket);
    if (!recovery || recovery.principalId !== session.principal!.id) return;
    void socket.join(recovery.rooms);
    socket.data = { ...recovery.data, auth: socket.data.auth };
    gate!.replay(socket, recovery.missedPackets);
  }

  private authData(session: Session): SocketAuthData {
    const principal = session.principal!;
    return {
      state: 'authenticated',
      principalId: principal.id,
      principal,
      authenticatedAt: session.authenticatedAt!,
      ...(session.expiresAt !== undefined ? { expiresAt: session.expiresAt } : {}),
    };
  }

  /** Refuses the attempt, tells the client why, and ends the session. */
  private fail(session: Session, code: AuthErrorCode, ack?: (response: unknown) => void, message?: string): void {
    const error = errorPayload(code, message);
    this.count(code);
    if (CREDENTIAL_FAILURES.has(code)) this.recordFailure(session.address);
    ack?.(refusal(error));
    const [first] = session.sockets;
    this.deps.logger.log(`authentication failed for socket ${first?.id} from ${session.address}: ${code}`);
    this.outcome({ type: 'failed', socketId: first?.id ?? '', namespace: first?.nsp.name ?? '', address: session.address, code });
    this.close(session, error);
  }

  /** Sends `unauthorized` and disconnects every socket of the session. */
  private close(session: Session, error: AuthErrorPayload): void {
    if (session.state === 'closed') return;
    this.leavePending(session);
    session.state = 'closed';
    this.clearTimers(session);
    session.inFlight?.settle(false);
    session.inFlight = undefined;
    // Emit, then disconnect without waiting on the client (unlike socketio-auth):
    // the packets leave in order, so the client reads `unauthorized` first. The
    // disconnect waits one macrotask so handlers that were waiting on the attempt
    // can send their refusals (acks) first, and no caller hangs.
    const sockets = [...session.sockets];
    for (const socket of sockets) socket.emit(this.options.events.unauthorized, error);
    setImmediate(() => sockets.forEach((socket) => socket.disconnect(this.options.scope === 'connection')));
    this.forget(session);
  }

  /** Back to pending without disconnecting: expiry with 'reauthenticate', or deauthenticate(). */
  private demote(session: Session, error: AuthErrorPayload): void {
    if (session.state !== 'authenticated') return;
    const principalId = session.principal!.id;
    clearTimeout(session.timeoutTimer);
    session.expiryTimer?.clear();
    session.expiryTimer = undefined;
    session.inFlight?.settle(false);
    session.inFlight = undefined;
    for (const socket of session.sockets) {
      void socket.leave(principalRoom(principalId));
      gateOf(socket.nsp)?.detach(socket);
      socket.data.auth = { state: 'pending' } satisfies SocketAuthData;
    }
    session.state = 'pending';
    session.principal = undefined;
    session.authenticatedAt = undefined;
    session.expiresAt = undefined;
    this.enterPending(session);
    for (const socket of session.sockets) socket.emit(this.options.events.unauthorized, error);
  }

  private onDisconnect(socket: Socket): void {
    const session = this.sessionOf(socket);
    if (!session) return;
    const index = session.sockets.indexOf(socket);
    if (index >= 0) session.sockets.splice(index, 1);
    if (session.sockets.length > 0) return;
    this.leavePending(session);
    session.state = 'closed';
    this.clearTimers(session);
    session.inFlight?.settle(false);
    session.inFlight = undefined;
    this.forget(session);
  }

  private forget(session: Session): void {
    if (this.sessions.get(session.key) === session) this.sessions.delete(session.key);
  }

  // ── timers ────────────────────────────────────────────────────────────────

  private enterPending(session: Session): void {
    session.countedPending = true;
    this.pendingTotal++;
    this.pendingByAddress.set(session.address, (this.pendingByAddress.get(session.address) ?? 0) + 1);
    const { timeout } = this.options;
    if (!timeout) return;
    session.timeoutTimer = setTimeout(() => {
      session.timeoutTimer = undefined;
      const [first] = session.sockets;
      this.count('timeout');
      this.outcome({ type: 'timeout', socketId: first?.id ?? '', namespace: first?.nsp.name ?? '', address: session.address });
      this.close(session, errorPayload('timeout'));
    }, timeout);
  }

  private leavePending(session: Session): void {
    clearTimeout(session.timeoutTimer);
    session.timeoutTimer = undefined;
    if (!session.countedPending) return;
    session.countedPending = false;
    this.pendingTotal--;
    const left = (this.pendingByAddress.get(session.address) ?? 1) - 1;
    if (left > 0) this.pendingByAddress.set(session.address, left);
    else this.pendingByAddress.delete(session.address);
  }

  private scheduleExpiry(session: Session): void {
    session.expiryTimer?.clear();
    session.expiryTimer = undefined;
    if (session.expiresAt === undefined) return;
    session.expiryTimer = setLongTimeout(() => {
      session.expiryTimer = undefined;
      const [first] = session.sockets;
      const principalId = session.principal?.id ?? '';
      this.count('expired');
      this.outcome({ type: 'expired', socketId: first?.id ?? '', namespace: first?.nsp.name ?? '', principalId });
      if (this.options.onExpiry === 'reauthenticate') this.demote(session, errorPayload('expired', undefined, true));
      else this.close(session, errorPayload('expired'));
    }, session.expiresAt);
  }

  private clearTimers(session: Session): void {
    clearTimeout(session.timeoutTimer);
    session.timeoutTimer = undefined;
    session.expiryTimer?.clear();
    session.expiryTimer = undefined;
  }

  // ── abuse limits ──────────────────────────────────────────────────────────

  addressOf(socket: Socket): string {
    const { trustProxy } = this.options;
    if (trustProxy) {
      const header = socket.handshake.headers['x-forwarded-for'];
      const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((s) => s.trim()).filter(Boolean);
      const trusted = trustProxy === true ? 1 : trustProxy;
      // The entry appended by the outermost trusted proxy; earlier ones are client-supplied.
      if (hops.length) return hops[Math.max(0, hops.length - trusted)];
    }
    return socket.handshake.address;
  }

  private isRateLimited(address: string): boolean {
    const { maxFailuresPerAddress } = this.options;
    if (!maxFailuresPerAddress) return false;
    const window = this.failureWindows.get(address);
    return !!window && window.resetAt > Date.now() && window.count >= maxFailuresPerAddress;
  }

  private recordFailure(address: string): void {
    const { maxFailuresPerAddress, failureWindowMs } = this.options;
    if (!maxFailuresPerAddress) return;
    const now = Date.now();
    const window = this.failureWindows.get(address);
    if (window && window.resetAt > now) window.count++;
    else this.failureWindows.set(address, { count: 1, resetAt: now + failureWindowMs });
    // One sweeper for all addresses, only while there is something to sweep.
    this.failureSweep ??= setInterval(() => {
      const t = Date.now();
      for (const [a, w] of this.failureWindows) if (w.resetAt <= t) this.failureWindows.delete(a);
      if (this.failureWindows.size === 0) {
        clearInterval(this.failureSweep);
        this.failureSweep = undefined;
      }
    }, failureWindowMs);
    this.failureSweep.unref?.();
  }

  // ── what the Nest glue and apps use ───────────────────────────────────────

  isAuthenticated(socket: Socket): boolean {
    return this.sessionOf(socket)?.state === 'authenticated';
  }

  getPrincipal(socket: Socket): AuthPrincipal | undefined {
    const session = this.sessionOf(socket);
    return session?.state === 'authenticated' || session?.state === 'authenticating' ? session.principal : undefined;
  }

  /** true when the socket may run guarded work now, a promise while its first attempt is in flight. */
  whenAuthenticated(socket: Socket): boolean | Promise<boolean> {
    const session = this.sessionOf(socket);
    if (!session) return false;
    if (session.state === 'authenticated') return true;
    if (session.state === 'authenticating' && session.inFlight) return session.inFlight.wait();
    return false;
  }

  deauthenticate(socket: Socket, message?: string): boolean {
    const session = this.sessionOf(socket);
    if (!session || session.state !== 'authenticated') return false;
    const principalId = session.principal!.id;
    this.demote(session, errorPayload('deauthenticated', message, true));
    this.outcome({ type: 'deauthenticated', socketId: socket.id, namespace: socket.nsp.name, principalId });
    return true;
  }

  /**
   * Tells every socket of the principal `unauthorized {code:'revoked'}` and
   * disconnects them, through the adapter: with a cluster adapter this reaches
   * every node.
   */
  async revoke(principalId: string, reason?: string): Promise<void> {
    const room = principalRoom(principalId);
    const error = errorPayload('revoked', reason);
    for (const nsp of this.namespaces) {
      nsp.to(room).emit(this.options.events.unauthorized, error);
      nsp.in(room).disconnectSockets(true);
    }
    this.count('revoked');
    this.deps.logger.log(`revoked sessions of ${principalId}`);
    this.outcome({ type: 'revoked', principalId, ...(reason ? { reason } : {}) });
  }

  stats(): { pending: number; authenticated: number; failures: Partial<Record<AuthErrorCode, number>> } {
    let authenticated = 0;
    let pending = 0;
    for (const session of this.sessions.values()) {
      if (session.state === 'authenticated') authenticated += session.sockets.length;
      else if (session.isPending) pending += session.sockets.length;
    }
    return { pending, authenticated, failures: { ...this.failuresByCode } };
  }

  /** Live entry and timer counts, so tests can prove nothing is left behind. */
  resourceCounts(): Record<string, number> {
    let timers = this.strategyTimers.size + (this.failureSweep ? 1 : 0);
    let held = 0;
    let released = 0;
    let recoveries = 0;
    for (const session of this.sessions.values()) timers += (session.timeoutTimer ? 1 : 0) + (session.expiryTimer ? 1 : 0);
    for (const nsp of this.namespaces) {
      const sizes = gateOf(nsp)?.sizes();
      held += sizes?.held ?? 0;
      released += sizes?.released ?? 0;
      recoveries += sizes?.recoveries ?? 0;
    }
    return {
      sessions: this.sessions.size,
      timers,
      pendingTotal: this.pendingTotal,
      pendingAddresses: this.pendingByAddress.size,
      failureWindows: this.failureWindows.size,
      heldSockets: held,
      releasedSockets: released,
      recoveries,
      connectionListeners: [...this.namespaces].filter((nsp) => nsp.listeners('connection').includes(this.onConnection)).length,
    };
  }

  /** Stops all timers and forgets all state; sockets are being closed by the server. */
  shutdown(): void {
    this.closed = true;
    for (const session of this.sessions.values()) {
      this.clearTimers(session);
      session.inFlight?.settle(false);
      session.inFlight = undefined;
      session.state = 'closed';
    }
    this.sessions.clear();
    this.pendingByAddress.clear();
    this.pendingTotal = 0;
    for (const timer of this.strategyTimers) clearTimeout(timer);
    this.strategyTimers.clear();
    clearInterval(this.failureSweep);
    this.failureSweep = undefined;
    this.failureWindows.clear();
    for (const nsp of this.namespaces) nsp.off('connection', this.onConnection);
  }

  private count(code: AuthErrorCode): void {
    this.failuresByCode[code] = (this.failuresByCode[code] ?? 0) + 1;
  }

  private outcome(outcome: AuthOutcome): void {
    try {
      this.options.onOutcome?.(outcome);
      this.deps.onOutcome?.(outcome);
    } catch (err) {
      this.deps.logger.error(`onOutcome hook threw: ${(err as Error)?.message}`);
    }
  }
}
