import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import { AUTHENTICATED_METADATA } from '../auth-socket.constants.js';
import { IoAdapterHook } from './io-adapter.hook.js';

/**
 * Mistakes in the app's wiring that would otherwise pass start-up silently
 * and show up later as the wrong behaviour. Runs once per app, at init.
 */
@Injectable()
export class StartupChecks implements OnModuleInit {
  constructor(
    private readonly modules: ModulesContainer,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {}

  onModuleInit(): void {
    this.refuseSecondModule();
    this.refuseOnControllers();
  }

  /**
   * Two `forRoot()` imports make two modules, each hooking every gateway: the
   * last one's strategy and options would silently win for all of them.
   */
  private refuseSecondModule(): void {
    const copies = [...this.modules.values()].filter((m) => m.providers.has(IoAdapterHook));
    if (copies.length > 1)
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_DUPLICATE_MODULE',
        `imported ${copies.length} times (AuthSocketModule.forRoot/forRootAsync): it is global and covers every ` +
          'gateway of the app, so import it once, in the root module. Per-namespace rules go in ' +
          '@Authenticated(requirement) and publicNamespaces',
      );
  }

  /** `@Authenticated()` guards gateway messages only; on a controller it would protect nothing. */
  private refuseOnControllers(): void {
    for (const { metatype, instance } of this.discovery.getControllers()) {
      if (!metatype || !instance) continue;
      const name = (metatype as { name: string }).name;
      const marked = Reflect.getMetadata(AUTHENTICATED_METADATA, metatype) !== undefined;
      const methods = this.scanner
        .getAllMethodNames(Object.getPrototypeOf(instance))
        .filter(
          (m) => Reflect.getMetadata(AUTHENTICATED_METADATA, (instance as Record<string, object>)[m]!) !== undefined,
        );
      if (!marked && !methods.length) continue;
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_NOT_A_GATEWAY',
        `@Authenticated() is on the HTTP controller ${marked ? name : `${name}.${methods[0]}()`}, but it guards ` +
          "socket.io gateway messages only. Protect HTTP routes with the app's own guard (for example " +
          "AuthGuard('jwt') from @nestjs/passport)",
      );
    }
  }
}
