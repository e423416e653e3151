import {
  Body,
  Controller,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Req,
  Res,
  UnauthorizedException,
} from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { AuthSocketService, type SessionInfo } from '../lib/index.js';
import { AccessTokens } from './access-tokens.js';
import { refreshTtlSeconds } from './auth.config.js';
import { ChatGateway } from './chat.gateway.js';
import { REFRESH_COOKIE, clearedRefreshCookie, fromOwnPage, readCookie, refreshCookie } from './cookies.js';
import { CredentialsService } from './credentials.service.js';
import { TokenService, type VerifiedToken } from './token.service.js';
import { UsersService } from './users.service.js';

/** What `GET /auth/sessions` lists: the library's SessionInfo, and which browser (login) each belongs to. */
export interface DeviceSession extends SessionInfo {
  /** The same for the tabs of one browser (they share its refresh cookie); not the login's id itself. */
  browser?: string;
}

/** Sent to the sockets of a session signed out from the devices panel. */
export const SIGNED_OUT = 'Signed out from another device';

/** The parts of Express's request and response used here. */
interface HttpRequest {
  headers: IncomingHttpHeaders;
  /** true over HTTPS (behind a proxy: with Express's `trust proxy`). */
  secure?: boolean;
}
interface HttpResponse {
  setHeader(name: string, value: string): unknown;
}

/**
 * The HTTP side of the sample's sessions. Two tokens:
 *   - the access token, `{ token }` in the response body: minutes long
 *     (TOKEN_TTL_SECONDS), kept in the page's memory, sent on the socket;
 *     the sample's own, or, with AUTH_ISSUER, the issuer's (AccessTokens);
 *   - the refresh token, an httpOnly SameSite=Strict cookie on Path=/auth:
 *     days long (REFRESH_TTL_SECONDS), out of reach of page scripts, traded
 *     at `POST /auth/refresh` for a fresh access token.
 * Both are checked against the library's revocation store
 * (AuthSocketService.isRevoked), the same one sockets are checked against.
 *
 * The devices panel: `GET /auth/sessions` lists the caller's live sessions
 * on every node, `POST /auth/sessions/:id/end` signs one out.
 *
 * CSRF: every route here checks that the request comes from the sample's own
 * page (fromOwnPage: Sec-Fetch-Site, else Origin), on top of SameSite=Strict,
 * which alone would let a sibling subdomain through. A request from another
 * origin is refused with 403 before any cookie is read.
 */
@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly tokens: TokenService,
    private readonly access: AccessTokens,
    private readonly auth: AuthSocketService,
    private readonly credentials: CredentialsService,
    private readonly chat: ChatGateway,
  ) {}

  /** `{ token }` (access) and the refresh cookie, for a right username and password. */
  @Post('login')
  @HttpCode(200)
  async login(
    @Body() body: { username?: unknown; password?: unknown },
    @Req() req: HttpRequest,
    @Res({ passthrough: true }) res: HttpResponse,
  ): Promise<{ token: string }> {
    ownPage(req);
    const login = await this.access.login(body?.username, body?.password);
    if (!login) throw new UnauthorizedException('Wrong username or password');
    // The refresh token's id is the login's, which every access token traded for it carries (`sid`).
    const refresh = await this.tokens.signRefresh(login.userId, login.login, login.upstream);
    res.setHeader('set-cookie', refreshCookie(refresh, refreshTtlSeconds(), !!req.secure));
    return { token: login.token };
  }

  /**
   * A fresh access token for the refresh cookie: what the page calls on load
   * (so a reload stays logged in) and before each access token expires. 401
   * (and the cookie cleared) when the cookie is missing, bad, expired,
   * revoked (logout, log out everywhere), or its user is gone, or when the
   * issuer (AUTH_ISSUER) refuses the login; 503 when the issuer cannot be
   * asked (the page tries again). The refresh token is not rotated: the tabs
   * of one browser share it and refresh on their own schedules, which
   * rotation would turn into false reuse alarms.
   */
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Req() req: HttpRequest, @Res({ passthrough: true }) res: HttpResponse): Promise<{ token: string }> {
    ownPage(req);
    const refresh = await this.credentials.usable(
      this.tokens.verifyRefresh(readCookie(req.headers.cookie, REFRESH_COOKIE)),
    );
    const token = refresh && this.users.findById(refresh.userId) ? await this.access.next(refresh) : undefined;
    if (!token) {
      res.setHeader('set-cookie', clearedRefreshCookie(!!req.secure));
      throw new UnauthorizedException();
    }
    return { token };
  }

  /**
   * The caller's devices: every live session of their user (each tab or
   * browser, each node), from `AuthSocketService.sessions()`. The page marks
   * its own with the `sessionId` of its `authenticated` event. `complete:
   * false` when a node did not answer in time.
   */
  @Get('sessions')
  async sessions(
    @Headers('authorization') authorization: string | undefined,
    @Req() req: HttpRequest,
  ): Promise<{ sessions: DeviceSession[]; complete: boolean }> {
    const caller = await this.caller(authorization, req);
    const [{ sessions, complete }, held] = await Promise.all([
      this.auth.sessions(caller.userId),
      this.chat.credentialsOf(caller.userId),
    ]);
    const logins = new Map(held.map((c) => [c.sessionId, c.login]));
    return {
      sessions: sessions.map((session) => {
        const login = logins.get(session.id);
        return login ? { ...session, browser: browserOf(login) } : session;
      }),
      complete,
    };
  }

  /**
   * Signs a device out. Session ids are not secrets (every node logs them,
   * the page shows them), so only a session the caller's own `sessions()`
   * lists may be ended: another user's is 404, as one that does not exist.
   * Then, wherever they are: the session ends with `unauthorized {code:
   * 'revoked', message: 'Signed out from another device'}`, and so do the
   * other tabs of that browser (they share its refresh cookie), and their
   * credentials are revoked, so the device cannot come back without the
   * password: the refresh cookie (its login) and the access tokens the
   * sessions held. Other devices of the user keep theirs.
   */
  @Post('sessions/:id/end')
  @HttpCode(200)
  async endSession(
    @Param('id') id: string,
    @Headers('authorization') authorization: string | undefined,
    @Req() req: HttpRequest,
  ): Promise<{ ok: true; ended: string[]; complete: boolean }> {
    const caller = await this.caller(authorization, req);
    const [{ sessions, complete: listed }, held] = await Promise.all([
      this.auth.sessions(caller.userId),
      this.chat.credentialsOf(caller.userId),
    ]);
    if (!sessions.some((s) => s.id === id)) throw new NotFoundException('No such session');
    const login = held.find((c) => c.sessionId === id)?.login;
    // The browser's other tabs too: its refresh cookie is about to be refused, which would end them a little later.
    const targets = held.filter((c) => c.sessionId === id || (login !== undefined && c.login === login));
    const ids = [...new Set([id, ...targets.map((c) => c.sessionId)])];
    const results = await Promise.all(ids.map((sessionId) => this.auth.end(sessionId, SIGNED_OUT)));
    // Revoked after the end, so that a socket re-authenticating in between with the same token is ended by this.
    if (login) await this.auth.revoke({ tokenId: login }, SIGNED_OUT); // kept revocationTtl: the cookie's lifetime
    for (const { tokenId, expiresAt } of targets)
      if (tokenId) await this.auth.revoke({ tokenId, ...(expiresAt ? { expiresAt } : {}) }, SIGNED_OUT);
    return {
      ok: true,
      ended: ids.filter((_, i) => results[i].ended),
      complete: listed && results.every((r) => r.complete),
    };
  }

  /** The user of the bearer access token (after the same-origin check); 401 without a usable one. */
  private async caller(authorization: string | undefined, req: HttpRequest): Promise<VerifiedToken> {
    ownPage(req);
    const caller = await this.credentials.bearer(authorization);
    if (!caller) throw new UnauthorizedException();
    return caller;
  }

  /**
   * Log out, this browser: revokes the access token in the Authorization
   * header (its live sockets end, on every node) and the refresh cookie, each
   * until it would expire anyway, and clears the cookie. Other logins of the
   * user (other browsers, devices) are untouched. 401 when neither credential
   * is usable (already logged out, expired, forged); the cookie is cleared all
   * the same.
   */
  @Post('logout')
  @HttpCode(200)
  async logout(
    @Headers('authorization') authorization: string | undefined,
    @Req() req: HttpRequest,
    @Res({ passthrough: true }) res: HttpResponse,
  ): Promise<{ ok: true }> {
    const { access, refresh } = await this.presented(authorization, req, res);
    // Into the store first (a socket authenticating with the token from now on is refused), then the live ones end.
    for (const token of [access, refresh])
      if (token) await this.auth.revoke({ tokenId: token.jti, expiresAt: token.expiresAt }, 'Logged out');
    return { ok: true };
  }

  /**
   * Log out everywhere: every credential of the user issued before now,
   * access and refresh tokens on every device, is refused from now on (by
   * every node sharing the store, and after restarts with Redis), and every
   * socket of the user ends, on every node. A login after this works, from the
   * next second on: JWT `iat` has whole seconds, so a token minted in the same
   * second is refused too.
   */
  @Post('logout-all')
  @HttpCode(200)
  async logoutAll(
    @Headers('authorization') authorization: string | undefined,
    @Req() req: HttpRequest,
    @Res({ passthrough: true }) res: HttpResponse,
  ): Promise<{ ok: true; disconnected: number }> {
    const { access, refresh } = await this.presented(authorization, req, res);
    const userId = (access ?? refresh)!.userId;
    const { disconnected } = await this.auth.revoke(userId, 'Logged out everywhere');
    return { ok: true, disconnected };
  }

  /** The usable credentials a logout presents (bearer access token, refresh cookie); clears the cookie; 401 for none. */
  private async presented(
    authorization: string | undefined,
    req: HttpRequest,
    res: HttpResponse,
  ): Promise<{ access?: VerifiedToken; refresh?: VerifiedToken }> {
    ownPage(req);
    res.setHeader('set-cookie', clearedRefreshCookie(!!req.secure));
    const [access, refresh] = await Promise.all([
      this.credentials.bearer(authorization),
      this.credentials.usable(this.tokens.verifyRefresh(readCookie(req.headers.cookie, REFRESH_COOKIE))),
    ]);
    if (!access && !refresh) throw new UnauthorizedException();
    return { access, refresh };
  }
}

/** A label for a login that tells its tabs apart from other browsers' without giving the login's id away. */
function browserOf(login: string): string {
  return createHash('sha256').update(login).digest('base64url').slice(0, 8);
}

function ownPage(req: HttpRequest): void {
  if (!fromOwnPage(req.headers)) throw new ForbiddenException('Cross-origin request refused');
}
