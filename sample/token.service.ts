import { Injectable, Logger } from '@nestjs/common';
import { jwtVerify, SignJWT } from 'jose';

const DEV_SECRET = 'nestjs-socket-auth-sample-development-secret';

/** Signs and checks the sample's JWTs. Every process that shares AUTH_SECRET accepts the same tokens. */
@Injectable()
export class TokenService {
  private readonly logger = new Logger(TokenService.name);
  private readonly secret: Uint8Array;
  readonly ttlSeconds: number;

  constructor() {
    const secret = process.env.AUTH_SECRET;
    if (!secret) this.logger.warn('AUTH_SECRET is not set: using the development secret. Set it in production.');
    this.secret = new TextEncoder().encode(secret || DEV_SECRET);
    this.ttlSeconds = Number(process.env.TOKEN_TTL_SECONDS) > 0 ? Number(process.env.TOKEN_TTL_SECONDS) : 3600;
  }

  sign(userId: string): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.secret);
  }

  /** The user id and expiry (epoch ms), or undefined for a bad or expired token. */
  async verify(token: unknown): Promise<{ userId: string; expiresAt: number } | undefined> {
    if (typeof token !== 'string' || token.length === 0) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.secret, { algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') return undefined;
      return { userId: payload.sub, expiresAt: payload.exp * 1000 };
    } catch {
      return undefined;
    }
  }
}
