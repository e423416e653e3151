/**
 * What a verified JWT's registered claims mean for a principal, shared by
 * every strategy that reads JWTs (`/jwt`, `/jwks`, `/passport`). Pure: no
 * verification in here, only mapping.
 */

/** The registered claims the strategies read; anything else the token carries is passed through. */
export interface JwtClaims {
  /** Subject: becomes the principal's `id`. A number (as in Nest's docs) becomes its decimal string. */
  sub?: string | number;
  /** Expiry, in seconds since the epoch: becomes `expiresAt` in epoch ms. */
  exp?: number;
  iat?: number;
  nbf?: number;
  iss?: string;
  aud?: string | string[];
  jti?: string;
  [claim: string]: unknown;
}

export function subjectOf(claims: JwtClaims): string | undefined {
  const { sub } = claims;
  if (typeof sub === 'string' && sub !== '') return sub;
  if (typeof sub === 'number' && Number.isFinite(sub)) return String(sub);
  return undefined;
}

/** `jti` and `iat`, for the revocation store: `revoke({ tokenId })` and `revoke({ principalId, issuedBefore })`. */
export function credentialOf(claims: JwtClaims): { tokenId?: string; issuedAt?: number } {
  const facts: { tokenId?: string; issuedAt?: number } = {};
  if (typeof claims.jti === 'string' && claims.jti) facts.tokenId = claims.jti;
  if (typeof claims.iat === 'number' && Number.isFinite(claims.iat)) facts.issuedAt = claims.iat * 1000;
  return facts;
}

/** `exp` in epoch ms. */
export function expiryOf(claims: JwtClaims): { expiresAt?: number } {
  return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? { expiresAt: claims.exp * 1000 } : {};
}

/**
 * Roles and scopes from the claims identity providers use, for
 * `@Authenticated({ roles | scopes })` and room policies: `roles` (Auth0
 * custom claims, Entra ID app roles), Keycloak's `realm_access.roles` and
 * `resource_access[clientId].roles`, Cognito's `cognito:groups`; `scope`
 * (space-separated, OAuth) or `scp` (Entra ID: an array or a string).
 */
export function rolesAndScopesOf(
  claims: JwtClaims,
  clientIds: readonly string[] = [],
): {
  roles?: string[];
  scopes?: string[];
} {
  const roles = new Set<string>();
  const add = (list: unknown): void => {
    if (Array.isArray(list)) for (const r of list) if (typeof r === 'string') roles.add(r);
  };
  add(claims.roles);
  add((claims.realm_access as { roles?: unknown } | undefined)?.roles);
  const resources = claims.resource_access as Record<string, { roles?: unknown }> | undefined;
  if (resources && typeof resources === 'object') for (const id of clientIds) add(resources[id]?.roles);
  add(claims['cognito:groups']);
  const scopes = new Set<string>();
  for (const claim of [claims.scope, claims.scp]) {
    if (typeof claim === 'string') claim.split(' ').forEach((s) => s && scopes.add(s));
    else if (Array.isArray(claim)) for (const s of claim) if (typeof s === 'string') scopes.add(s);
  }
  return {
    ...(roles.size ? { roles: [...roles] } : {}),
    ...(scopes.size ? { scopes: [...scopes] } : {}),
  };
}
