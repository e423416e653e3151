import { Logger } from '@nestjs/common';
import type { JwtModuleOptions } from '@nestjs/jwt';
import { randomBytes } from 'node:crypto';
import type { JwksStrategyOptions } from '../lib/jwks/index.js';
import { authIssuer, envNumber } from './env.js';

/** Claims every sample token carries and every check requires, so tokens minted for another app are refused. */
export const TOKEN_ISSUER = 'nestjs-socket-auth-sample';
/** The access token's audience: what sockets (and logout) accept. */
export const TOKEN_AUDIENCE = 'sample-chat';
/**
 * The refresh token's audience: only `POST /auth/refresh` accepts it. Sockets
 * verify with TOKEN_AUDIENCE, so a refresh token is refused there, and an
 * access token is refused as a refresh token.
 */
export const REFRESH_AUDIENCE = 'sample-chat-refresh';

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

/** Access token lifetime: minutes, so a stolen or logged-out access token is short-lived by itself. */
export function tokenTtlSeconds(): number {
  return envNumber('TOKEN_TTL_SECONDS', 300, 1);
}

/** Refresh token (cookie) lifetime: how long a browser stays logged in without typing the password again. */
export function refreshTtlSeconds(): number {
  return envNumber('REFRESH_TTL_SECONDS', 7 * 24 * 3600, 1);
}

/** How often the library re-reads each live session's user (ChatJwtStrategy.revalidate). */
export function revalidateIntervalMs(): number {
  return envNumber('REVALIDATE_INTERVAL_MS', 60_000, 100);
}

/** The module's `timeout`: how long a socket has to authenticate. `0` disables it. */
export function authTimeoutMs(): number {
  return envNumber('AUTH_TIMEOUT_MS', 1000);
}

/**
 * Issuer mode (AUTH_ISSUER): how the issuer's RS256 access tokens are
 * verified, by sockets (ChatJwksStrategy) and by the HTTP routes
 * (IssuerAccessTokens) alike. The key set is found through the issuer's
 * OpenID Connect discovery document; the audience is the sample's own, so a
 * token the issuer minted for another API is refused.
 */
export function issuerOptions(): JwksStrategyOptions & { timeoutMs: number; cooldownMs: number } {
  const issuer = authIssuer();
  if (!issuer) throw new Error('issuerOptions() without AUTH_ISSUER');
  const timeout = authTimeoutMs();
  return {
    issuers: { issuer },
    audience: TOKEN_AUDIENCE,
    algorithms: ['RS256'],
    // A key fetch must end well within the module's timeout, which bounds the whole attempt: a key set that does
    // not answer is then `server_error` (the issuer's fault), not `timeout` (the client's).
    timeoutMs: timeout > 0 ? Math.max(50, Math.floor(timeout * 0.75)) : 750,
    // After a key fetch, an unknown `kid` is refused without fetching again for this long (a flood of made-up kids
    // costs one fetch per cooldown). A key the issuer starts signing with sooner than that is refused meanwhile.
    cooldownMs: envNumber('JWKS_COOLDOWN_MS', 30_000),
  };
}

/**
 * One configuration for signing (HTTP login) and verifying (logout and
 * sockets), so they cannot drift apart. The defaults are the access token's;
 * TokenService overrides audience and lifetime for the refresh token.
 */
export function jwtOptions(): JwtModuleOptions {
  return {
    secret: authSecret(),
    // Each token's jti is set when it is signed (TokenService): it is what logout revokes.
    signOptions: { algorithm: 'HS256', expiresIn: tokenTtlSeconds(), issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE },
    verifyOptions: { algorithms: ['HS256'], issuer: TOKEN_ISSUER, audience: TOKEN_AUDIENCE },
  };
}
