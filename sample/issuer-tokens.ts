import { Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import { hkdfSync } from 'node:crypto';
import {
  compactDecrypt,
  CompactEncrypt,
  createRemoteJWKSet,
  decodeJwt,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { AccessTokens, type NewLogin } from './access-tokens.js';
import { authSecret, issuerOptions, TOKEN_AUDIENCE } from './auth.config.js';
import { authIssuer } from './env.js';
import { verifiedFrom, type VerifiedToken } from './token.service.js';
import { UsersService } from './users.service.js';

/** What the sample reads from the issuer's discovery document. */
interface Discovery {
  jwks_uri: string;
  token_endpoint: string;
}

/** The token endpoint's answer (RFC 6749 §5.1). */
interface TokenResponse {
  access_token: string;
  refresh_token?: string;
}

/** How long a call to the token endpoint may take: a login waits for it. */
const TOKEN_ENDPOINT_TIMEOUT_MS = 5000;

/**
 * Issuer mode (AUTH_ISSUER): access tokens come from the identity provider's
 * token endpoint, server to server, and are RS256 JWTs its published keys
 * verify; the browser never talks to the provider.
 *   - Login: the username and password go to the token endpoint (password
 *     grant). Its access token's `sid` becomes the login's id (the refresh
 *     cookie's `jti`), as in the sample's own mode.
 *   - Refresh: the sample's refresh cookie stays its own (HS256, revocable
 *     like any other), and carries the provider's refresh token sealed
 *     (A256GCM, a key derived from AUTH_SECRET): the page cannot read it, and
 *     a copy of a logged-out cookie, refused here, cannot be taken to the
 *     provider either.
 *   - The provider unreachable: 503, which the page retries; a refusal
 *     (`invalid_grant`): 401.
 * Sockets verify the same tokens with ChatJwksStrategy, with the same options
 * (auth.config.ts, issuerOptions) but their own key cache.
 */
@Injectable()
export class IssuerAccessTokens extends AccessTokens {
  private readonly logger = new Logger('IssuerTokens');
  private readonly options = issuerOptions();
  private readonly issuer = authIssuer()!;
  private discovery?: Promise<Discovery>;
  private keys?: JWTVerifyGetKey;
  private readonly sealKey = new Uint8Array(hkdfSync('sha256', authSecret(), '', 'sample-chat upstream refresh', 32));

  constructor(private readonly users: UsersService) {
    super();
  }

  async login(username: unknown, password: unknown): Promise<NewLogin | undefined> {
    if (typeof username !== 'string' || typeof password !== 'string') return undefined;
    const grant = await this.grant({ grant_type: 'password', username, password });
    if (!grant) return undefined;
    // Read, not verified: it comes straight from the token endpoint; sockets and bearer checks verify it.
    const { sub, sid } = claimsOf(grant.access_token);
    if (typeof sub !== 'string' || typeof sid !== 'string' || !sid || typeof grant.refresh_token !== 'string') {
      this.logger.warn('the token endpoint answered without sub, sid or refresh_token');
      throw new ServiceUnavailableException('The identity provider gave an unusable answer');
    }
    if (!this.users.findById(sub)) return undefined; // a user the provider knows and the chat does not
    return { userId: sub, login: sid, token: grant.access_token, upstream: await this.seal(grant.refresh_token) };
  }

  async next(refresh: VerifiedToken): Promise<string | undefined> {
    const upstream = refresh.upstream && (await this.unseal(refresh.upstream));
    if (!upstream) return undefined; // a cookie from the sample's own mode, or sealed with another AUTH_SECRET
    const grant = await this.grant({ grant_type: 'refresh_token', refresh_token: upstream });
    return grant && claimsOf(grant.access_token).sub === refresh.userId ? grant.access_token : undefined;
  }

  async verify(token: unknown): Promise<VerifiedToken | undefined> {
    if (typeof token !== 'string' || !token) return undefined;
    try {
      const { payload } = await jwtVerify(token, await this.keySet(), {
        issuer: this.issuer,
        audience: TOKEN_AUDIENCE,
        algorithms: this.options.algorithms,
        clockTolerance: 5,
      });
      return verifiedFrom(payload);
    } catch {
      return undefined;
    }
  }

  /** The token endpoint's answer; undefined when it refuses the grant; 503 when it cannot be asked. */
  private async grant(body: Record<string, string>): Promise<TokenResponse | undefined> {
    const { token_endpoint } = await this.discover();
    let res: Response;
    try {
      res = await fetch(token_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(TOKEN_ENDPOINT_TIMEOUT_MS),
        redirect: 'error',
      });
    } catch (err) {
      this.logger.warn(`the token endpoint could not be reached: ${(err as Error).name}`);
      throw new ServiceUnavailableException('The identity provider is unreachable');
    }
    const answer = (await res.json().catch(() => undefined)) as { error?: unknown } | undefined;
    if (res.ok && typeof (answer as Partial<TokenResponse> | undefined)?.access_token === 'string')
      return answer as TokenResponse;
    if (res.status === 400 && answer?.error === 'invalid_grant') return undefined; // wrong password, refresh token over
    this.logger.warn(`the token endpoint answered ${res.status}${answer?.error ? ` ${String(answer.error)}` : ''}`);
    throw new ServiceUnavailableException('The identity provider refused to answer');
  }

  /** The discovery document, read once (again after a failure). Its `issuer` must be AUTH_ISSUER. */
  private discover(): Promise<Discovery> {
    this.discovery ??= (async () => {
      const url = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      const res = await fetch(url, { signal: AbortSignal.timeout(TOKEN_ENDPOINT_TIMEOUT_MS), redirect: 'error' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown; token_endpoint?: unknown };
      if (doc.issuer !== this.issuer) throw new Error(`the document names issuer ${JSON.stringify(doc.issuer)}`);
      if (!isHttpUrl(doc.jwks_uri) || !isHttpUrl(doc.token_endpoint)) throw new Error('no jwks_uri or token_endpoint');
      return { jwks_uri: doc.jwks_uri, token_endpoint: doc.token_endpoint };
    })().catch((err: unknown) => {
      this.discovery = undefined;
      this.logger.warn(`OpenID Connect discovery for ${this.issuer} failed: ${(err as Error).message}`);
      throw new ServiceUnavailableException('The identity provider is unreachable');
    });
    return this.discovery;
  }

  private async keySet(): Promise<JWTVerifyGetKey> {
    return (this.keys ??= createRemoteJWKSet(new URL((await this.discover()).jwks_uri), {
      timeoutDuration: this.options.timeoutMs,
      cooldownDuration: this.options.cooldownMs,
    }));
  }

  private seal(refreshToken: string): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(refreshToken))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .encrypt(this.sealKey);
  }

  private async unseal(sealed: string): Promise<string | undefined> {
    try {
      const { plaintext } = await compactDecrypt(sealed, this.sealKey, {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      return new TextDecoder().decode(plaintext);
    } catch {
      return undefined;
    }
  }
}

/** A token's claims, unverified; none when it is not a JWT. */
function claimsOf(token: string): JWTPayload {
  try {
    return decodeJwt(token);
  } catch {
    return {};
  }
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}
