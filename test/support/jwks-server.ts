/**
 * A tiny identity provider on loopback for the JwksSocketStrategy tests: it
 * publishes a JSON Web Key Set and an OpenID Connect discovery document,
 * signs tokens with real `jose` keys, counts every fetch, rotates keys, and
 * can go down in the ways a real one does (refusing connections, answering
 * 500, or hanging).
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT, type CryptoKey } from 'jose';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

/** `up`: answers; `error`: HTTP 500 to everything; `hang`: accepts the request and never answers. */
export type KeyServerMode = 'up' | 'error' | 'hang';

export interface KeyServerOptions {
  /** The path of the issuer under the server's origin (Keycloak style); default `/realms/<random>`. */
  issuerPath?: string;
  /** What the discovery document says its issuer is (default: the real one). */
  discoveryIssuer?: string;
}

export interface RequestSeen {
  path: string;
  mode: KeyServerMode;
  /** Date.now() when it arrived. */
  at: number;
}

/** RS256 keys are slow to make (2048-bit RSA): made once per process and handed out in turn. */
const spareKeys: Promise<SigningKey>[] = [];
export function newSigningKey(): Promise<SigningKey> {
  return spareKeys.shift() ?? makeKey();
}
/** Makes `n` keys in the background, so a test that rotates does not wait for RSA generation. */
export function prepareKeys(n: number): void {
  for (let i = 0; i < n; i++) spareKeys.push(makeKey());
}
async function makeKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicKey, jwk };
}

export class KeyServer extends EventEmitter {
  mode: KeyServerMode = 'up';
  /** The keys the set publishes; the first one signs. */
  published: SigningKey[];
  /** What the discovery document names as its issuer. */
  discoveryIssuer: string;
  /** Every request seen, in order. */
  readonly requests: RequestSeen[] = [];
  private readonly hung = new Set<ServerResponse>();
  /** Discovery answers waiting for `hold()`'s release. */
  private held?: Array<() => void>;
  private server: Server;
  private port = 0;
  private readonly issuerPath: string;

  private constructor(key: SigningKey, options: KeyServerOptions) {
    super();
    this.published = [key];
    this.issuerPath = options.issuerPath ?? `/realms/${randomUUID().slice(0, 8)}`;
    this.discoveryIssuer = options.discoveryIssuer ?? '';
    this.server = this.makeServer();
  }

  static async start(options: KeyServerOptions = {}): Promise<KeyServer> {
    const server = new KeyServer(await newSigningKey(), options);
    await server.listen();
    server.discoveryIssuer ||= server.issuer;
    return server;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get issuer(): string {
    return `${this.origin}${this.issuerPath}`;
  }
  get jwksUri(): string {
    return `${this.issuer}/protocol/openid-connect/certs`;
  }
  get discoveryUri(): string {
    return `${this.issuer}/.well-known/openid-configuration`;
  }
  get signingKey(): SigningKey {
    return this.published[0];
  }
  get listening(): boolean {
    return this.server.listening;
  }

  /** Fetches of the key set so far. */
  get jwksFetches(): number {
    return this.requests.filter((r) => r.path === new URL(this.jwksUri).pathname).length;
  }
  /** Fetches of the discovery document so far. */
  get discoveryFetches(): number {
    return this.requests.filter((r) => r.path === new URL(this.discoveryUri).pathname).length;
  }

  /** Resolves at the `n`th request (counted from the server's start), at once if it was already seen. */
  request(n: number, ms = 5000): Promise<RequestSeen> {
    if (this.requests.length >= n) return Promise.resolve(this.requests[n - 1]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('request', onRequest);
        reject(new Error(`key server: no request #${n} within ${ms} ms (saw ${this.requests.length})`));
      }, ms);
      const onRequest = (): void => {
        if (this.requests.length < n) return;
        clearTimeout(timer);
        this.off('request', onRequest);
        resolve(this.requests[n - 1]);
      };
      this.on('request', onRequest);
    });
  }

  /**
   * Publishes a new key, which signs from now on. `keepOld`: the old one stays
   * in the set (a graceful rotation); otherwise it is withdrawn at once.
   */
  async rotate(keepOld = false): Promise<SigningKey> {
    const key = await newSigningKey();
    this.published = keepOld ? [key, ...this.published] : [key];
    return key;
  }

  /**
   * Discovery requests that arrive from now on are counted but answered only
   * when the returned function is called: to line up concurrent attempts
   * behind one slow discovery document.
   */
  holdDiscovery(): () => void {
    const held: Array<() => void> = (this.held = []);
    return () => {
      if (this.held === held) this.held = undefined;
      held.splice(0).forEach((answer) => answer());
    };
  }

  setMode(mode: KeyServerMode): void {
    this.mode = mode;
    if (mode !== 'hang') this.releaseHung();
  }

  /** A token from this issuer, signed by `key` (default: the current signing key), `iss` preset. */
  sign(
    claims: JWTPayload,
    options: { key?: SigningKey; kid?: string | null; expiresIn?: number } = {},
  ): Promise<string> {
    const key = options.key ?? this.signingKey;
    const now = Math.floor(Date.now() / 1000);
    const header = options.kid === null ? { alg: 'RS256' } : { alg: 'RS256', kid: options.kid ?? key.kid };
    return new SignJWT({ iss: this.issuer, iat: now, exp: now + (options.expiresIn ?? 300), ...claims })
      .setProtectedHeader({ ...header, typ: 'JWT' })
      .sign(key.privateKey);
  }

  /** The signing key's public key as PEM (SPKI): what an alg-confusion attacker would use as an HMAC secret. */
  publicPem(): Promise<string> {
    return exportSPKI(this.signingKey.publicKey);
  }

  /** Stops listening and drops every connection: fetches are refused until `listen()` again (same port). */
  async stop(): Promise<void> {
    if (!this.server.listening) return;
    this.releaseHung();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** (Re)starts on the same port as before, or a free one the first time. */
  async listen(): Promise<void> {
    if (this.server.listening) return;
    this.server = this.makeServer();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return this.stop();
  }

  private releaseHung(): void {
    for (const response of this.hung) response.destroy();
    this.hung.clear();
  }

  private makeServer(): Server {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 1000;
    return server;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', this.origin).pathname;
    const seen = { path, mode: this.mode, at: Date.now() };
    this.requests.push(seen);
    this.emit('request', seen);
    if (this.mode === 'hang') {
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    if (this.mode === 'error') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    const json = (body: unknown): void =>
      void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (path === new URL(this.jwksUri).pathname) return json({ keys: this.published.map((k) => k.jwk) });
    if (path === new URL(this.discoveryUri).pathname) {
      const answer = (): void =>
        json({
          issuer: this.discoveryIssuer,
          jwks_uri: this.jwksUri,
          id_token_signing_alg_values_supported: ['RS256'],
        });
      return void (this.held ? this.held.push(answer) : answer());
    }
    res.writeHead(404).end();
  }
}
