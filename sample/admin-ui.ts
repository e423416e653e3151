/**
 * The Socket.IO Admin UI (`@socket.io/admin-ui`) on the sample's server, in
 * two locked rooms:
 *
 *   - The UI's files, at `/admin-ui/`, only for an admin's browser: the page's
 *     "Admin UI" button calls `POST /admin/ui-session` with the admin's bearer
 *     access token, which sets a short-lived httpOnly cookie for `/admin-ui`
 *     only; each file is served against that cookie, and the user must still
 *     be an admin, and the login it came from not logged out.
 *   - The `/admin` namespace the UI connects to: `instrument()`'s basic
 *     credentials (ADMIN_UI_USERNAME, a bcrypt hash of the password). The
 *     module never gates it (`publicNamespaces: ['/admin']` in app.module.ts),
 *     so its sockets are not timed out for not sending `authentication`.
 *
 * What the UI shows of a chat socket is `socket.data`: the module's
 * `socket.data.auth` (state, session id, principal id, the principal's public
 * view, times), never the whole principal. In development mode it also shows
 * every event a socket receives: the `authentication` event's credentials,
 * and the gateway's own `socket.data.credentials`, are taken out before they
 * reach the UI (redactForUi).
 */
import {
  Controller,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  Injectable,
  Logger,
  NotFoundException,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Post,
  Req,
  Res,
  UnauthorizedException,
} from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import { instrument } from '@socket.io/admin-ui';
import { createRequire } from 'node:module';
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { dirname, extname, join, relative, sep } from 'node:path';
import type { Namespace, Socket } from 'socket.io';
import { AuthSocketService } from '../lib/index.js';
import type { JwtClaims } from '../lib/jwt/index.js';
import { fromOwnPage, readCookie } from './cookies.js';
import { CredentialsService } from './credentials.service.js';
import { UsersService } from './users.service.js';

/** The namespace `instrument()` creates, listed in the module's `publicNamespaces`. */
export const ADMIN_NAMESPACE = '/admin';
/** The cookie that lets an admin's browser load the UI's files: httpOnly, SameSite=Strict, Path=/admin-ui. */
export const ADMIN_UI_COOKIE = 'sample_admin_ui';
/** Its JWT's audience: accepted nowhere else, as no other token is accepted here. */
export const ADMIN_UI_AUDIENCE = 'sample-admin-ui';
const PATH = '/admin-ui';
/** How long the UI cookie and a UI session (its reconnects without the password) last. */
export const ADMIN_UI_TTL_SECONDS = 30 * 60;
/** Password checks (bcrypt, deliberately slow) per client address per minute on `/admin`. */
const PASSWORD_CHECKS_PER_MINUTE = 10;

const requireHere = createRequire(import.meta.url);
/** The admin UI package's own directory: its built UI, and the bcryptjs it compares passwords with. */
const ADMIN_UI_PACKAGE = requireHere.resolve('@socket.io/admin-ui');
const UI_DIST = join(dirname(ADMIN_UI_PACKAGE), '..', 'ui', 'dist');

/** What `instrument()` is given, settled once at start (AdminUiOptions.create). */
export interface AdminUiConfig {
  username: string;
  /** A bcrypt hash: `instrument()` refuses anything else. */
  passwordHash: string;
  /** 'development' lists every socket and event; 'production' sends aggregated counts only. */
  mode: 'development' | 'production';
  /** No emit, join, leave or disconnect from the UI. */
  readonly: boolean;
}

/**
 * The Admin UI settings from the environment, or none (the UI is off: no
 * `/admin` namespace, `/admin-ui` answers 404):
 *   - ADMIN_UI=off: off.
 *   - ADMIN_UI_USERNAME (default `admin`) and ADMIN_UI_PASSWORD_HASH (a
 *     bcrypt hash) or ADMIN_UI_PASSWORD (hashed here, at start).
 *   - Neither password: a random one, logged once, in development; in
 *     production (NODE_ENV=production) the UI stays off.
 * NODE_ENV=production also means `mode: 'production'` (aggregated counts, no
 * socket list, no event log) and read-only.
 */
@Injectable()
export class AdminUiOptions {
  private constructor(readonly config: AdminUiConfig | undefined) {}

  static async create(): Promise<AdminUiOptions> {
    const logger = new Logger('AdminUi');
    if (process.env.ADMIN_UI === 'off') return new AdminUiOptions(undefined);
    const production = process.env.NODE_ENV === 'production';
    const username = process.env.ADMIN_UI_USERNAME || 'admin';
    let passwordHash = process.env.ADMIN_UI_PASSWORD_HASH;
    if (!passwordHash) {
      let password = process.env.ADMIN_UI_PASSWORD;
      if (!password) {
        if (production) {
          logger.warn('the Admin UI is off: set ADMIN_UI_PASSWORD_HASH (a bcrypt hash) to turn it on');
          return new AdminUiOptions(undefined);
        }
        password = randomBytes(12).toString('base64url');
        logger.warn(
          `ADMIN_UI_PASSWORD is not set: the Admin UI (${PATH}/, admins only) takes ${username} / ${password} until this process ends`,
        );
      }
      // The salt now, while this call runs: bcryptjs loads node:crypto lazily, at the first random bytes it needs.
      const { genSaltSync, hash } = bcrypt();
      passwordHash = await hash(password, genSaltSync(10));
    }
    return new AdminUiOptions({
      username,
      passwordHash,
      mode: production ? 'production' : 'development',
      readonly: production,
    });
  }
}

/**
 * For `npm run start:cluster`'s primary, before it forks: one random Admin UI
 * password for every worker (each would otherwise make and log its own, and
 * the UI reaches one of them), logged once. Nothing when a password is set,
 * the UI is off, or in production.
 */
export function shareAdminUiPassword(logger: Logger): void {
  const { ADMIN_UI, ADMIN_UI_PASSWORD, ADMIN_UI_PASSWORD_HASH, NODE_ENV } = process.env;
  if (ADMIN_UI === 'off' || ADMIN_UI_PASSWORD || ADMIN_UI_PASSWORD_HASH || NODE_ENV === 'production') return;
  process.env.ADMIN_UI_PASSWORD = randomBytes(12).toString('base64url');
  logger.warn(
    `ADMIN_UI_PASSWORD is not set: the Admin UI (${PATH}/, admins only) takes ${process.env.ADMIN_UI_USERNAME || 'admin'} / ${process.env.ADMIN_UI_PASSWORD} on every worker until the cluster stops`,
  );
}

/**
 * The bcryptjs that `@socket.io/admin-ui` compares passwords with, loaded
 * from that package's own dependencies: the sample declares no second copy.
 */
function bcrypt(): { genSaltSync(rounds: number): string; hash(password: string, salt: string): Promise<string> } {
  return createRequire(ADMIN_UI_PACKAGE)('bcryptjs');
}

/**
 * Sessions of the UI (what lets it reconnect without the password), for
 * ADMIN_UI_TTL_SECONDS. The package's InMemoryStore keeps them until the
 * process ends, in a UI's localStorage the whole time.
 */
class ExpiringSessions {
  private readonly sessions = new Map<string, number>();

  doesSessionExist(id: string): Promise<boolean> {
    const until = this.sessions.get(id);
    if (until !== undefined && until <= Date.now()) this.sessions.delete(id);
    return Promise.resolve(until !== undefined && until > Date.now());
  }

  saveSession(id: string): void {
    const now = Date.now();
    for (const [known, until] of this.sessions) if (until <= now) this.sessions.delete(known);
    this.sessions.set(id, now + ADMIN_UI_TTL_SECONDS * 1000);
  }
}

/**
 * The `/admin` namespace as a gateway of its own, and `instrument()` on its
 * server once the gateways are bound. In every process that runs the
 * AppModule: `npm start`, each `npm run start:cluster` worker (each its own
 * server in the UI), the tests.
 *
 * A gateway, not a bare `io.of('/admin')`: the module meets namespaces
 * through their gateways. One it never met has none of its admission (the
 * per-address caps) and, worse, counts as nothing worth keeping a connection
 * open for, so the UI's connection would be closed as idle `timeout` after it
 * opened, again after every reconnect. As a gateway listed in
 * `publicNamespaces`, it is a public namespace like `/status`.
 */
@WebSocketGateway({ namespace: ADMIN_NAMESPACE })
export class AdminUiGateway implements OnApplicationBootstrap, OnApplicationShutdown {
  @WebSocketServer() admin!: Namespace;
  /** What instrument() started and never stops: its server_stats interval. */
  private timers: ReturnType<typeof setInterval>[] = [];

  constructor(private readonly options: AdminUiOptions) {}

  onApplicationBootstrap(): void {
    const config = this.options.config;
    if (!config) return void this.admin.use((_socket, next) => next(new Error('the Admin UI is off')));
    // Before instrument()'s own middleware, which runs bcrypt for every attempt with the right username.
    this.admin.use(limitPasswordChecks(config.username));
    redactForUi(this.admin);
    this.timers = startedBy(() =>
      instrument(this.admin.server, {
        namespaceName: ADMIN_NAMESPACE,
        auth: { type: 'basic', username: config.username, password: config.passwordHash },
        mode: config.mode,
        readonly: config.readonly,
        store: new ExpiringSessions(),
      }),
    );
  }

  onApplicationShutdown(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }
}

/**
 * The intervals `start` sets up, synchronously. `instrument()` starts one (its
 * `server_stats` every 2 s) and returns nothing to stop it with: unref'd, it
 * would not keep the process alive, but it would keep a closed app's server,
 * and everything it holds, in memory, emitting to nobody.
 */
function startedBy(start: () => void): ReturnType<typeof setInterval>[] {
  const timers: ReturnType<typeof setInterval>[] = [];
  const set = globalThis.setInterval;
  globalThis.setInterval = ((...args: Parameters<typeof set>) => {
    const timer = set(...args);
    timers.push(timer);
    return timer;
  }) as typeof set;
  try {
    start();
  } finally {
    globalThis.setInterval = set;
  }
  return timers;
}

/**
 * Refuses an address's password checks past PASSWORD_CHECKS_PER_MINUTE. A
 * bcrypt comparison costs tens of milliseconds of CPU on purpose, and anyone
 * can open a socket on `/admin`: without this, a loop of wrong passwords
 * would be a cheap way to keep the server busy. Reconnects by session id
 * (no username) cost nothing and are not counted.
 */
function limitPasswordChecks(username: string) {
  let minute = 0;
  const checks = new Map<string, number>();
  return (socket: Socket, next: (err?: Error) => void): void => {
    if ((socket.handshake.auth as { username?: unknown } | undefined)?.username !== username) return next();
    const now = Math.floor(Date.now() / 60_000);
    if (now !== minute) {
      minute = now;
      checks.clear();
    }
    const count = (checks.get(socket.handshake.address) ?? 0) + 1;
    checks.set(socket.handshake.address, count);
    next(count > PASSWORD_CHECKS_PER_MINUTE ? new Error('too many attempts: try again in a minute') : undefined);
  };
}

/** `socket.data` keys the sample keeps for its own use (chat.gateway.ts), left out of what the UI is sent. */
const SERVER_ONLY_DATA = ['credentials'];
const REDACTED = '[credentials redacted by the sample]';

type Emitter = { emit(name: string, ...args: unknown[]): boolean };

/** A serialized socket (or a `socket_updated` change) without the server-only `data` keys. */
function withoutServerOnly(socket: unknown): unknown {
  const data = (socket as { data?: unknown } | null)?.data;
  if (!data || typeof data !== 'object') return socket;
  const shown: Record<string, unknown> = { ...data };
  for (const key of SERVER_ONLY_DATA) delete shown[key];
  return { ...(socket as object), data: shown };
}

/**
 * What the UI is sent, trimmed on its way out of the admin namespace (and of
 * each admin socket, for the first list):
 *   - In development mode the UI logs every event each socket receives, with
 *     its arguments: the `authentication` event's are credentials (another
 *     user's access token, which would let whoever watches the UI act as
 *     them). Replaced; the module has already read them.
 *   - It shows each socket's `socket.data`: the module's `auth` is the
 *     principal's public view already, but the gateway's `credentials` (the
 *     login and token ids that signing a device out revokes, which the
 *     principal holds server-side only) are left out.
 */
function redactForUi(admin: Namespace, authEvent = 'authentication'): void {
  const redact = (name: string, args: unknown[]): unknown[] => {
    switch (name) {
      case 'event_received': {
        const received = args[2];
        return Array.isArray(received) && received[0] === authEvent
          ? [args[0], args[1], [authEvent, REDACTED], ...args.slice(3)]
          : args;
      }
      case 'socket_connected':
      case 'socket_updated':
        return [withoutServerOnly(args[0]), ...args.slice(1)];
      case 'all_sockets':
        return [Array.isArray(args[0]) ? args[0].map(withoutServerOnly) : args[0], ...args.slice(1)];
      default:
        return args;
    }
  };
  const wrap = (target: Emitter): void => {
    const emit = target.emit.bind(target);
    target.emit = (name, ...args) => emit(name, ...redact(name, args));
  };
  wrap(admin as unknown as Emitter);
  // Before instrument()'s own listener, which sends the new admin socket `all_sockets`.
  admin.on('connection', (socket) => wrap(socket as unknown as Emitter));
}

/** The UI's files, by URL path: what `ui/dist` holds (no source maps), listed once. No path comes from the request. */
function listFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (!entry.name.endsWith('.map')) files.set(`${PATH}/${relative(UI_DIST, file).split(sep).join('/')}`, file);
    }
  };
  try {
    walk(UI_DIST);
  } catch {
    // No UI in this install: every file is 404.
  }
  return files;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The UI's page, without what it would load from CDNs (Google Fonts, and the
 * Material Design icons at `@latest`, unpinned): an admin page holds a
 * connection that can disconnect anyone, so it loads nothing from elsewhere
 * (its Content-Security-Policy says so too). The UI falls back to the
 * browser's fonts, and draws its icons blank.
 */
const withoutCdn = (html: string): string => html.replace(/<link rel="stylesheet" href="https:\/\/[^"]*">/g, '');

/** Only this server: no script, style, font or connection from anywhere else, and no framing. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

interface HttpRequest {
  headers: IncomingHttpHeaders;
  url?: string;
  secure?: boolean;
}
interface HttpResponse {
  setHeader(name: string, value: string): unknown;
  status(code: number): HttpResponse;
  redirect(status: number, url: string): void;
  send(body: string | Buffer): unknown;
}

/**
 * `POST /admin/ui-session` (bearer access token of an admin) sets the UI
 * cookie; `GET /admin-ui/…` serves the UI's files against it: 401 without a
 * usable cookie, 403 once its user is no longer an admin, 404 for anything
 * that is not one of the UI's files, or when the UI is off.
 */
@Controller()
export class AdminUiController {
  private readonly files = listFiles();

  constructor(
    private readonly options: AdminUiOptions,
    private readonly users: UsersService,
    private readonly credentials: CredentialsService,
    private readonly auth: AuthSocketService,
    private readonly jwt: JwtService,
  ) {}

  /**
   * A UI cookie for this admin's browser, for ADMIN_UI_TTL_SECONDS. Its JWT
   * carries the login (`sid`) of the access token it was traded for, so
   * logging that browser out (or out everywhere) closes the UI too.
   */
  @Post('admin/ui-session')
  @HttpCode(204)
  async session(
    @Headers('authorization') authorization: string | undefined,
    @Req() req: HttpRequest,
    @Res({ passthrough: true }) res: HttpResponse,
  ): Promise<void> {
    if (!this.options.config) throw new NotFoundException('The Admin UI is off');
    if (!fromOwnPage(req.headers)) throw new ForbiddenException('Cross-origin request refused');
    const caller = await this.credentials.bearer(authorization);
    if (!caller) throw new UnauthorizedException();
    if (!this.isAdmin(caller.userId)) throw new ForbiddenException('Admins only');
    const token = await this.jwt.signAsync(
      { sub: caller.userId, ...(caller.login ? { sid: caller.login } : {}) },
      { jwtid: randomUUID(), audience: ADMIN_UI_AUDIENCE, expiresIn: ADMIN_UI_TTL_SECONDS },
    );
    res.setHeader(
      'set-cookie',
      [
        `${ADMIN_UI_COOKIE}=${token}`,
        `Max-Age=${ADMIN_UI_TTL_SECONDS}`,
        `Path=${PATH}`,
        'HttpOnly',
        'SameSite=Strict',
        ...(req.secure ? ['Secure'] : []),
      ].join('; '),
    );
  }

  /** `/admin-ui` → `/admin-ui/`, so the page's relative links (`js/app.….js`) resolve under it. */
  @Get('admin-ui')
  async index(@Req() req: HttpRequest, @Res() res: HttpResponse): Promise<void> {
    if (new URL(req.url ?? '/', 'http://x').pathname === PATH) return res.redirect(302, `${PATH}/`);
    await this.serve(`${PATH}/index.html`, req, res);
  }

  @Get('admin-ui/*path')
  async file(@Req() req: HttpRequest, @Res() res: HttpResponse): Promise<void> {
    await this.serve(new URL(req.url ?? '/', 'http://x').pathname, req, res);
  }

  private async serve(path: string, req: HttpRequest, res: HttpResponse): Promise<void> {
    const file = this.options.config && this.files.get(path);
    if (!file) throw new NotFoundException();
    await this.admit(req);
    const body = await readFile(file);
    res.setHeader('content-type', TYPES[extname(file)] ?? 'application/octet-stream');
    res.setHeader('content-security-policy', CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('cache-control', 'no-store');
    res.status(200).send(path.endsWith('.html') ? withoutCdn(body.toString('utf8')) : body);
  }

  /** The UI cookie's user, if it is valid, its login was not logged out, and the user is an admin now. */
  private async admit(req: HttpRequest): Promise<void> {
    const token = readCookie(req.headers.cookie, ADMIN_UI_COOKIE);
    let claims: JwtClaims | undefined;
    try {
      claims = token ? await this.jwt.verifyAsync<JwtClaims>(token, { audience: ADMIN_UI_AUDIENCE }) : undefined;
    } catch {
      claims = undefined;
    }
    const { sub, jti, iat, sid } = claims ?? {};
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof iat !== 'number')
      throw new UnauthorizedException('Open the Admin UI from the chat page, logged in as an admin');
    const issuedAt = iat * 1000;
    const ids = [jti, ...(typeof sid === 'string' ? [sid] : [])];
    for (const tokenId of ids)
      if (await this.auth.isRevoked({ id: sub, tokenId, issuedAt })) throw new UnauthorizedException('Logged out');
    if (!this.isAdmin(sub)) throw new ForbiddenException('Admins only');
  }

  private isAdmin(userId: string): boolean {
    return !!this.users.findById(userId)?.roles.includes('admin');
  }
}
