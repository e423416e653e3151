import { Injectable } from '@nestjs/common';
import { AuthSocketService } from '../lib/index.js';
import { AccessTokens } from './access-tokens.js';
import type { VerifiedToken } from './token.service.js';

/**
 * The HTTP routes' view of who is calling: a token the signature, claims
 * and the library's revocation store (the one sockets are checked against)
 * all accept.
 */
@Injectable()
export class CredentialsService {
  constructor(
    private readonly tokens: AccessTokens,
    private readonly auth: AuthSocketService,
  ) {}

  /** The access token of an `Authorization: Bearer …` header, if usable. */
  bearer(authorization: string | undefined): Promise<VerifiedToken | undefined> {
    return this.usable(this.tokens.verify(authorization?.match(/^Bearer (.+)$/i)?.[1]));
  }

  /** The verified token, unless the revocation store denies it (logged out, or issued before a log out everywhere). */
  async usable(verifying: Promise<VerifiedToken | undefined>): Promise<VerifiedToken | undefined> {
    const token = await verifying;
    if (!token) return undefined;
    const { userId: id, jti: tokenId, issuedAt } = token;
    return (await this.auth.isRevoked({ id, tokenId, issuedAt })) ? undefined : token;
  }
}
