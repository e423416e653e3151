import { Module } from '@nestjs/common';
import { AuthSocketModule } from '../lib/index.js';
import { refreshTtlSeconds, revalidateIntervalMs } from './auth.config.js';
import { AdminController } from './admin.controller.js';
import { AuthController } from './auth.controller.js';
import { ChatJwtStrategy } from './chat-jwt.strategy.js';
import { ChatGateway } from './chat.gateway.js';
import { CredentialsService } from './credentials.service.js';
import { envNumber } from './env.js';
import { LimitsModule, SampleLimits } from './limits.js';
import { PageController } from './page.controller.js';
import { RevocationsModule, SampleRevocations } from './revocations.js';
import { ROOM_POLICIES } from './rooms.js';
import { StatusGateway } from './status.gateway.js';
import { UsersModule } from './users.module.js';

@Module({
  imports: [
    UsersModule,
    // Async: the Redis stores (with REDIS_URL) must be connected before the module starts.
    AuthSocketModule.forRootAsync({
      strategy: ChatJwtStrategy,
      // UsersModule exports JwtModule too: the strategy verifies with the same options the login signs with.
      imports: [UsersModule, RevocationsModule, LimitsModule],
      inject: [SampleRevocations, SampleLimits],
      useFactory: (revocations: SampleRevocations, limits: SampleLimits) => ({
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
        // Team rooms (members only) and direct-message rooms (the pair only): see rooms.ts. Checked at every join and
        // again whenever a session's user changes, so an admin taking bob out of a team takes him out of its room.
        rooms: ROOM_POLICIES,
        // The page joins its team rooms itself: `join {room}`, answered on the ack (refused: `forbidden`).
        clientRooms: true,
        // At most this many sessions (tabs, browsers: "devices") per user at once; one more signs the oldest out, with
        // `unauthorized {code:'revoked'}`. MAX_SESSIONS_PER_USER=0: no limit.
        maxSessionsPerPrincipal: envNumber('MAX_SESSIONS_PER_USER', 5),
        onSessionLimit: 'evict-oldest',
        // undefined without REDIS_URL: per-process counters. With it, every node counts a user's devices together.
        limitStore: limits.store,
      }),
    }),
  ],
  controllers: [AuthController, AdminController, PageController],
  providers: [ChatGateway, StatusGateway, CredentialsService],
})
export class AppModule {}
