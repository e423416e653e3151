/**
 * The app the regression tests share: two gated namespaces whose gateways'
 * `handleAuthenticated` join `team:<principal>` (optionally slowly), with or
 * without connection-state recovery, and multiplexed clients.
 */
import { ConnectedSocket, SubscribeMessage, WebSocketGateway, WebSocketServer } from '@nestjs/websockets';
import type { INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Namespace, Server, ServerOptions, Socket } from 'socket.io';
import { Manager, type Socket as ClientSocket } from 'socket.io-client';
import {
  Authenticated,
  type AuthPrincipal,
  type AuthSocketModuleOptions,
  type OnGatewayAuthenticated,
} from '../../lib/index.js';
import { closeClients, type connect, createApp, sleep, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

/** Hook runs, as `${namespace} ${principal}`, per server socket id. */
export const hooks = new Map<string, string[]>();
/** How long each `handleAuthenticated` takes. */
export const hookDelay = { ms: 0 };

async function joinTeam(client: Socket, principal: AuthPrincipal): Promise<void> {
  hooks.set(client.id, [...(hooks.get(client.id) ?? []), `${client.nsp.name} ${principal.id}`]);
  if (hookDelay.ms) await sleep(hookDelay.ms);
  await client.join(`team:${principal.id}`);
}

@WebSocketGateway()
class RootGateway implements OnGatewayAuthenticated {
  @WebSocketServer() server!: Server;

  handleAuthenticated(client: Socket, principal: AuthPrincipal): Promise<void> {
    return joinTeam(client, principal);
  }

  @Authenticated()
  @SubscribeMessage('guarded')
  guarded(@ConnectedSocket() client: Socket): string {
    return client.id;
  }
}

@WebSocketGateway({ namespace: '/b' })
class BGateway implements OnGatewayAuthenticated {
  handleAuthenticated(client: Socket, principal: AuthPrincipal): Promise<void> {
    return joinTeam(client, principal);
  }
}

/** Nest's IoAdapter with socket.io's connection-state recovery on. */
class RecoveryAdapter extends IoAdapter {
  override createIOServer(port: number, options?: ServerOptions): Server {
    return super.createIOServer(port, {
      ...options,
      connectionStateRecovery: { maxDisconnectionDuration: 60_000 },
    } as ServerOptions);
  }
}

export class RegressionApp {
  t!: TestApp;
  private readonly managers: Manager[] = [];

  async start(options: Partial<AuthSocketModuleOptions> = {}, recovery = false): Promise<TestApp> {
    const configure = (app: INestApplication): void =>
      void (recovery && app.useWebSocketAdapter(new RecoveryAdapter(app)));
    this.t = await createApp(
      { ...tokenAuth, timeout: 10_000, ...options },
      { providers: [RootGateway, BGateway] },
      configure,
    );
    return this.t;
  }

  nsp(name: '/' | '/b'): Namespace {
    return this.t.app.get(RootGateway).server.of(name);
  }

  serverSocket(nsp: Namespace, id: string): Socket {
    return nsp.sockets.get(id)!;
  }

  /** One client connection with a socket on each namespace, neither connected yet. */
  multiplexed(): { root: ClientSocket; b: ClientSocket } {
    const manager = new Manager(this.t.url, { transports: ['websocket'], reconnection: false, autoConnect: false });
    this.managers.push(manager);
    return { root: manager.socket('/'), b: manager.socket('/b') };
  }

  async stop(): Promise<void> {
    closeClients();
    for (const manager of this.managers.splice(0)) for (const nsp of ['/', '/b']) manager.socket(nsp).disconnect();
    await this.t?.close();
    hooks.clear();
    hookDelay.ms = 0;
  }
}

/** Every event `client` receives, in order, as `event` or `event:payload` for broadcasts. */
export function events(client: ReturnType<typeof connect> | ClientSocket): string[] {
  const seen: string[] = [];
  client.onAny((event: string, payload: unknown) => seen.push(event === 'bc' ? `bc:${payload}` : event));
  return seen;
}
