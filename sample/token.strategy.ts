import { Injectable } from '@nestjs/common';
import type { AuthPrincipal, AuthStrategy } from '../lib/index.js';
import { TokenService } from './token.service.js';
import { UsersService } from './users.service.js';

/** The sample's custom strategy: `{ token }` → the user it was issued to. */
@Injectable()
export class TokenStrategy implements AuthStrategy {
  constructor(
    private readonly tokens: TokenService,
    private readonly users: UsersService,
  ) {}

  async authenticate(credentials: unknown): Promise<AuthPrincipal | null> {
    const verified = await this.tokens.verify((credentials as { token?: unknown }).token);
    const user = verified && this.users.findById(verified.userId);
    if (!verified || !user) return null;
    return { id: user.id, name: user.name, expiresAt: verified.expiresAt, public: { id: user.id, name: user.name } };
  }
}
