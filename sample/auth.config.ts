import { Logger } from '@nestjs/common';
import type { JwtModuleOptions } from '@nestjs/jwt';
import { randomBytes } from 'node:crypto';
import { envNumber } from './env.js';

/** Claims every sample token carries and every check requires, so tokens minted for another app are refused. */
export const TOKEN_ISSUER = 'nestjs-socket-auth-sample';
export const TOKEN_AUDIENCE = 'sample-chat';

const logger = new Logger('SampleAuth');
let generated: string | undefined;

/**
 * The signing secret: AUTH_SECRET, or a random one for this process. There is
 * no built-in fallback: a secret written in the source is public, and anyone
 * could mint a token for any user with it.
 */
export function authSecret(): string {
  const secret = process.env.AUTH_SECRET;
  if (secret) return secret;
  if (process.env.REDIS_URL) {
    throw new Error(
      'AUTH_SECRET is not set, but REDIS_URL is: each node would sign tokens with its own random secret and refuse ' +
        "the others' tokens. Set the same AUTH_SECRET (32+ random bytes) on every node.",
    );
  }
  if (!generated) {
    generated = randomBytes(32).toString('base64url');
    logger.warn(
      'AUTH_SECRET is not set: this process signs tokens with a random secret, so tokens will not survive a restart. Set AUTH_SECRET to keep them.',
    );
  }
  return generated;
}

export function tokenTtlSeconds(): number {
  return envNumber('TOKEN_TTL_SECONDS', 3600, 1);
}

/** One configuration for signing (HTTP login) and verifying (logout and sockets), so they cannot drift apart. */
export function jwtOptions(): JwtModuleOptions {
  return {
    secret: authSecret(),
    // Each token's jti is set when it is signed (TokenService.sign): it is what logout revokes.
    signOptions: { algorithm: 'HS256', expiresIn: tokenTtlSeconds(), issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE },
    verifyOptions: { algorithms: ['HS256'], issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE },
  };
}
