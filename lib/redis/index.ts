/**
 * `nestjs-socket-auth/redis`: IoAdapters wired to `@socket.io/redis-adapter`
 * (pub/sub) or `@socket.io/redis-streams-adapter` (streams, for cross-node
 * connection-state recovery), and a Redis store that gives every node one
 * abuse-limit budget. The adapter packages and `redis` are optional peer
 * dependencies; the core never imports this entry point.
 */
export { RedisIoAdapter, type RedisIoAdapterOptions } from './redis-io.adapter.js';
export { RedisStreamsIoAdapter, type RedisStreamsIoAdapterOptions } from './redis-streams-io.adapter.js';
export { RedisLimitStore, type RedisLimitStoreOptions } from './redis-limit-store.js';
export { RedisRevocationStore, type RedisRevocationStoreOptions } from './redis-revocation-store.js';
