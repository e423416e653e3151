import { Injectable, Module } from '@nestjs/common';
import { AuthenticationError, type AuthContext, type AuthPrincipal, type AuthStrategy } from '../../lib/index.js';

/** Demo users for tests: token → principal. */
@Injectable()
export class UsersRepository {
  private readonly tokens = new Map<string, string>([
    ['alice-token', 'alice'],
    ['bob-token', 'bob'],
  ]);

  findByToken(token: unknown): string | undefined {
    return typeof token === 'string' ? this.tokens.get(token) : undefined;
  }
}

/**
 * Accepts `{ token }` of a known user. `delayMs` on the credentials slows it
 * down; `expiresAt` (epoch ms or ISO string) sets the principal's expiry, and
 * `expiresInMs` sets it relative to when the strategy answers, so a busy
 * machine cannot make it pass before the session exists.
 */
@Injectable()
export class TokenStrategy implements AuthStrategy {
  calls = 0;
  contexts: AuthContext[] = [];

  constructor(private readonly users: UsersRepository) {}

  async authenticate(credentials: any, context: AuthContext): Promise<AuthPrincipal | null> {
    this.calls++;
    this.contexts.push(context);
    if (credentials.delayMs) await new Promise((r) => setTimeout(r, credentials.delayMs));
    if (credentials.throw === 'plain') throw new Error(`database exploded near ${credentials.token}`);
    if (credentials.throw === 'auth') throw new AuthenticationError('Account locked');
    const id = this.users.findByToken(credentials.token);
    if (!id) return null;
    return {
      id,
      public: { id, name: id[0].toUpperCase() + id.slice(1) },
      ...(credentials.expiresInMs ? { expiresAt: Date.now() + credentials.expiresInMs } : {}),
      ...(credentials.expiresAt
        ? {
            expiresAt:
              typeof credentials.expiresAt === 'string' ? new Date(credentials.expiresAt) : credentials.expiresAt,
          }
        : {}),
    };
  }
}

@Module({ providers: [UsersRepository], exports: [UsersRepository] })
export class UsersModule {}

/** The usual forRoot options of these tests: the token strategy with its users module. */
export const tokenAuth = { strategy: TokenStrategy, imports: [UsersModule] };
