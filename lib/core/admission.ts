/**
 * Admission answers one question: may this socket start, or this attempt
 * reach the strategy? Origin, one socket per namespace per connection, the
 * pending caps (counted in sockets, not sessions), and the failure budget.
 *
 * The per-connection and per-process decisions are synchronous, so a batch of
 * packets decoded in one tick (forty CONNECTs in one long-polling POST) meets
 * them one by one. The per-address counters live in a `LimitStore`: in memory
 * (synchronous) by default, or shared by every node (then the middleware
 * waits for its answer).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'socket.io';
import type { AuthErrorCode } from '../auth-errors.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import { type LimitStore, MemoryLimitStore } from './limit-store.js';
import { MAX_TIMEOUT_MS } from './long-timer.js';
import { limitKey } from './client-address.js';
import { isConnectingOrConnected } from './broadcast-gate.js';
import { originAllowed } from './origin-policy.js';
import { LiveCounts, OpenedSockets } from './socket-counts.js';

type Decision = AuthErrorCode | undefined;

export class Admission {
  /** Unauthenticated sockets counted in the caps, by socket id (ids are unique across namespaces). */
  private readonly pending = new LiveCounts('pending');
  /** Sockets on public namespaces, counted in `maxPublicPerAddress`. */
  private readonly publics = new LiveCounts('public');
  /** The last socket each connection opened on each namespace. */
  private readonly opened = new OpenedSockets();
  /** Per-address counters: failures (attempts in flight included) and pending sockets. */
  private readonly store: LimitStore;
  /**
   * How long a per-address socket count outlives its last change, so a node
   * that dies cannot hold an address's count up forever. Counts of live
   * sockets never decay: `keepalive` refreshes them, and this process's own
   * live sockets are a floor under whatever the store answers.
   */
  private readonly liveTtl: number;
  private keepalive?: ReturnType<typeof setInterval>;

  constructor(
    private readonly options: ResolvedAuthSocketOptions,
    /** The strategy trusts the request's cookies: a handshake must prove its origin (origin-policy.ts). */
    private readonly requireOrigin = false,
  ) {
    this.store = options.limitStore ?? new MemoryLimitStore();
    this.liveTtl = Math.min(MAX_TIMEOUT_MS, Math.max(60_000, (options.timeout || 0) * 4));
  }

  /** Client address: the remote address, or the entry the outermost trusted proxy appended. */
  addressOf(
    request: Pick<IncomingMessage, 'headers'> & { socket?: { remoteAddress?: string } },
    remote?: string,
  ): string {
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

  /** What the per-address limits count the socket under: its address (`trustProxy`), IPv6 grouped by `ipv6Subnet`. */
  clientKey(socket: Socket): string {
    return this.keyOf(this.socketAddress(socket));
  }

  private keyOf(address: string): string {
    return limitKey(address, this.options.ipv6Subnet);
  }

  /**
   * The middleware's decision for a new socket. On admission the socket counts
   * as pending until `leavePending` (public sockets are never counted). A
   * shared store makes the per-address check a promise.
   */
  admit(socket: Socket, counted: boolean): Decision | Promise<Decision> {
    const { allowedOrigins, maxPending, maxPendingPerAddress, maxPublicPerAddress, maxNamespacesPerConnection } =
      this.options;
    if (!originAllowed(socket.handshake.headers, { allowedOrigins, requireOrigin: this.requireOrigin }))
      return 'forbidden_origin';

    // One socket per namespace per connection: a second CONNECT would double
    // every broadcast and multiply the sockets one request can create.
    const previous = this.opened.get(socket.conn, socket.nsp.name);
    if (previous && isConnectingOrConnected(previous)) return 'duplicate_namespace';
    const open = this.opened.live(socket.conn).length;
    if (!previous && maxNamespacesPerConnection && open >= maxNamespacesPerConnection) return 'too_many_pending';
    this.opened.set(socket);
    if (!counted) return this.countIn(this.publics, socket, maxPublicPerAddress, 'too_many_connections');
    if (maxPending && this.pending.size >= maxPending) return 'too_many_pending';
    return this.countIn(this.pending, socket, maxPendingPerAddress, 'too_many_pending');
  }

  /**
   * Counts the socket now (so a burst in one tick meets the caps), then checks
   * its address's total against `cap`: the store's, or this process's own live
   * sockets when that is more (a store's count may have expired under them).
   */
  private countIn(counts: LiveCounts, socket: Socket, cap: number, code: AuthErrorCode): Decision | Promise<Decision> {
    const address = this.keyOf(this.socketAddress(socket));
    counts.set(socket.id, address);
    this.startKeepalive();
    if (!cap) return undefined;
    const decide = (total: number): Decision => {
      if (Math.max(total, counts.at(address)) <= cap) return undefined;
      this.leave(counts, socket.id);
      return code;
    };
    const total = this.add(counts.key(address), 1, this.liveTtl, true);
    return typeof total === 'number' ? decide(total) : total.then(decide);
  }

  /** The engine.io connection's sockets that are connected or connecting, one per namespace. */
  socketsOf(connection: object): Socket[] {
    return this.opened.live(connection);
  }

  /**
   * A socket that reached the namespace: recorded for the one-per-namespace
   * rule and counted, if it skipped the middleware (connection-state recovery
   * does by default: socket.io#5491).
   */
  arrived(socket: Socket, counted: boolean): void {
    this.opened.set(socket);
    this.enter(counted ? this.pending : this.publics, socket);
  }

  /** Counts an unauthenticated socket again (after a demotion). Idempotent. */
  enterPending(socket: Socket): void {
    this.enter(this.pending, socket);
  }

  /** The socket authenticated, left, or was refused further down. Idempotent. */
  leavePending(id: string): void {
    this.leave(this.pending, id);
  }

  /** A public socket left, or was refused further down. Idempotent. */
  leavePublic(id: string): void {
    this.leave(this.publics, id);
  }

  private enter(counts: LiveCounts, socket: Socket): void {
    if (counts.has(socket.id)) return;
    const address = this.keyOf(this.socketAddress(socket));
    counts.set(socket.id, address);
    this.startKeepalive();
    if (this.capOf(counts)) void this.add(counts.key(address), 1, this.liveTtl, true);
  }

  private leave(counts: LiveCounts, id: string): void {
    const address = counts.delete(id);
    if (address === undefined) return;
    if (this.capOf(counts)) void this.add(counts.key(address), -1, this.liveTtl, true);
    if (!this.pending.size && !this.publics.size) this.stopKeepalive();
  }

  private capOf(counts: LiveCounts): number {
    return counts === this.pending ? this.options.maxPendingPerAddress : this.options.maxPublicPerAddress;
  }

  /**
   * While any socket is counted, its address's count is refreshed every third
   * of its TTL, so a count never expires under live sockets: without a timeout
   * a pending socket may live for hours, and a public one always does.
   */
  private startKeepalive(): void {
    if (this.keepalive) return;
    this.keepalive = setInterval(() => {
      for (const counts of [this.pending, this.publics]) {
        if (!this.capOf(counts)) continue;
        for (const address of counts.addresses()) void this.add(counts.key(address), 0, this.liveTtl, true);
      }
    }, this.liveTtl / 3);
    // Never what keeps a process alive.
    this.keepalive.unref?.();
  }

  private stopKeepalive(): void {
    clearInterval(this.keepalive);
    this.keepalive = undefined;
  }

  // ── the failure budget ──────────────────────────────────────────────────

  /**
   * Takes one slot of the address's failure budget before the strategy runs,
   * so N concurrent guesses reach the strategy at most `maxFailuresPerAddress`
   * times. False: the budget is spent (`rate_limited`).
   */
  reserve(address: string): boolean | Promise<boolean> {
    const { maxFailuresPerAddress, failureWindowMs } = this.options;
    if (!maxFailuresPerAddress) return true;
    const key = `fail:${this.keyOf(address)}`;
    // Synchronous with the in-memory store: no promise on every attempt.
    const decide = (count: number): boolean | Promise<boolean> => {
      if (count <= maxFailuresPerAddress) return true;
      const back = this.add(key, -1, failureWindowMs);
      return typeof back === 'number' ? false : back.then(() => false);
    };
    const count = this.add(key, 1, failureWindowMs);
    return typeof count === 'number' ? decide(count) : count.then(decide);
  }

  /** Gives a reserved slot back: the attempt succeeded, or failed for a reason that is not a guess. */
  giveBack(address: string): void {
    if (this.options.maxFailuresPerAddress)
      void this.add(`fail:${this.keyOf(address)}`, -1, this.options.failureWindowMs);
  }

  /** A failure that had no slot reserved (a malformed payload). */
  record(address: string): void {
    if (this.options.maxFailuresPerAddress)
      void this.add(`fail:${this.keyOf(address)}`, 1, this.options.failureWindowMs);
  }

  /** A store that fails counts as zero: the limit is lost for that call, never the connection. */
  add(key: string, delta: number, ttlMs: number, refresh = false): number | Promise<number> {
    try {
      const result = this.store.add(key, delta, ttlMs, refresh);
      return typeof result === 'number' ? result : result.catch(() => 0);
    } catch {
      return 0;
    }
  }

  /** Live entries, for leak checks. Counters held by a shared store are not this process's to count. */
  sizes(): { pendingSockets: number; publicSockets: number; limitCounters: number; timers: number } {
    const memory = this.store instanceof MemoryLimitStore ? this.store : undefined;
    return {
      pendingSockets: this.pending.size,
      publicSockets: this.publics.size,
      limitCounters: memory?.size() ?? 0,
      timers: (memory?.sweeping ? 1 : 0) + (this.keepalive ? 1 : 0),
    };
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Forgets this process's state; a store the app passed is the app's to close. */
  clear(): void {
    for (const id of this.pending.ids()) this.leavePending(id);
    for (const id of this.publics.ids()) this.leavePublic(id);
    this.stopKeepalive();
    if (!this.options.limitStore) void this.store.close?.();
  }
}
