/**
 * `nestjs-socket-auth/throttler`: per-principal message rate limits on
 * `@nestjs/throttler`. Its own entry point, so apps without the throttler
 * never load it.
 */
export { SocketThrottlerGuard } from './socket-throttler.guard.js';
