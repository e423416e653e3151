import {
  Body,
  Controller,
  ForbiddenException,
  Headers,
  HttpCode,
  Post,
  Req,
  Res,
  UnauthorizedException,
} from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { AuthSocketService } from '../lib/index.js';
import { refreshTtlSeconds } from './auth.config.js';
import { REFRESH_COOKIE, clearedRefreshCookie, fromOwnPage, readCookie, refreshCookie } from './cookies.js';
import { TokenService, type VerifiedToken } from './token.service.js';
import { UsersService } from './users.service.js';

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
 *   - the refresh token, an httpOnly SameSite=Strict cookie on Path=/auth:
 *     days long (REFRESH_TTL_SECONDS), out of reach of page scripts, traded
 *     at `POST /auth/refresh` for a fresh access token.
 * Both are checked against the library's revocation store
 * (AuthSocketService.isRevoked), the same one sockets are checked against.
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
    private readonly auth: AuthSocketService,
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
    const user = this.users.verifyPassword(body?.username, body?.password);
    if (!user) throw new UnauthorizedException('Wrong username or password');
    const [token, refresh] = await Promise.all([this.tokens.signAccess(user.id), this.tokens.signRefresh(user.id)]);
    res.setHeader('set-cookie', refreshCookie(refresh, refreshTtlSeconds(), !!req.secure));
    return { token };
  }

  /**
   * A fresh access token for the refresh cookie: what the page calls on load
   * (so a reload stays logged in) and before each access token expires. 401
   * (and the cookie cleared) when the cookie is missing, bad, expired,
   * revoked (logout, log out everywhere), or its user is gone. The refresh
   * token is not rotated: the tabs of one browser share it and refresh on
   * their own schedules, which rotation would turn into false reuse alarms.
   */
  @Post('refresh')
  @HttpCode(200)
  async refresh(@Req() req: HttpRequest, @Res({ passthrough: true }) res: HttpResponse): Promise<{ token: string }> {
    ownPage(req);
    const refresh = await this.usable(this.tokens.verifyRefresh(readCookie(req.headers.cookie, REFRESH_COOKIE)));
    if (!refresh || !this.users.findById(refresh.userId)) {
      res.setHeader('set-cookie', clearedRefreshCookie(!!req.secure));
      throw new UnauthorizedException();
    }
    return { token: await this.tokens.signAccess(refresh.userId) };
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
    const bearer = authorization?.match(/^Bearer (.+)$/i)?.[1];
    const [access, refresh] = await Promise.all([
      this.usable(this.tokens.verifyAccess(bearer)),
      this.usable(this.tokens.verifyRefresh(readCookie(req.headers.cookie, REFRESH_COOKIE))),
    ]);
    if (!access && !refresh) throw new UnauthorizedException();
    return { access, refresh };
  }

  /** The verified token, unless the revocation store denies it (logged out, or issued before a log out everywhere). */
  private async usable(verifying: Promise<VerifiedToken | undefined>): Promise<VerifiedToken | undefined> {
    const token = await verifying;
    if (!token) return undefined;
    const { userId: id, jti: tokenId, issuedAt } = token;
    return (await this.auth.isRevoked({ id, tokenId, issuedAt })) ? undefined : token;
  }
}

function ownPage(req: HttpRequest): void {
  if (!fromOwnPage(req.headers)) throw new ForbiddenException('Cross-origin request refused');
}
