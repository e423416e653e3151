/**
 * Admission answers one question: may this socket start, or this attempt
 * reach the strategy? Origin, one socket per namespace per connection, the
 * pending caps (counted in sockets, not sessions), and the failure budget.
 *
 * Every decision here is synchronous, so a batch of packets decoded in one
 * tick (forty CONNECTs in one long-polling POST) meets the limits one by one.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'socket.io';
import type { AuthErrorCode } from '../auth-errors.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import { isConnectingOrConnected } from './broadcast-gate.js';

interface FailureWindow {
  /** Failures plus attempts in flight (reserved slots). */
  count: number;
  resetAt: number;
}

export class Admission {
  /** Unauthenticated sockets counted in the caps, by socket id (ids are unique across namespaces). */
  private readonly pending = new Map<string, string>();
  private readonly pendingByAddress = new Map<string, number>();
  /** The last socket each connection opened on each namespace. Weak: it dies with the connection. */
  private readonly opened = new WeakMap<object, Map<string, Socket>>();
  private readonly failures = new Map<string, FailureWindow>();
  private sweep?: ReturnType<typeof setInterval>;

  constructor(private readonly options: ResolvedAuthSocketOptions) {}

  /** Client address: the remote address, or the entry the outermost trusted proxy appended. */
  addressOf(request: Pick<IncomingMessage, 'headers'> & { socket?: { remoteAddress?: string } }, remote?: string): string {
    const { trustProxy } = this.options;
    if (trustProxy) {
      const header = request.headers['x-forwarded-for'];
      const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const trusted = trustProxy === true ? 1 : trustProxy;
      // Earlier entries are client-supplied.
      if (hops.length) return hops[Math.max(0, hops.length - trusted)];
    }
    return remote ?? request.socket?.remoteAddress ?? '';
  }

  socketAddress(socket: Socket): string {
    return this.addressOf(socket.handshake, socket.handshake.address);
  }

  /**
   * The middleware's decision for a new socket. On admission the socket counts
   * as pending until `leavePending` (public sockets are never counted).
   */
  admit(socket: Socket, counted: boolean): AuthErrorCode | undefined {
    const { allowedOrigins, maxPending, maxPendingPerAddress, maxNamespacesPerConnection } = this.options;
    const origin = socket.handshake.headers.origin;
    if (allowedOrigins.length && origin !== undefined && !allowedOrigins.includes(origin)) return 'forbidden_origin';

    // One socket per namespace per connection: a second CONNECT would double
    // every broadcast and multiply the sockets one request can create.
    let opened = this.opened.get(socket.client);
    if (!opened) this.opened.set(socket.client, (opened = new Map()));
    const previous = opened.get(socket.nsp.name);
    if (previous && isConnectingOrConnected(previous)) return 'duplicate_namespace';
    if (!previous && maxNamespacesPerConnection && opened.size >= maxNamespacesPerConnection) {
      // Forget namespaces whose sockets are gone before refusing.
      for (const [name, s] of opened) if (!isConnectingOrConnected(s)) opened.delete(name);
      if (opened.size >= maxNamespacesPerConnection) return 'too_many_pending';
    }

    if (counted) {
      const address = this.socketAddress(socket);
      if (maxPending && this.pending.size >= maxPending) return 'too_many_pending';
      if (maxPendingPerAddress && (this.pendingByAddress.get(address) ?? 0) >= maxPendingPerAddress) return 'too_many_pending';
      this.pending.set(socket.id, address);
      this.pendingByAddress.set(address, (this.pendingByAddress.get(address) ?? 0) + 1);
    }
    opened.set(socket.nsp.name, socket);
    return undefined;
  }

  /** The connection's sockets that are connected or connecting, one per namespace. */
  socketsOf(client: object): Socket[] {
    return [...(this.opened.get(client)?.values() ?? [])].filter(isConnectingOrConnected);
  }

  /** Counts an unauthenticated socket again (after a demotion). */
  enterPending(socket: Socket): void {
    if (this.pending.has(socket.id)) return;
    const address = this.socketAddress(socket);
    this.pending.set(socket.id, address);
    this.pendingByAddress.set(address, (this.pendingByAddress.get(address) ?? 0) + 1);
  }

  /** The socket authenticated, left, or was refused further down. Idempotent. */
  leavePending(id: string): void {
    const address = this.pending.get(id);
    if (address === undefined) return;
    this.pending.delete(id);
    const left = (this.pendingByAddress.get(address) ?? 1) - 1;
    if (left > 0) this.pendingByAddress.set(address, left);
    else this.pendingByAddress.delete(address);
  }

  // ── the failure budget ──────────────────────────────────────────────────

  /**
   * Takes one slot of the address's failure budget before the strategy runs,
   * so N concurrent guesses reach the strategy at most `maxFailuresPerAddress`
   * times. False: the budget is spent (`rate_limited`).
   */
  reserve(address: string): boolean {
    const { maxFailuresPerAddress } = this.options;
    if (!maxFailuresPerAddress) return true;
    const window = this.windowOf(address);
    if (window.count >= maxFailuresPerAddress) return false;
    window.count++;
    return true;
  }

  /** Gives a reserved slot back: the attempt succeeded, or failed for a reason that is not a guess. */
  giveBack(address: string): void {
    const window = this.failures.get(address);
    if (!window) return;
    if (--window.count <= 0) this.failures.delete(address);
    if (this.failures.size === 0) this.stopSweep();
  }

  private stopSweep(): void {
    clearInterval(this.sweep);
    this.sweep = undefined;
  }

  /** A failure that had no slot reserved (a malformed payload). */
  record(address: string): void {
    if (!this.options.maxFailuresPerAddress) return;
    this.windowOf(address).count++;
  }

  private windowOf(address: string): FailureWindow {
    const now = Date.now();
    let window = this.failures.get(address);
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + this.options.failureWindowMs };
      this.failures.set(address, window);
    }
    // One sweeper for all addresses, only while there is something to sweep.
    this.sweep ??= setInterval(() => {
      const t = Date.now();
      for (const [a, w] of this.failures) if (w.resetAt <= t || w.count === 0) this.failures.delete(a);
      if (this.failures.size === 0) this.stopSweep();
    }, this.options.failureWindowMs);
    this.sweep.unref?.();
    return window;
  }

  /** Live entries, for leak checks. */
  sizes(): { pendingSockets: number; pendingAddresses: number; failureWindows: number; timers: number } {
    return {
      pendingSockets: this.pending.size,
      pendingAddresses: this.pendingByAddress.size,
      failureWindows: this.failures.size,
      timers: this.sweep ? 1 : 0,
    };
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  clear(): void {
    this.pending.clear();
    this.pendingByAddress.clear();
    this.failures.clear();
    this.stopSweep();
  }
}
