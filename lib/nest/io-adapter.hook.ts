import { Injectable } from '@nestjs/common';
import { ApplicationConfig } from '@nestjs/core';
import type { WebSocketAdapter } from '@nestjs/common';
import type { Namespace, Server } from 'socket.io';
import { AuthSocketService } from './auth-socket.service.js';

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
  constructor(config: ApplicationConfig, service: AuthSocketService) {
    const hook = (adapter: WebSocketAdapter | null): void => {
      if (!adapter || (adapter as unknown as Record<symbol, boolean>)[HOOKED]) return;
      (adapter as unknown as Record<symbol, boolean>)[HOOKED] = true;
      const bindClientConnect = adapter.bindClientConnect.bind(adapter);
      adapter.bindClientConnect = (server: Namespace | Server, callback: (...args: unknown[]) => void) => {
        service.attach(server);
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
