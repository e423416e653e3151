import { Module } from '@nestjs/common';
import { TokenService } from './token.service.js';
import { UsersService } from './users.service.js';

@Module({ providers: [UsersService, TokenService], exports: [UsersService, TokenService] })
export class UsersModule {}
