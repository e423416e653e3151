import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  JsonWebTokenError,
  type JwtModuleOptions,
  JwtService,
  type JwtVerifyOptions,
  TokenExpiredError,
} from '@nestjs/jwt';
import ms from 'ms';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { AuthenticationError } from '../auth-errors.js';
import type { AuthContext, AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import { credentialOf, expiryOf, type JwtClaims, subjectOf } from '../jwt-claims.js';

export type { JwtClaims } from '../jwt-claims.js';

/**
 * What `validate` may return: fields to set on the principal (`id` and
 * `expiresAt` default to `sub` and `exp`), or `null`/`false` to refuse.
 */
export type JwtValidateResult = Partial<AuthPrincipal> | null | false;

/**
 * Authenticates sockets with the app's own `JwtModule`: the same secret or
 * keys, algorithms, issuer and audience (`verifyOptions`) as its HTTP side.
 *
 * Reads `{ token }`. Refuses a bad token with `invalid_credentials` and an
 * expired one with `expired`, never with jsonwebtoken's text: that text names
 * the check that failed, which helps whoever is forging tokens.
 *
 * Subclass and override `validate` to load the user, refuse one, or shape
 * `public`, as with passport-jwt.
 */
@Injectable()
export class JwtSocketStrategy implements AuthStrategy {
  protected readonly logger = new Logger('JwtSocketStrategy');
  private warnedNoKey = false;
  /** The secret as a KeyObject, null when it cannot be one, undefined until first asked. */
  private cachedSecret?: { secret: KeyObject } | null;

  // Explicit @Inject: builds without decorator metadata (esbuild, some swc setups) still resolve it.
  constructor(@Inject(JwtService) protected readonly jwtService: JwtService) {}

  /** Verifies `{ token }` with the app's JwtService, then asks `validate`; expires at `exp`, or at `iat + maxAge` if sooner. */
  async authenticate(credentials: unknown, context: AuthContext): Promise<AuthPrincipal | null | false> {
    const token = this.extractToken(credentials);
    if (!token) return null;
    const claims = await this.verify(token);
    const id = subjectOf(claims);
    if (id === undefined) return null;

    const validated = await this.validate(claims, context);
    if (!validated) return null;
    if (typeof validated !== 'object')
      throw new Error('JwtSocketStrategy: validate() must return an object, null or false');
    const principal = { id, ...expiryOf(claims), ...credentialOf(claims), ...validated } as AuthPrincipal;
    // `verifyOptions.maxAge` refuses a token older than iat + maxAge at verification only: a live socket must not
    // outlive it either, while the same token is refused on a new one.
    const maxAgeEnd = this.maxAgeEnd(claims);
    if (maxAgeEnd !== undefined) {
      const given = principal.expiresAt === undefined ? undefined : +principal.expiresAt;
      principal.expiresAt = given === undefined ? maxAgeEnd : Math.min(given, maxAgeEnd);
    }
    return principal;
  }

  /**
   * The end of the token's `maxAge` in epoch ms, as jsonwebtoken computes it
   * (`iat` + seconds, or + a timespan string such as `'2h'`), or undefined
   * without a `maxAge`. It is read from the `JwtModule` options the
   * `JwtService` holds.
   */
  private maxAgeEnd(claims: JwtClaims): number | undefined {
    const options = (this.jwtService as unknown as { options?: JwtModuleOptions }).options;
    const maxAge = options?.verifyOptions?.maxAge;
    if (maxAge === undefined || typeof claims.iat !== 'number') return undefined; // jsonwebtoken refused a missing iat
    const seconds = typeof maxAge === 'number' ? maxAge : ms(maxAge as ms.StringValue) / 1000;
    return Number.isFinite(seconds) ? Math.floor(claims.iat + seconds) * 1000 : undefined;
  }

  /**
   * Maps verified claims to the principal. Override to load the user (return
   * `null` or `false` to refuse, or throw `AuthenticationError` with a message
   * the client may see). What you return is laid over `{ id: sub, expiresAt }`.
   */
  validate(payload: JwtClaims, _context: AuthContext): JwtValidateResult | Promise<JwtValidateResult> {
    const id = subjectOf(payload)!;
    return { id, ...expiryOf(payload), public: { id } };
  }

  /**
   * Where the token is in the credentials: `{ token }`, or the credentials
   * themselves when they are a string. Override for another field.
   */
  protected extractToken(credentials: unknown): string | undefined {
    if (typeof credentials === 'string') return credentials || undefined;
    if (credentials !== null && typeof credentials === 'object') {
      const { token } = credentials as { token?: unknown };
      if (typeof token === 'string' && token) return token;
    }
    return undefined;
  }

  private async verify(token: string): Promise<JwtClaims> {
    let payload: unknown;
    try {
      // JwtService applies JwtModule's secret/publicKey/secretOrKeyProvider and verifyOptions; only the secret may be
      // handed over in a faster form (see secretKey()).
      payload = await this.jwtService.verifyAsync<object>(token, this.secretKey() as JwtVerifyOptions | undefined);
    } catch (err) {
      throw this.refusal(err);
    }
    // jsonwebtoken returns a non-JSON payload as a string.
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new AuthenticationError();
    return payload as JwtClaims;
  }

  /**
   * JwtModule's HMAC secret as a `KeyObject`, made once. Given a string or
   * Buffer, jsonwebtoken 9 first tries it as a public key on every verify
   * (`createPublicKey`, which throws: some hundreds of µs); a secret KeyObject
   * verifies the same tokens with the same algorithms in about 10 µs.
   * Undefined (JwtService decides as usual) with a key provider, a public key,
   * or a secret that looks like a PEM key.
   */
  private secretKey(): { secret: KeyObject } | undefined {
    if (this.cachedSecret === undefined) {
      const options = (this.jwtService as unknown as { options?: JwtModuleOptions }).options;
      const secret = options?.secret;
      const usable =
        !options?.secretOrKeyProvider &&
        !options?.publicKey &&
        (typeof secret === 'string' ? secret.length > 0 && !secret.includes('-----BEGIN') : Buffer.isBuffer(secret));
      this.cachedSecret = usable
        ? { secret: createSecretKey(typeof secret === 'string' ? Buffer.from(secret) : (secret as Buffer)) }
        : null;
    }
    return this.cachedSecret ?? undefined;
  }

  /** A refusal the client may see; the error's own text goes nowhere. */
  private refusal(err: unknown): AuthenticationError {
    if (err instanceof TokenExpiredError) return new AuthenticationError('Token expired', 'expired');
    if (err instanceof JsonWebTokenError) {
      // Every token fails this way when JwtModule has no key to verify with: say so once.
      if (err.message === 'secret or public key must be provided' && !this.warnedNoKey) {
        this.warnedNoKey = true;
        this.logger.warn(
          'JwtModule gives no secret, publicKey or secretOrKeyProvider key for verifying: every token is refused',
        );
      }
    } else {
      // jws/jwa errors on malformed signatures look the same as a failing secretOrKeyProvider from here.
      // Debug level, because a client can cause it; the class name only, because the text describes the token.
      this.logger.debug(`token refused: verification threw ${err instanceof Error ? err.name : typeof err}`);
    }
    return new AuthenticationError();
  }
}
