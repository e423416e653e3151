import { Module } from '@nestjs/common';
import { AuthSocketModule } from '../lib/index.js';
import { AuthController } from './auth.controller.js';
import { ChatJwtStrategy } from './chat-jwt.strategy.js';
import { ChatGateway } from './chat.gateway.js';
import { PageController } from './page.controller.js';
import { StatusGateway } from './status.gateway.js';
import { UsersModule } from './users.module.js';

@Module({
  imports: [
    UsersModule,
    AuthSocketModule.forRoot({
      strategy: ChatJwtStrategy,
      // UsersModule exports JwtModule too: the strategy verifies with the same options the login signs with.
      imports: [UsersModule],
      timeout: Number(process.env.AUTH_TIMEOUT_MS ?? 1000),
    }),
  ],
  controllers: [AuthController, PageController],
  providers: [ChatGateway, StatusGateway],
})
export class AppModule {}
