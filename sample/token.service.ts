import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { randomUUID } from 'node:crypto';
import type { JwtClaims } from '../lib/jwt/index.js';
import { RevokedTokens } from './revoked-tokens.js';

export interface VerifiedToken {
  userId: string;
  jti: string;
  /** epoch ms */
  expiresAt: number;
}

/**
 * Issues and revokes the sample's JWTs, through the app's JwtModule (see
 * auth.config.ts): the socket strategy verifies with the same configuration.
 */
@Injectable()
export class TokenService {
  constructor(
    private readonly jwt: JwtService,
    private readonly revoked: RevokedTokens,
  ) {}

  /** A token for the user, with a unique id so that logout can revoke exactly this token. */
  sign(userId: string): Promise<string> {
    return this.jwt.signAsync({ sub: userId }, { jwtid: randomUUID() });
  }

  /** The token's user, id and expiry; undefined when it is bad, expired or logged out. */
  async verify(token: unknown): Promise<VerifiedToken | undefined> {
    if (typeof token !== 'string' || token.length === 0) return undefined;
    let claims: JwtClaims;
    try {
      claims = await this.jwt.verifyAsync<JwtClaims>(token);
    } catch {
      return undefined;
    }
    return (await this.isUsable(claims))
      ? { userId: String(claims.sub), jti: claims.jti!, expiresAt: claims.exp! * 1000 }
      : undefined;
  }

  /** For claims that passed verification: a token without jti or exp could never be revoked, so it is refused too. */
  async isUsable(claims: JwtClaims): Promise<boolean> {
    if (typeof claims.jti !== 'string' || !claims.jti || typeof claims.exp !== 'number' || claims.sub === undefined)
      return false;
    return !(await this.revoked.has(claims.jti));
  }

  /** Refused from now on, by HTTP and sockets (on every node, with REDIS_URL), until it would expire anyway. */
  revoke(token: VerifiedToken): Promise<void> {
    return this.revoked.add(token.jti, token.expiresAt);
  }
}
