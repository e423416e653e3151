import { type DynamicModule, Module } from '@nestjs/common';
import type { AuthSocketModuleAsyncOptions, AuthSocketModuleOptions } from './auth-socket-module-options.interface.js';
import { AuthSocketConfigError } from './auth-socket-config.error.js';
import { ConfigurableModuleClass } from './auth-socket.module-definition.js';
import { resolveOptions } from './auth-socket.options.js';

/**
 * Post-connection authentication for every socket.io gateway of the app.
 * Importing it is all the wiring: no adapter, no `@WebSocketServer()` needed.
 * Global, so `AuthSocketService` can be injected anywhere.
 */
@Module({})
export class AuthSocketModule extends ConfigurableModuleClass {
  /** The module with options known at import time. Validates them at once, so a mistake fails where it is written. */
  static forRoot(options: AuthSocketModuleOptions): DynamicModule {
    if (options?.strategy === undefined || options.strategy === null) {
      throw new AuthSocketConfigError('AUTH_SOCKET_INVALID_STRATEGY', '`strategy` is required');
    }
    // Validate now, so a bad option fails where forRoot() is called.
    const { strategy: _strategy, imports: _imports, extraProviders: _extra, ...given } = options;
    resolveOptions(given);
    return super.forRoot(options);
  }

  /** The module with options from a factory or class (for example `ConfigService`), validated when the app starts. */
  static forRootAsync(options: AuthSocketModuleAsyncOptions): DynamicModule {
    if (!options?.useFactory && !options?.useClass && !options?.useExisting) {
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_OPTION',
        'forRootAsync: give useFactory, useClass or useExisting',
      );
    }
    return super.forRootAsync(options);
  }
}
