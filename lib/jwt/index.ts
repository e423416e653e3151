/**
 * `nestjs-socket-auth/jwt`: a ready-made strategy on `@nestjs/jwt`. Its own
 * entry point, so apps without `@nestjs/jwt` never load it.
 */
export { JwtSocketStrategy, type JwtClaims, type JwtValidateResult } from './jwt-socket.strategy.js';
