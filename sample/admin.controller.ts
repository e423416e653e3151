import {
  BadRequestException,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  NotFoundException,
  Param,
  Put,
  Req,
  UnauthorizedException,
} from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { AuthSocketService } from '../lib/index.js';
import { fromOwnPage } from './cookies.js';
import { CredentialsService } from './credentials.service.js';
import { TEAM_NAME, type User, UsersService } from './users.service.js';

interface HttpRequest {
  headers: IncomingHttpHeaders;
}

/** What a team change answers: the user as they are now, and how many live sessions took the change. */
export interface TeamChange {
  user: User;
  /** Sessions of the user that were revalidated (on every node that answered). */
  revalidated: number;
  complete: boolean;
}

/**
 * Admins change who is in which team, and it applies to live sessions at
 * once: after changing the user, `AuthSocketService.revalidate(id)` has
 * ChatJwtStrategy.revalidate() read the user again on every node, and the
 * library checks the new principal against every policed room its sockets
 * are in. Taken out of `red`, bob's pages leave `team:red` and hear
 * `room_left {room:'team:red', code:'forbidden'}`; put into `blue`, they hear
 * `authenticated` with the new teams, and the page joins `team:blue`.
 *
 * Bearer access token of a user who is an admin now (roles are read from
 * UsersService, not from the token): 401 without a usable token, 403 for
 * anyone else.
 */
@Controller('admin')
export class AdminController {
  constructor(
    private readonly users: UsersService,
    private readonly credentials: CredentialsService,
    private readonly auth: AuthSocketService,
  ) {}

  @Get('users')
  async list(
    @Headers('authorization') authorization: string | undefined,
    @Req() req: HttpRequest,
  ): Promise<{ users: User[] }> {
    await this.admin(authorization, req);
    return { users: this.users.list() };
  }

  /** Adds the user to the team; their live sessions may then join `team:<team>`. */
  @Put('users/:id/teams/:team')
  @HttpCode(200)
  async addToTeam(
    @Param('id') id: string,
    @Param('team') team: string,
    @Headers('authorization') authorization: string | undefined,
    @Req() req: HttpRequest,
  ): Promise<TeamChange> {
    await this.admin(authorization, req);
    return this.changed(this.users.addToTeam(id, teamName(team)));
  }

  /** Takes the user out of the team; their live sessions leave `team:<team>` before this answers. */
  @Delete('users/:id/teams/:team')
  @HttpCode(200)
  async removeFromTeam(
    @Param('id') id: string,
    @Param('team') team: string,
    @Headers('authorization') authorization: string | undefined,
    @Req() req: HttpRequest,
  ): Promise<TeamChange> {
    await this.admin(authorization, req);
    return this.changed(this.users.removeFromTeam(id, teamName(team)));
  }

  /** Applies a changed user to their live sessions, on every node; resolves once they have the new principal. */
  private async changed(user: User | undefined): Promise<TeamChange> {
    if (!user) throw new NotFoundException('No such user');
    const { sessions, complete } = await this.auth.revalidate(user.id);
    return { user, revalidated: sessions, complete };
  }

  private async admin(authorization: string | undefined, req: HttpRequest): Promise<void> {
    // Bearer tokens are not sent by browsers on their own, so this is no CSRF defence: the same rule as /auth.
    if (!fromOwnPage(req.headers)) throw new ForbiddenException('Cross-origin request refused');
    const caller = await this.credentials.bearer(authorization);
    if (!caller) throw new UnauthorizedException();
    if (!this.users.findById(caller.userId)?.roles.includes('admin')) throw new ForbiddenException('Admins only');
  }
}

function teamName(team: string): string {
  if (!TEAM_NAME.test(team)) throw new BadRequestException('A team name is 1 to 40 of a-z, 0-9 and -');
  return team;
}
