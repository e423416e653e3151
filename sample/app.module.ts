import { Module } from '@nestjs/common';
import { AuthSocketModule } from '../lib/index.js';
import { refreshTtlSeconds, revalidateIntervalMs } from './auth.config.js';
import { AuthController } from './auth.controller.js';
import { ChatJwtStrategy } from './chat-jwt.strategy.js';
import { ChatGateway } from './chat.gateway.js';
import { envNumber } from './env.js';
import { PageController } from './page.controller.js';
import { RevocationsModule, SampleRevocations } from './revocations.js';
import { StatusGateway } from './status.gateway.js';
import { UsersModule } from './users.module.js';

@Module({
  imports: [
    UsersModule,
    // Async: the Redis revocation store (with REDIS_URL) must be connected before the module starts.
    AuthSocketModule.forRootAsync({
      strategy: ChatJwtStrategy,
      // UsersModule exports JwtModule too: the strategy verifies with the same options the login signs with.
      imports: [UsersModule, RevocationsModule],
      inject: [SampleRevocations],
      useFactory: (revocations: SampleRevocations) => ({
        timeout: envNumber('AUTH_TIMEOUT_MS', 1000),
        // undefined without REDIS_URL: the module's in-memory store.
        revocationStore: revocations.store,
        // "Log out everywhere" denies every token issued before it; refresh tokens are checked against the same
        // store, so the denial must outlive the longest of them (the default, 24 h, is shorter than 7 days).
        revocationTtl: refreshTtlSeconds() * 1000 + 60_000,
        // ChatJwtStrategy.revalidate re-reads each live session's user this often: a deleted user's sockets end,
        // changed roles apply, without waiting for the token to expire.
        revalidateInterval: revalidateIntervalMs(),
        // A session whose refresh did not make it in time (a sleeping laptop, a refresh refused for a moment) goes
        // back to pending and the page's helper authenticates again, instead of being disconnected.
        onExpiry: 'reauthenticate',
      }),
    }),
  ],
  controllers: [AuthController, PageController],
  providers: [ChatGateway, StatusGateway],
})
export class AppModule {}
