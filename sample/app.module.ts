import { Module } from '@nestjs/common';
import { AuthSocketModule } from '../lib/index.js';
import { AuthController } from './auth.controller.js';
import { ChatGateway } from './chat.gateway.js';
import { PageController } from './page.controller.js';
import { TokenStrategy } from './token.strategy.js';
import { UsersModule } from './users.module.js';

@Module({
  imports: [
    UsersModule,
    AuthSocketModule.forRoot({
      strategy: TokenStrategy,
      imports: [UsersModule],
      timeout: Number(process.env.AUTH_TIMEOUT_MS ?? 1000),
    }),
  ],
  controllers: [AuthController, PageController],
  providers: [ChatGateway],
})
export class AppModule {}
