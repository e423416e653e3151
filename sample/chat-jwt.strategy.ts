import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { AuthPrincipal } from '../lib/index.js';
import { JwtSocketStrategy, type JwtClaims } from '../lib/jwt/index.js';
import { verifiedFrom } from './token.service.js';
import { type User, UsersService } from './users.service.js';

/**
 * What the sample's sessions carry: the user as the page sees it (`public`),
 * their roles for the guard and their teams for the room policies (rooms.ts).
 */
export function principalFor(user: User, expiresAt: number | Date | undefined): AuthPrincipal {
  const { id, name, roles, teams } = user;
  // `public` is what the client is sent as `authenticated { user }`: the page shows admin tools from `roles`, and
  // joins the rooms of `teams`.
  return { id, name, roles, teams, expiresAt, public: { id, name, roles, teams } };
}

/**
 * `{ token }` → the user it was issued to. JwtSocketStrategy has already
 * checked the signature, issuer, audience (a refresh token is refused here)
 * and expiry with the app's JwtModule, and maps `jti`/`iat` to the
 * principal's `tokenId`/`issuedAt`, which the library checks against its
 * revocation store (logout, log out everywhere) on every authentication and
 * refresh. This adds what the token alone cannot say: its user still exists,
 * with their current roles, then and every `revalidateInterval` after.
 */
@Injectable()
export class ChatJwtStrategy extends JwtSocketStrategy {
  constructor(
    jwtService: JwtService,
    private readonly users: UsersService,
  ) {
    super(jwtService);
  }

  override validate(payload: JwtClaims) {
    // A token without jti, iat or exp could not be revoked (or would never end): refused.
    const token = verifiedFrom(payload);
    const user = token && this.users.findById(token.userId);
    if (!user) return null; // → invalid_credentials
    // `login` (server-side only, never in `public`): which refresh cookie this session came from, so that signing
    // the device out (POST /auth/sessions/:id/end) can revoke it.
    return { ...principalFor(user, token.expiresAt), ...(token.login ? { login: token.login } : {}) };
  }

  /**
   * The periodic (and on-demand: the admin's team changes call
   * `AuthSocketService.revalidate(id)`) re-check of a live session against
   * the user as they are now: a user who is gone ends it (`invalidated`);
   * changed roles apply from the next guarded handler; changed teams are
   * checked against every policed room of the session, and a room the user
   * lost is left at once with `room_left`. The page hears the new
   * `authenticated { user }`. The session's expiry stays the token's.
   */
  revalidate(principal: AuthPrincipal): AuthPrincipal | null {
    const user = this.users.findById(principal.id);
    return user ? { ...principal, ...principalFor(user, principal.expiresAt) } : null;
  }
}
