/**
 * The real system the model is checked against: a Nest app with two gated
 * namespaces, and socket.io-client managers (one client connection each, with
 * a socket per namespace) over loopback.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { ConnectedSocket, type OnGatewayConnection, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Manager, type Socket as ClientSocket } from 'socket.io-client';
import type { Server, ServerOptions, Socket } from 'socket.io';
import { Authenticated, type AuthPrincipal, type OnGatewayAuthenticated, PublicNamespace } from '../../lib/index.js';
import { createApp, sleep, type TestApp } from '../support/harness.js';
import { tokenAuth } from '../support/strategies.js';

export type Nsp = '/' | '/b' | '/p';
/** Two gated namespaces and a public one ('/p'): anyone hears its broadcasts, its sockets may still authenticate. */
export const NSPS: Nsp[] = ['/', '/b', '/p'];
export const isPublic = (n: Nsp): boolean => n === '/p';
export type Principal = 'alice' | 'bob';
export const PRINCIPALS: Principal[] = ['alice', 'bob'];
export const teamRoom = (p: string): string => `team:${p}`;

export interface Config {
  scope: 'connection' | 'namespace';
  recovery: boolean;
  onExpiry: 'disconnect' | 'reauthenticate';
  /** The module's `handshake` option; clients here never send credentials in the handshake. */
  handshake: boolean;
}

/** What the gateways saw: hook runs and guarded-handler runs, keyed `${nsp}|${sid}`. */
@Injectable()
export class Probe {
  hooks = new Map<string, string[]>();
  guarded = new Map<string, number>();
  /** Set by commands that need authentication to be slow inside the hooks. */
  hookDelayMs = 0;
  /** Called on each server socket's outgoing `unauthorized` (see System.armProbes). */
  onUnauthorized: () => void = () => undefined;
}

function gatewayFor(namespace: Nsp) {
  const publicness: ClassDecorator = isPublic(namespace) ? PublicNamespace() : () => undefined;
  @publicness
  @WebSocketGateway({ namespace })
  class ModelGateway implements OnGatewayAuthenticated, OnGatewayConnection {
    constructor(readonly probe: Probe) {}

    handleConnection(client: Socket): void {
      client.onAnyOutgoing((event) => {
        if (event === 'unauthorized') this.probe.onUnauthorized();
      });
    }

    async handleAuthenticated(client: Socket, principal: AuthPrincipal): Promise<void> {
      const key = `${client.nsp.name}|${client.id}`;
      this.probe.hooks.set(key, [...(this.probe.hooks.get(key) ?? []), principal.id]);
      if (this.probe.hookDelayMs) await sleep(this.probe.hookDelayMs);
      await client.join(teamRoom(principal.id));
    }

    @Authenticated()
    @SubscribeMessage('guarded')
    guarded(@ConnectedSocket() client: Socket): { ok: true; principalId: string } {
      const principalId = (client.data.auth as { principalId: string }).principalId;
      const key = `${client.nsp.name}|${client.id}|${principalId}`;
      this.probe.guarded.set(key, (this.probe.guarded.get(key) ?? 0) + 1);
      return { ok: true, principalId };
    }

    /** Unguarded round trip: once it returns, everything the server wrote before has arrived. */
    @SubscribeMessage('fence')
    fence(): boolean {
      return true;
    }
  }
  return ModelGateway;
}

export const RootGateway = gatewayFor('/');
export const BGateway = gatewayFor('/b');
export const PublicGateway = gatewayFor('/p');

/** Nest's IoAdapter, with connection-state recovery switched on when asked, keeping the Server for the checks. */
class ModelIoAdapter extends IoAdapter {
  server?: Server;
  constructor(
    app: INestApplication,
    private readonly recovery: boolean,
  ) {
    super(app);
  }
  override createIOServer(port: number, options?: ServerOptions): Server {
    const opts = this.recovery
      ? ({ ...options, connectionStateRecovery: { maxDisconnectionDuration: 60_000 } } as ServerOptions)
      : options;
    this.server = super.createIOServer(port, opts);
    return this.server;
  }
}

export type LogEntry =
  | { kind: 'connect' | 'disconnect' | 'authsent'; epoch: number }
  | { kind: 'authenticated' | 'unauthorized'; epoch: number; payload: any }
  | { kind: 'bc'; epoch: number; payload: string };

/** One namespace socket of a client, with everything it received, in order. */
export class RealSocket {
  epoch = 0;
  readonly log: LogEntry[] = [];
  /** How far the receipt checks have read `log`. */
  checked = 0;

  /** The server socket id of the latest connection, kept after it ends (socket.io-client forgets `id`). */
  lastSid?: string;

  constructor(readonly sock: ClientSocket) {
    sock.on('connect', () => {
      this.lastSid = sock.id;
      this.log.push({ kind: 'connect', epoch: ++this.epoch });
    });
    sock.on('disconnect', () => this.log.push({ kind: 'disconnect', epoch: this.epoch }));
    sock.on('authenticated', (payload) => this.log.push({ kind: 'authenticated', epoch: this.epoch, payload }));
    sock.on('unauthorized', (payload) => this.log.push({ kind: 'unauthorized', epoch: this.epoch, payload }));
    sock.on('bc', (payload) => this.log.push({ kind: 'bc', epoch: this.epoch, payload }));
    // A direct server → client emit with an ack: answered whatever the socket's state.
    sock.on('ping', (ack?: (answer: string) => void) => typeof ack === 'function' && ack('pong'));
  }

  get sid(): string | undefined {
    return this.sock.id;
  }

  /** Resolves when a log entry matching `pred` appears after index `from`, or after `ms` regardless. */
  async until(from: number, pred: (e: LogEntry) => boolean, ms = 1000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.log.slice(from).some(pred)) return true;
      await sleep(5);
    }
    return false;
  }

  async authenticate(credentials: unknown, ms = 2000): Promise<any> {
    this.log.push({ kind: 'authsent', epoch: this.epoch });
    try {
      return await this.sock.timeout(ms).emitWithAck('authentication', credentials);
    } catch (err) {
      return { ok: false, noAck: String(err) };
    }
  }
}

export class RealClient {
  readonly manager: Manager;
  readonly sockets: Record<Nsp, RealSocket>;

  constructor(url: string) {
    this.manager = new Manager(url, { transports: ['websocket'], reconnection: false, autoConnect: false });
    this.sockets = {
      '/': new RealSocket(this.manager.socket('/')),
      '/b': new RealSocket(this.manager.socket('/b')),
      '/p': new RealSocket(this.manager.socket('/p')),
    };
  }
}

export interface Broadcast {
  payload: string;
  nsp: Nsp;
  /** The team room it went to; namespace-wide when undefined. */
  room?: Principal;
  /** Keys `${client}|${nsp}|${epoch}` that must receive it; filled at the end of the command for probes. */
  expected?: Set<string>;
  /** Sockets dropped (recoverable) when it was sent, with their principal then: a replay to them is allowed. */
  missedBy?: Map<string, Principal | undefined>;
  checked: boolean;
}

export class System {
  readonly clients: RealClient[];
  readonly broadcasts: Broadcast[] = [];
  readonly probe: Probe;
  private counter = 0;
  private probeScheduled = false;

  private constructor(
    readonly t: TestApp,
    readonly io: Server,
    clientCount: number,
  ) {
    this.probe = t.app.get(Probe);
    this.clients = Array.from({ length: clientCount }, () => new RealClient(t.url));
  }

  static async start(config: Config, clientCount: number): Promise<System> {
    let adapter: ModelIoAdapter | undefined;
    const t = await createApp(
      {
        ...tokenAuth,
        scope: config.scope,
        onExpiry: config.onExpiry,
        handshake: config.handshake,
        timeout: 10_000,
        maxFailuresPerAddress: 0,
        maxPendingPerAddress: 0,
      },
      { providers: [Probe, RootGateway, BGateway, PublicGateway] },
      (app) => {
        adapter = new ModelIoAdapter(app, config.recovery);
        app.useWebSocketAdapter(adapter);
      },
    );
    const system = new System(t, adapter!.server!, clientCount);
    system.armProbes();
    return system;
  }

  /**
   * Right after any socket is told `unauthorized`, broadcast on both namespaces
   * (next tick, so after the whole transition): that socket must not get it.
   */
  private armProbes(): void {
    this.probe.onUnauthorized = () => {
      if (this.probeScheduled) return;
      this.probeScheduled = true;
      process.nextTick(() => {
        this.probeScheduled = false;
        for (const nsp of NSPS) this.broadcast(nsp, undefined, 'probe');
      });
    };
  }

  nsp(n: Nsp) {
    return this.io.of(n);
  }

  serverSocket(c: number, n: Nsp): Socket | undefined {
    const sid = this.clients[c].sockets[n].sid;
    return sid ? this.nsp(n).sockets.get(sid) : undefined;
  }

  broadcast(n: Nsp, room: Principal | undefined, kind = 'bc'): Broadcast {
    const b: Broadcast = { payload: `${kind}${++this.counter}`, nsp: n, room, checked: false };
    this.broadcasts.push(b);
    if (room) this.nsp(n).to(teamRoom(room)).emit('bc', b.payload);
    else this.nsp(n).emit('bc', b.payload);
    return b;
  }

  async close(): Promise<void> {
    for (const c of this.clients) for (const n of NSPS) c.sockets[n].sock.disconnect();
    await this.t.close();
  }
}
