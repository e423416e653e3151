/** Injection token of the resolved options. */
export const AUTH_SOCKET_OPTIONS = Symbol('AUTH_SOCKET_OPTIONS');
/** Injection token of the app's `AuthStrategy`. */
export const AUTH_STRATEGY = Symbol('AUTH_STRATEGY');
/** Metadata key set by `@Authenticated()`. */
export const AUTHENTICATED_METADATA = 'nestjs-socket-auth:authenticated';
/** Metadata key set by `@PublicNamespace()` on a gateway class. */
export const PUBLIC_NAMESPACE_METADATA = 'nestjs-socket-auth:public-namespace';
/** @internal Injection token of the telemetry factory (OpenTelemetry when the app has it, else nothing). */
export const AUTH_SOCKET_TELEMETRY = Symbol('AUTH_SOCKET_TELEMETRY');
/** @internal The package's version, as its instrumentation scope says it (checked against package.json by a test). */
export const LIBRARY_VERSION = '0.2.0';
