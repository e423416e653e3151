/**
 * The protocol: the life of one session, from the first socket to the way
 * out. No Nest in here, and no admission or wiring (socket-auth.ts): read top
 * to bottom, this is what happens to a socket.
 *
 *   1. `onConnection`, registered ahead of every gateway's listener: session,
 *      timeout and `authentication` listener exist before `handleConnection`.
 *      The gate already holds the socket (broadcast-gate.ts) unless its
 *      namespace is public.
 *   2. An attempt: failure budget reserved (back only on success) → strategy (bounded) → released
 *      (broadcasts flow) → hooks (bounded; the gateways' `handleAuthenticated`)
 *      → `authenticated` sent → waiting `@Authenticated()` handlers run.
 *   3. A namespace that joins an authenticated connection: released → its
 *      hooks → told `authenticated`.
 *   4. While authenticated: `refresh_required` ahead of the expiry, refreshes
 *      (the sockets never leave the broadcast membership; a failed one leaves
 *      the session as it was), revalidation, a revoke's grace.
 *   5. The way out: `end()` for every ending, `demote()` for going back to
 *      pending. Both take the sockets out of the broadcast membership first.
 */
import type { Socket } from 'socket.io';
import type { AuthErrorCode, AuthErrorPayload } from '../auth-errors.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { RefreshRequiredPayload } from '../auth-errors.js';
import type { AuthContext, AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import type { Admission } from './admission.js';
import type { Membership } from './membership.js';
import { type Outcomes, where } from './outcomes.js';
import { errorPayload, handshakeCredentials, parseCredentials, publicView, refusal, splitAck } from './protocol.js';
import { Attempt } from './attempt.js';
import type { Revocations } from './revocations.js';
import type { RoomGuard } from './room-guard.js';
import type { SessionLimit } from './session-limit.js';
import type { Telemetry } from './telemetry.js';
import { type Revalidation, sameJson } from './revalidation.js';
import { type LifetimeEvent, PENDING_AUTH, type Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import { type Accepted, type AuthLogger, callHook, callStrategy, checkIdentity } from './strategy-call.js';

export interface ProtocolParts {
  options: ResolvedAuthSocketOptions;
  strategy: AuthStrategy;
  logger: AuthLogger;
  /** Runs for each socket of a newly authenticated session, before it is told `authenticated`. */
  hooks?: (socket: Socket, principal: AuthPrincipal) => Promise<void> | void;
  /** Whether `hooks` has work for the socket; without it, assumed. */
  hasHooks?: (socket: Socket) => boolean;
  /** For each socket whose principal was replaced in place (refresh, revalidation), when its gateways listen. */
  changedHooks?: ChangedHooks;
  admission: Admission;
  revocations: Revocations;
  revalidation: Revalidation;
  membership: Membership;
  outcomes: Outcomes;
  rooms: RoomGuard;
  limit: SessionLimit;
  telemetry: Telemetry;
}

type Ack = (response: unknown) => void;

/** The gateways' `handlePrincipalChanged`: `wants` is asked first, so a refresh nobody listens to stays synchronous. */
export interface ChangedHooks {
  wants(socket: Socket): boolean;
  run(socket: Socket, principal: AuthPrincipal, previous: AuthPrincipal): Promise<void> | void;
}

export class Authenticator {
  private readonly options: ResolvedAuthSocketOptions;
  /** `revalidate(…, 'request')` calls waiting for the check in flight to finish, to run again after it. */
  private readonly reruns = new Map<Session, Promise<void>>();
  private closed = false;

  constructor(
    private readonly parts: ProtocolParts,
    readonly sessions: SessionRegistry,
  ) {
    this.options = parts.options;
  }

  // ── 1. a socket arrives ───────────────────────────────────────────────────

  readonly onConnection = (socket: Socket): void => {
    if (this.closed) return;
    const session = this.sessions.for(socket);
    socket.on(this.options.events.authentication, this.authenticationListener);
    if (this.options.clientRooms) this.parts.rooms.listen(socket);
    this.parts.membership.arrived(socket); // which reports the socket's departure: onDisconnect

    if (session.state === 'authenticated') return void this.join(session, socket);
    socket.data.auth = PENDING_AUTH; // the session runs its timeout if this socket is gated

    if (session.state !== 'pending' || session.attempt) return;
    if (this.parts.strategy.source === 'request') return void this.attempt(session, socket, socket.request, 'request');
    const credentials = handshakeCredentials(socket.handshake.auth);
    if (credentials && this.options.handshake) void this.attempt(session, socket, credentials, 'handshake');
    else if (credentials)
      this.parts.outcomes.notice(
        'handshake_ignored',
        () =>
          `a client on ${socket.nsp.name} sent credentials in socket.io's handshake \`auth\`, which is ignored ` +
          `while the handshake option is off: it will time out unless it emits "${this.options.events.authentication}". ` +
          'Set handshake: true to accept them',
      );
  };

  private readonly authenticationListener = ((authenticator: Authenticator) =>
    function (this: Socket, ...args: unknown[]): void {
      authenticator.onAuthentication(this, args);
    })(this);

  // ── 2. an attempt ─────────────────────────────────────────────────────────

  private onAuthentication(socket: Socket, args: unknown[]): void {
    const { payload, ack } = splitAck(args);
    // A socket told `unauthorized` and about to go is ignored, even when its client
    // started a new session meanwhile (scope 'connection'): it must not join that one.
    if (this.parts.membership.isSilenced(socket)) return;
    // A public socket whose session ended may start a new one.
    if (!this.sessions.of(socket) && !(this.parts.membership.isPublic(socket) && socket.connected)) return;
    const session = this.sessions.for(socket);
    if (session.attempt || session.joining?.has(socket)) {
      // Refused without touching the session or the attempt in flight (graphql-ws does the same).
      const error = errorPayload('in_progress');
      this.parts.outcomes.count('in_progress');
      if (ack) ack(refusal(error));
      else socket.emit(this.options.events.authError, error);
      return;
    }
    if (this.parts.strategy.source === 'request')
      return void this.attempt(session, socket, socket.request, 'request', ack);
    void this.attempt(session, socket, payload, 'message', ack);
  }

  private async attempt(session: Session, socket: Socket, payload: unknown, source: AuthContext['source'], ack?: Ack) {
    const { admission } = this.parts;
    const { address } = session;
    const parsed =
      source === 'request'
        ? { ok: true as const, credentials: payload }
        : parseCredentials(payload, this.options.maxCredentialsBytes);
    const current = session.state === 'authenticated' ? session.principal : undefined;
    // A failed refresh leaves the session as it was, running to its own end; a failed first attempt ends it.
    const refuse = current ? this.refuseRefresh : this.fail;
    if (!parsed.ok) {
      admission.record(address);
      // Refused before it became an attempt in flight, and still an attempt for the metrics.
      this.parts.telemetry
        .startAttempt({ socket, namespace: socket.nsp.name, source, refresh: !!current, address })
        ?.end(parsed.code);
      return refuse.call(this, session, parsed.code, ack, undefined, socket);
    }
    // In flight from here, before any wait: a second attempt is `in_progress`, guarded handlers wait.
    const attempt = (session.attempt = new Attempt(ack, socket));
    attempt.trace = this.parts.telemetry.startAttempt({
      socket,
      namespace: socket.nsp.name,
      source,
      refresh: !!current,
      address,
    });
    if (!current) session.transition('authenticating');
    // A slot of the failure budget comes back only on success. An attempt that ends
    // any other way keeps it, even when the socket left meanwhile: otherwise guessing
    // and disconnecting at once would make strategy work per address unbounded.
    let reserved = admission.reserve(address);
    // Waited for only when the store is shared, or to refuse: a refusal keeps its place after handleConnection.
    if (reserved !== true) {
      reserved = await reserved;
      if (session.attempt !== attempt) return;
    }
    if (!reserved) return refuse.call(this, session, 'rate_limited', ack);
    const context: AuthContext = { socket, namespace: socket.nsp.name, address, source, current };
    const { strategyTimeout, timeout } = this.options;
    const ms = timeout ? Math.min(strategyTimeout, timeout) : strategyTimeout;
    const step = attempt.trace?.step('strategy');
    const answer = await callStrategy(
      this.parts.strategy,
      parsed.credentials,
      context,
      attempt,
      ms,
      this.parts.logger,
      this.options.exposeStrategyErrors,
    );
    step?.end(!('code' in answer));
    // A late answer (the socket left, timed out, or was revoked meanwhile) changes nothing.
    if (session.attempt !== attempt) return attempt.trace?.end('server_error');

    let verdict = checkIdentity(answer, session.sameIdOnly ? session.ownerId : undefined);
    if (!('code' in verdict)) {
      // The revocation store, then what was revoked while the strategy and the store answered.
      let denied = this.parts.revocations.check(verdict.principal, attempt.startedAt);
      if (denied instanceof Promise) denied = await denied;
      if (session.attempt !== attempt) return;
      if (!denied && this.parts.revocations.marked(attempt, verdict.principal)) denied = 'revoked';
      if (denied) verdict = { code: denied };
    }
    if ('code' in verdict) {
      if ('unavailable' in verdict) admission.giveBack(address); // the strategy could not decide: not a failed guess
      return refuse.call(this, session, verdict.code, ack, verdict.message);
    }
    admission.giveBack(address); // a success returns its slot; so does a refusal of the session limit
    if (!current && this.parts.limit.enabled) {
      const counted = await this.parts.limit.take(session, verdict.principal.id);
      if (session.attempt !== attempt) return this.parts.limit.release(session);
      if (!counted) return this.fail(session, 'too_many_sessions', ack);
      // A revoke that landed while the limit was counted covers these credentials too.
      if (this.parts.revocations.marked(attempt, verdict.principal)) {
        this.parts.limit.release(session);
        return this.fail(session, 'revoked', ack);
      }
    }
    if (current) return this.refresh(session, attempt, verdict);
    await this.accept(session, attempt, verdict);
  }

  private async accept(session: Session, attempt: Attempt, { principal, expiresAt }: Accepted) {
    // Rooms belong to the principal they were joined for: a demoted session's held rooms are its owner's.
    if (session.ownerId !== undefined && session.ownerId !== principal.id) {
      session.sockets.forEach((s) => this.parts.membership.resetRooms(s));
    }
    session.accept(principal, expiresAt); // stops the timeout, sets session.auth
    session.hooking = attempt;
    const sockets = session.sockets;
    for (const socket of sockets) this.parts.membership.release(socket, session, session.auth!);

    // Gate → hooks → `authenticated`: handleAuthenticated runs before the client is
    // told, so rooms it joins are in effect when it starts talking (socketio-auth#33,
    // #34), and guarded handlers wait for it. Sockets that join meanwhile run their own.
    // No gateway of these namespaces has handleAuthenticated: no bounded call (a timer and its promises) at all.
    const hooked = this.parts.hooks && sockets.some((s) => this.wantsHooks(s));
    const step = hooked ? attempt.trace?.step('hooks') : undefined;
    if (hooked) {
      for (const socket of sockets) {
        if (!socket.connected || !this.wantsHooks(socket)) continue;
        const ok = await this.hook(socket, principal, attempt);
        if (session.attempt !== attempt) return step?.end(false);
        if (!ok) {
          step?.end(false);
          return this.fail(session, 'server_error');
        }
      }
    }
    step?.end(true);
    session.attempt = session.hooking = undefined;
    session.startExpiry(); // at once if it passed while the hooks ran
    this.parts.revalidation.schedule(session);
    this.tell(session, false, attempt);
    attempt.settle(true);
    if (session.counted !== undefined) void this.parts.limit.settle(session.counted);
  }

  // ── 3. a namespace joins an authenticated connection ──────────────────────

  private async join(session: Session, socket: Socket): Promise<void> {
    const attempt = new Attempt();
    (session.joining ??= new Map()).set(socket, attempt);
    this.parts.membership.release(socket, session, session.auth!);
    // Still one tick later without hooks: the gateways' handleConnection runs before the socket hears `authenticated`.
    const ok = this.wantsHooks(socket) ? await this.hook(socket, session.principal!, attempt) : await true;
    if (attempt.settled) return; // the session ended or was demoted meanwhile
    if (!ok) return this.fail(session, 'server_error');
    session.joining!.delete(socket);
    if (!session.joining!.size) session.joining = undefined;
    socket.emit(this.options.events.authenticated, this.authenticatedPayload(session));
    attempt.settle(true);
  }

  // ── 4. while authenticated ────────────────────────────────────────────────

  /**
   * A refresh: the new principal and lifetime apply at once, with no moment
   * out of the broadcast membership and the rooms kept; then the gateways'
   * `handlePrincipalChanged` (so rooms can follow roles); then `authenticated`.
   */
  private async refresh(session: Session, attempt: Attempt, { principal, expiresAt }: Accepted) {
    const before = session.principal;
    // Room policies are asked about the new principal while the old one still applies, then applied with it.
    let plan = this.parts.rooms.prepare(session.sockets, principal);
    if (plan instanceof Promise) {
      plan = await plan;
      if (session.attempt !== attempt) return;
      // A revoke that landed while the policies answered covers these credentials (and would lose its grace).
      if (this.parts.revocations.marked(attempt, principal)) return this.refuseRefresh(session, 'revoked');
    }
    const previous = session.principal!;
    // A revalidation applied meanwhile read fresher data than this strategy call: check again once this applies.
    if (previous !== before) queueMicrotask(() => void this.revalidate(session, 'request'));
    session.refresh(principal, expiresAt);
    for (const socket of session.sockets) socket.data.auth = session.auth;
    this.parts.rooms.apply(session.sockets, plan);
    // The next revalidation keeps its time: authenticate() need not check what revalidate() does (a JWT's signature
    // says nothing of a locked account), so a client resending its token must not postpone it.
    if (!(await this.principalChanged(session, previous, attempt))) return;
    session.attempt = undefined;
    this.tell(session, true, attempt);
    attempt.settle(true);
  }

  /**
   * Refuses a refresh and tells the client why (the ack, else `auth_error`);
   * the session goes on as it was, until its own end. The failure still
   * counts against the address's budget.
   */
  private refuseRefresh(session: Session, code: AuthErrorCode, ack?: Ack, message?: string, from?: Socket): void {
    const error = errorPayload(code, message);
    const attempt = session.attempt;
    if (attempt) session.attempt = undefined;
    attempt?.trace?.end(code);
    this.parts.outcomes.count(code);
    this.parts.logger.log(`refresh refused for socket ${where(session).socketId} from ${session.address}: ${code}`);
    this.parts.outcomes.report({ type: 'failed', ...where(session), address: session.address, code, refresh: true });
    const answer = refusal(error);
    if (attempt) {
      if (attempt.hasAck) attempt.answer(answer);
      else attempt.origin?.emit(this.options.events.authError, error);
      attempt.settle(true); // handlers that waited run: the session is still authenticated
    } else if (ack) ack(answer);
    else (from ?? session.first)?.emit(this.options.events.authError, error);
  }

  /**
   * The gateways' `handlePrincipalChanged` for each socket, bounded like the
   * other hooks. False when the session ended meanwhile or a hook failed,
   * which ends it (`server_error`): rooms that should have followed the new
   * principal may not have.
   */
  private async principalChanged(session: Session, previous: AuthPrincipal, attempt: Attempt): Promise<boolean> {
    const hooks = this.parts.changedHooks;
    const sockets = hooks ? session.sockets.filter((s) => s.connected && hooks.wants(s)) : [];
    if (!sockets.length) return true;
    const principal = session.principal!;
    for (const socket of sockets) {
      const ok = await callHook(
        () => hooks!.run(socket, principal, previous),
        attempt,
        this.options.strategyTimeout,
        this.parts.logger,
        'handlePrincipalChanged',
        this.options.exposeStrategyErrors,
      );
      if (session.state !== 'authenticated' || attempt.settled) return false;
      if (!ok) {
        this.fail(session, 'server_error');
        return false;
      }
    }
    return true;
  }

  /**
   * Asks the strategy's `revalidate()` about the session (once in flight at a
   * time) and applies the answer: a fresh principal in place, or the end.
   * Resolves when that is done.
   */
  async revalidate(session: Session, reason: 'interval' | 'request'): Promise<void> {
    if (session.state !== 'authenticated' || !this.parts.strategy.revalidate) return;
    if (session.revalidation) {
      if (reason === 'interval') return;
      // Asked for now (the app just changed the user): the check in flight may have read the data before that
      // change, so run once more after it, and resolve then.
      let rerun = this.reruns.get(session);
      if (!rerun) {
        rerun = session.revalidation.wait().then(() => {
          this.reruns.delete(session);
          return this.revalidate(session, 'request');
        });
        this.reruns.set(session, rerun);
      }
      return rerun;
    }
    const attempt = (session.revalidation = new Attempt());
    const result = await this.parts.revalidation.run(session, reason, attempt);
    if (session.revalidation !== attempt) return; // ended or demoted meanwhile
    session.revalidation = undefined;
    attempt.settle(true);
    if (session.state !== 'authenticated') return;
    this.parts.revalidation.schedule(session);
    if (result.kind === 'kept' || result.kind === 'stale') return;
    if (result.kind === 'ended') return this.end(session, errorPayload(result.code, result.message));
    const previous = session.principal!;
    const { principal, expiresAt } = result;
    if (expiresAt !== undefined && expiresAt <= Date.now()) return this.end(session, errorPayload('expired'));
    const userChanged = !sameJson(publicView(previous), publicView(principal));
    let plan = this.parts.rooms.prepare(session.sockets, principal);
    if (plan instanceof Promise) {
      const asking = (session.revalidation = new Attempt());
      plan = await plan;
      if (session.revalidation !== asking) return; // ended or demoted meanwhile
      session.revalidation = undefined;
      asking.settle(true);
      if (session.state !== 'authenticated') return;
      // A refresh applied meanwhile replaced the principal this answer was about: ask again about the new one.
      if (session.principal !== previous) return this.revalidate(session, reason);
    }
    session.revalidated(principal, expiresAt);
    for (const socket of session.sockets) socket.data.auth = session.auth;
    this.parts.rooms.apply(session.sockets, plan);
    this.parts.outcomes.report({
      type: 'revalidated',
      ...where(session),
      principalId: principal.id,
      changed: result.changed,
    });
    if (result.changed) {
      const hooking = (session.revalidation = new Attempt());
      const ok = await this.principalChanged(session, previous, hooking);
      if (session.revalidation === hooking) session.revalidation = undefined;
      hooking.settle(ok);
      if (!ok) return;
    }
    if (userChanged) {
      const payload = this.authenticatedPayload(session);
      for (const socket of session.sockets) socket.emit(this.options.events.authenticated, payload);
    }
  }

  /** The session's one expiry timer fired: warn, expire, or end a revoke's grace. */
  readonly onLifetime = (session: Session, event: LifetimeEvent): void => {
    if (event === 'expiry') return this.onExpiry(session);
    if (event === 'grace') return this.end(session, errorPayload('revoked', session.grace?.message));
    this.warn(session, 'expiring', session.expiresAt!);
  };

  /** `refresh_required` to every socket of the session: it stays until `expiresAt` unless fresh credentials arrive. */
  warn(session: Session, code: RefreshRequiredPayload['code'], expiresAt: number, message?: string): void {
    const payload: RefreshRequiredPayload = {
      code,
      message: message ?? (code === 'expiring' ? 'Session expiring; send fresh credentials' : 'Session revoked'),
      expiresAt,
      expiresIn: Math.max(0, expiresAt - Date.now()),
      reauthenticate: true,
    };
    for (const socket of session.sockets) socket.emit(this.options.events.refreshRequired, payload);
  }

  /** `revoke(…, { graceMs })` on a live session: told at once, ended at the grace's end unless a refresh passes. */
  startGrace(session: Session, graceMs: number, message?: string): void {
    if (session.state !== 'authenticated') return;
    const until = Date.now() + graceMs;
    session.startGrace(until, message);
    this.warn(session, 'revoked', Math.min(session.grace!.until, session.expiresAt ?? Infinity), message);
  }

  /** Whether `hooks` has work for the socket (without `hasHooks`, assumed). */
  private wantsHooks(socket: Socket): boolean {
    return !!this.parts.hooks && (this.parts.hasHooks?.(socket) ?? true);
  }

  private hook(socket: Socket, principal: AuthPrincipal, attempt: Attempt): Promise<boolean> {
    const run = (): unknown => this.parts.hooks?.(socket, principal);
    return callHook(
      run,
      attempt,
      this.options.strategyTimeout,
      this.parts.logger,
      'handleAuthenticated',
      this.options.exposeStrategyErrors,
    );
  }

  /** `{ user, expiresAt, expiresIn }`: what the client hears of its session. */
  private authenticatedPayload(session: Session): {
    user: unknown;
    sessionId: string;
    expiresAt?: number;
    expiresIn?: number;
  } {
    // The session's `data.auth` already holds both (shared by its sockets): no second copy per connection.
    const auth = session.auth?.state === 'authenticated' ? session.auth : undefined;
    const user = auth ? auth.user : publicView(session.principal!);
    const { expiresAt } = session;
    const sessionId = auth ? auth.sessionId : session.id;
    return expiresAt === undefined
      ? { user, sessionId }
      : { user, sessionId, expiresAt, expiresIn: Math.max(0, expiresAt - Date.now()) };
  }

  /** `authenticated {user, expiresAt}` to the sockets (joining ones hear it after their own hooks), the ack, the outcome. */
  private tell(session: Session, refreshed: boolean, attempt: Attempt): void {
    const principal = session.principal!;
    const payload = this.authenticatedPayload(session);
    for (const socket of session.sockets) {
      if (!session.joining?.has(socket)) socket.emit(this.options.events.authenticated, payload);
    }
    if (attempt.hasAck) attempt.answer({ ok: true, ...payload });
    attempt.trace?.end();
    // Every connection passes here: nothing is built that nobody reads.
    const { logger, outcomes } = this.parts;
    if (logger.debug && logger.isDebugEnabled?.() !== false)
      logger.debug(`socket ${where(session).socketId} authenticated as ${principal.id}`);
    if (!outcomes.listening) return;
    outcomes.report({
      type: 'authenticated',
      ...where(session),
      principalId: principal.id,
      address: session.address,
      refreshed,
    });
  }

  /** Refuses the attempt, tells the client why, and ends the session. */
  private fail(session: Session, code: AuthErrorCode, ack?: Ack, message?: string): void {
    const error = errorPayload(code, message);
    session.attempt?.trace?.end(code);
    this.parts.outcomes.count(code);
    ack?.(refusal(error));
    this.parts.logger.log(
      `authentication failed for socket ${where(session).socketId} from ${session.address}: ${code}`,
    );
    this.parts.outcomes.report({ type: 'failed', ...where(session), address: session.address, code });
    this.end(session, error);
  }

  // ── 5. the way out ────────────────────────────────────────────────────────

  /**
   * The one way a session ends: timeout, failure, expiry, revoke, disconnect,
   * shutdown. Timers stop and the attempt settles (waiting handlers refuse);
   * the sockets leave the broadcast membership; only then is the client told,
   * and the gated sockets are disconnected. Public sockets stay, anonymous.
   */
  end(session: Session, error?: AuthErrorPayload): void {
    if (session.state === 'closed') return;
    const { membership } = this.parts;
    const wasAuthenticated = session.state === 'authenticated';
    const origin = session.attempt?.origin;
    session.attempt?.trace?.end(error?.code ?? 'server_error'); // an attempt cut short (a disconnect: no code to tell)
    if (error) session.attempt?.answer(refusal(error)); // a caller waiting on its ack hears why
    session.transition('closed');
    this.parts.revalidation.cancel(session);
    this.parts.limit.release(session);
    this.sessions.forget(session);
    const sockets = session.sockets;
    for (const socket of sockets) membership.unrelease(socket, session.principal?.id, false);
    if (!error) return;
    // A public socket hears only its own outcome: it lost a principal, or it made the attempt.
    // Another socket's timeout or failed guess is not its business (a client library may
    // disconnect on `unauthorized`).
    const told = sockets.filter((s) => !membership.isPublic(s) || wasAuthenticated || s === origin);
    for (const socket of told) socket.emit(this.options.events.unauthorized, error);
    for (const socket of sockets) membership.silence(socket);
    const gated = sockets.filter((s) => !membership.isPublic(s));
    const wholeConnection = this.options.scope === 'connection' && gated.length === sockets.length;
    // One macrotask later, so handlers that were waiting on the attempt send their refusals (acks) first.
    if (gated.length) setImmediate(() => gated.forEach((socket) => socket.disconnect(wholeConnection)));
  }

  /**
   * The one way back to pending: expiry with 'reauthenticate' (`sameIdOnly`:
   * only the same principal may come back), or `deauthenticate()`. The session
   * stays its owner's, so revoke still finds it and the held rooms stay the
   * owner's until someone else authenticates.
   */
  demote(session: Session, error: AuthErrorPayload, sameIdOnly: boolean): void {
    if (session.state !== 'authenticated') return;
    const { membership } = this.parts;
    const owner = session.principal!.id;
    session.attempt?.trace?.end(error.code);
    session.attempt?.answer(refusal(error)); // a refresh in flight hears why
    session.demote(sameIdOnly); // stops the expiry, settles joiners; the timeout runs if a gated socket is there
    this.parts.revalidation.cancel(session);
    this.parts.limit.release(session);
    const sockets = session.sockets;
    for (const socket of sockets) membership.unrelease(socket, owner, true);
    for (const socket of sockets) socket.emit(this.options.events.unauthorized, error);
  }

  /** A socket left, after the app's own 'disconnect' listeners (which may still read its session). */
  readonly onDisconnect = (socket: Socket): void => {
    this.parts.membership.departed(socket);
    const session = this.sessions.of(socket);
    if (!session?.remove(socket)) return;
    session.joining?.get(socket)?.settle(false);
    session.joining?.delete(socket);
    if (session.size === 0) this.end(session);
  };

  readonly onTimeout = (session: Session): void => {
    this.parts.outcomes.count('timeout');
    this.parts.outcomes.report({ type: 'timeout', ...where(session), address: session.address });
    this.parts.outcomes.notice(
      'timeout',
      () =>
        `a socket on ${where(session).namespace || '?'} did not authenticate within ${this.options.timeout} ms and was ` +
        `disconnected (timeout); clients must emit "${this.options.events.authentication}" after connecting`,
    );
    this.end(session, errorPayload('timeout'));
  };

  private onExpiry(session: Session): void {
    const principalId = session.principal?.id ?? '';
    this.parts.outcomes.count('expired');
    this.parts.outcomes.report({ type: 'expired', ...where(session), principalId });
    if (this.options.onExpiry !== 'reauthenticate') return this.end(session, errorPayload('expired'));
    this.demote(session, errorPayload('expired', undefined, true), true);
  }

  /** Every session ends quietly; the server is closing the sockets. */
  shutdown(): void {
    this.closed = true;
    for (const session of this.sessions.all()) this.end(session);
  }
}
