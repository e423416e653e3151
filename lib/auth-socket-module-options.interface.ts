import type { InjectionToken, ModuleMetadata, Provider, Type } from '@nestjs/common';
import type { AuthSocketOptions } from './auth-socket.options.js';
import type { AuthStrategy } from './auth-strategy.interface.js';

/**
 * The strategy: a class Nest instantiates (so it can inject the app's services),
 * the token of a provider that exists already, or a ready instance.
 */
export type AuthStrategyRef = Type<AuthStrategy> | InjectionToken<AuthStrategy> | AuthStrategy;

/** What an async factory returns: the options, and optionally the strategy as an instance. */
export type AuthSocketAsyncResult = AuthSocketOptions & { strategy?: AuthStrategy };

export interface AuthSocketModuleOptions extends AuthSocketOptions {
  /** Checks the credentials. Required. */
  strategy: AuthStrategyRef;
  /** Modules the strategy's dependencies come from, when they are not global. */
  imports?: ModuleMetadata['imports'];
  /** Providers the strategy needs that no imported module exports. */
  extraProviders?: Provider[];
}

/** A class `forRootAsync({ useClass })` instantiates, or `useExisting` names, to produce the options. */
export interface AuthSocketOptionsFactory {
  /** Returns the options (and optionally the strategy, as an instance); may be async. */
  createAuthSocketOptions(): Promise<AuthSocketAsyncResult> | AuthSocketAsyncResult;
}

/**
 * `forRootAsync()`: the options come from `useFactory`, `useClass` or
 * `useExisting`, for example from `ConfigService`.
 */
export interface AuthSocketModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** The strategy, as in `forRoot`. A factory may instead return `strategy` as an instance. */
  strategy?: AuthStrategyRef;
  /** Returns the options from the `inject` providers; may be async. */
  useFactory?: (...args: any[]) => Promise<AuthSocketAsyncResult> | AuthSocketAsyncResult;
  inject?: InjectionToken[];
  useClass?: Type<AuthSocketOptionsFactory>;
  useExisting?: InjectionToken<AuthSocketOptionsFactory>;
  /** Providers the factory or the strategy need. */
  extraProviders?: Provider[];
  /** Providers of the calling module to pick the `inject` tokens from (Nest's `ConfigurableModuleBuilder` option). */
  provideInjectionTokensFrom?: Provider[];
}
