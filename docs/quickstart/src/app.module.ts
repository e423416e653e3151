// src/app.module.ts
import { Module } from '@nestjs/common';
import { AuthSocketModule } from 'nestjs-socket-auth';
import { ChatGateway } from './chat.gateway.js';
import { TokenStrategy } from './token.strategy.js';

@Module({
  imports: [
    // Sockets that do not authenticate within 5 s are told `unauthorized {code:'timeout'}` and disconnected.
    AuthSocketModule.forRoot({ strategy: TokenStrategy, timeout: 5000 }),
  ],
  providers: [ChatGateway],
})
export class AppModule {}
