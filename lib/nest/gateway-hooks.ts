import { Injectable } from '@nestjs/common';
import { DiscoveryService, HttpAdapterHost } from '@nestjs/core';
// Gateway metadata keys; Nest exports them for its sibling packages.
import { GATEWAY_METADATA, GATEWAY_OPTIONS, PORT_METADATA } from '@nestjs/websockets/constants.js';
import type { Namespace, Socket } from 'socket.io';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import type { OnGatewayAuthenticated } from './on-gateway-authenticated.interface.js';

type GatewayNamespace = string | RegExp | ((...args: unknown[]) => unknown) | undefined;

interface Gateway {
  instance: OnGatewayAuthenticated;
  namespace: GatewayNamespace;
  port: number;
}

/** Finds the gateways serving a namespace and calls their `handleAuthenticated`. */
@Injectable()
export class GatewayHooks {
  private gateways?: Gateway[];
  private readonly byNamespace = new WeakMap<Namespace, Gateway[]>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly httpAdapterHost: HttpAdapterHost,
  ) {}

  async handleAuthenticated(socket: Socket, principal: AuthPrincipal): Promise<void> {
    for (const gateway of this.gatewaysOf(socket.nsp)) await gateway.instance.handleAuthenticated(socket, principal);
  }

  private gatewaysOf(nsp: Namespace): Gateway[] {
    let found = this.byNamespace.get(nsp);
    if (!found) {
      const port = this.portOf(nsp);
      found = this.all().filter((g) => g.port === port && matches(g.namespace, nsp.name));
      this.byNamespace.set(nsp, found);
    }
    return found;
  }

  private all(): Gateway[] {
    this.gateways ??= this.discovery
      .getProviders()
      .filter((w) => w.metatype && w.instance && Reflect.getMetadata(GATEWAY_METADATA, w.metatype))
      .filter((w) => typeof (w.instance as Partial<OnGatewayAuthenticated>).handleAuthenticated === 'function')
      .map((w) => ({
        instance: w.instance as OnGatewayAuthenticated,
        namespace: (Reflect.getMetadata(GATEWAY_OPTIONS, w.metatype!) ?? {}).namespace,
        port: Reflect.getMetadata(PORT_METADATA, w.metatype!) ?? 0,
      }));
    return this.gateways;
  }

  /** 0 for the app's own HTTP server (as in `@WebSocketGateway()`), else the port a gateway listens on. */
  private portOf(nsp: Namespace): number {
    const httpServer = (nsp.server as unknown as { httpServer?: { address(): unknown } }).httpServer;
    if (!httpServer || httpServer === this.httpAdapterHost.httpAdapter?.getHttpServer()) return 0;
    const address = httpServer.address() as { port?: number } | null;
    return address?.port ?? 0;
  }
}

function matches(namespace: GatewayNamespace, name: string): boolean {
  if (namespace === undefined) return name === '/';
  if (typeof namespace === 'string') return (namespace.startsWith('/') ? namespace : `/${namespace}`) === name;
  if (namespace instanceof RegExp) return namespace.test(name);
  return false;
}
