import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type {
  AuthSocketModuleAsyncOptions,
  AuthSocketModuleOptions,
  AuthSocketOptionsFactory,
  AuthStrategyRef,
} from './auth-socket-module-options.interface.js';
import { AUTH_SOCKET_OPTIONS, AUTH_STRATEGY } from './auth-socket.constants.js';
import { type AuthSocketOptions, resolveOptions } from './auth-socket.options.js';
import type { AuthStrategy } from './auth-strategy.interface.js';
import { AuthSocketService } from './nest/auth-socket.service.js';
import { AuthenticatedGuard } from './nest/authenticated.guard.js';
import { GatewayHooks } from './nest/gateway-hooks.js';
import { IoAdapterHook } from './nest/io-adapter.hook.js';

/** Factory-returned options, before the strategy is split off. */
const RAW_OPTIONS = Symbol('AUTH_SOCKET_RAW_OPTIONS');

/**
 * Post-connection authentication for every socket.io gateway of the app.
 * Importing it is all the wiring: no adapter, no `@WebSocketServer()` needed.
 */
@Module({})
export class AuthSocketModule {
  static forRoot(options: AuthSocketModuleOptions): DynamicModule {
    const { strategy, imports, ...rest } = options;
    return this.build(imports ?? [], [{ provide: AUTH_SOCKET_OPTIONS, useValue: resolveOptions(rest) }, strategyProvider(strategy)]);
  }

  static forRootAsync(options: AuthSocketModuleAsyncOptions): DynamicModule {
    const raw = rawOptionsProvider(options);
    const providers: Provider[] = [
      raw,
      ...(options.useClass ? [{ provide: options.useClass, useClass: options.useClass }] : []),
      ...(options.extraProviders ?? []),
      {
        provide: AUTH_SOCKET_OPTIONS,
        useFactory: (given: AuthSocketOptions & { strategy?: AuthStrategy }) => {
          const { strategy: _ignored, ...rest } = given;
          return resolveOptions(rest);
        },
        inject: [RAW_OPTIONS],
      },
      options.strategy !== undefined
        ? strategyProvider(options.strategy)
        : {
            provide: AUTH_STRATEGY,
            useFactory: (given: { strategy?: AuthStrategy }) => {
              if (!isStrategyInstance(given.strategy)) {
                throw new Error('AuthSocketModule.forRootAsync: give `strategy`, or return a strategy instance from the factory');
              }
              return given.strategy;
            },
            inject: [RAW_OPTIONS],
          },
    ];
    return this.build(options.imports ?? [], providers);
  }

  private static build(imports: NonNullable<AuthSocketModuleOptions['imports']>, providers: Provider[]): DynamicModule {
    return {
      module: AuthSocketModule,
      global: true,
      imports: [DiscoveryModule, ...imports],
      providers: [
        ...providers,
        GatewayHooks,
        AuthSocketService,
        IoAdapterHook,
        AuthenticatedGuard,
      ],
      exports: [AuthSocketService, AuthenticatedGuard],
    };
  }
}

function isStrategyInstance(value: unknown): value is AuthStrategy {
  return typeof value === 'object' && value !== null && typeof (value as AuthStrategy).authenticate === 'function';
}

function strategyProvider(strategy: AuthStrategyRef): Provider {
  if (strategy === undefined || strategy === null) throw new Error('AuthSocketModule: `strategy` is required');
  if (isStrategyInstance(strategy)) return { provide: AUTH_STRATEGY, useValue: strategy };
  if (typeof strategy === 'function' && strategy.prototype && typeof strategy.prototype.authenticate === 'function') {
    return { provide: AUTH_STRATEGY, useClass: strategy as new (...args: unknown[]) => AuthStrategy };
  }
  return { provide: AUTH_STRATEGY, useExisting: strategy };
}

function rawOptionsProvider(options: AuthSocketModuleAsyncOptions): Provider {
  if (options.useFactory) return { provide: RAW_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] };
  const factory = options.useClass ?? options.useExisting;
  if (!factory) throw new Error('AuthSocketModule.forRootAsync: give useFactory, useClass or useExisting');
  return {
    provide: RAW_OPTIONS,
    useFactory: (f: AuthSocketOptionsFactory) => f.createAuthSocketOptions(),
    inject: [factory],
  };
}
