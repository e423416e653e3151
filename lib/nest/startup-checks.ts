import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import { AUTH_SOCKET_OPTIONS, AUTHENTICATED_METADATA } from '../auth-socket.constants.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import { IoAdapterHook } from './io-adapter.hook.js';
import { GATEWAY_METADATA, MESSAGE_METADATA } from '@nestjs/websockets/constants.js';

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
    @Inject(AUTH_SOCKET_OPTIONS) private readonly options: ResolvedAuthSocketOptions,
  ) {}

  onModuleInit(): void {
    this.refuseSecondModule();
    this.refuseOnControllers();
    this.refuseTakenEvents();
  }

  /**
   * A gateway handler on an event the module answers itself would run too,
   * and the client would get whichever ack came first: say so, and how to rename.
   */
  private refuseTakenEvents(): void {
    const { events, clientRooms } = this.options;
    const taken = new Map<string, string>([[events.authentication, 'events.authentication']]);
    if (clientRooms) {
      taken.set(events.join, 'events.join');
      taken.set(events.leave, 'events.leave');
    }
    for (const { metatype, instance } of this.discovery.getProviders()) {
      if (!metatype || !instance || !Reflect.getMetadata(GATEWAY_METADATA, metatype)) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, object>;
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const pattern: unknown = Reflect.getMetadata(MESSAGE_METADATA, prototype[method]!);
        const option = typeof pattern === 'string' ? taken.get(pattern) : undefined;
        if (!option) continue;
        throw new AuthSocketConfigError(
          'AUTH_SOCKET_INVALID_GATEWAY',
          `${(metatype as { name: string }).name}.${method}() subscribes to "${pattern as string}", which the module ` +
            `answers itself (${option}): rename the handler's message, or the module's event with the ${option} option`,
        );
      }
    }
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
