/**
 * The throttler tests' app, in its own process: @nestjs/throttler 6 is
 * CommonJS requiring the ESM-only Nest 12, which Node 20.19+ loads
 * (require(esm)) but jest's module runtime cannot. Prints `{"port":N}`.
 * GUARD=socket (SocketThrottlerGuard) or library (ThrottlerGuard); LIMIT.
 */
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Authenticated, AuthSocketModule } from '../../../lib/index.js';
import { SocketThrottlerGuard } from '../../../lib/throttler/index.js';
import { tokenAuth } from '../../support/strategies.js';

@WebSocketGateway()
class ChatGateway {
  @Authenticated()
  @SubscribeMessage('chat')
  chat(@MessageBody() text: string): string {
    return text;
  }
}

@Controller()
class PingController {
  @Get('ping')
  ping(): string {
    return 'pong';
  }
}

const guard = process.env.GUARD === 'library' ? ThrottlerGuard : SocketThrottlerGuard;

@Module({
  imports: [
    AuthSocketModule.forRoot(tokenAuth),
    // A long window: a test never outlives it, so a count can only reset by a bug.
    ThrottlerModule.forRoot([{ ttl: 60_000, limit: Number(process.env.LIMIT ?? 3) }]),
  ],
  controllers: [PingController],
  providers: [ChatGateway, { provide: APP_GUARD, useClass: guard }],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
console.log(JSON.stringify({ port: (app.getHttpServer().address() as { port: number }).port }));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
