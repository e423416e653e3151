/**
 * test/hostile/rooms-attacks.spec.ts's throttler app, in its own process
 * (@nestjs/throttler 6 is CommonJS requiring the ESM-only Nest 12, which jest's
 * module runtime cannot load). Behind a trusted proxy (`trustProxy: true`),
 * with SocketThrottlerGuard as the global APP_GUARD. Prints `{"port":N}`.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { SkipThrottle, ThrottlerModule } from '@nestjs/throttler';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import {
  type AuthPrincipal,
  Authenticated,
  AuthSocketModule,
  AuthSocketService,
  AuthUser,
} from '../../../lib/index.js';
import { SocketThrottlerGuard } from '../../../lib/throttler/index.js';
import { tokenAuth } from '../../support/strategies.js';

@WebSocketGateway()
class Gateway {
  constructor(private readonly auth: AuthSocketService) {}

  /** Open to anonymous sockets (a status check, a public lookup): throttled per client. */
  @SubscribeMessage('ping')
  ping(): string {
    return 'pong';
  }

  /** The addresses the library recorded for the caller's sessions. */
  @SkipThrottle()
  @Authenticated()
  @SubscribeMessage('my-addresses')
  async mine(@AuthUser() user: AuthPrincipal): Promise<string[]> {
    return (await this.auth.sessions(user.id)).sessions.map((s) => s.address);
  }
}

@Module({
  imports: [
    AuthSocketModule.forRoot({ ...tokenAuth, trustProxy: true }),
    ThrottlerModule.forRoot([{ ttl: 60_000, limit: Number(process.env.LIMIT ?? 2) }]),
  ],
  providers: [Gateway, { provide: APP_GUARD, useClass: SocketThrottlerGuard }],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: false });
await app.listen(0, '127.0.0.1');
console.log(JSON.stringify({ port: (app.getHttpServer().address() as { port: number }).port }));
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
