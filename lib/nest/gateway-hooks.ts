import { Injectable } from '@nestjs/common';
import { DiscoveryService, HttpAdapterHost } from '@nestjs/core';
// Gateway metadata keys; Nest exports them for its sibling packages.
import { GATEWAY_METADATA, GATEWAY_OPTIONS, PORT_METADATA } from '@nestjs/websockets/constants.js';
import type { Namespace, Socket } from 'socket.io';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import { PUBLIC_NAMESPACE_METADATA } from '../auth-socket.constants.js';
import { childrenOf } from '../core/broadcast-gate.js';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import type { OnGatewayAuthenticated } from './on-gateway-authenticated.interface.js';
import type { OnGatewayPrincipalChanged } from './on-gateway-principal-changed.interface.js';

type GatewayInstance = Partial<OnGatewayAuthenticated & OnGatewayPrincipalChanged>;

type GatewayNamespace = string | RegExp | ((...args: unknown[]) => unknown) | undefined;

interface Gateway {
  name: string;
  instance: GatewayInstance;
  namespace: GatewayNamespace;
  port: number;
  path: string;
  isPublic: boolean;
}

/** Finds the gateways serving a namespace: their `handleAuthenticated`, and whether they declared it public. */
@Injectable()
export class GatewayHooks {
  private gateways?: Gateway[];
  private readonly byNamespace = new WeakMap<Namespace, Gateway[]>();
  /** Those of them with `handleAuthenticated`: asked on every connection, so kept rather than filtered each time. */
  private readonly hookedByNamespace = new WeakMap<Namespace, Gateway[]>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly httpAdapterHost: HttpAdapterHost,
  ) {}

  async handleAuthenticated(socket: Socket, principal: AuthPrincipal): Promise<void> {
    for (const gateway of this.gatewaysOf(socket.nsp)) await gateway.instance.handleAuthenticated?.(socket, principal);
  }

  /** Whether a gateway of the socket's namespace implements `handleAuthenticated` (so the hooks step is timed). */
  wantsAuthenticated(socket: Socket): boolean {
    return this.gatewaysOf(socket.nsp).length > 0;
  }

  /** Whether a gateway of the socket's namespace implements `handlePrincipalChanged`. */
  wantsPrincipalChanged(socket: Socket): boolean {
    return this.gatewaysOf(socket.nsp, true).some((g) => typeof g.instance.handlePrincipalChanged === 'function');
  }

  async handlePrincipalChanged(socket: Socket, principal: AuthPrincipal, previous: AuthPrincipal): Promise<void> {
    for (const gateway of this.gatewaysOf(socket.nsp, true))
      await gateway.instance.handlePrincipalChanged?.(socket, principal, previous);
  }

  /**
   * Whether the gateways serving `nsp` declared it `@PublicNamespace()`. Gateways that
   * disagree are a misconfiguration: refuse to start, naming both.
   */
  isPublic(nsp: Namespace): boolean {
    const gateways = this.gatewaysOf(nsp, true);
    const marked = gateways.filter((g) => g.isPublic);
    const unmarked = gateways.filter((g) => !g.isPublic);
    if (marked.length && unmarked.length) {
      throw new AuthSocketConfigError(
        'AUTH_SOCKET_INVALID_GATEWAY',
        `gateways ${marked[0].name} (@PublicNamespace()) and ${unmarked[0].name} (gated) serve the same namespace "${nsp.name}"; ` +
          'mark both @PublicNamespace() or neither',
      );
    }
    return marked.length > 0;
  }

  private gatewaysOf(nsp: Namespace, all = false): Gateway[] {
    let found = this.byNamespace.get(nsp);
    if (!found) {
      // Gateways are matched by namespace name; a RegExp gateway's parent ("/_0") would match none, silently.
      if (childrenOf(nsp))
        throw new Error(
          `nestjs-socket-auth: gateways were looked up for the parent namespace "${nsp.name}" of a RegExp gateway; ` +
            'only its child namespaces have gateways by name',
        );
      const port = this.portOf(nsp);
      const path = (nsp.server as unknown as { path(): string }).path();
      found = this.all().filter((g) => g.port === port && g.path === path && matches(g.namespace, nsp.name));
      this.byNamespace.set(nsp, found);
      this.hookedByNamespace.set(
        nsp,
        found.filter((g) => typeof g.instance.handleAuthenticated === 'function'),
      );
    }
    return all ? found : this.hookedByNamespace.get(nsp)!;
  }

  private all(): Gateway[] {
    this.gateways ??= this.discovery
      .getProviders()
      .filter((w) => w.metatype && w.instance && Reflect.getMetadata(GATEWAY_METADATA, w.metatype))
      .map((w) => {
        const options = Reflect.getMetadata(GATEWAY_OPTIONS, w.metatype!) ?? {};
        return {
          name: (w.metatype as { name: string }).name,
          instance: w.instance as GatewayInstance,
          namespace: options.namespace,
          port: Reflect.getMetadata(PORT_METADATA, w.metatype!) ?? 0,
          path: options.path ?? '/socket.io',
          isPublic: !!Reflect.getMetadata(PUBLIC_NAMESPACE_METADATA, w.metatype!),
        };
      });
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
