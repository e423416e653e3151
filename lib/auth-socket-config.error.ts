/**
 * What a misconfiguration is, as a code a test or a deployment check can match
 * on. The message always names the option, decorator or class at fault.
 */
export type AuthSocketConfigErrorCode =
  /** An option has a value of the wrong type or out of range; the message shows what it got. */
  | 'AUTH_SOCKET_INVALID_OPTION'
  /** An option name the module does not know (usually a typo); the message suggests the closest one. */
  | 'AUTH_SOCKET_UNKNOWN_OPTION'
  /** `strategy` is missing, or is not an `AuthStrategy` (no `authenticate()`, or a Passport strategy). */
  | 'AUTH_SOCKET_INVALID_STRATEGY'
  /** `AuthSocketModule.forRoot()` was imported more than once in one app. */
  | 'AUTH_SOCKET_DUPLICATE_MODULE'
  /** `@Authenticated()` is on an HTTP controller, where it cannot apply. */
  | 'AUTH_SOCKET_NOT_A_GATEWAY'
  /** A gateway uses `@Authenticated()` but `AuthSocketModule` is not imported. */
  | 'AUTH_SOCKET_MODULE_MISSING'
  /**
   * Gateways disagree about a namespace, the app uses a WebSocket adapter other than socket.io, or a gateway
   * handler subscribes to an event the module answers itself (`authentication`, and `join`/`leave` with `clientRooms`).
   */
  | 'AUTH_SOCKET_INVALID_GATEWAY'
  /** A call on `AuthSocketService` got an argument it cannot act on (say, `revoke()` with no principal or token). */
  | 'AUTH_SOCKET_INVALID_ARGUMENT';

/** Thrown at start-up (or at the first use, where start-up cannot tell) for a mistake in the app's wiring or a call. */
export class AuthSocketConfigError extends Error {
  override readonly name = 'AuthSocketConfigError';

  constructor(
    readonly code: AuthSocketConfigErrorCode,
    message: string,
  ) {
    super(`AuthSocketModule: ${message}`);
  }
}
