import { Logger } from '@nestjs/common';
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { AuthenticationError, StrategyUnavailableError } from '../auth-errors.js';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import type { AuthContext, AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import { credentialOf, expiryOf, type JwtClaims, rolesAndScopesOf, subjectOf } from '../jwt-claims.js';

/** One identity provider the strategy trusts. */
export interface JwksIssuer {
  /** The `iss` its tokens carry, exactly (for Keycloak, one realm: `https://kc.example.com/realms/acme`). */
  issuer: string;
  /**
   * Its key set. Without it, read once from the issuer's OpenID Connect
   * discovery document (`<issuer>/.well-known/openid-configuration`), whose
   * `issuer` must match.
   */
  jwksUri?: string;
  /** The `aud` its tokens must carry (one of them); overrides the strategy's `audience`. */
  audience?: string | string[];
}

/** How `JwksSocketStrategy` verifies tokens. */
export interface JwksStrategyOptions {
  /** The issuers trusted: a token is verified against the one its `iss` names, and refused for any other. */
  issuers: JwksIssuer | JwksIssuer[];
  /** The `aud` tokens must carry (one of them), unless an issuer says otherwise. Required: a token for another API of the same provider must not pass. */
  audience?: string | string[];
  /**
   * Signature algorithms accepted. Asymmetric only: `none` and the HMAC
   * family (`HS256`…) are refused at start-up, so a public key can never be
   * used as an HMAC secret.
   * @default ['RS256']
   */
  algorithms?: string[];
  /**
   * After a key set was fetched, how long an unknown `kid` is refused without
   * fetching again, in ms: a flood of made-up `kid`s costs at most one fetch
   * per cooldown. A rotated key is picked up at the first unknown `kid` after it.
   * @default 30000
   */
  cooldownMs?: number;
  /**
   * How long a fetch (key set or discovery document) may take, in ms; then
   * `server_error`, not counted against the client. Keep it below the
   * module's `timeout` and `strategyTimeout`, which bound the whole attempt:
   * an attempt cut short by those is the client's `timeout`.
   * @default 750
   */
  timeoutMs?: number;
  /** How long fetched keys are used before the set is fetched again, in ms. @default 600000 */
  cacheMaxAgeMs?: number;
  /** Clock skew allowed on `exp`, `nbf` and `iat`, in seconds. @default 5 */
  clockToleranceSec?: number;
  /** Client ids whose Keycloak `resource_access[id].roles` count as roles. @default the audiences */
  roleClients?: string[];
}

/**
 * Verifies tokens from identity providers (Auth0, Keycloak, Cognito, Entra
 * ID, Okta, Google…) against their published keys (JWKS), with `jose`. Reads
 * `{ token }` (or a bare token string).
 *
 * The principal: `sub` → `id`, `exp` → `expiresAt`, `jti` → `tokenId`,
 * `iat` → `issuedAt`, roles and scopes from `roles`, `realm_access.roles`,
 * `resource_access[client].roles`, `cognito:groups`, `scope` and `scp`, the
 * issuer as `issuer`, and `public: { id }`. Override `validate()` to load the
 * user or shape it, as with `JwtSocketStrategy`.
 *
 * Refusals say nothing of which check failed (`invalid_credentials`, or
 * `expired`); a key set that cannot be reached is `server_error` and costs the
 * client nothing from its failure budget.
 */
export class JwksSocketStrategy implements AuthStrategy {
  protected readonly logger = new Logger('JwksSocketStrategy');
  private readonly issuers = new Map<string, IssuerState>();
  private readonly algorithms: string[];
  private readonly timeoutMs: number;
  private readonly cooldownMs: number;

  constructor(private readonly options: JwksStrategyOptions) {
    const list = Array.isArray(options?.issuers) ? options.issuers : options?.issuers ? [options.issuers] : [];
    if (!list.length) invalid('issuers', 'at least one { issuer, jwksUri? }');
    this.algorithms = options.algorithms ?? ['RS256'];
    if (!Array.isArray(this.algorithms) || !this.algorithms.length) invalid('algorithms', 'a non-empty array');
    const unsafe = this.algorithms.find((a) => typeof a !== 'string' || a === 'none' || /^HS/i.test(a));
    if (unsafe !== undefined)
      invalid('algorithms', `asymmetric algorithms only (not ${JSON.stringify(unsafe)}: no "none", no HS*)`);
    this.timeoutMs = options.timeoutMs ?? 750;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    for (const entry of list) {
      if (!entry || typeof entry.issuer !== 'string' || !isHttpUrl(entry.issuer))
        invalid('issuers', `entries with an http(s) issuer URL (got ${JSON.stringify(entry?.issuer)})`);
      if (entry.jwksUri !== undefined && !isHttpUrl(entry.jwksUri))
        invalid('issuers', `a jwksUri that is an http(s) URL (got ${JSON.stringify(entry.jwksUri)})`);
      const audience = entry.audience ?? options.audience;
      if (audience === undefined || (Array.isArray(audience) && !audience.length))
        invalid('audience', `set for issuer ${entry.issuer} (tokens minted for another API must not pass)`);
      this.issuers.set(entry.issuer, { config: entry, audience: audience! });
    }
  }

  /** Verifies `{ token }` against its issuer's keys, then asks `validate`. */
  async authenticate(credentials: unknown, context: AuthContext): Promise<AuthPrincipal | null | false> {
    const token = tokenOf(credentials);
    if (!token) return null;
    const state = this.issuerOf(token);
    if (!state) return null; // an issuer not trusted: refused without fetching anything
    const claims = await this.verify(token, state);
    const id = subjectOf(claims);
    if (id === undefined) return null;
    const validated = await this.validate(claims, context);
    if (!validated) return null;
    if (typeof validated !== 'object')
      throw new Error('JwksSocketStrategy: validate() must return an object, null or false');
    return { id, ...expiryOf(claims), ...credentialOf(claims), ...validated } as AuthPrincipal;
  }

  /**
   * Maps verified claims to the principal. Override to load the user (return
   * `null` or `false` to refuse, or throw `AuthenticationError`). What you
   * return is laid over `{ id: sub, expiresAt, tokenId, issuedAt }`.
   */
  validate(
    claims: JwtClaims,
    _context: AuthContext,
  ): Partial<AuthPrincipal> | null | false | Promise<Partial<AuthPrincipal> | null | false> {
    const id = subjectOf(claims)!;
    const clients = this.options.roleClients ?? audiences(this.issuers.get(claims.iss as string)?.audience);
    return { id, issuer: claims.iss, ...rolesAndScopesOf(claims, clients), public: { id } };
  }

  /** The trusted issuer a token names, read before verification only to pick the key set. */
  private issuerOf(token: string): IssuerState | undefined {
    try {
      const { iss } = decodeJwt(token);
      return typeof iss === 'string' ? this.issuers.get(iss) : undefined;
    } catch {
      return undefined;
    }
  }

  private async verify(token: string, state: IssuerState): Promise<JwtClaims> {
    const keys = await this.keysOf(state);
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: state.config.issuer,
        audience: state.audience,
        algorithms: this.algorithms,
        clockTolerance: this.options.clockToleranceSec ?? 5,
      });
      return payload as JwtClaims;
    } catch (err) {
      throw this.refusal(err, state);
    }
  }

  /** The client's fault (`invalid_credentials`, `expired`) or the key set's (`StrategyUnavailableError`). */
  private refusal(err: unknown, state: IssuerState): AuthenticationError {
    if (err instanceof errors.JWTExpired) return new AuthenticationError('Token expired', 'expired');
    if (
      err instanceof errors.JWKSTimeout ||
      err instanceof errors.JWKSInvalid ||
      !(err instanceof errors.JOSEError) ||
      err.code === 'ERR_JOSE_GENERIC' // jose's "Expected 200 OK from the JSON Web Key Set HTTP response"
    ) {
      this.logger.warn(`the key set of ${state.config.issuer} could not be used: ${errorName(err)}`);
      return new StrategyUnavailableError();
    }
    // The class only: jose's text names the failed check, which helps whoever forges tokens.
    this.logger.debug?.(`token refused: ${errorName(err)}`);
    return new AuthenticationError();
  }

  /**
   * The issuer's key set: jose's remote set (cached, rotation on an unknown
   * kid with a cooldown). One per issuer, also when first authentications
   * arrive together while the discovery document is being read.
   */
  private keysOf(state: IssuerState): JWTVerifyGetKey | Promise<JWTVerifyGetKey> {
    if (state.keys) return state.keys;
    if (state.config.jwksUri) return (state.keys = this.remoteSet(state.config.jwksUri));
    return this.discover(state).then((uri) => (state.keys ??= this.remoteSet(uri)));
  }

  private remoteSet(uri: string): JWTVerifyGetKey {
    return createRemoteJWKSet(new URL(uri), {
      timeoutDuration: this.timeoutMs,
      cooldownDuration: this.cooldownMs,
      cacheMaxAge: this.options.cacheMaxAgeMs ?? 600_000,
    });
  }

  /** Reads `jwks_uri` from the discovery document, once; a failure is retried after the cooldown at the earliest. */
  private discover(state: IssuerState): Promise<string> {
    const now = Date.now();
    if (state.discovery && !(state.discoveryFailedAt && now - state.discoveryFailedAt >= this.cooldownMs))
      return state.discovery;
    const { issuer } = state.config;
    const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    state.discoveryFailedAt = undefined;
    state.discovery = (async () => {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), redirect: 'error' });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const doc = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
        // OpenID Connect Discovery 1.0, §4.3: the document's issuer must be the one asked about.
        if (doc.issuer !== issuer) throw new Error(`the document names issuer ${JSON.stringify(doc.issuer)}`);
        if (typeof doc.jwks_uri !== 'string' || !isHttpUrl(doc.jwks_uri)) throw new Error('no http(s) jwks_uri');
        return doc.jwks_uri;
      } catch (err) {
        state.discoveryFailedAt = Date.now();
        this.logger.warn(`OpenID Connect discovery for ${issuer} failed: ${(err as Error).message}`);
        throw new StrategyUnavailableError();
      }
    })();
    return state.discovery;
  }
}

interface IssuerState {
  config: JwksIssuer;
  audience: string | string[];
  keys?: JWTVerifyGetKey;
  discovery?: Promise<string>;
  discoveryFailedAt?: number;
}

function tokenOf(credentials: unknown): string | undefined {
  if (typeof credentials === 'string') return credentials || undefined;
  const token = (credentials as { token?: unknown } | null)?.token;
  return typeof token === 'string' && token ? token : undefined;
}

function audiences(audience: string | string[] | undefined): string[] {
  return audience === undefined ? [] : Array.isArray(audience) ? audience : [audience];
}

function isHttpUrl(value: string): boolean {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function errorName(err: unknown): string {
  return err instanceof errors.JOSEError ? err.code : err instanceof Error ? err.name : typeof err;
}

function invalid(option: string, expected: string): never {
  throw new AuthSocketConfigError(
    'AUTH_SOCKET_INVALID_OPTION',
    `JwksSocketStrategy: option "${option}" must be ${expected}`,
  );
}
