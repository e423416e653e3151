import { Module } from '@nestjs/common';
import { AuthSocketModule } from '../lib/index.js';
import { authTimeoutMs, refreshTtlSeconds, revalidateIntervalMs } from './auth.config.js';
import { AdminController } from './admin.controller.js';
import { ADMIN_NAMESPACE, AdminUiController, AdminUiGateway, AdminUiOptions } from './admin-ui.js';
import { AuthController } from './auth.controller.js';
import { ChatJwksStrategy } from './chat-jwks.strategy.js';
import { ChatJwtStrategy } from './chat-jwt.strategy.js';
import { ChatGateway } from './chat.gateway.js';
import { CredentialsService } from './credentials.service.js';
import { authIssuer, envNumber } from './env.js';
import { HealthModule } from './health.js';
import { LimitsModule, SampleLimits } from './limits.js';
import { MetricsController } from './metrics.controller.js';
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
      // The sample's own HS256 tokens, or, with AUTH_ISSUER (read when this file is imported), the issuer's RS256 ones.
      strategy: authIssuer() ? ChatJwksStrategy : ChatJwtStrategy,
      // UsersModule exports JwtModule too: ChatJwtStrategy verifies with the same options the login signs with.
      imports: [UsersModule, RevocationsModule, LimitsModule],
      inject: [SampleRevocations, SampleLimits],
      useFactory: (revocations: SampleRevocations, limits: SampleLimits) => ({
        timeout: authTimeoutMs(),
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
        // The Socket.IO Admin UI's namespace (AdminUiGateway, admin-ui.ts): its own basic credentials guard it, so the
        // module never gates it (no `authentication` expected, no timeout).
        publicNamespaces: [ADMIN_NAMESPACE],
      }),
    }),
    // GET /health: terminus and the module's AuthSocketHealthIndicator (readiness).
    HealthModule,
  ],
  controllers: [AuthController, AdminController, PageController, MetricsController, AdminUiController],
  providers: [
    ChatGateway,
    StatusGateway,
    CredentialsService,
    // The Socket.IO Admin UI on the chat's server, and its files for admins (admin-ui.ts).
    { provide: AdminUiOptions, useFactory: () => AdminUiOptions.create() },
    AdminUiGateway,
  ],
})
export class AppModule {}
