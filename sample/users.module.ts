import { Module } from '@nestjs/common';
import { JwtModule } from '@nestjs/jwt';
import { jwtOptions } from './auth.config.js';
import { TokenService } from './token.service.js';
import { UsersService } from './users.service.js';

@Module({
  imports: [
    // Async, so the secret is settled when the app is created (and a cluster without AUTH_SECRET refuses to start).
    JwtModule.registerAsync({ useFactory: jwtOptions }),
  ],
  providers: [UsersService, TokenService],
  exports: [UsersService, TokenService, JwtModule],
})
export class UsersModule {}
