import type { Socket } from 'socket.io';
import type { AuthPrincipal } from '../auth-strategy.interface.js';

/**
 * Implement on a gateway to act when a socket's principal is replaced in
 * place: after each refresh, and after a revalidation that returned a
 * different principal. The socket stays authenticated throughout, in every
 * room; leave rooms the new roles no longer allow here, join new ones.
 */
export interface OnGatewayPrincipalChanged {
  /**
   * Runs for each socket of the session before the client is told
   * `authenticated` again. The new principal already applies to guarded
   * handlers. Bounded by `strategyTimeout`; throwing ends the session with
   * `server_error`, since rooms that should have followed may not have.
   */
  handlePrincipalChanged(client: Socket, principal: AuthPrincipal, previous: AuthPrincipal): void | Promise<void>;
}
