import { Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { RevocationStore } from '../lib/index.js';
import { authSecret } from './auth.config.js';

/**
 * The revocation store the AuthSocketModule consults on every socket
 * authentication and refresh, and the auth controller on every refresh and
 * logout: one store for access and refresh tokens alike.
 *   - REDIS_URL set: `RedisRevocationStore`, shared by every node and kept in
 *     Redis, so "log out everywhere" holds on all nodes and survives a restart
 *     of all of them. Prefix: REVOCATION_PREFIX (default `sample-chat:revoked:`).
 *   - otherwise: `store` is undefined and the module keeps its in-memory
 *     default (one process; `npm run start:cluster` workers hear each other's
 *     revocations through the cluster adapter; a restart forgets them).
 * Connected before the module starts (forRootAsync's factory waits for this
 * provider), closed when the app shuts down.
 */
export class SampleRevocations implements OnApplicationShutdown {
  private constructor(readonly store?: RevocationStore) {}

  static async create(): Promise<SampleRevocations> {
    const url = process.env.REDIS_URL;
    if (!url) return new SampleRevocations();
    authSecret(); // refuses a cluster without a shared secret before anything connects
    // Loaded only with Redis, so the sample runs without it.
    const { RedisRevocationStore } = await import('../lib/redis/index.js');
    const store = new RedisRevocationStore({ url, prefix: process.env.REVOCATION_PREFIX || 'sample-chat:revoked:' });
    await store.connect();
    new Logger('SampleRevocations').log('revocations are kept in Redis');
    return new SampleRevocations(store);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store?.close?.();
  }
}

@Module({
  providers: [{ provide: SampleRevocations, useFactory: () => SampleRevocations.create() }],
  exports: [SampleRevocations],
})
export class RevocationsModule {}
