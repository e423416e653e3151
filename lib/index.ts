export { AuthSocketModule } from './auth-socket.module.js';
export type {
  AuthSocketAsyncResult,
  AuthSocketModuleAsyncOptions,
  AuthSocketModuleOptions,
  AuthSocketOptionsFactory,
  AuthStrategyRef,
} from './auth-socket-module-options.interface.js';
export { AuthSocketDefaults, type AuthEventNames, type AuthSocketOptions } from './auth-socket.options.js';
export type { AuthContext, AuthPrincipal, AuthStrategy, RevalidationContext } from './auth-strategy.interface.js';
export type { AuthOutcome } from './auth-outcome.interface.js';
export {
  AuthenticationError,
  StrategyUnavailableError,
  AUTH_ERROR_CODES,
  type AuthErrorCode,
  type AuthErrorPayload,
  type RefreshRequiredPayload,
} from './auth-errors.js';
export { AUTH_SOCKET_OPTIONS, AUTH_STRATEGY } from './auth-socket.constants.js';
export { Authenticated } from './nest/authenticated.decorator.js';
export { Public, PublicNamespace } from './nest/public.decorator.js';
export { HttpOnly, isGatewayContext } from './nest/http-only.guard.js';
export { AuthSocketException } from './auth-socket.exception.js';
export { AuthSocketConfigError, type AuthSocketConfigErrorCode } from './auth-socket-config.error.js';
export type { AuthPredicate, AuthRequirement } from './auth-requirement.js';
export type {
  AuthSocketHealth,
  EndResult,
  RevalidateResult,
  RevokeResult,
  SessionsResult,
} from './core/socket-auth.js';
export type { RoomPolicy, RoomPredicate, RoomRequest, RoomRequirement } from './core/room-policies.js';
export type { RoomLeftPayload } from './core/room-guard.js';
export type { SessionInfo } from './core/session-limit.js';
export type { TelemetryOptions } from './core/telemetry.js';
export type { RevokeOptions, RevokeTarget } from './core/revocations.js';
export { MemoryLimitStore, type LimitStore, type StoreHealth } from './core/limit-store.js';
export {
  MemoryRevocationStore,
  type Revocation,
  type RevocationStore,
  type RevocationSubject,
} from './core/revocation-store.js';
export { anyStrategy, type StrategyChoice } from './any-strategy.js';
export { AuthUser } from './nest/auth-user.decorator.js';
export { AuthSocketService } from './nest/auth-socket.service.js';
export { AuthenticatedGuard } from './nest/authenticated.guard.js';
export type { OnGatewayAuthenticated } from './nest/on-gateway-authenticated.interface.js';
export type { OnGatewayPrincipalChanged } from './nest/on-gateway-principal-changed.interface.js';
export { principalRoom } from './core/protocol.js';
export type { SocketAuthData } from './core/session.js';
