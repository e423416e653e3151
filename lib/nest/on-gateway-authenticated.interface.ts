import type { Socket } from 'socket.io';
import type { AuthPrincipal } from '../auth-strategy.interface.js';

/**
 * Implement on a gateway to act when one of its sockets authenticates
 * (socketio-auth's `postAuthenticate`). Runs before the client is told it is
 * authenticated, so rooms joined here are in effect when it starts talking.
 * Throwing fails the authentication with `server_error`.
 */
export interface OnGatewayAuthenticated {
  /**
   * Runs for each socket of a newly authenticated session, before the client is
   * told `authenticated`: join rooms here. Bounded by `strategyTimeout`.
   */
  handleAuthenticated(client: Socket, principal: AuthPrincipal): void | Promise<void>;
}
