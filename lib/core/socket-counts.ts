/**
 * The bookkeeping behind admission's limits: which sockets each engine.io
 * connection opened, and which live sockets each address holds. Plain data
 * structures with no policy; admission.ts decides what the counts allow.
 */
import type { Socket } from 'socket.io';
import { isConnectingOrConnected } from './broadcast-gate.js';

/**
 * The last socket each engine.io connection opened on each namespace, weakly
 * keyed by the connection. Most connections use one namespace, so a lone
 * socket is stored bare: a Map per connection would cost more than the rest of
 * this file.
 */
export class OpenedSockets {
  private readonly byConnection = new WeakMap<object, Socket | Map<string, Socket>>();

  get(connection: object, namespace: string): Socket | undefined {
    const entry = this.byConnection.get(connection);
    if (!(entry instanceof Map)) return entry?.nsp.name === namespace ? entry : undefined;
    return entry.get(namespace);
  }

  set(socket: Socket): void {
    const entry = this.byConnection.get(socket.conn);
    if (!entry || (!(entry instanceof Map) && entry.nsp.name === socket.nsp.name)) {
      this.byConnection.set(socket.conn, socket);
      return;
    }
    const map = entry instanceof Map ? entry : new Map([[entry.nsp.name, entry]]);
    map.set(socket.nsp.name, socket);
    this.byConnection.set(socket.conn, map);
  }

  /** The connection's sockets that are still connected or connecting; gone ones are forgotten. */
  live(connection: object): Socket[] {
    const entry = this.byConnection.get(connection);
    if (!entry) return [];
    if (!(entry instanceof Map)) return isConnectingOrConnected(entry) ? [entry] : [];
    for (const [name, socket] of entry) if (!isConnectingOrConnected(socket)) entry.delete(name);
    return [...entry.values()];
  }
}

/** Live sockets by id, with their address, and how many each address holds: the floor under a store's count. */
export class LiveCounts {
  private readonly byId = new Map<string, string>();
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly prefix: string) {}

  key(address: string): string {
    return `${this.prefix}:${address}`;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  set(id: string, address: string): void {
    if (this.byId.has(id)) return;
    this.byId.set(id, address);
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
  }

  /** The address the id was counted under, or undefined when it was not counted. */
  delete(id: string): string | undefined {
    const address = this.byId.get(id);
    if (address === undefined) return undefined;
    this.byId.delete(id);
    const left = this.byAddress.get(address)! - 1;
    if (left) this.byAddress.set(address, left);
    else this.byAddress.delete(address);
    return address;
  }

  at(address: string): number {
    return this.byAddress.get(address) ?? 0;
  }

  addresses(): IterableIterator<string> {
    return this.byAddress.keys();
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  get size(): number {
    return this.byId.size;
  }
}
