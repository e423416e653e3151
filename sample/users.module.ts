import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { AccessTokens, OwnAccessTokens } from './access-tokens.js';
import { jwtOptions } from './auth.config.js';
import { authIssuer } from './env.js';
import { IssuerAccessTokens } from './issuer-tokens.js';
import { TokenService } from './token.service.js';
import { UsersService } from './users.service.js';

@Module({
  imports: [
    // Async, so the secret is settled when the app is created (and a cluster without AUTH_SECRET refuses to start).
    // The refresh cookie is always signed with it; access tokens too, unless they come from AUTH_ISSUER.
    JwtModule.registerAsync({ useFactory: jwtOptions }),
  ],
  providers: [
    UsersService,
    TokenService,
    // Read when the sample starts (this file is imported): the sample's own access tokens, or the issuer's.
    { provide: AccessTokens, useClass: authIssuer() ? IssuerAccessTokens : OwnAccessTokens },
  ],
  exports: [UsersService, TokenService, AccessTokens, JwtModule],
})
export class UsersModule {}
