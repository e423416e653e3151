/**
 * `nestjs-socket-auth/jwks`: tokens from identity providers (OpenID Connect,
 * Auth0, Keycloak, Cognito, Entra ID…) verified against their published keys,
 * on `jose`. Its own entry point, so apps that mint their own tokens never
 * load `jose`, and apps that only verify never need `@nestjs/jwt`.
 */
export { JwksSocketStrategy, type JwksIssuer, type JwksStrategyOptions } from './jwks-socket.strategy.js';
export type { JwtClaims } from '../jwt-claims.js';
