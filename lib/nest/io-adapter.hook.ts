import { Inject, Injectable } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import type { WebSocketAdapter } from '@nestjs/common';
import type { Namespace, Server } from 'socket.io';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import { AUTH_SOCKET_OPTIONS } from '../auth-socket.constants.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import { AuthSocketService } from './auth-socket.service.js';
import { GatewayHooks } from './gateway-hooks.js';

const HOOKED = Symbol('nestjs-socket-auth.hooked');

/**
 * Reaches every gateway's socket.io server without user wiring, whatever
 * IoAdapter the app uses (its own subclass, the Redis one, or Nest's default).
 *
 * Nest hands each gateway's server to `adapter.bindClientConnect()` before
 * anything can connect; we attach there. The adapter is set on
 * `ApplicationConfig` after this provider exists (`app.useWebSocketAdapter()`,
 * or Nest's default in `app.init()`), so `setIoAdapter` is wrapped to catch it.
 */
@Injectable()
export class IoAdapterHook {
  constructor(
    config: ApplicationConfig,
    service: AuthSocketService,
    hooks: GatewayHooks,
    @Inject(AUTH_SOCKET_OPTIONS) options: ResolvedAuthSocketOptions,
  ) {
    const hook = (adapter: WebSocketAdapter | null): void => {
      if (!adapter || (adapter as unknown as Record<symbol, boolean>)[HOOKED]) return;
      (adapter as unknown as Record<symbol, boolean>)[HOOKED] = true;
      const bindClientConnect = adapter.bindClientConnect.bind(adapter);
      adapter.bindClientConnect = (server: Namespace | Server, callback: (...args: unknown[]) => void) => {
        const nsp = namespaceOf(server);
        // Asked of the namespace itself, or, for a RegExp gateway, of each child namespace as socket.io creates it:
        // the parent Nest passes is named like "/_0", which neither `@PublicNamespace()` lookup nor a listed RegExp matches.
        const isPublic = (n: Namespace): boolean =>
          hooks.isPublic(n) || isListedPublic(options.publicNamespaces, n.name);
        service.attach(nsp, { isPublic });
        return bindClientConnect(server, callback);
      };
    };
    const setIoAdapter = config.setIoAdapter.bind(config);
    config.setIoAdapter = (adapter: WebSocketAdapter) => {
      hook(adapter);
      return setIoAdapter(adapter);
    };
    hook(config.getIoAdapter());
  }
}

/** The socket.io namespace behind what Nest passes, or a clear refusal for other WebSocket adapters. */
function namespaceOf(server: unknown): Namespace {
  const candidate = server as { of?: unknown; use?: unknown; adapter?: unknown; name?: unknown };
  if (typeof candidate?.of === 'function' && typeof candidate.use === 'function') return (server as Server).of('/');
  if (typeof candidate?.use === 'function' && typeof candidate.name === 'string' && candidate.adapter)
    return server as Namespace;
  throw new AuthSocketConfigError(
    'AUTH_SOCKET_INVALID_GATEWAY',
    'supports socket.io gateways only (@nestjs/platform-socket.io, or an IoAdapter subclass). ' +
      'This app uses another WebSocket adapter (for example @nestjs/platform-ws), which has no namespaces, rooms or middleware to gate.',
  );
}

function isListedPublic(list: ReadonlyArray<string | RegExp>, name: string): boolean {
  return list.some((entry) =>
    typeof entry === 'string' ? (entry.startsWith('/') ? entry : `/${entry}`) === name : entry.test(name),
  );
}
