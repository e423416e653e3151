import { Body, Controller, Headers, HttpCode, Post, UnauthorizedException } from '@nestjs/common';
import { AuthSocketService } from '../lib/index.js';
import { TokenService } from './token.service.js';
import { UsersService } from './users.service.js';

@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly tokens: TokenService,
    private readonly auth: AuthSocketService,
  ) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: { username?: unknown; password?: unknown }): Promise<{ token: string }> {
    const user = this.users.verifyPassword(body?.username, body?.password);
    if (!user) throw new UnauthorizedException('Wrong username or password');
    return { token: await this.tokens.sign(user.id) };
  }

  /**
   * Revokes the token itself (no new socket or request may use it, on any node
   * with REDIS_URL), then ends every socket of its user, on every node.
   */
  @Post('logout')
  @HttpCode(200)
  async logout(@Headers('authorization') authorization?: string): Promise<{ ok: true }> {
    const token = authorization?.match(/^Bearer (.+)$/i)?.[1];
    const verified = await this.tokens.verify(token);
    if (!verified) throw new UnauthorizedException();
    // Denied first: a socket authenticating with this token from now on is refused, then the live ones end.
    await this.tokens.revoke(verified);
    await this.auth.revoke(verified.userId, 'Logged out');
    return { ok: true };
  }
}
