import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { Namespace, Server, Socket } from 'socket.io';
import type { AuthErrorCode } from '../auth-errors.js';
import type { AuthOutcome } from '../auth-outcome.interface.js';
import { AUTH_SOCKET_OPTIONS, AUTH_STRATEGY } from '../auth-socket.constants.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import { type RevokeResult, SocketAuth } from '../core/socket-auth.js';
import { principalRoom } from '../core/protocol.js';
import { GatewayHooks } from './gateway-hooks.js';

/** The app's handle on socket authentication. */
@Injectable()
export class AuthSocketService implements OnApplicationShutdown {
  private readonly logger = new Logger('AuthSocket');
  private readonly outcomeSubject = new Subject<AuthOutcome>();
  private readonly authenticator: SocketAuth;

  /** Every outcome: authenticated, failed (with code), timeout, expired, deauthenticated, revoked. */
  readonly outcomes: Observable<AuthOutcome> = this.outcomeSubject.asObservable();

  constructor(
    @Inject(AUTH_SOCKET_OPTIONS) options: ResolvedAuthSocketOptions,
    @Inject(AUTH_STRATEGY) strategy: AuthStrategy,
    hooks: GatewayHooks,
  ) {
    this.authenticator = new SocketAuth({
      options,
      strategy,
      logger: this.logger,
      beforeAuthenticated: (socket, principal) => hooks.handleAuthenticated(socket, principal),
      onOutcome: (outcome) => this.outcomeSubject.next(outcome),
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
   * Sends `unauthorized {code:'revoked'}` to every socket of the principal and
   * disconnects them, on every node when a cluster adapter is in use (sockets
   * on public namespaces stay, anonymous). Resolves once every node has acted,
   * or after the adapter's request timeout, with how many sockets lost the
   * session and whether every node answered.
   */
  revoke(principalId: string, reason?: string): Promise<RevokeResult> {
    return this.authenticator.revoke(principalId, reason);
  }

  /** The room every authenticated socket of a principal is in: `server.to(room).emit(...)` reaches all of them. */
  principalRoom(principalId: string): string {
    return principalRoom(principalId);
  }

  /** Current pending and authenticated socket counts in this process, and failures by code since start. */
  stats(): { pending: number; authenticated: number; failures: Partial<Record<AuthErrorCode, number>> } {
    return this.authenticator.stats();
  }

  /** @internal Live map entries and timers of this process: all zero once every socket is gone. For leak checks. */
  resourceCounts(): Record<string, number> {
    return this.authenticator.resourceCounts();
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
