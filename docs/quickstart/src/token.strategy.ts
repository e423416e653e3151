// src/token.strategy.ts
import { Injectable } from '@nestjs/common';
import type { AuthPrincipal, AuthStrategy } from 'nestjs-socket-auth';

/** Demo tokens. A real app verifies a JWT here (see the JWT recipe) or asks its session store. */
const TOKENS = new Map<string, AuthPrincipal>([
  ['alice-token', { id: 'alice', roles: ['admin'] }],
  ['bob-token', { id: 'bob', roles: [] }],
]);

@Injectable()
export class TokenStrategy implements AuthStrategy {
  /** What the client sent in `authentication`. Return a principal to accept, or null to refuse. */
  authenticate(credentials: unknown): AuthPrincipal | null {
    const token = (credentials as { token?: unknown } | null)?.token;
    return typeof token === 'string' ? (TOKENS.get(token) ?? null) : null;
  }
}
