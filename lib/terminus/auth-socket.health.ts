import { Injectable } from '@nestjs/common';
import { type HealthIndicatorResult, HealthIndicatorService, type HealthIndicatorStatus } from '@nestjs/terminus';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import type { StoreHealth } from '../core/limit-store.js';
import { AuthSocketService } from '../nest/auth-socket.service.js';

/** When `AuthSocketHealthIndicator.isHealthy()` reports `down`. */
export interface AuthSocketHealthOptions {
  /**
   * The share of `maxPending` at which the pending-socket pressure counts as
   * down: down once `pending >= pendingThreshold × maxPending`. Above 0, at
   * most 1. Ignored when `maxPending` is 0 (no limit, so no pressure check).
   * @default 0.9
   */
  pendingThreshold?: number;
  /**
   * Whether a store that is `degraded` (its Redis unreachable, this node
   * working alone meanwhile) makes the indicator `down`. With false only a
   * store that is `down` does; the details still show `degraded`.
   * @default true
   */
  degradedIsDown?: boolean;
}

/** What the indicator reports under its key, besides terminus's `status`. */
export interface AuthSocketHealthDetails {
  /** The `limitStore`'s connectivity (`AuthSocketService.health()`). */
  limitStore: StoreHealth;
  /** The `revocationStore`'s connectivity. */
  revocationStore: StoreHealth;
  /** Unauthenticated sockets in this process now. */
  pending: number;
  /** The `maxPending` option (0: no limit). */
  maxPending: number;
  /** Why it is down, when it is: each failed check, separated by `; `. Absent when up. */
  reason?: string;
}

/**
 * A `@nestjs/terminus` health indicator for the socket authentication of this
 * process: `down` when the limit or revocation store is not `up`, or when the
 * unauthenticated sockets near `maxPending` (past it, new connections are
 * refused). Provide it next to `TerminusModule` and check it in a health
 * controller:
 *
 * ```ts
 * @Get('ready')
 * @HealthCheck()
 * ready() {
 *   return this.health.check([() => this.socketAuth.isHealthy()]);
 * }
 * ```
 *
 * Meant for **readiness** probes, not liveness: a `degraded` Redis store
 * leaves the module working on each node (limits count per node, revocations
 * are checked against the node's own copy), so restarting the process would
 * not help; taking it out of rotation, or alerting, may.
 */
@Injectable()
export class AuthSocketHealthIndicator {
  constructor(
    private readonly healthIndicatorService: HealthIndicatorService,
    private readonly auth: AuthSocketService,
  ) {}

  /**
   * `up` with `{ limitStore, revocationStore, pending, maxPending }` under
   * `key` when both stores are `up` (or `degraded`, with `degradedIsDown:
   * false`) and `pending` is below `pendingThreshold × maxPending`; `down`
   * with the same details and a `reason` otherwise. Throws
   * `AuthSocketConfigError` (`AUTH_SOCKET_INVALID_ARGUMENT`) for a
   * `pendingThreshold` outside (0, 1].
   */
  async isHealthy<const Key extends string = 'socket_auth'>(
    key: Key = 'socket_auth' as Key,
    options: AuthSocketHealthOptions = {},
  ): Promise<HealthIndicatorResult<Key, HealthIndicatorStatus, AuthSocketHealthDetails>> {
    const { pendingThreshold = 0.9, degradedIsDown = true } = options;
    if (typeof pendingThreshold !== 'number' || !(pendingThreshold > 0 && pendingThreshold <= 1))
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_ARGUMENT',
        `AuthSocketHealthIndicator: pendingThreshold must be a number above 0 and at most 1, got ${String(pendingThreshold)}`,
      );
    const indicator = this.healthIndicatorService.check(key);
    const { limitStore, revocationStore, pending, maxPending } = this.auth.health();
    const details = { limitStore, revocationStore, pending, maxPending };
    const reasons: string[] = [];
    for (const [name, health] of [
      ['limitStore', limitStore],
      ['revocationStore', revocationStore],
    ] as const)
      if (health === 'down' || (health === 'degraded' && degradedIsDown)) reasons.push(`${name} is ${health}`);
    const limit = pendingThreshold * maxPending;
    if (maxPending > 0 && pending >= limit)
      reasons.push(`${pending} pending sockets, at or past ${pendingThreshold} of maxPending ${maxPending}`);
    return reasons.length ? indicator.down({ ...details, reason: reasons.join('; ') }) : indicator.up(details);
  }
}
