import { ConfigurableModuleBuilder, type DynamicModule, type ModuleMetadata, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type {
  AuthSocketAsyncResult,
  AuthSocketModuleAsyncOptions,
  AuthSocketModuleOptions,
  AuthStrategyRef,
} from './auth-socket-module-options.interface.js';
import { AuthSocketConfigError } from './auth-socket-config.error.js';
import { AUTH_SOCKET_OPTIONS, AUTH_SOCKET_TELEMETRY, AUTH_STRATEGY } from './auth-socket.constants.js';
import { type ResolvedAuthSocketOptions, resolveOptions } from './auth-socket.options.js';
import { loadTelemetry } from './telemetry/load.js';
import type { AuthStrategy } from './auth-strategy.interface.js';
import { AuthSocketService } from './nest/auth-socket.service.js';
import { AuthenticatedGuard } from './nest/authenticated.guard.js';
import { GatewayHooks } from './nest/gateway-hooks.js';
import { IoAdapterHook } from './nest/io-adapter.hook.js';
import { StartupChecks } from './nest/startup-checks.js';

/** Everything `forRoot`/`forRootAsync` accept that is module wiring rather than an option. */
interface AuthSocketModuleExtras {
  strategy?: AuthStrategyRef;
  imports?: ModuleMetadata['imports'];
  extraProviders?: Provider[];
}

/**
 * Nest's builder writes `forRoot`/`forRootAsync` (useFactory, useClass,
 * useExisting, inject). It provides what the app gave under
 * MODULE_OPTIONS_TOKEN; the transform below adds the strategy, the
 * validated options and the module's own providers.
 */
const built = new ConfigurableModuleBuilder<AuthSocketAsyncResult>({
  optionsInjectionToken: Symbol('AUTH_SOCKET_MODULE_OPTIONS'),
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createAuthSocketOptions')
  // Every key must be present (even undefined): the builder strips exactly these keys from the options.
  .setExtras<AuthSocketModuleExtras>(
    { strategy: undefined, imports: undefined, extraProviders: undefined },
    withModuleProviders,
  )
  .build();

/**
 * The generated class, typed with this package's option interfaces: the
 * builder's own types make `strategy` optional in `forRoot` and limit
 * `useExisting` to a class, while any injection token works at runtime.
 */
export const ConfigurableModuleClass = built.ConfigurableModuleClass as unknown as {
  new (): object;
  forRoot(options: AuthSocketModuleOptions): DynamicModule;
  forRootAsync(options: AuthSocketModuleAsyncOptions): DynamicModule;
};
/** Provides what the app passed (or its factory returned), before validation. */
export const MODULE_OPTIONS_TOKEN = built.MODULE_OPTIONS_TOKEN;
/** Type carriers only (`typeof OPTIONS_TYPE`); reading them throws. */
export const OPTIONS_TYPE = built.OPTIONS_TYPE as AuthSocketModuleOptions;
export const ASYNC_OPTIONS_TYPE = built.ASYNC_OPTIONS_TYPE as AuthSocketModuleAsyncOptions;

function withModuleProviders(definition: DynamicModule, extras: AuthSocketModuleExtras): DynamicModule {
  return {
    ...definition,
    global: true,
    imports: [DiscoveryModule, ...(definition.imports ?? []), ...(extras.imports ?? [])],
    providers: [
      ...(definition.providers ?? []),
      ...(extras.extraProviders ?? []),
      {
        provide: AUTH_SOCKET_OPTIONS,
        useFactory: ({ strategy: _strategy, ...given }: AuthSocketAsyncResult) => resolveOptions(given),
        inject: [MODULE_OPTIONS_TOKEN],
      },
      ...(extras.strategy !== undefined ? strategyProviders(extras.strategy) : [strategyFromFactory]),
      StartupChecks,
      {
        provide: AUTH_SOCKET_TELEMETRY,
        useFactory: (options: ResolvedAuthSocketOptions) => loadTelemetry(options.telemetry),
        inject: [AUTH_SOCKET_OPTIONS],
      },
      GatewayHooks,
      AuthSocketService,
      IoAdapterHook,
      AuthenticatedGuard,
    ],
    exports: [AuthSocketService, AuthenticatedGuard],
  };
}

/**
 * A strategy class is its own provider, and AUTH_STRATEGY points at it, so
 * `Test.createTestingModule(...).overrideProvider(TokenStrategy)` replaces it
 * as in any Nest app. The factory checks whatever DI resolved, override included.
 */
function strategyProviders(strategy: AuthStrategyRef): Provider[] {
  if (strategy === null) throw new AuthSocketConfigError('AUTH_SOCKET_INVALID_STRATEGY', '`strategy` is required');
  if (typeof strategy === 'object' || typeof strategy === 'function') {
    if (typeof strategy === 'object') {
      checkStrategy(strategy, 'the `strategy` given');
      return [{ provide: AUTH_STRATEGY, useValue: strategy }];
    }
    if (isClass(strategy)) {
      checkStrategy(strategy.prototype, strategy.name);
      return [
        strategy as new (...args: unknown[]) => AuthStrategy,
        { provide: AUTH_STRATEGY, useFactory: checked(strategy.name), inject: [strategy] },
      ];
    }
  }
  // A string or symbol token of a provider the app declares elsewhere.
  return [{ provide: AUTH_STRATEGY, useFactory: checked(String(strategy)), inject: [strategy as string | symbol] }];
}

function isClass(value: unknown): value is (abstract new (...args: never[]) => unknown) & { name: string } {
  return typeof value === 'function' && typeof value.prototype === 'object' && value.prototype !== null;
}

function checked(name: string): (instance: unknown) => AuthStrategy {
  return (instance) => {
    checkStrategy(instance, name);
    return instance as AuthStrategy;
  };
}

/**
 * Refuses what cannot authenticate a socket, naming it: no `authenticate()`,
 * or a Passport strategy, whose `authenticate(req, options)` reads an HTTP
 * request and answers through `this.success()`/`this.fail()`, so it has the
 * method but never returns a principal.
 */
function checkStrategy(candidate: unknown, name: string): void {
  if (isPassportStrategy(candidate))
    throw new AuthSocketConfigError(
      'AUTH_SOCKET_INVALID_STRATEGY',
      `${name} is a Passport strategy, not an AuthStrategy: Passport strategies authenticate HTTP requests and ` +
        'answer through success()/fail(), which a socket message has no place for. Wrap it: ' +
        `strategy: fromPassport(${name}) from nestjs-socket-auth/passport; see docs/strategies.md`,
    );
  if (typeof (candidate as AuthStrategy | null)?.authenticate !== 'function')
    throw new AuthSocketConfigError(
      'AUTH_SOCKET_INVALID_STRATEGY',
      `${name} is not an AuthStrategy: it has no authenticate(credentials, context) method`,
    );
}

/** `PassportStrategy()` from @nestjs/passport adds getPassportInstance(); bare passport strategies inherit passport-strategy's. */
function isPassportStrategy(candidate: unknown): boolean {
  for (
    let proto = candidate as object | null;
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    if (typeof (proto as { getPassportInstance?: unknown }).getPassportInstance === 'function') return true;
    const authenticate = Object.getOwnPropertyDescriptor(proto, 'authenticate')?.value;
    if (typeof authenticate === 'function' && /must be overridden by subclass/.test(String(authenticate))) return true;
  }
  return false;
}

/** forRootAsync without `strategy` beside the factory: the factory must return one. */
const strategyFromFactory: Provider = {
  provide: AUTH_STRATEGY,
  useFactory: ({ strategy }: AuthSocketAsyncResult) => {
    if (strategy === undefined || strategy === null)
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_STRATEGY',
        'forRootAsync: give `strategy`, or return a strategy instance from the factory',
      );
    checkStrategy(strategy, 'the `strategy` the forRootAsync factory returned');
    return strategy;
  },
  inject: [MODULE_OPTIONS_TOKEN],
};
