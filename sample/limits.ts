import { Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { LimitStore } from '../lib/index.js';
import { authSecret } from './auth.config.js';

/**
 * Where the module keeps its counters: the per-address abuse limits and the
 * per-user session count (`maxSessionsPerPrincipal`).
 *   - REDIS_URL set: `RedisLimitStore`, so every node shares one budget per
 *     address and one count of each user's devices. Prefix: LIMIT_PREFIX
 *     (default `sample-chat:limit:`).
 *   - otherwise: `store` is undefined and each process counts alone in memory
 *     (`npm run start:cluster` workers too: a user may then hold the maximum
 *     on each worker).
 * Connected before the module starts, closed when the app shuts down.
 */
export class SampleLimits implements OnApplicationShutdown {
  private constructor(readonly store?: LimitStore) {}

  static async create(): Promise<SampleLimits> {
    const url = process.env.REDIS_URL;
    if (!url) return new SampleLimits();
    authSecret(); // refuses a cluster without a shared secret before anything connects
    // Loaded only with Redis, so the sample runs without it.
    const { RedisLimitStore } = await import('../lib/redis/index.js');
    const store = new RedisLimitStore({ url, prefix: process.env.LIMIT_PREFIX || 'sample-chat:limit:' });
    await store.connect();
    new Logger('SampleLimits').log('limits are counted in Redis');
    return new SampleLimits(store);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store?.close?.();
  }
}

@Module({
  providers: [{ provide: SampleLimits, useFactory: () => SampleLimits.create() }],
  exports: [SampleLimits],
})
export class LimitsModule {}
