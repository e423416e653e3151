import type { Socket } from 'socket.io';

/** Who a socket authenticated as. `id` is required; anything else is the app's. */
export interface AuthPrincipal {
  /** Stable identity: re-authentication must keep it, and revocation targets it. */
  id: string;
  /**
   * When the session ends, as epoch ms or a `Date`. The module then applies
   * `onExpiry`. Omit for sessions that do not expire.
   */
  expiresAt?: number | Date;
  /**
   * What the client may see, sent as `authenticated { user }`. Defaults to
   * `{ id }`, so nothing else of the principal leaves the server by accident.
   */
  public?: unknown;
  /**
   * The credential's own id (a JWT's `jti`), so `revoke({ tokenId })` can deny
   * exactly this token. `JwtSocketStrategy` sets it from `jti`.
   */
  tokenId?: string;
  /**
   * When the credential was issued, as epoch ms or a `Date` (a JWT's `iat`), so
   * `revoke({ principalId, issuedBefore })` can deny older credentials. Without
   * it, the time the session authenticated stands in. `JwtSocketStrategy` sets
   * it from `iat`.
   */
  issuedAt?: number | Date;
  [key: string]: unknown;
}

/** What a strategy learns about the attempt besides the credentials. */
export interface AuthContext {
  /** The socket being authenticated. */
  socket: Socket;
  /** Its namespace, for example `/` or `/chat`. */
  namespace: string;
  /** Client address: the remote address, or `X-Forwarded-For` with `trustProxy`. */
  address: string;
  /**
   * `'message'` for an `authentication` event, `'handshake'` for socket.io's
   * `auth` option, `'request'` for a strategy that reads the handshake request.
   */
  source: 'message' | 'handshake' | 'request';
  /** The current principal when an authenticated socket re-authenticates. */
  current?: AuthPrincipal;
}

/**
 * Checks credentials. Return a principal to accept; `null` or `false` to
 * refuse with `invalid_credentials`; or throw `AuthenticationError` to refuse
 * with a message that is safe to show. Any other error becomes `server_error`.
 */
export interface AuthStrategy {
  /**
   * `'request'`: authenticate at connect time from the handshake request
   * (cookies, headers), with no message from the client. `credentials` is then
   * `socket.request`. Requires `allowedOrigins`: browsers send cookies by
   * themselves, so without an origin check any site could open a socket as the
   * user (cross-site WebSocket hijacking).
   * @default 'message'
   */
  readonly source?: 'message' | 'request';
  /**
   * Checks `credentials` (what the client sent in `authentication`, the
   * handshake `auth`, or the handshake request with `source: 'request'`).
   */
  authenticate(
    credentials: unknown,
    context: AuthContext,
  ): Promise<AuthPrincipal | null | false> | AuthPrincipal | null | false;
  /**
   * Re-checks a live session against the app (the user still exists, is not
   * locked, has these roles), every `revalidateInterval` and on
   * `AuthSocketService.revalidate(principalId)`. Return the fresh principal
   * (same `id`; its roles apply from the next guarded handler on; it may
   * shorten the session with an earlier `expiresAt`, never extend it), or
   * `null`/`false` to end the session with `invalidated`. Throwing
   * `AuthenticationError` ends it with that code; any other error, or no answer
   * within `strategyTimeout`, is logged and the session keeps running until
   * the next check. Optional.
   */
  revalidate?(
    principal: AuthPrincipal,
    context: RevalidationContext,
  ): Promise<AuthPrincipal | null | false> | AuthPrincipal | null | false;
}

/** What `revalidate()` learns about the session besides its principal. */
export interface RevalidationContext {
  /** The session's first socket. */
  socket: Socket;
  /** That socket's namespace. */
  namespace: string;
  /** Client address, as in `AuthContext`. */
  address: string;
  /** `'interval'` for the periodic check, `'request'` for `AuthSocketService.revalidate()`. */
  reason: 'interval' | 'request';
}
