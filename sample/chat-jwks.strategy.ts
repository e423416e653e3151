import { Injectable } from '@nestjs/common';
import type { AuthPrincipal } from '../lib/index.js';
import { JwksSocketStrategy, type JwtClaims } from '../lib/jwks/index.js';
import { issuerOptions } from './auth.config.js';
import { principalFor } from './chat-jwt.strategy.js';
import { verifiedFrom } from './token.service.js';
import { UsersService } from './users.service.js';

/**
 * Issuer mode (AUTH_ISSUER): `{ token }` is the identity provider's RS256
 * access token. JwksSocketStrategy has already checked it against the keys
 * the provider publishes (found through its OpenID Connect discovery
 * document: auth.config.ts, issuerOptions), its `iss`, `aud` and expiry, and
 * maps `jti`/`iat` for the revocation store. As ChatJwtStrategy does, this
 * loads the user: the token's `roles` and `teams` are the provider's view,
 * the chat's own (current) ones are UsersService's, then and every
 * `revalidateInterval` after.
 */
@Injectable()
export class ChatJwksStrategy extends JwksSocketStrategy {
  constructor(private readonly users: UsersService) {
    super(issuerOptions());
  }

  override validate(claims: JwtClaims) {
    // A token without jti, iat or exp could not be revoked (or would never end): refused.
    const token = verifiedFrom(claims);
    const user = token && this.users.findById(token.userId);
    if (!user) return null; // → invalid_credentials
    // `login` (the provider's `sid`: the refresh cookie's jti), for signing the device out, as in ChatJwtStrategy.
    return { ...principalFor(user, token.expiresAt), ...(token.login ? { login: token.login } : {}) };
  }

  /** As ChatJwtStrategy.revalidate: the user as they are now, or the session ends (`invalidated`). */
  revalidate(principal: AuthPrincipal): AuthPrincipal | null {
    const user = this.users.findById(principal.id);
    return user ? { ...principal, ...principalFor(user, principal.expiresAt) } : null;
  }
}
