import type { ExecutionContext } from '@nestjs/common';
import type { AuthPrincipal } from './auth-strategy.interface.js';

/** Decides whether an authenticated principal may run a handler. */
export type AuthPredicate = (principal: AuthPrincipal, context: ExecutionContext) => boolean | Promise<boolean>;

/**
 * What `@Authenticated()` may ask of the principal beyond being authenticated.
 * - `roles`: the principal's `roles` (string array) holds at least one of them.
 * - `scopes`: the principal's `scopes` (string array) or `scope` (space-separated,
 *   as in OAuth) holds every one of them.
 * - a predicate: anything else, for example ownership of a resource.
 */
export type AuthRequirement = { roles?: readonly string[]; scopes?: readonly string[] } | AuthPredicate;

/** Whether the principal meets the requirement (`true` meaning "authenticated is enough"). */
export function meets(
  requirement: AuthRequirement | true,
  principal: AuthPrincipal,
  context: ExecutionContext,
): boolean | Promise<boolean> {
  if (requirement === true) return true;
  if (typeof requirement === 'function') return requirement(principal, context);
  return holdsRequirement(requirement, principal);
}

/** Whether the principal holds the roles (at least one) and scopes (every one) asked for. */
export function holdsRequirement(
  { roles, scopes }: { roles?: readonly string[]; scopes?: readonly string[] },
  principal: AuthPrincipal,
): boolean {
  if (roles?.length) {
    const held = Array.isArray(principal.roles) ? principal.roles : [];
    if (!roles.some((role) => held.includes(role))) return false;
  }
  if (scopes?.length) {
    const held = Array.isArray(principal.scopes)
      ? principal.scopes
      : typeof principal.scope === 'string'
        ? principal.scope.split(' ')
        : [];
    if (!scopes.every((scope) => held.includes(scope))) return false;
  }
  return true;
}
