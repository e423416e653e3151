import { HttpException, Inject, Injectable, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AuthenticationError } from '../auth-errors.js';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import type { AuthContext, AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import { credentialOf, expiryOf, type JwtClaims } from '../jwt-claims.js';

/** How `fromPassport()` runs the app's Passport strategy for a socket. */
export interface PassportSocketOptions {
  /**
   * What the strategy reads. `'message'`: a request built from the
   * `authentication` message alone: `{ token }` (or a bare string) as
   * `Authorization: Bearer <token>`, the whole message as `body` (so
   * `access_token` or custom fields work too), nothing from the handshake.
   * `'request'`: the socket's handshake request, for strategies that read a
   * session cookie (then `allowedOrigins` is required, as for any cookie strategy).
   * @default 'message'
   */
  source?: 'message' | 'request';
  /**
   * Maps what the strategy's `validate()` returned to the principal. By
   * default the user object itself, with `id` from `id`, `userId`, `sub` or
   * `username`, and, when the credentials were a JWT whose `sub` is that id,
   * `expiresAt`, `tokenId` and `issuedAt` from its `exp`, `jti` and `iat`.
   */
  toPrincipal?: (user: Record<string, unknown>, info: unknown) => AuthPrincipal | null | false;
  /** Options for the strategy's `authenticate(req, options)`, as `AuthGuard('name', options)` would pass. */
  authenticateOptions?: Record<string, unknown>;
}

/** The part of a Passport strategy this adapter drives: `authenticate(req, options)`, answering through `this.success()` and the like. */
interface PassportLike {
  authenticate(req: unknown, options?: unknown): void;
}

type Outcome =
  | { kind: 'success'; user: unknown; info: unknown }
  | { kind: 'fail'; challenge?: unknown }
  | { kind: 'error'; error: unknown };

/**
 * An `AuthStrategy` from a Passport strategy the app already has for HTTP
 * (`class JwtStrategy extends PassportStrategy(Strategy)`): its `validate()`
 * runs as it does on HTTP, `success()` becomes the principal, `fail()`
 * `invalid_credentials` (`expired` for an expired JWT), an
 * `UnauthorizedException` or `ForbiddenException` from `validate()`
 * `invalid_credentials`, anything else `server_error` (logged without its message).
 *
 * ```ts
 * AuthSocketModule.forRoot({ strategy: fromPassport(JwtStrategy) })
 * ```
 *
 * The app's own instance is used (found wherever it is provided, like
 * `AuthGuard('jwt')` finds it through Passport), so its dependencies and its
 * registration with Passport stay as they are.
 */
export function fromPassport(strategy: Type<unknown>, options: PassportSocketOptions = {}): Type<AuthStrategy> {
  if (typeof strategy !== 'function')
    throw new AuthSocketConfigError(
      'AUTH_SOCKET_INVALID_STRATEGY',
      'fromPassport() takes the Passport strategy class (the one extending PassportStrategy(Strategy))',
    );
  const source = options.source ?? 'message';
  if (source !== 'message' && source !== 'request')
    throw new AuthSocketConfigError(
      'AUTH_SOCKET_INVALID_OPTION',
      `fromPassport(): option "source" must be 'message' or 'request' (got ${JSON.stringify(source)})`,
    );

  @Injectable()
  class PassportSocketStrategy implements AuthStrategy, OnModuleInit {
    readonly source = source === 'request' ? ('request' as const) : undefined;
    private instance?: PassportLike;

    constructor(@Inject(ModuleRef) private readonly moduleRef: ModuleRef) {}

    /** At start-up: a strategy the app does not provide fails here, named, not at the first socket. */
    onModuleInit(): void {
      this.passport();
    }

    async authenticate(credentials: unknown, context: AuthContext): Promise<AuthPrincipal | null | false> {
      const token = tokenOf(credentials);
      const req = source === 'request' ? context.socket.request : requestFrom(credentials, token, context);
      const outcome = await run(this.passport(), req, options.authenticateOptions);
      if (outcome.kind === 'fail') throw refusalOf(outcome.challenge);
      if (outcome.kind === 'error') {
        const status = outcome.error instanceof HttpException ? outcome.error.getStatus() : undefined;
        if (status === 401 || status === 403) throw new AuthenticationError();
        throw outcome.error; // server_error, logged without its message
      }
      const user = outcome.user;
      if (!user || typeof user !== 'object') return null;
      if (options.toPrincipal) return options.toPrincipal(user as Record<string, unknown>, outcome.info);
      return principalFrom(user as Record<string, unknown>, token);
    }

    /** The app's instance of the strategy, wherever it is provided; created here when it is nowhere. */
    private passport(): PassportLike {
      if (this.instance) return this.instance;
      let found: unknown;
      try {
        found = this.moduleRef.get(strategy, { strict: false });
      } catch {
        throw new AuthSocketConfigError(
          'AUTH_SOCKET_INVALID_STRATEGY',
          `fromPassport(${strategy.name}): ${strategy.name} is not provided in the app; add it to the providers ` +
            'of the module where your HTTP authentication lives, as for AuthGuard()',
        );
      }
      if (typeof (found as PassportLike | null)?.authenticate !== 'function')
        throw new AuthSocketConfigError(
          'AUTH_SOCKET_INVALID_STRATEGY',
          `fromPassport(${strategy.name}): it has no authenticate(req, options): not a Passport strategy`,
        );
      return (this.instance = found as PassportLike);
    }
  }
  Object.defineProperty(PassportSocketStrategy, 'name', { value: `PassportSocketStrategy(${strategy.name})` });
  return PassportSocketStrategy;
}

/**
 * One run of a Passport strategy, as passport's own middleware does it: a
 * copy of the strategy whose `success`/`fail`/`error`/`redirect`/`pass` settle
 * the promise (redirect and pass, meaningless here, refuse).
 */
function run(strategy: PassportLike, req: unknown, options?: Record<string, unknown>): Promise<Outcome> {
  return new Promise((resolve) => {
    const attempt = Object.create(strategy) as PassportLike & Record<string, unknown>;
    attempt.success = (user: unknown, info: unknown) => resolve({ kind: 'success', user, info });
    attempt.fail = (challenge?: unknown) => resolve({ kind: 'fail', challenge });
    attempt.error = (error: unknown) => resolve({ kind: 'error', error });
    attempt.redirect = () => resolve({ kind: 'fail' });
    attempt.pass = () => resolve({ kind: 'fail' });
    try {
      attempt.authenticate(req, options ?? {});
    } catch (error) {
      resolve({ kind: 'error', error });
    }
  });
}

/** A request-shaped object from the message alone: never the handshake's cookies or headers, which a browser sends by itself. */
function requestFrom(credentials: unknown, token: string | undefined, context: AuthContext): Record<string, unknown> {
  const body = credentials !== null && typeof credentials === 'object' ? { ...credentials } : {};
  return {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body,
    query: {},
    method: 'GET',
    url: '/',
    ip: context.address,
    socket: context.socket,
  };
}

function tokenOf(credentials: unknown): string | undefined {
  if (typeof credentials === 'string') return credentials || undefined;
  const token = (credentials as { token?: unknown } | null)?.token;
  return typeof token === 'string' && token ? token : undefined;
}

/** passport-jwt fails with jsonwebtoken's error: an expired token is `expired`; nothing else is told. */
function refusalOf(challenge: unknown): AuthenticationError {
  if ((challenge as { name?: unknown } | null)?.name === 'TokenExpiredError')
    return new AuthenticationError('Token expired', 'expired');
  return new AuthenticationError();
}

function principalFrom(user: Record<string, unknown>, token: string | undefined): AuthPrincipal | null {
  const raw = user.id ?? user.userId ?? user.sub ?? user.username;
  const id = typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : raw;
  if (typeof id !== 'string' || !id)
    throw new Error('the user from validate() has no id, userId, sub or username: pass toPrincipal to fromPassport()');
  // Only a token about this very user lends its expiry and ids: with a strategy that checks something else (an API
  // key in the body), a `token` field is whatever the client made up.
  const claims = token ? claimsOf(token) : undefined;
  const about = claims && String(claims.sub) === id ? { ...expiryOf(claims), ...credentialOf(claims) } : {};
  return { ...about, ...user, id };
}

/**
 * The claims of a token the Passport strategy has just verified, for its
 * expiry and id only. A plain decode is enough here (and keeps `jose` out of
 * this entry point): nothing is trusted that the strategy did not check.
 */
function claimsOf(token: string): JwtClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? (claims as JwtClaims) : undefined;
  } catch {
    return undefined;
  }
}
