import { Inject, Injectable, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AuthenticationError, type AuthErrorCode, StrategyUnavailableError } from './auth-errors.js';
import { AuthSocketConfigError } from './auth-socket-config.error.js';
import type { AuthContext, AuthPrincipal, AuthStrategy, RevalidationContext } from './auth-strategy.interface.js';

/** Where `anyStrategy()` finds the strategy to use: a field of the credentials, or each in turn. */
export type StrategyChoice =
  /** `credentials[field]` names the strategy (`{ type: 'device', key }`); another value is `invalid_credentials`. */
  | { field: string }
  /** Each strategy in the order declared, until one accepts. */
  | 'in-order';

/** The name of the strategy that authenticated a principal, on `principal.authStrategy`. */
export const AUTH_STRATEGY_FIELD = 'authStrategy';

/**
 * One `strategy` from several, so a socket may authenticate in more than one
 * way (a JWT for the web app, an API key for devices):
 *
 * ```ts
 * AuthSocketModule.forRoot({ strategy: anyStrategy({ web: JwtSocketStrategy, device: ApiKeyStrategy }, { field: 'type' }) })
 * ```
 *
 * With `{ field }` the credentials name their strategy; with `'in-order'`
 * each is tried until one accepts, and a refusal is the first refusal other
 * than `invalid_credentials` (`expired`, say), else `invalid_credentials`.
 * Either way it is one attempt: the failure budget counts one failure, not
 * one per strategy. A strategy that is unavailable (`StrategyUnavailableError`)
 * is skipped in order, and reported as such if nothing accepted. The
 * principal carries the name in `authStrategy`, and `revalidate()` goes to
 * that strategy. Strategies are classes (instantiated with the app's
 * injector) or instances; all must read the `authentication` message (no
 * `source: 'request'`).
 */
export function anyStrategy(
  strategies: Record<string, Type<AuthStrategy> | AuthStrategy>,
  choice: StrategyChoice = 'in-order',
): Type<AuthStrategy> {
  const entries = Object.entries(strategies ?? {});
  if (!entries.length)
    throw new AuthSocketConfigError('AUTH_SOCKET_INVALID_STRATEGY', 'anyStrategy() needs at least one strategy');
  if (choice !== 'in-order' && !(typeof choice === 'object' && typeof choice?.field === 'string' && choice.field))
    throw new AuthSocketConfigError(
      'AUTH_SOCKET_INVALID_OPTION',
      `anyStrategy(): the choice must be 'in-order' or { field: string } (got ${JSON.stringify(choice)})`,
    );

  @Injectable()
  class AnyStrategy implements AuthStrategy {
    private resolved?: Map<string, AuthStrategy>;

    constructor(@Inject(ModuleRef) private readonly moduleRef: ModuleRef) {}

    async authenticate(credentials: unknown, context: AuthContext): Promise<AuthPrincipal | null | false> {
      const members = await this.members();
      if (choice !== 'in-order') {
        const name = (credentials as Record<string, unknown> | null)?.[choice.field];
        const member = typeof name === 'string' ? members.get(name) : undefined;
        if (!member) return null;
        return tagged(await member.authenticate(credentials, context), name as string);
      }
      let refusal: AuthErrorCode | undefined;
      let unavailable: StrategyUnavailableError | undefined;
      for (const [name, member] of members) {
        try {
          const principal = await member.authenticate(credentials, context);
          if (principal) return tagged(principal, name);
        } catch (err) {
          if (err instanceof StrategyUnavailableError) unavailable ??= err;
          else if (err instanceof AuthenticationError) {
            if (err.code !== 'invalid_credentials') refusal ??= err.code;
          } else throw err;
        }
      }
      if (refusal) throw new AuthenticationError(undefined, refusal);
      if (unavailable) throw unavailable;
      return null;
    }

    async revalidate(principal: AuthPrincipal, context: RevalidationContext): Promise<AuthPrincipal | null | false> {
      const name = principal[AUTH_STRATEGY_FIELD];
      const member = typeof name === 'string' ? (await this.members()).get(name) : undefined;
      if (!member) return null; // a principal no strategy of this set made
      if (!member.revalidate) return principal;
      return tagged(await member.revalidate(principal, context), name as string);
    }

    private async members(): Promise<Map<string, AuthStrategy>> {
      if (this.resolved) return this.resolved;
      const resolved = new Map<string, AuthStrategy>();
      for (const [name, given] of entries) {
        const member =
          typeof given === 'function' ? await this.instanceOf(given as Type<AuthStrategy>) : (given as AuthStrategy);
        if (typeof member?.authenticate !== 'function')
          throw new AuthSocketConfigError(
            'AUTH_SOCKET_INVALID_STRATEGY',
            `anyStrategy(): "${name}" has no authenticate()`,
          );
        if (member.source === 'request')
          throw new AuthSocketConfigError(
            'AUTH_SOCKET_INVALID_STRATEGY',
            `anyStrategy(): "${name}" reads the handshake request (source 'request'); only message strategies combine`,
          );
        resolved.set(name, member);
      }
      return (this.resolved = resolved);
    }

    /** The app's provider of that class if there is one, else a new instance with its dependencies injected. */
    private async instanceOf(type: Type<AuthStrategy>): Promise<AuthStrategy> {
      try {
        return this.moduleRef.get(type, { strict: false });
      } catch {
        return this.moduleRef.create(type);
      }
    }
  }
  Object.defineProperty(AnyStrategy, 'name', { value: `AnyStrategy(${entries.map(([n]) => n).join(', ')})` });
  return AnyStrategy;
}

function tagged(principal: AuthPrincipal | null | false, name: string): AuthPrincipal | null | false {
  return principal ? { ...principal, [AUTH_STRATEGY_FIELD]: name } : principal;
}
