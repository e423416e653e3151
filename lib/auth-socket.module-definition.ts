import { ConfigurableModuleBuilder, type DynamicModule, type ModuleMetadata, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type {
  AuthSocketAsyncResult,
  AuthSocketModuleAsyncOptions,
  AuthSocketModuleOptions,
  AuthStrategyRef,
} from './auth-socket-module-options.interface.js';
import { AUTH_SOCKET_OPTIONS, AUTH_STRATEGY } from './auth-socket.constants.js';
import { resolveOptions } from './auth-socket.options.js';
import type { AuthStrategy } from './auth-strategy.interface.js';
import { AuthSocketService } from './nest/auth-socket.service.js';
import { AuthenticatedGuard } from './nest/authenticated.guard.js';
import { GatewayHooks } from './nest/gateway-hooks.js';
import { IoAdapterHook } from './nest/io-adapter.hook.js';

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
      extras.strategy !== undefined ? strategyProvider(extras.strategy) : strategyFromFactory,
      GatewayHooks,
      AuthSocketService,
      IoAdapterHook,
      AuthenticatedGuard,
    ],
    exports: [AuthSocketService, AuthenticatedGuard],
  };
}

function isStrategyInstance(value: unknown): value is AuthStrategy {
  return typeof value === 'object' && value !== null && typeof (value as AuthStrategy).authenticate === 'function';
}

function strategyProvider(strategy: AuthStrategyRef): Provider {
  if (strategy === null) throw new Error('AuthSocketModule: `strategy` is required');
  if (isStrategyInstance(strategy)) return { provide: AUTH_STRATEGY, useValue: strategy };
  if (typeof strategy === 'function' && typeof strategy.prototype?.authenticate === 'function') {
    return { provide: AUTH_STRATEGY, useClass: strategy as new (...args: unknown[]) => AuthStrategy };
  }
  return { provide: AUTH_STRATEGY, useExisting: strategy };
}

/** forRootAsync without `strategy` beside the factory: the factory must return one. */
const strategyFromFactory: Provider = {
  provide: AUTH_STRATEGY,
  useFactory: ({ strategy }: AuthSocketAsyncResult) => {
    if (!isStrategyInstance(strategy)) {
      throw new Error('AuthSocketModule.forRootAsync: give `strategy`, or return a strategy instance from the factory');
    }
    return strategy;
  },
  inject: [MODULE_OPTIONS_TOKEN],
};
