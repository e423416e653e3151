import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { createClient } from 'redis';
import { authSecret } from './auth.config.js';

/**
 * Logged-out token ids (`jti`), each kept until its token expires: after that
 * the token is refused for its `exp` anyway, so the entry is no longer needed.
 */
export abstract class RevokedTokens {
  /** Refuses the token from now until `expiresAt` (epoch ms). */
  abstract add(jti: string, expiresAt: number): Promise<void>;
  abstract has(jti: string): Promise<boolean>;
}

/** One process. Entries go once expired, so the map holds at most the logouts of one token lifetime. */
export class MemoryRevokedTokens extends RevokedTokens {
  private readonly until = new Map<string, number>();

  async add(jti: string, expiresAt: number): Promise<void> {
    this.prune();
    if (expiresAt > Date.now()) this.until.set(jti, expiresAt);
  }

  async has(jti: string): Promise<boolean> {
    const expiresAt = this.until.get(jti);
    if (expiresAt === undefined) return false;
    if (expiresAt > Date.now()) return true;
    this.until.delete(jti);
    return false;
  }

  get size(): number {
    return this.until.size;
  }

  /**
   * Drops expired entries from the oldest on. Tokens share one TTL, so insertion
   * order is close to expiry order: an entry outlives its expiry by at most one
   * TTL, and each call does work only for the entries it removes. No timer.
   */
  private prune(): void {
    const now = Date.now();
    for (const [jti, expiresAt] of this.until) {
      if (expiresAt > now) break;
      this.until.delete(jti);
    }
  }
}

/** The few commands used here (node-redis's full client type depends on its options). */
interface RedisCommands {
  set(key: string, value: string, options: { expiration: { type: 'PX'; value: number } }): Promise<unknown>;
  exists(key: string): Promise<number>;
  quit(): Promise<unknown>;
  readonly isOpen: boolean;
}

/** Shared by every node: a key per jti that Redis deletes when the token expires (PX). */
export class RedisRevokedTokens extends RevokedTokens implements OnApplicationShutdown {
  private readonly logger = new Logger('RevokedTokens');

  private constructor(
    private readonly client: RedisCommands,
    private readonly prefix: string,
  ) {
    super();
  }

  static async connect(url: string, prefix = 'sample:revoked-jti:'): Promise<RedisRevokedTokens> {
    const client = createClient({ url });
    const store = new RedisRevokedTokens(client as unknown as RedisCommands, prefix);
    client.on('error', (err: Error) => store.logger.warn(`Redis: ${err.message}`));
    await client.connect();
    return store;
  }

  async add(jti: string, expiresAt: number): Promise<void> {
    const ms = Math.ceil(expiresAt - Date.now());
    if (ms > 0) await this.client.set(this.prefix + jti, '1', { expiration: { type: 'PX', value: ms } });
  }

  // When Redis cannot answer this throws, and the token is refused: fail closed.
  async has(jti: string): Promise<boolean> {
    return (await this.client.exists(this.prefix + jti)) === 1;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.client.isOpen) await this.client.quit().catch(() => undefined);
  }
}

/** In Redis when REDIS_URL is set, so a logout on one node is refused by all of them; in memory otherwise. */
export const revokedTokensProvider = {
  provide: RevokedTokens,
  useFactory: async (): Promise<RevokedTokens> => {
    const url = process.env.REDIS_URL;
    if (!url) return new MemoryRevokedTokens();
    authSecret(); // refuses a cluster without a shared secret before anything connects
    return RedisRevokedTokens.connect(url, process.env.REVOKED_TOKENS_PREFIX);
  },
};
