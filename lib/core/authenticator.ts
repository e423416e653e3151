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
 *   4. The way out: `end()` for every ending, `demote()` for going back to
 *      pending. Both take the sockets out of the broadcast membership first.
 */
import type { Socket } from 'socket.io';
import type { AuthErrorCode, AuthErrorPayload } from '../auth-errors.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { AuthContext, AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import type { Admission } from './admission.js';
import type { Membership } from './membership.js';
import { type Outcomes, where } from './outcomes.js';
import { errorPayload, handshakeCredentials, parseCredentials, publicView, refusal, splitAck } from './protocol.js';
import { Attempt } from './attempt.js';
import { PENDING_AUTH, type Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import { type Accepted, type AuthLogger, callHook, callStrategy, checkIdentity } from './strategy-call.js';

export interface ProtocolParts {
  options: ResolvedAuthSocketOptions;
  strategy: AuthStrategy;
  logger: AuthLogger;
  /** Runs for each socket of a newly authenticated session, before it is told `authenticated`. */
  hooks?: (socket: Socket, principal: AuthPrincipal) => Promise<void> | void;
  admission: Admission;
  membership: Membership;
  outcomes: Outcomes;
}

type Ack = (response: unknown) => void;

export class Authenticator {
  private readonly options: ResolvedAuthSocketOptions;
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
    if (!parsed.ok) {
      admission.record(address);
      return this.fail(session, parsed.code, ack);
    }
    // In flight from here, before any wait: a second attempt is `in_progress`, guarded handlers wait.
    const attempt = (session.attempt = new Attempt(ack, socket));
    const current = session.state === 'authenticated' ? session.principal : undefined;
    if (!current) session.transition('authenticating');
    // A slot of the failure budget comes back only on success. An attempt that ends
    // any other way keeps it, even when the socket left meanwhile: otherwise guessing
    // and disconnecting at once would make strategy work per address unbounded.
    const reserved = await admission.reserve(address);
    if (session.attempt !== attempt) return;
    if (!reserved) return this.fail(session, 'rate_limited', ack);
    const context: AuthContext = { socket, namespace: socket.nsp.name, address, source, current };
    const { strategyTimeout, timeout } = this.options;
    const ms = timeout ? Math.min(strategyTimeout, timeout) : strategyTimeout;
    const answer = await callStrategy(
      this.parts.strategy,
      parsed.credentials,
      context,
      attempt,
      ms,
      this.parts.logger,
      this.options.exposeStrategyErrors,
    );
    // A late answer (the socket left, timed out, or was revoked meanwhile) changes nothing.
    if (session.attempt !== attempt) return;

    const { owner } = session;
    let verdict = checkIdentity(answer, owner?.sameIdOnly ? owner.id : undefined);
    // Revoked while the strategy ran: the credentials it checked were issued before the revoke.
    if (!('code' in verdict) && attempt.revoked?.has(verdict.principal.id)) verdict = { code: 'revoked' };
    if ('code' in verdict) return this.fail(session, verdict.code, ack, verdict.message);
    admission.giveBack(address); // a success returns its slot
    if (current) return this.refresh(session, attempt, verdict);
    await this.accept(session, attempt, verdict);
  }

  private async accept(session: Session, attempt: Attempt, { principal, expiresAt }: Accepted) {
    // Rooms belong to the principal they were joined for: a demoted session's held rooms are its owner's.
    if (session.owner && session.owner.id !== principal.id) {
      session.sockets.forEach((s) => this.parts.membership.resetRooms(s));
    }
    session.accept(principal, expiresAt); // stops the timeout, sets session.auth
    session.hooking = attempt;
    const sockets = session.sockets;
    for (const socket of sockets) this.parts.membership.release(socket, session, session.auth!);

    // Gate → hooks → `authenticated`: handleAuthenticated runs before the client is
    // told, so rooms it joins are in effect when it starts talking (socketio-auth#33,
    // #34), and guarded handlers wait for it. Sockets that join meanwhile run their own.
    for (const socket of sockets) {
      if (!socket.connected) continue;
      const ok = await this.hook(socket, principal, attempt);
      if (session.attempt !== attempt) return;
      if (!ok) return this.fail(session, 'server_error');
    }
    session.attempt = session.hooking = undefined;
    session.startExpiry(); // at once if it passed while the hooks ran
    this.tell(session, false, attempt);
    attempt.settle(true);
  }

  // ── 3. a namespace joins an authenticated connection ──────────────────────

  private async join(session: Session, socket: Socket): Promise<void> {
    const attempt = new Attempt();
    (session.joining ??= new Map()).set(socket, attempt);
    this.parts.membership.release(socket, session, session.auth!);
    const ok = await this.hook(socket, session.principal!, attempt);
    if (attempt.settled) return; // the session ended or was demoted meanwhile
    if (!ok) return this.fail(session, 'server_error');
    session.joining!.delete(socket);
    if (!session.joining!.size) session.joining = undefined;
    socket.emit(this.options.events.authenticated, { user: publicView(session.principal!) });
    attempt.settle(true);
  }

  private refresh(session: Session, attempt: Attempt, { principal, expiresAt }: Accepted): void {
    session.attempt = undefined;
    session.refresh(principal, expiresAt);
    for (const socket of session.sockets) socket.data.auth = session.auth;
    this.tell(session, true, attempt);
    attempt.settle(true);
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

  /** `authenticated {user}` to the sockets (joining ones hear it after their own hooks), the ack, the outcome. */
  private tell(session: Session, refreshed: boolean, attempt: Attempt): void {
    const principal = session.principal!;
    const user = publicView(principal);
    for (const socket of session.sockets) {
      if (!session.joining?.has(socket)) socket.emit(this.options.events.authenticated, { user });
    }
    attempt.answer({ ok: true, user });
    this.parts.logger.debug?.(`socket ${where(session).socketId} authenticated as ${principal.id}`);
    const { address } = session;
    this.parts.outcomes.report({
      type: 'authenticated',
      ...where(session),
      principalId: principal.id,
      address,
      refreshed,
    });
  }

  /** Refuses the attempt, tells the client why, and ends the session. */
  private fail(session: Session, code: AuthErrorCode, ack?: Ack, message?: string): void {
    const error = errorPayload(code, message);
    this.parts.outcomes.count(code);
    ack?.(refusal(error));
    this.parts.logger.log(
      `authentication failed for socket ${where(session).socketId} from ${session.address}: ${code}`,
    );
    this.parts.outcomes.report({ type: 'failed', ...where(session), address: session.address, code });
    this.end(session, error);
  }

  // ── 4. the way out ────────────────────────────────────────────────────────

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
    if (error) session.attempt?.answer(refusal(error)); // a caller waiting on its ack hears why
    session.transition('closed');
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
    session.attempt?.answer(refusal(error)); // a refresh in flight hears why
    session.demote(sameIdOnly); // stops the expiry, settles joiners; the timeout runs if a gated socket is there
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

  readonly onExpiry = (session: Session): void => {
    const principalId = session.principal?.id ?? '';
    this.parts.outcomes.count('expired');
    this.parts.outcomes.report({ type: 'expired', ...where(session), principalId });
    if (this.options.onExpiry !== 'reauthenticate') return this.end(session, errorPayload('expired'));
    this.demote(session, errorPayload('expired', undefined, true), true);
  };

  /** Every session ends quietly; the server is closing the sockets. */
  shutdown(): void {
    this.closed = true;
    for (const session of this.sessions.all()) this.end(session);
  }
}
