import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { JwtSocketStrategy, type JwtClaims } from '../lib/jwt/index.js';
import { TokenService } from './token.service.js';
import { UsersService } from './users.service.js';

/**
 * `{ token }` → the user it was issued to. JwtSocketStrategy has already
 * checked the signature, issuer, audience and expiry with the app's JwtModule;
 * this adds what the token alone cannot say: it was not logged out, and its
 * user still exists (with their current roles).
 */
@Injectable()
export class ChatJwtStrategy extends JwtSocketStrategy {
  constructor(
    jwtService: JwtService,
    private readonly users: UsersService,
    private readonly tokens: TokenService,
  ) {
    super(jwtService);
  }

  override async validate(payload: JwtClaims) {
    if (!(await this.tokens.isUsable(payload))) return null; // → invalid_credentials
    const user = this.users.findById(String(payload.sub));
    if (!user) return null;
    const { id, name, roles } = user;
    // `public` is what the client is sent as `authenticated { user }`: the page shows admin tools from `roles`.
    return { id, name, roles, expiresAt: payload.exp! * 1000, public: { id, name, roles } };
  }
}
