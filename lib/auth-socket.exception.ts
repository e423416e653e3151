import { WsException } from '@nestjs/websockets';
import type { AuthErrorCode, AuthErrorPayload } from './auth-errors.js';

/**
 * What `@Authenticated()` throws when it refuses a message (`unauthenticated`
 * or `forbidden`). It is a `WsException`, so the gateway's exception filters
 * see it: `@Catch(AuthSocketException)` or `@Catch(WsException)`. Without a
 * filter, Nest's own emits `exception` with {@link AuthSocketException.getError},
 * and the guard answers the client's ack with `{ ok: false, error }`.
 */
export class AuthSocketException extends WsException {
  /** The wire code, as in `AuthErrorCode`. */
  readonly code: AuthErrorCode;

  constructor(
    /** What the client is told: `{ code, message }`. */
    readonly payload: AuthErrorPayload,
    /** The message's pattern and data, as Nest 12's `exception` payload carries them. */
    readonly origin: { pattern: string; data: unknown },
  ) {
    super(payload.message);
    this.code = payload.code;
  }

  /** Nest 12's `exception` payload shape, with the code: `{ status: 'error', code, message, cause: { pattern, data } }`. */
  override getError(): {
    status: 'error';
    code: AuthErrorCode;
    message: string;
    cause: { pattern: string; data: unknown };
  } {
    return { status: 'error', code: this.payload.code, message: this.payload.message, cause: this.origin };
  }
}
