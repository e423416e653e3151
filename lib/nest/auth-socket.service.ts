import { Inject, Injectable, Logger, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { Namespace, Server, Socket } from 'socket.io';
import type { AuthErrorCode } from '../auth-errors.js';
import type { AuthOutcome } from '../auth-outcome.interface.js';
import { AUTH_SOCKET_OPTIONS, AUTH_SOCKET_TELEMETRY, AUTH_STRATEGY } from '../auth-socket.constants.js';
import type { TelemetryFactory } from '../telemetry/load.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import {
  type AuthSocketHealth,
  type EndResult,
  type RevalidateResult,
  type RevokeResult,
  type SessionsResult,
  SocketAuth,
} from '../core/socket-auth.js';
import type { RevokeOptions, RevokeTarget } from '../core/revocations.js';
import { principalRoom } from '../core/protocol.js';
import { GatewayHooks } from './gateway-hooks.js';

/** The app's handle on socket authentication. */
@Injectable()
export class AuthSocketService implements OnApplicationShutdown {
  private readonly logger = Object.assign(new Logger('AuthSocket'), {
    // Read at each call: the app may change its levels at run time (app.useLogger).
    isDebugEnabled: () => Logger.isLevelEnabled('debug'),
  });
  private readonly outcomeSubject = new Subject<AuthOutcome>();
  private readonly authenticator: SocketAuth;

  /** Every outcome: authenticated, failed (with code), timeout, expired, deauthenticated, revoked. */
  readonly outcomes: Observable<AuthOutcome> = this.outcomeSubject.asObservable();

  /** @internal Nest builds it. */
  constructor(
    @Inject(AUTH_SOCKET_OPTIONS) options: ResolvedAuthSocketOptions,
    @Inject(AUTH_STRATEGY) strategy: AuthStrategy,
    hooks: GatewayHooks,
    @Optional() @Inject(AUTH_SOCKET_TELEMETRY) telemetry?: TelemetryFactory,
  ) {
    this.authenticator = new SocketAuth({
      telemetry,
      options,
      strategy,
      logger: this.logger,
      beforeAuthenticated: (socket, principal) => hooks.handleAuthenticated(socket, principal),
      hasHooks: (socket) => hooks.wantsAuthenticated(socket),
      principalChanged: {
        wants: (socket) => hooks.wantsPrincipalChanged(socket),
        run: (socket, principal, previous) => hooks.handlePrincipalChanged(socket, principal, previous),
      },
      onOutcome: (outcome) => this.outcomeSubject.next(outcome),
      outcomesObserved: () => this.outcomeSubject.observed,
    });
  }

  /** Whether the socket is authenticated now. */
  isAuthenticated(socket: Socket): boolean {
    return this.authenticator.sessions.isAuthenticated(socket);
  }

  /** The socket's principal, as the strategy returned it, or undefined when it is not authenticated. */
  getPrincipal<P extends AuthPrincipal = AuthPrincipal>(socket: Socket): P | undefined {
    return this.authenticator.sessions.getPrincipal(socket) as P | undefined;
  }

  /**
   * Puts the socket (with scope 'connection': its whole connection) back to
   * pending: detached from broadcasts, guarded handlers refuse, the timeout runs
   * again. The client gets `unauthorized {code:'deauthenticated', reauthenticate:true}`.
   * Returns false when the socket was not authenticated.
   */
  deauthenticate(socket: Socket, message?: string): boolean {
    return this.authenticator.deauthenticate(socket, message);
  }

  /**
   * Revokes, on every node: records the revocation in the `revocationStore`
   * (so the credentials it covers are refused from now on, on every
   * authentication and refresh), then ends the live sessions it covers with
   * `unauthorized {code:'revoked'}` (sockets on public namespaces stay,
   * anonymous). The target:
   *   - `'alice'` or `{ principalId: 'alice' }`: her sessions, and her credentials issued before now (log out everywhere);
   *   - `{ principalId, issuedBefore }`: the same, as of that time;
   *   - `{ principalId, until }`: the principal entirely, until then;
   *   - `{ tokenId, expiresAt? }`: one credential (a JWT's `jti`).
   *
   * With `{ graceMs }` live sessions are told `refresh_required
   * {code:'revoked'}` instead, and end after `graceMs` unless they refresh
   * with credentials the revocation does not cover. Resolves once every node
   * has acted, or after the adapter's request timeout, with counts and
   * whether every node answered.
   */
  revoke(target: RevokeTarget, options?: string | RevokeOptions): Promise<RevokeResult> {
    return this.authenticator.revoke(target, options);
  }

  /** Whether the `revocationStore` denies these credentials: for the app's own HTTP routes (token refresh, logout). */
  isRevoked(principal: Pick<AuthPrincipal, 'id' | 'tokenId' | 'issuedAt'>): Promise<boolean> {
    return this.authenticator.isRevoked(principal);
  }

  /**
   * Calls the strategy's `revalidate()` for every session of the principal,
   * on every node, now (say, after changing the user's roles): fresh
   * principals apply from the next guarded handler on, refusals end their
   * sessions with `invalidated`. Resolves once every node has applied its
   * answers, or after the adapter's request timeout.
   */
  revalidate(principalId: string): Promise<RevalidateResult> {
    return this.authenticator.revalidate(principalId);
  }

  /**
   * Joins the socket to a room, past the room's policy (the `rooms` option):
   * resolves true once it is in, false when its principal may not be (an
   * unpoliced room is joined as `socket.join()` would). Use it where a policy
   * may be async and the answer matters; `socket.join()` is checked the same
   * way but cannot say no.
   */
  join(socket: Socket, room: string): Promise<boolean> {
    return this.authenticator.join(socket, room);
  }

  /**
   * The principal's live sessions on every node: id, node, namespaces,
   * address, user agent, `authenticatedAt`, `expiresAt`. Resolves once every
   * node answered, or after the adapter's request timeout (`complete:false`).
   */
  sessions(principalId: string): Promise<SessionsResult> {
    return this.authenticator.listSessions(principalId);
  }

  /**
   * Ends one session wherever it is (its sockets get `unauthorized
   * {code:'revoked', message: reason}` and are disconnected). Session ids are
   * not secrets: when a user asks to end one, check that it is among
   * `sessions(user.id)` first. It does not revoke the credentials; to keep
   * that device out, also `revoke({ tokenId })`.
   */
  end(sessionId: string, reason?: string): Promise<EndResult> {
    return this.authenticator.end(sessionId, reason);
  }

  /** The room every authenticated socket of a principal is in: `server.to(room).emit(...)` reaches all of them. */
  principalRoom(principalId: string): string {
    return principalRoom(principalId);
  }

  /**
   * The limit and revocation stores' connectivity (`up`, `degraded`, `down`)
   * and the pending-socket pressure in this process: what
   * `AuthSocketHealthIndicator` (`nestjs-socket-auth/terminus`) reports.
   */
  health(): AuthSocketHealth {
    return this.authenticator.health();
  }

  /** Current pending and authenticated socket counts in this process, and failures by code since start. */
  stats(): { pending: number; authenticated: number; failures: Partial<Record<AuthErrorCode, number>> } {
    return this.authenticator.stats();
  }

  /** @internal Live map entries and timers of this process: all zero once every socket is gone. For leak checks. */
  resourceCounts(): Record<string, number> {
    return this.authenticator.resourceCounts();
  }

  /** @internal Used by the guard: links the active span (a guarded handler's) to the socket's authentication. */
  linkToSession(socket: Socket): void {
    this.authenticator.telemetry.linkToSession(socket);
  }

  /** @internal Used by the guard. */
  whenAuthenticated(socket: Socket): boolean | Promise<boolean> {
    return this.authenticator.sessions.whenAuthenticated(socket);
  }

  /** @internal Called for each gateway server Nest creates. */
  attach(server: Namespace | Server, options?: { isPublic?: boolean | ((nsp: Namespace) => boolean) }): void {
    this.authenticator.attach(server, options);
  }

  /** Nest's hook: stops every timer and listener of the module, so `app.close()` leaves nothing behind. */
  onApplicationShutdown(): void {
    this.authenticator.shutdown();
    this.outcomeSubject.complete();
  }
}
