/**
 * `nestjs-socket-auth/terminus`: a `@nestjs/terminus` health indicator for
 * readiness probes (store connectivity, pending-socket pressure). Its own
 * entry point, so apps without terminus never load it.
 */
export {
  AuthSocketHealthIndicator,
  type AuthSocketHealthDetails,
  type AuthSocketHealthOptions,
} from './auth-socket.health.js';
