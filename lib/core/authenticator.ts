/**
 * The protocol: post-connection authentication on socket.io namespaces. No
 * Nest in here: a plain socket.io app can use it, and it can be tested on a
 * bare server. Read top to bottom, it is the life of a socket:
 *
 *   1. Admission middleware (admission.ts): origin, one socket per namespace
 *      per connection, pending caps. A refusal is a clean `connect_error`, and
 *      a connection left with no socket is then closed.
 *   2. socket.io's Socket#_onconnect joins the socket's own room: the gate
 *      holds it (broadcast-gate.ts) unless the namespace is public.
 *   3. `onConnection`, registered ahead of every gateway's listener: session,
 *      timeout and `authentication` listener exist before `handleConnection`.
 *   4. An attempt: failure budget reserved → strategy (bounded) → hooks
 *      (bounded; the gateways' `handleAuthenticated`, the sockets still held)
 *      → state `authenticated` → released (broadcasts flow) → `authenticated`
 *      sent → waiting `@Authenticated()` handlers run.
 *   5. The way out: `end()` for every ending, `demote()` for going back to
 *      pending. Both take the sockets out of the broadcast membership first.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { AuthErrorCode, AuthErrorPayload } from '../auth-errors.js';
import type { AuthOutcome } from '../auth-outcome.interface.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { AuthContext, AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import { Admission } from './admission.js';
import { installGate } from './broadcast-gate.js';
import { ConnectionGuard, type EngineConnection } from './connection-guard.js';
import { errorPayload, handshakeCredentials, parseCredentials, refusal, splitAck } from './protocol.js';
import { Attempt, Session, type SocketAuthData } from './session.js';
import { Membership } from './membership.js';
import { type AuthLogger, callHook, callStrategy } from './strategy-call.js';

export type { AuthLogger } from './strategy-call.js';

export interface AuthenticatorDeps {
  options: ResolvedAuthSocketOptions;
  strategy: AuthStrategy;
  logger: AuthLogger;
  /** Runs for each socket of a newly authenticated session, before it is released and told `authenticated`. */
  beforeAuthenticated?: (socket: Socket, principal: AuthPrincipal) => Promise<void> | void;
  /** Every outcome, after `options.onOutcome`. */
  onOutcome?: (outcome: AuthOutcome) => void;
}

/** What `revoke()` did, cluster-wide. */
export interface RevokeResult {
  /** Sockets that lost the principal's session, on every node that answered. */
  disconnected: number;
  /** false when a node did not answer in time: it may still hold sockets of the principal. */
  complete: boolean;
}

/** Which authenticator gates a namespace, so decorators can find a socket's principal. */
const AUTHENTICATORS = new WeakMap<Namespace, Authenticator>();

/** The principal of an authenticated socket, for code that has only the socket (e.g. `@AuthUser()`). */
export function principalOf(socket: Socket): AuthPrincipal | undefined {
  const authenticator = AUTHENTICATORS.get(socket.nsp);
  return authenticator?.isAuthenticated(socket) ? authenticator.getPrincipal(socket) : undefined;
}

/** Failures that are guesses: they keep their slot of the failure budget. */
const GUESSES = new Set<AuthErrorCode>(['invalid_credentials', 'bad_request', 'identity_changed', 'expired']);
const PENDING: SocketAuthData = Object.freeze({ state: 'pending' }) as SocketAuthData;
/** Server-side event each node answers with the number of sockets it revoked. */
const REVOKE_EVENT = 'nestjs-socket-auth:revoke';

export class Authenticator {
  private readonly options: ResolvedAuthSocketOptions;
  private readonly admission: Admission;
  private readonly guard: ConnectionGuard;
  private readonly membership: Membership;
  private readonly attached = new Set<Namespace>();
  private readonly servers = new Set<Server>();
  private readonly sessions = new Map<object, Session>();
  private readonly failuresByCode: Partial<Record<AuthErrorCode, number>> = {};
  private closed = false;

  constructor(private readonly deps: AuthenticatorDeps) {
    this.options = deps.options;
    if (deps.strategy.source === 'request' && !this.options.allowedOrigins.length) {
      throw new Error(
        'AuthSocketModule: a strategy with source "request" authenticates from cookies, which browsers send by themselves, ' +
          'so any site could open an authenticated socket (cross-site WebSocket hijacking). Set `allowedOrigins`.',
      );
    }
    this.admission = new Admission(this.options);
    this.guard = new ConnectionGuard(this.options, (req, remote) => this.admission.addressOf(req, remote), deps.logger, this.onIdle);
    this.membership = new Membership(this.guard, this.admission);
  }

  // ── 1. attaching and admission ────────────────────────────────────────────

  /** Gates a namespace (or a Server's root namespace). Idempotent. Public namespaces are never held or timed out. */
  attach(target: Namespace | Server, { isPublic = false }: { isPublic?: boolean } = {}): void {
    const nsp = 'of' in target && typeof target.of === 'function' ? (target as Server).of('/') : (target as Namespace);
    if (this.attached.has(nsp)) return;
    this.attached.add(nsp);
    this.register(nsp, isPublic);
    this.guard.attach(nsp.server);
    if (!this.servers.has(nsp.server)) {
      this.servers.add(nsp.server);
      nsp.server.of('/').on(REVOKE_EVENT, this.onRemoteRevoke);
    }
    // Per namespace, so the dynamic children a regex namespace creates copy it with its publicness.
    nsp.use(this.admitter(isPublic));
    // Ahead of the gateway's own listener, so handleConnection sees our state.
    nsp.prependListener('connection', this.onConnection);
  }

  private register(nsp: Namespace, isPublic: boolean): void {
    if (AUTHENTICATORS.get(nsp) === this) return;
    AUTHENTICATORS.set(nsp, this);
    this.membership.register(nsp, isPublic, installGate);
  }

  private admitter(isPublic: boolean) {
    return (socket: Socket, next: (err?: Error) => void): void => {
      if (this.closed) return next();
      this.register(socket.nsp, isPublic);
      const refused = this.admission.admit(socket, !isPublic);
      if (!refused) return next();
      this.count(refused);
      const payload = errorPayload(refused);
      // socket.io sends `data` to the client with its connect_error; then a
      // connection with nothing else on it is closed once that has gone out.
      next(Object.assign(new Error(payload.message), { data: payload }));
      setImmediate(() => this.membership.closeIfEmpty(socket));
    };
  }

  // ── 2–3. a socket arrives ─────────────────────────────────────────────────

  private readonly onConnection = (socket: Socket): void => {
    if (this.closed) return;
    const session = this.sessionFor(socket);
    session.sockets.push(socket);
    socket.on(this.options.events.authentication, this.authenticationListener);
    socket.on('disconnect', this.disconnectListener); // fires once; `on` avoids once()'s per-socket wrapper
    this.membership.arrived(socket);
    if (session.state === 'authenticated') return void this.join(session, socket);
    socket.data.auth = PENDING;
    if (!this.membership.isPublic(socket)) session.startTimeout();

    if (session.state !== 'pending' || session.attempt) return;
    if (this.deps.strategy.source === 'request') return void this.attempt(session, socket, socket.request, 'request');
    const credentials = this.options.handshake ? handshakeCredentials(socket.handshake.auth) : undefined;
    if (credentials) void this.attempt(session, socket, credentials, 'handshake');
  };

  /** The socket's session. Looked up, not stored on the socket: a property on every socket costs more heap. */
  private sessionOf(socket: Socket): Session | undefined {
    return this.sessions.get(this.options.scope === 'connection' ? socket.client : socket);
  }

  private sessionFor(socket: Socket): Session {
    let session = this.sessionOf(socket);
    if (!session) {
      const key = this.options.scope === 'connection' ? socket.client : socket;
      session = new Session(key, this.admission.socketAddress(socket), {
        timeout: this.options.timeout,
        onTimeout: this.onTimeout,
        onExpiry: this.onExpiry,
      });
      this.sessions.set(key, session);
    }
    return session;
  }

  private readonly authenticationListener = ((authenticator: Authenticator) =>
    function (this: Socket, ...args: unknown[]): void {
      authenticator.onAuthentication(this, args);
    })(this);

  private readonly disconnectListener = ((authenticator: Authenticator) =>
    function (this: Socket): void {
      authenticator.onDisconnect(this);
    })(this);

  // ── 4. an attempt ─────────────────────────────────────────────────────────

  private onAuthentication(socket: Socket, args: unknown[]): void {
    const { payload, ack } = splitAck(args);
    // A socket told `unauthorized` and about to go has no session: ignore it. A
    // public socket whose session ended may start a new one.
    if (!this.sessionOf(socket) && !(this.membership.isPublic(socket) && socket.connected)) return;
    const session = this.sessionFor(socket);
    if (!session.sockets.includes(socket)) session.sockets.push(socket);
    if (session.attempt || session.joining?.has(socket)) {
      // Refused without touching the session or the attempt in flight (graphql-ws does the same).
      const error = errorPayload('in_progress');
      this.count('in_progress');
      if (ack) ack(refusal(error));
      else socket.emit(this.options.events.authError, error);
      return;
    }
    const source = this.deps.strategy.source === 'request' ? 'request' : 'message';
    void this.attempt(session, socket, source === 'request' ? socket.request : payload, source, ack);
  }

  private async attempt(session: Session, socket: Socket, payload: unknown, source: AuthContext['source'], ack?: (r: unknown) => void): Promise<void> {
    const { address } = session;
    const parsed = source === 'request' ? { ok: true as const, credentials: payload } : parseCredentials(payload, this.options.maxCredentialsBytes);
    if (!parsed.ok) {
      this.admission.record(address);
      return this.fail(session, parsed.code, ack);
    }
    if (!this.admission.reserve(address)) return this.fail(session, 'rate_limited', ack);

    const attempt = new Attempt();
    session.attempt = attempt;
    const refreshing = session.state === 'authenticated';
    if (!refreshing) session.transition('authenticating');
    const current = refreshing ? session.principal : undefined;
    const context: AuthContext = { socket, namespace: socket.nsp.name, address, source, current };
    const verdict = await callStrategy(this.deps.strategy, parsed.credentials, context, attempt, this.strategyTimeout(), this.deps.logger);
    // A late answer (the socket left, timed out, or was revoked meanwhile) changes nothing.
    if (session.attempt !== attempt) return this.admission.giveBack(address);

    let code = 'code' in verdict ? verdict.code : undefined;
    const id = 'principal' in verdict ? verdict.principal.id : undefined;
    if (!code && refreshing && id !== current!.id) code = 'identity_changed';
    // After an expiry, re-authenticating is the same session renewed, not a way to become someone else.
    if (!code && session.expectedId !== undefined && id !== session.expectedId) code = 'identity_changed';
    if (code) {
      if (!GUESSES.has(code)) this.admission.giveBack(address);
      return this.fail(session, code, ack, 'message' in verdict ? verdict.message : undefined);
    }
    this.admission.giveBack(address); // a success returns its slot
    const { principal, expiresAt } = verdict as { principal: AuthPrincipal; expiresAt?: number };
    if (refreshing) return this.refresh(session, attempt, principal, expiresAt, ack);
    await this.accept(session, attempt, principal, expiresAt, ack);
  }

  private strategyTimeout(): number {
    const { strategyTimeout, timeout } = this.options;
    return timeout ? Math.min(strategyTimeout, timeout) : strategyTimeout;
  }

  private async accept(session: Session, attempt: Attempt, principal: AuthPrincipal, expiresAt: number | undefined, ack?: (r: unknown) => void): Promise<void> {
    // Rooms belong to the principal they were joined for.
    if (session.roomsOwner !== undefined && session.roomsOwner !== principal.id) session.sockets.forEach((s) => this.membership.resetRooms(s));
    session.roomsOwner = undefined;
    session.expectedId = undefined;
    session.principal = principal;
    session.expiresAt = expiresAt;
    session.transition('authenticated'); // stops the timeout
    session.hooking = attempt;
    const sockets = [...session.sockets];
    for (const socket of sockets) this.membership.release(socket, session, this.authData(session));

    // Gate → hooks → `authenticated`: handleAuthenticated runs before the client is
    // told, so rooms it joins are in effect when it starts talking (socketio-auth#33,
    // #34), and guarded handlers wait for it. Sockets that join meanwhile run their own.
    for (const socket of sockets) {
      if (!socket.connected) continue;
      const ok = await callHook(() => this.deps.beforeAuthenticated?.(socket, principal), attempt, this.options.strategyTimeout, this.deps.logger, 'handleAuthenticated');
      if (session.attempt !== attempt) return;
      if (!ok) return this.fail(session, 'server_error', ack);
    }
    session.attempt = undefined;
    session.hooking = undefined;
    session.startExpiry(); // at once if it passed while the hooks ran
    this.tell(session, session.sockets.filter((s) => !session.joining?.has(s)), false, ack);
    attempt.settle(true);
  }

  /** A namespace joins a connection that is authenticated already: released, its hooks, then told. */
  private async join(session: Session, socket: Socket): Promise<void> {
    const attempt = new Attempt();
    (session.joining ??= new Map()).set(socket, attempt);
    this.membership.release(socket, session, this.authData(session));
    const ok = await callHook(() => this.deps.beforeAuthenticated?.(socket, session.principal!), attempt, this.options.strategyTimeout, this.deps.logger, 'handleAuthenticated');
    if (attempt.settled) return; // the session ended or was demoted meanwhile
    if (!ok) return this.fail(session, 'server_error');
    session.joining!.delete(socket);
    if (!session.joining!.size) session.joining = undefined;
    socket.emit(this.options.events.authenticated, { user: publicView(session.principal!) });
    attempt.settle(true);
  }

  private refresh(session: Session, attempt: Attempt, principal: AuthPrincipal, expiresAt: number | undefined, ack?: (r: unknown) => void): void {
    session.attempt = undefined;
    session.refresh(principal, expiresAt);
    for (const socket of session.sockets) socket.data.auth = this.authData(session);
    this.tell(session, session.sockets.filter((s) => !session.joining?.has(s)), true, ack);
    attempt.settle(true);
  }

  /** `authenticated {user}` to the sockets, the ack, the outcome. */
  private tell(session: Session, sockets: Socket[], refreshed: boolean, ack?: (r: unknown) => void): void {
    const principal = session.principal!;
    const user = publicView(principal);
    for (const socket of sockets) socket.emit(this.options.events.authenticated, { user });
    ack?.({ ok: true, user });
    const [first] = session.sockets;
    this.deps.logger.debug?.(`socket ${first?.id} authenticated as ${principal.id}${refreshed ? ' (refreshed)' : ''}`);
    this.outcome({ type: 'authenticated', socketId: first?.id ?? '', namespace: first?.nsp.name ?? '', principalId: principal.id, address: session.address, refreshed });
  }

  private authData(session: Session): SocketAuthData {
    const principal = session.principal!;
    const data: SocketAuthData = { state: 'authenticated', principalId: principal.id, user: publicView(principal), authenticatedAt: session.authenticatedAt! };
    if (session.expiresAt !== undefined) data.expiresAt = session.expiresAt;
    return data;
  }

  /** Refuses the attempt, tells the client why, and ends the session. */
  private fail(session: Session, code: AuthErrorCode, ack?: (r: unknown) => void, message?: string): void {
    const error = errorPayload(code, message);
    this.count(code);
    ack?.(refusal(error));
    const [first] = session.sockets;
    this.deps.logger.log(`authentication failed for socket ${first?.id} from ${session.address}: ${code}`);
    this.outcome({ type: 'failed', socketId: first?.id ?? '', namespace: first?.nsp.name ?? '', address: session.address, code });
    this.end(session, error);
  }

  // ── 5. the way out ────────────────────────────────────────────────────────

  /**
   * The one way a session ends: timeout, failure, expiry, revoke, disconnect,
   * shutdown. Timers stop and the attempt settles (waiting handlers refuse);
   * the sockets leave the broadcast membership; only then is the client told,
   * and the gated sockets are disconnected. Public sockets stay, anonymous.
   */
  private end(session: Session, error?: AuthErrorPayload): void {
    if (session.state === 'closed') return;
    session.transition('closed');
    if (this.sessions.get(session.key) === session) this.sessions.delete(session.key);
    const sockets = [...session.sockets];
    for (const socket of sockets) this.membership.unrelease(socket, session.principal?.id, false);
    if (!error) return;
    for (const socket of sockets) {
      socket.emit(this.options.events.unauthorized, error);
      this.membership.silence(socket);
    }
    const gated = sockets.filter((s) => !this.membership.isPublic(s));
    const wholeConnection = this.options.scope === 'connection' && gated.length === sockets.length;
    // One macrotask later, so handlers that were waiting on the attempt send their refusals (acks) first.
    if (gated.length) setImmediate(() => gated.forEach((socket) => socket.disconnect(wholeConnection)));
  }

  /** The one way back to pending: expiry with 'reauthenticate', or `deauthenticate()`. */
  private demote(session: Session, error: AuthErrorPayload): void {
    if (session.state !== 'authenticated') return;
    const owner = session.principal!.id;
    session.transition('pending'); // stops the expiry, settles joiners, clears the principal
    session.roomsOwner = owner;
    for (const socket of session.sockets) this.membership.unrelease(socket, owner, true);
    if (session.sockets.every((s) => this.membership.isPublic(s))) session.stopTimeout();
    for (const socket of session.sockets) socket.emit(this.options.events.unauthorized, error);
  }

  private onDisconnect(socket: Socket): void {
    const session = this.sessionOf(socket);
    this.membership.departed(socket, session);
    if (!session) return;
    const index = session.sockets.indexOf(socket);
    if (index >= 0) session.sockets.splice(index, 1);
    session.joining?.get(socket)?.settle(false);
    session.joining?.delete(socket);
    if (session.sockets.length === 0) this.end(session);
  }

  private readonly onTimeout = (session: Session): void => {
    const [first] = session.sockets;
    this.count('timeout');
    this.outcome({ type: 'timeout', socketId: first?.id ?? '', namespace: first?.nsp.name ?? '', address: session.address });
    this.end(session, errorPayload('timeout'));
  };

  /** A connection with no useful socket reached its limit: its sessions time out now, then it closes. */
  private readonly onIdle = (conn: EngineConnection): void => {
    for (const socket of this.membership.socketsOf(conn)) {
      const session = this.sessionOf(socket);
      if (session && session.state !== 'authenticated') this.onTimeout(session);
    }
  };

  private readonly onExpiry = (session: Session): void => {
    const [first] = session.sockets;
    const principalId = session.principal?.id ?? '';
    this.count('expired');
    this.outcome({ type: 'expired', socketId: first?.id ?? '', namespace: first?.nsp.name ?? '', principalId });
    if (this.options.onExpiry !== 'reauthenticate') return this.end(session, errorPayload('expired'));
    this.demote(session, errorPayload('expired', undefined, true));
    session.expectedId = principalId;
  };

  // ── what the Nest glue and apps use ───────────────────────────────────────

  /** Released, with `data.auth` saying so; guarded handlers may still wait for hooks (`whenAuthenticated`). */
  isAuthenticated(socket: Socket): boolean {
    return this.sessionOf(socket)?.state === 'authenticated';
  }

  /** The principal, also while hooks run (so they can read it). */
  getPrincipal(socket: Socket): AuthPrincipal | undefined {
    const session = this.sessionOf(socket);
    return session?.state === 'authenticated' || session?.state === 'authenticating' ? session.principal : undefined;
  }

  /** true when the socket may run guarded work now, a promise while its authentication is in flight. */
  whenAuthenticated(socket: Socket): boolean | Promise<boolean> {
    const session = this.sessionOf(socket);
    if (!session) return false;
    const hooks = session.joining?.get(socket) ?? session.hooking;
    if (hooks) return hooks.wait();
    if (session.state === 'authenticated') return true;
    if (session.state === 'authenticating' && session.attempt) return session.attempt.wait();
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
   * Ends every session of the principal on every node, each node through its
   * own `end()`. Resolves once every node answered, or when the adapter's
   * request timeout passed (then `complete` is false).
   */
  async revoke(principalId: string, reason?: string): Promise<RevokeResult> {
    let disconnected = this.revokeHere(principalId, reason);
    let complete = true;
    for (const server of this.servers) {
      const root = server.of('/');
      if ((await root.adapter.serverCount()) <= 1) continue;
      try {
        const answers: unknown[] = await root.serverSideEmitWithAck(REVOKE_EVENT, principalId, reason ?? null);
        for (const n of answers) disconnected += typeof n === 'number' ? n : 0;
      } catch {
        complete = false;
      }
    }
    this.count('revoked');
    this.deps.logger.log(`revoked sessions of ${principalId}${complete ? '' : ' (some nodes did not answer)'}`);
    this.outcome({ type: 'revoked', principalId, ...(reason ? { reason } : {}) });
    return { disconnected, complete };
  }

  private readonly onRemoteRevoke = (principalId: unknown, reason: unknown, ack?: (n: number) => void): void => {
    if (typeof principalId !== 'string') return ack?.(0);
    ack?.(this.revokeHere(principalId, typeof reason === 'string' ? reason : undefined));
  };

  private revokeHere(principalId: string, reason?: string): number {
    let count = 0;
    for (const session of [...this.sessions.values()]) {
      if (session.principal?.id !== principalId) continue;
      count += session.sockets.length;
      this.end(session, errorPayload('revoked', reason));
    }
    return count;
  }

  /** Unauthenticated sockets on gated namespaces, authenticated sockets, and failures by code since start. */
  stats(): { pending: number; authenticated: number; failures: Partial<Record<AuthErrorCode, number>> } {
    let authenticated = 0;
    for (const session of this.sessions.values()) if (session.state === 'authenticated') authenticated += session.sockets.length;
    return { pending: this.admission.pendingCount, authenticated, failures: { ...this.failuresByCode } };
  }

  /** Live entry and timer counts, so tests can prove nothing is left behind. */
  resourceCounts(): Record<string, number> {
    let timers = 0;
    for (const session of this.sessions.values()) timers += session.timerCount;
    const admission = this.admission.sizes();
    return {
      sessions: this.sessions.size,
      timers: timers + admission.timers + this.guard.sizes().idleTimers,
      pendingTotal: admission.pendingSockets,
      pendingAddresses: admission.pendingAddresses,
      failureWindows: admission.failureWindows,
      ...this.membership.sizes(this.attached),
      connectionListeners: [...this.attached].filter((nsp) => nsp.listeners('connection').includes(this.onConnection)).length,
    };
  }

  /** Stops all timers and forgets all state; the server is closing the sockets. */
  shutdown(): void {
    this.closed = true;
    for (const session of [...this.sessions.values()]) this.end(session);
    this.sessions.clear();
    this.admission.clear();
    this.membership.clear();
    this.guard.shutdown();
    for (const nsp of this.attached) nsp.off('connection', this.onConnection);
    for (const server of this.servers) server.of('/').off(REVOKE_EVENT, this.onRemoteRevoke);
  }

  private count(code: AuthErrorCode): void {
    this.failuresByCode[code] = (this.failuresByCode[code] ?? 0) + 1;
  }

  private outcome(outcome: AuthOutcome): void {
    try {
      this.options.onOutcome?.(outcome);
      this.deps.onOutcome?.(outcome);
    } catch {
      this.deps.logger.error('onOutcome hook threw');
    }
  }
}

/** What the client and other nodes may see of a principal. */
function publicView(principal: AuthPrincipal): unknown {
  return principal.public ?? { id: principal.id };
}
