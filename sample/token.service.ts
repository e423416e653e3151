import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import type { JwtClaims } from '../lib/jwt/index.js';
import { REFRESH_AUDIENCE, refreshTtlSeconds } from './auth.config.js';

/** A verified token, with what the revocation store needs to look it up. */
export interface VerifiedToken {
  userId: string;
  jti: string;
  /** epoch ms (the JWT's `iat`, whole seconds) */
  issuedAt: number;
  /** epoch ms */
  expiresAt: number;
  /**
   * The login this token belongs to: one browser or device, from the login
   * form to its logout. A refresh token's own `jti`; an access token's `sid`
   * claim (the jti of the refresh token it was issued with), when it has one.
   * Signing out a device (POST /auth/sessions/:id/end) revokes it.
   */
  login?: string;
  /**
   * Refresh tokens in issuer mode only: the identity provider's refresh
   * token, sealed (IssuerAccessTokens), which the refresh route trades at
   * the provider for the login's next access token.
   */
  upstream?: string;
}

/**
 * The claims a sample token must carry: without a `jti` it could not be
 * revoked alone, without `iat` "log out everywhere" could not tell it from a
 * newer one, without `exp` it would never end. Undefined when one is missing.
 */
export function verifiedFrom(claims: JwtClaims): VerifiedToken | undefined {
  const { sub, jti, iat, exp, sid } = claims;
  if (typeof sub !== 'string' || !sub || typeof jti !== 'string' || !jti) return undefined;
  if (typeof iat !== 'number' || typeof exp !== 'number') return undefined;
  const token: VerifiedToken = { userId: sub, jti, issuedAt: iat * 1000, expiresAt: exp * 1000 };
  if (typeof sid === 'string' && sid) token.login = sid;
  return token;
}

/**
 * Issues and verifies the sample's two JWTs through the app's JwtModule (see
 * auth.config.ts), whose options the socket strategy verifies with too:
 *   - the access token (audience `sample-chat`, TOKEN_TTL_SECONDS): what the
 *     page sends in `authentication`, kept in memory only;
 *   - the refresh token (audience `sample-chat-refresh`, REFRESH_TTL_SECONDS):
 *     the httpOnly cookie `POST /auth/refresh` trades for access tokens.
 * Whether one was revoked is the revocation store's answer
 * (AuthSocketService.isRevoked), asked by the controller. In issuer mode
 * (AUTH_ISSUER), access tokens come from the issuer (IssuerAccessTokens):
 * only the refresh token is signed here.
 */
@Injectable()
export class TokenService {
  constructor(private readonly jwt: JwtService) {}

  /**
   * An access token for the user, with a unique id so that logout can revoke
   * exactly this token, and its login's id (`sid`: the refresh token's jti) so
   * that signing the device out can revoke the refresh cookie it came from.
   */
  signAccess(userId: string, login: string): Promise<string> {
    return this.jwt.signAsync({ sub: userId, sid: login }, { jwtid: randomUUID() });
  }

  /**
   * A refresh token for the user: its own audience and lifetime; its id is
   * the login's (`signAccess`'s `login`). `upstream`: what the next access
   * tokens come from, in issuer mode (see VerifiedToken).
   */
  signRefresh(userId: string, login: string, upstream?: string): Promise<string> {
    return this.jwt.signAsync(
      { sub: userId, ...(upstream ? { upstream } : {}) },
      { jwtid: login, audience: REFRESH_AUDIENCE, expiresIn: refreshTtlSeconds() },
    );
  }

  /** A new login's id: the refresh token's jti, and the `sid` of every access token traded for it. */
  newLogin(): string {
    return randomUUID();
  }

  /** An access token's claims; undefined when it is bad, expired, or lacks a claim the sample requires. */
  verifyAccess(token: unknown): Promise<VerifiedToken | undefined> {
    return this.verify(token);
  }

  /** A refresh token's claims; an access token (other audience) is refused here, as a refresh token is on sockets. */
  verifyRefresh(token: unknown): Promise<VerifiedToken | undefined> {
    return this.verify(token, REFRESH_AUDIENCE);
  }

  private async verify(token: unknown, audience?: string): Promise<VerifiedToken | undefined> {
    if (typeof token !== 'string' || token.length === 0) return undefined;
    try {
      const claims = await this.jwt.verifyAsync<JwtClaims>(token, audience ? { audience } : undefined);
      const verified = verifiedFrom(claims);
      if (verified && audience === REFRESH_AUDIENCE) {
        // A refresh token is its login: its id is what access tokens carry as `sid`.
        verified.login = verified.jti;
        if (typeof claims.upstream === 'string' && claims.upstream) verified.upstream = claims.upstream;
      }
      return verified;
    } catch {
      return undefined;
    }
  }
}
