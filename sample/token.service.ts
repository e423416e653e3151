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
}

/**
 * The claims a sample token must carry: without a `jti` it could not be
 * revoked alone, without `iat` "log out everywhere" could not tell it from a
 * newer one, without `exp` it would never end. Undefined when one is missing.
 */
export function verifiedFrom(claims: JwtClaims): VerifiedToken | undefined {
  const { sub, jti, iat, exp } = claims;
  if (typeof sub !== 'string' || !sub || typeof jti !== 'string' || !jti) return undefined;
  if (typeof iat !== 'number' || typeof exp !== 'number') return undefined;
  return { userId: sub, jti, issuedAt: iat * 1000, expiresAt: exp * 1000 };
}

/**
 * Issues and verifies the sample's two JWTs through the app's JwtModule (see
 * auth.config.ts), whose options the socket strategy verifies with too:
 *   - the access token (audience `sample-chat`, TOKEN_TTL_SECONDS): what the
 *     page sends in `authentication`, kept in memory only;
 *   - the refresh token (audience `sample-chat-refresh`, REFRESH_TTL_SECONDS):
 *     the httpOnly cookie `POST /auth/refresh` trades for access tokens.
 * Whether one was revoked is the revocation store's answer
 * (AuthSocketService.isRevoked), asked by the controller.
 */
@Injectable()
export class TokenService {
  constructor(private readonly jwt: JwtService) {}

  /** An access token for the user, with a unique id so that logout can revoke exactly this token. */
  signAccess(userId: string): Promise<string> {
    return this.jwt.signAsync({ sub: userId }, { jwtid: randomUUID() });
  }

  /** A refresh token for the user: its own audience and lifetime, its own id. */
  signRefresh(userId: string): Promise<string> {
    return this.jwt.signAsync(
      { sub: userId },
      { jwtid: randomUUID(), audience: REFRESH_AUDIENCE, expiresIn: refreshTtlSeconds() },
    );
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
      return verifiedFrom(await this.jwt.verifyAsync<JwtClaims>(token, audience ? { audience } : undefined));
    } catch {
      return undefined;
    }
  }
}
