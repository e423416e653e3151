import { Injectable } from '@nestjs/common';
import { TokenService, type VerifiedToken } from './token.service.js';
import { UsersService } from './users.service.js';

/** A new login, as the login route needs it. */
export interface NewLogin {
  userId: string;
  /** The login's id: the refresh cookie's `jti`, and the `sid` of every access token issued for it. */
  login: string;
  /** Its first access token. */
  token: string;
  /** What the refresh cookie must carry to get the next access tokens (issuer mode: the issuer's refresh token, sealed). */
  upstream?: string;
}

/**
 * Where access tokens come from, for the HTTP routes: the login, the refresh,
 * and the bearer token of logout and the devices panel. Two sources, chosen
 * at start by AUTH_ISSUER (users.module.ts): the sample's own HS256 tokens
 * (OwnAccessTokens), or the identity provider's RS256 ones
 * (IssuerAccessTokens, issuer-tokens.ts). The refresh cookie is the
 * sample's own in both (TokenService).
 */
export abstract class AccessTokens {
  /** A login for a username and password; undefined when they are wrong. */
  abstract login(username: unknown, password: unknown): Promise<NewLogin | undefined>;
  /** The next access token of the login a verified refresh cookie holds; undefined when that login is over. */
  abstract next(refresh: VerifiedToken): Promise<string | undefined>;
  /** An access token's claims; undefined when it is bad, expired, or lacks a claim the sample requires. */
  abstract verify(token: unknown): Promise<VerifiedToken | undefined>;
}

/** The sample's own access tokens: signed with AUTH_SECRET by TokenService, as the socket strategy verifies them. */
@Injectable()
export class OwnAccessTokens extends AccessTokens {
  constructor(
    private readonly users: UsersService,
    private readonly tokens: TokenService,
  ) {
    super();
  }

  async login(username: unknown, password: unknown): Promise<NewLogin | undefined> {
    const user = this.users.verifyPassword(username, password);
    if (!user) return undefined;
    // One login: the refresh token's id, which every access token traded for it carries (`sid`).
    const login = this.tokens.newLogin();
    return { userId: user.id, login, token: await this.tokens.signAccess(user.id, login) };
  }

  next(refresh: VerifiedToken): Promise<string> {
    return this.tokens.signAccess(refresh.userId, refresh.jti);
  }

  verify(token: unknown): Promise<VerifiedToken | undefined> {
    return this.tokens.verifyAccess(token);
  }
}
