import { Controller, Get, Module } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { AuthSocketHealthIndicator } from '../lib/terminus/index.js';

/**
 * `GET /health`: a readiness probe through `@nestjs/terminus` and the
 * module's `AuthSocketHealthIndicator`. 200 `{ status: 'ok', info: {
 * socket_auth: { status: 'up', limitStore, revocationStore, pending,
 * maxPending } } }`; 503 with the same details and a `reason` under `error`
 * when a Redis store is degraded or down, or the unauthenticated sockets
 * near `maxPending` (past it, new connections are refused).
 *
 * A readiness probe, not a liveness one: with Redis degraded each node keeps
 * working alone, so restarting it would not help; taking it out of rotation,
 * or alerting, may. Open to anyone: it says nothing about users, and a load
 * balancer or kubelet calls it from wherever it runs.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly socketAuth: AuthSocketHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.socketAuth.isHealthy()]);
  }
}

/** AuthSocketModule is global, so the indicator gets AuthSocketService; HealthIndicatorService comes from TerminusModule. */
@Module({ imports: [TerminusModule], controllers: [HealthController], providers: [AuthSocketHealthIndicator] })
export class HealthModule {}
