/**
 * A tiny OpenID Connect-style identity provider for the sample's issuer mode:
 * `npm run sample:issuer` (ISSUER_PORT, default 4000) in one terminal, then
 * `AUTH_ISSUER=http://localhost:4000 npm start` in another. Plain node:http
 * and jose, no Nest.
 *
 *   GET  /.well-known/openid-configuration   { issuer, jwks_uri, token_endpoint, … }
 *   GET  /jwks                                the public keys: the signing key, and the one before it
 *   POST /token { username, password }        { access_token, token_type, expires_in, refresh_token }
 *   POST /token { grant_type: 'refresh_token', refresh_token }   { access_token, token_type, expires_in }
 *   POST /rotate                              a new signing key, for demos; from loopback only
 *
 * `/token` takes JSON or a form (`application/x-www-form-urlencoded`), and
 * checks the sample's demo users (users.data.ts). Access tokens are RS256
 * JWTs: `iss`, `aud` (`sample-chat`), `sub`, `sid` (the login: the same for
 * every token of one password login), `iat`, `exp` (TOKEN_TTL_SECONDS, 5 min,
 * like the sample's own), `jti`, `roles`, `teams`. The roles and teams are
 * the demo data's: the sample reads the user's current ones itself.
 *
 * Keys and refresh tokens live in memory: a restart makes new keys, and the
 * refresh tokens of the old process are refused. A demo, not an identity
 * provider: no clients, no consent, no rate limits, no TLS.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK, SignJWT } from 'jose';
import { envNumber } from './env.js';
import { checkPassword, DEMO_USERS, type User } from './users.data.js';

export interface IssuerOptions {
  /** Default: ISSUER_PORT, else 4000. `0`: any free port. */
  port?: number;
  /** The address to listen on. Default: every interface, as the sample does. */
  host?: string;
  /** The `iss` of its tokens, and the base of every URL it publishes. Default: `http://localhost:<port>` (`http://<host>:<port>` with `host`). */
  issuer?: string;
  /** The `aud` of its access tokens: the sample's (auth.config.ts, TOKEN_AUDIENCE). @default 'sample-chat' */
  audience?: string;
  /** Where its log lines go. @default console.log */
  log?: (line: string) => void;
}

export interface RunningIssuer {
  /** The `iss` of its tokens: what the sample's AUTH_ISSUER must be, exactly. */
  readonly issuer: string;
  /** The `kid` of the key that signs now. */
  readonly kid: string;
  /** A new signing key; the previous one stays published, so tokens it signed still verify. Its `kid`. */
  rotate(): Promise<string>;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

/** A refresh token's login: who, which login (`sid`), until when (epoch ms). */
interface RefreshGrant {
  sub: string;
  sid: string;
  expiresAt: number;
}

const MAX_BODY = 16 * 1024;
/** Refresh tokens kept at most; the oldest go first. */
const MAX_REFRESH_TOKENS = 10_000;

class TokenError extends Error {
  constructor(
    readonly error: 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type',
    readonly description: string,
  ) {
    super(description);
  }
}

export async function startIssuer(options: IssuerOptions = {}): Promise<RunningIssuer> {
  const log = options.log ?? ((line: string) => console.log(line));
  const audience = options.audience ?? 'sample-chat';
  const accessTtl = envNumber('TOKEN_TTL_SECONDS', 300, 1);
  const refreshTtl = envNumber('REFRESH_TTL_SECONDS', 7 * 24 * 3600, 1);
  /** The signing key first, then the one before it (tokens it signed stay verifiable until they expire). */
  let keys: SigningKey[] = [await newKey()];
  const refreshTokens = new Map<string, RefreshGrant>();
  let issuer = '';

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log(`issuer: ${req.method} ${req.url} failed: ${(err as Error)?.message ?? err}`);
      if (!res.headersSent) json(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 2000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://issuer.invalid').pathname;
    switch (`${req.method} ${path}`) {
      case 'GET /.well-known/openid-configuration':
        return json(res, 200, {
          issuer,
          jwks_uri: `${base()}/jwks`,
          token_endpoint: `${base()}/token`,
          grant_types_supported: ['password', 'refresh_token'],
          token_endpoint_auth_methods_supported: ['none'],
          id_token_signing_alg_values_supported: ['RS256'],
          response_types_supported: [],
        });
      case 'GET /jwks':
        return json(res, 200, { keys: keys.map((k) => k.jwk) });
      case 'POST /token':
        try {
          return json(res, 200, await token(await readBody(req)), { 'cache-control': 'no-store' });
        } catch (err) {
          if (!(err instanceof TokenError)) throw err;
          // RFC 6749 §5.2: every refusal of the token endpoint is a 400 with an `error` code.
          return json(
            res,
            400,
            { error: err.error, error_description: err.description },
            { 'cache-control': 'no-store' },
          );
        }
      case 'POST /rotate': {
        if (!fromLoopback(req)) return json(res, 403, { error: 'forbidden' });
        return json(res, 200, { kid: await rotate() });
      }
      default:
        return json(res, 404, { error: 'not_found' });
    }
  }

  /** The token endpoint: a password login, or a refresh token traded for a new access token of the same login. */
  async function token(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const grant = body.grant_type ?? 'password';
    if (grant === 'password') {
      if (typeof body.username !== 'string' || typeof body.password !== 'string')
        throw new TokenError('invalid_request', 'username and password are required');
      const user = checkPassword(body.username, body.password);
      if (!user) throw new TokenError('invalid_grant', 'Wrong username or password');
      const sid = randomUUID();
      const refresh = randomBytes(32).toString('base64url');
      remember(refresh, { sub: user.id, sid, expiresAt: Date.now() + refreshTtl * 1000 });
      return { ...(await access(user, sid)), refresh_token: refresh };
    }
    if (grant === 'refresh_token') {
      if (typeof body.refresh_token !== 'string') throw new TokenError('invalid_request', 'refresh_token is required');
      const login = refreshTokens.get(body.refresh_token);
      const user = login && login.expiresAt > Date.now() ? DEMO_USERS.find((u) => u.id === login.sub) : undefined;
      if (!login || !user) throw new TokenError('invalid_grant', 'Unknown or expired refresh token');
      return access(user, login.sid);
    }
    throw new TokenError('unsupported_grant_type', 'password or refresh_token');
  }

  async function access(user: Readonly<User>, sid: string): Promise<Record<string, unknown>> {
    const [key] = keys;
    const now = Math.floor(Date.now() / 1000);
    const accessToken = await new SignJWT({ client_id: audience, sid, roles: user.roles, teams: user.teams })
      // RFC 9068's type for JWT access tokens.
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(user.id)
      .setIssuedAt(now)
      .setExpirationTime(now + accessTtl)
      .setJti(randomUUID())
      .sign(key.privateKey);
    return { access_token: accessToken, token_type: 'Bearer', expires_in: accessTtl };
  }

  function remember(refresh: string, login: RefreshGrant): void {
    const now = Date.now();
    for (const [token, { expiresAt }] of refreshTokens) if (expiresAt <= now) refreshTokens.delete(token);
    while (refreshTokens.size >= MAX_REFRESH_TOKENS) refreshTokens.delete(refreshTokens.keys().next().value!);
    refreshTokens.set(refresh, login);
  }

  async function rotate(): Promise<string> {
    keys = [await newKey(), keys[0]];
    log(`issuer: signing with key ${keys[0].kid} (key ${keys[1].kid} stays published)`);
    return keys[0].kid;
  }

  const base = (): string => issuer.replace(/\/+$/, '');

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? envNumber('ISSUER_PORT', 4000), options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host ? (options.host.includes(':') ? `[${options.host}]` : options.host) : 'localhost';
  issuer = options.issuer ?? `http://${host}:${port}`;
  log(`issuer on ${issuer} (run the sample with AUTH_ISSUER=${issuer})`);

  return {
    issuer,
    get kid() {
      return keys[0].kid;
    },
    rotate,
    close: async () => {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** An RS256 key pair; its `kid` is the public key's JWK thumbprint (RFC 7638). */
async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, jwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

/** A JSON or form body, at most MAX_BODY bytes. */
async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new TokenError('invalid_request', 'body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  if (!type.startsWith('application/json')) throw new TokenError('invalid_request', 'send JSON or a form');
  try {
    const body: unknown = JSON.parse(text);
    if (body && typeof body === 'object' && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // refused below
  }
  throw new TokenError('invalid_request', 'the body must be a JSON object');
}

function fromLoopback(req: IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? '';
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

// `node dist/sample/issuer.js` (npm run sample:issuer); importing the file starts nothing.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const running = await startIssuer();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void running.close());
}
