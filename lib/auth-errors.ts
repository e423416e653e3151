/**
 * Every code the server can put on the wire, in one place. The client helper
 * imports this type too, so client and server cannot drift apart.
 */
export type AuthErrorCode =
  /** The strategy refused the credentials. */
  | 'invalid_credentials'
  /** The payload was not a JSON object, was too large, or carried binary. */
  | 'bad_request'
  /** No successful authentication within `timeout`. */
  | 'timeout'
  /** The strategy threw or hung; details stay in the server log. */
  | 'server_error'
  /** The principal's `expiresAt` passed. */
  | 'expired'
  /** A re-authentication returned a principal with another `id`. */
  | 'identity_changed'
  /** An `authentication` arrived while another was still in flight. */
  | 'in_progress'
  /** `AuthSocketService.revoke()` ended the session. */
  | 'revoked'
  /** `AuthSocketService.deauthenticate()` put the socket back to pending. */
  | 'deauthenticated'
  /** The strategy's `revalidate()` refused a live session (the user was removed or locked, say). */
  | 'invalidated'
  /** Too many failed attempts from this address in the current window. */
  | 'rate_limited'
  /** Refused at connect: too many unauthenticated sockets. */
  | 'too_many_pending'
  /** Refused at connect: this address holds `maxPublicPerAddress` sockets on public namespaces. */
  | 'too_many_connections'
  /** Refused at connect: the handshake's Origin is not in `allowedOrigins`. */
  | 'forbidden_origin'
  /** The principal already holds `maxSessionsPerPrincipal` sessions (with `onSessionLimit: 'reject'`). */
  | 'too_many_sessions'
  /** Refused at connect: this connection already has a socket on that namespace. */
  | 'duplicate_namespace'
  /** An `@Authenticated()` handler was called by a socket that is not authenticated. */
  | 'unauthenticated'
  /** The socket is authenticated, but its principal does not meet the handler's requirement. */
  | 'forbidden';

/** The codes as a runtime list, for validation and exhaustive tests. */
export const AUTH_ERROR_CODES: readonly AuthErrorCode[] = [
  'invalid_credentials',
  'bad_request',
  'timeout',
  'server_error',
  'expired',
  'identity_changed',
  'in_progress',
  'revoked',
  'deauthenticated',
  'invalidated',
  'rate_limited',
  'too_many_pending',
  'too_many_connections',
  'forbidden_origin',
  'too_many_sessions',
  'duplicate_namespace',
  'unauthenticated',
  'forbidden',
];

/**
 * `refresh_required`: the session stays until `expiresAt`; send fresh
 * credentials in `authentication` before then. `code` says why: `expiring`
 * (its credentials run out), or `revoked` with a grace period (`revoke(…, {
 * graceMs })`: credentials issued before the revoke are refused).
 */
export interface RefreshRequiredPayload {
  code: 'expiring' | 'revoked';
  message: string;
  /** When the session ends, in epoch ms (the server's clock). */
  expiresAt: number;
  /** Milliseconds from when it was sent until `expiresAt`: for clients whose clock differs from the server's. */
  expiresIn: number;
  /** Always true: the socket stays connected and authenticated meanwhile. */
  reauthenticate: true;
}

/** What the client receives with `unauthorized`, `auth_error`, a refused ack, or `connect_error.data`. */
export interface AuthErrorPayload {
  code: AuthErrorCode;
  message: string;
  /** Set when the socket stays connected and may authenticate again. */
  reauthenticate?: boolean;
}

/** Messages safe to show any client: they name the rule, never the internals. */
export const DEFAULT_ERROR_MESSAGES: Record<AuthErrorCode, string> = {
  invalid_credentials: 'Invalid credentials',
  bad_request: 'Malformed authentication payload',
  timeout: 'Authentication timed out',
  server_error: 'Authentication failed on the server',
  expired: 'Session expired',
  identity_changed: 'Re-authentication changed the identity',
  in_progress: 'Authentication already in progress',
  revoked: 'Session revoked',
  deauthenticated: 'Session ended by the server',
  invalidated: 'Session no longer valid',
  rate_limited: 'Too many failed attempts; try again later',
  too_many_pending: 'Too many unauthenticated connections',
  too_many_connections: 'Too many connections',
  forbidden_origin: 'Origin not allowed',
  too_many_sessions: 'Too many sessions for this user',
  duplicate_namespace: 'Already connected to this namespace',
  unauthenticated: 'Not authenticated',
  forbidden: 'Not allowed',
};

/**
 * Throw from a strategy to refuse with a message that is safe to show the
 * client. Any other error becomes `server_error` with a generic message.
 */
export class AuthenticationError extends Error {
  readonly code: AuthErrorCode;

  constructor(
    message: string = DEFAULT_ERROR_MESSAGES.invalid_credentials,
    code: AuthErrorCode = 'invalid_credentials',
  ) {
    super(message);
    this.name = 'AuthenticationError';
    this.code = code;
  }
}

/**
 * Thrown by a strategy that could not decide because something it depends on
 * is down (an identity provider's key set, a user database): the client gets
 * `server_error`, and the attempt is not counted against its address's
 * failure budget, since nothing about its credentials failed.
 */
export class StrategyUnavailableError extends AuthenticationError {
  constructor(message = 'Authentication is unavailable right now; try again') {
    super(message, 'server_error');
    this.name = 'StrategyUnavailableError';
  }
}
