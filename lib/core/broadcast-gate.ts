/**
 * The only file that touches socket.io internals.
 *
 * Checked against socket.io 4.8.x (socket.io-adapter 2.5.x). If a socket.io
 * upgrade moves any of this, `installGate` throws at start-up and
 * `test/core/broadcast-gate.spec.ts` fails: never a silent bypass, which is
 * how socketio-auth broke on socket.io 3. What it touches: the adapter's
 * membership methods and `sids` (the gate), `restoreSession` (recovery),
 * `Namespace#_preConnectSockets` (sockets in middlewares), and
 * `Namespace#_add` with `Server#_nsps` (CONNECT screening), and
 * `ParentNamespace#children` (the child namespaces of a RegExp gateway), and
 * engine.io's parsed query `req._query` (the sid a request acts on).
 *
 * Room policies hook in at the same place: every way into a room
 * (`socket.join`, `socketsJoin` from this node or another, recovery's
 * re-joins, the release) ends in `adapter.addAll`, so `screen` is asked there
 * before any room reaches the membership, on public namespaces too.
 *
 * How the gate works: every broadcast (namespace-wide, room, `socket.broadcast`,
 * and those arriving from other nodes through the Redis adapter) is resolved by
 * the namespace adapter from its room membership (`adapter.rooms` / `adapter.sids`).
 * So a socket that is not authenticated is simply kept out of that membership:
 * its joins (its own id room, rooms joined in `handleConnection`, recovered
 * rooms) are held here and handed to the adapter on `release()`. Broadcasts pay
 * nothing for the gate, and cluster delivery needs no extra code.
 */
import type { IncomingMessage } from 'node:http';
import type { Namespace, Server, Socket } from 'socket.io';

type SocketId = string;
type Room = string;

/** The adapter methods the gate wraps (socket.io-adapter's public-but-internal API). */
interface GatedAdapter {
  /** The adapter's own membership by socket id: a gated socket is in it exactly when released. */
  sids: Map<SocketId, Set<Room>>;
  addAll(id: SocketId, rooms: Set<Room>): Promise<void> | void;
  del(id: SocketId, room: Room): Promise<void> | void;
  delAll(id: SocketId): void;
  socketRooms(id: SocketId): Set<Room> | undefined;
  broadcast(
    packet: { data: unknown[] },
    opts: { rooms: Set<Room>; except?: Set<Room>; flags?: Record<string, unknown> },
  ): void;
  restoreSession?(pid: string, offset: string): Promise<RecoveredSession | null>;
  persistSession?(session: { sid: SocketId; pid: string; rooms: Room[]; data: unknown }): void;
  [GATE]?: NamespaceGate;
}

interface RecoveredSession {
  sid: SocketId;
  pid: string;
  rooms: Room[];
  data: Record<string, unknown>;
  missedPackets: unknown[][];
}

/**
 * Room policies' answer for a join: the rooms that may be entered now, and,
 * for rooms decided later, a promise that settles once the screen has entered
 * them through `admit()` (never before their verdict) or refused them.
 */
export interface ScreenedRooms {
  now: Set<Room>;
  later?: Promise<void>;
}

/** What connection-state recovery wanted to restore, kept until the socket re-authenticates. */
export interface HeldRecovery {
  rooms: Room[];
  data: Record<string, unknown>;
  missedPackets: unknown[][];
  /** The principal the session belonged to, from `socket.data.auth` when it was persisted. */
  principalId?: string;
}

const GATE = Symbol.for('nestjs-socket-auth.gate');
/** Where a persisted session keeps its policed rooms (a string key: a Redis store serialises `data`). */
const POLICED_ROOMS = 'nestjs-socket-auth:policedRooms';
const REQUIRED_METHODS = ['addAll', 'del', 'delAll', 'socketRooms', 'broadcast'] as const;
/** socket.io-parser's EVENT packet type. */
const EVENT_PACKET = 2;

export class NamespaceGate {
  /** Rooms of sockets that are not authenticated, kept out of the adapter. */
  private readonly held = new Map<SocketId, Set<Room>>();
  /** Sockets told `unauthorized`: nothing reaches them any more, not even through recovery's direct path. */
  private readonly silenced = new Set<SocketId>();
  private readonly recoveries = new Map<SocketId, HeldRecovery>();
  /** Released sockets: the adapter's own map, so releasing costs no entry of ours. */
  private readonly sids: Map<SocketId, Set<Room>>;
  private readonly addAllToAdapter: GatedAdapter['addAll'];
  /**
   * Called when socket.io forgets a socket id: it disconnected (`left` is the
   * socket), or a middleware refused it (`left` is undefined). Socket#_onclose
   * calls delAll before it emits 'disconnect', so this is the first word of a
   * departure, and costs no listener per socket.
   */
  onRemove?: (id: SocketId, left: Socket | undefined) => void;
  /**
   * Room policies: asked for every join before the rooms go anywhere (held or
   * the adapter). Undefined: every room may be entered now.
   */
  screen?: (nsp: Namespace, id: SocketId, rooms: Set<Room>, releasing: boolean) => ScreenedRooms | undefined;
  /**
   * Room policies: whether a room is policed. Such rooms are kept out of what
   * connection-state recovery persists as the session's rooms (so the adapter
   * never replays a packet sent to one: at replay time nobody knows yet
   * whether the returning principal may still read it) and come back through
   * the screen once the socket authenticates.
   */
  policed?: (room: Room) => boolean;
  /** Enters rooms past the screen: held for a held socket, else the adapter's own addAll. */
  private readonly enter: GatedAdapter['addAll'];

  constructor(
    private readonly nsp: Namespace,
    adapter: GatedAdapter,
    /**
     * False on a public namespace: broadcasts reach every socket, so nothing is
     * held, but connection-state recovery is still screened (an attacker with a
     * stolen pid and offset must not get an authenticated session's rooms,
     * data or missed packets without authenticating as its principal).
     */
    holdsBroadcasts = true,
  ) {
    const addAll = adapter.addAll.bind(adapter);
    const del = adapter.del.bind(adapter);
    const delAll = adapter.delAll.bind(adapter);
    const socketRooms = adapter.socketRooms.bind(adapter);
    const broadcast = adapter.broadcast.bind(adapter);
    this.sids = adapter.sids;
    this.addAllToAdapter = addAll;

    // Called by Socket#leaveAll on disconnect, and by Socket#_cleanup when a
    // middleware refuses the socket: forget everything about the id.
    adapter.delAll = (id) => {
      // Still in nsp.sockets here (Socket#_cleanup leaves the rooms first); a refused socket never was.
      const left = this.nsp.sockets.get(id);
      this.held.delete(id);
      this.silenced.delete(id);
      this.recoveries.delete(id);
      delAll(id);
      this.onRemove?.(id, left);
    };
    if (holdsBroadcasts) this.holdBroadcasts(adapter, addAll, del, socketRooms, broadcast);
    this.enter = holdsBroadcasts ? adapter.addAll : addAll;
    adapter.addAll = (id, rooms) => this.screened(id, rooms, this.enter, false);

    // Connection-state recovery restores rooms and replays missed packets in the
    // Socket constructor, before any middleware or listener can run (and by
    // default skips middlewares: socket.io#5491). Strip both here; the
    // authenticator gives them back only to the same principal.
    if (typeof adapter.restoreSession === 'function') {
      const restoreSession = adapter.restoreSession.bind(adapter);
      const persistSession = adapter.persistSession?.bind(adapter);
      if (persistSession)
        adapter.persistSession = (session) => {
          const policed = this.policed
            ? session.rooms.filter((room) => room !== session.sid && this.policed!(room))
            : [];
          if (!policed.length) return persistSession(session);
          return persistSession({
            ...session,
            rooms: session.rooms.filter((room) => !policed.includes(room)),
            data: { ...(session.data as object), [POLICED_ROOMS]: policed },
          });
        };
      adapter.restoreSession = async (pid, offset) => {
        const session = await restoreSession(pid, offset);
        if (!session) return session;
        const { [POLICED_ROOMS]: policed, ...data } = session.data ?? {};
        const auth = data.auth as { state?: string; principalId?: string } | undefined;
        // On a public namespace, what an anonymous socket had comes back as socket.io would restore it.
        if (!holdsBroadcasts && auth?.state !== 'authenticated') return { ...session, data };
        const rooms = session.rooms.filter((room) => room !== session.sid);
        if (Array.isArray(policed)) rooms.push(...policed.filter((room): room is string => typeof room === 'string'));
        this.recoveries.set(session.sid, {
          rooms,
          data,
          missedPackets: session.missedPackets,
          principalId: auth?.principalId,
        });
        return { ...session, rooms: [], data: {}, missedPackets: [] };
      };
    }
  }

  /**
   * Held by default: a socket's first join (its own id, in Socket#_onconnect)
   * runs before any 'connection' listener, so the gate cannot wait to be told.
   */
  private holdBroadcasts(
    adapter: GatedAdapter,
    addAll: GatedAdapter['addAll'],
    del: GatedAdapter['del'],
    socketRooms: GatedAdapter['socketRooms'],
    broadcast: GatedAdapter['broadcast'],
  ): void {
    adapter.addAll = (id, rooms) => {
      if (this.silenced.has(id)) return;
      const held = this.held.get(id);
      if (held) for (const room of rooms) held.add(room);
      else if (this.sids.has(id))
        return addAll(id, rooms); // released
      else this.held.set(id, new Set(rooms)); // a new socket's first join
    };
    adapter.del = (id, room) => {
      const held = this.held.get(id);
      if (held) {
        held.delete(room);
        return;
      }
      return del(id, room);
    };
    // Keeps `socket.rooms` truthful while the rooms are held: a held socket has no principal, so it is in no policed
    // room (those it held come back, screened, on release).
    adapter.socketRooms = (id) => {
      const held = this.held.get(id);
      if (!held) return socketRooms(id);
      const policed = this.policed;
      if (!policed) return held;
      let kept: Set<Room> | undefined;
      for (const room of held) if (room !== id && policed(room)) (kept ??= new Set(held)).delete(room);
      return kept ?? held;
    };

    // With connectionStateRecovery on, Socket#emit goes through adapter.broadcast
    // with rooms = {socket.id}. That is a direct emit, which a pending socket must
    // still get (the protocol's own replies, acks included), so deliver it as
    // Socket#emit would have. (socket.io routes io.to(socket.id).emit() the same
    // way and it cannot be told apart.)
    const recovery = !!(this.nsp.server as unknown as { opts: { connectionStateRecovery?: unknown } }).opts
      ?.connectionStateRecovery;
    adapter.broadcast = (packet, opts) => {
      broadcast(packet, opts);
      if (!recovery || this.held.size === 0 || opts.rooms.size !== 1 || opts.except?.size) return;
      const [room] = opts.rooms;
      if (!this.held.get(room)?.has(room)) return;
      const socket = this.nsp.sockets.get(room) as unknown as RawSocket | undefined;
      if (!socket) return;
      const flags = opts.flags ?? {};
      socket.notifyOutgoingListeners?.(packet);
      // The packet itself: it carries the ack id and the offset broadcast() added.
      socket.packet(packet, { volatile: flags.volatile, compress: flags.compress });
    };
  }

  /** Joins past the screen. With rooms decided later, `socket.join()` returns a promise that never rejects. */
  private screened(
    id: SocketId,
    rooms: Set<Room>,
    enter: GatedAdapter['addAll'],
    releasing: boolean,
  ): Promise<void> | void {
    const verdict = this.screen?.(this.nsp, id, rooms, releasing);
    if (!verdict) return enter(id, rooms);
    const entered = enter(id, verdict.now);
    if (!verdict.later) return entered;
    return Promise.all([entered, verdict.later]).then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Enters rooms a policy has just allowed, skipping the screen: held for a
   * held socket, the adapter for a released one, and nothing for a socket
   * socket.io no longer knows (never an entry for a socket that left).
   */
  admit(socket: Socket, rooms: Set<Room>): Promise<void> | void {
    if (this.knows(socket.id)) return this.enter(socket.id, rooms);
  }

  private knows(id: SocketId): boolean {
    const nsp = this.nsp as unknown as { sockets: Map<SocketId, unknown>; _preConnectSockets: Map<SocketId, unknown> };
    return !this.silenced.has(id) && (nsp.sockets.has(id) || nsp._preConnectSockets.has(id));
  }

  /**
   * Hands the socket's held rooms to the adapter, past the screen (the
   * principal may differ from the one they were joined for): from now on
   * broadcasts reach it. False when already released.
   */
  release(socket: Socket): boolean {
    if (this.sids.has(socket.id) || this.silenced.has(socket.id)) return false;
    const rooms = this.held.get(socket.id) ?? new Set<Room>();
    this.held.delete(socket.id);
    void this.screened(socket.id, rooms, this.addAllToAdapter, true); // puts the id in sids, even with no room
    return true;
  }

  /** Whether broadcasts reach the socket. */
  isReleased(socket: Socket): boolean {
    return this.sids.has(socket.id);
  }

  /** Takes the socket out of every room again, remembering them for the next release. False when it was held. */
  hold(socket: Socket): boolean {
    if (!this.sids.has(socket.id)) return false;
    const adapter = this.nsp.adapter as unknown as GatedAdapter;
    const rooms = new Set(adapter.socketRooms(socket.id) ?? []);
    // delAll is wrapped to forget the id entirely, so set the hold afterwards.
    const recovery = this.recoveries.get(socket.id);
    delAllQuietly(adapter, socket.id, this);
    if (recovery) this.recoveries.set(socket.id, recovery);
    this.held.set(socket.id, rooms);
    return true;
  }

  /** Forgets the rooms a held socket joined: it starts again with its own id room only. */
  resetRooms(socket: Socket): void {
    if (this.held.has(socket.id)) this.held.set(socket.id, new Set([socket.id]));
  }

  /** Nothing reaches the socket from now on (it was told `unauthorized` and is about to go). */
  silence(socket: Socket): void {
    this.hold(socket);
    this.held.delete(socket.id);
    this.recoveries.delete(socket.id);
    this.silenced.add(socket.id);
  }

  isSilenced(socket: Socket): boolean {
    return this.silenced.has(socket.id);
  }

  /** What recovery held back for this socket; removed once taken. */
  takeRecovery(socket: Socket): HeldRecovery | undefined {
    const recovery = this.recoveries.get(socket.id);
    this.recoveries.delete(socket.id);
    return recovery;
  }

  /** Replays missed packets exactly as socket.io's Socket constructor would have. */
  replay(socket: Socket, packets: unknown[][]): void {
    const raw = socket as unknown as RawSocket;
    for (const data of packets) raw.packet({ type: EVENT_PACKET, data });
  }

  /** Entry counts, for leak checks. */
  sizes(): { held: number; released: number; silenced: number; recoveries: number } {
    return {
      held: this.held.size,
      released: this.sids.size,
      silenced: this.silenced.size,
      recoveries: this.recoveries.size,
    };
  }
}

/** Socket methods below the public API: `packet()` writes to the client, `notifyOutgoingListeners()` runs onAnyOutgoing. */
interface RawSocket {
  packet(packet: unknown, opts?: unknown): void;
  notifyOutgoingListeners?(packet: unknown): void;
}

/** Removes the id from the adapter without the gate's forget-everything wrapper. */
function delAllQuietly(adapter: GatedAdapter, id: SocketId, gate: NamespaceGate): void {
  const onRemove = gate.onRemove;
  gate.onRemove = undefined;
  try {
    adapter.delAll(id);
  } finally {
    gate.onRemove = onRemove;
  }
}

const SCREENED = Symbol.for('nestjs-socket-auth.screened');

/**
 * Runs `screen(conn)` for every CONNECT to the server's namespaces, present
 * and future (dynamic children too), before socket.io builds a Socket for it
 * in Namespace#_add. socket.io decodes a whole long-polling payload in one
 * tick and builds a Socket per CONNECT before any middleware can run; a
 * CONNECT that `screen` refuses is dropped there. Costs nothing per
 * connection, unlike a listener on each engine.io connection. Returns the undo.
 */
export function screenConnects(server: Server, screen: (conn: object) => boolean): () => void {
  type AddFn = (client: { conn: object }, ...rest: unknown[]) => unknown;
  type Screened = { _add?: AddFn; [SCREENED]?: AddFn };
  const wrapped: Screened[] = [];
  const wrap = (nsp: Namespace): void => {
    const raw = nsp as unknown as Screened;
    if (raw[SCREENED]) return;
    if (typeof raw._add !== 'function') unsupported(`namespace "${nsp.name}" has no _add()`);
    const add = (raw[SCREENED] = raw._add);
    raw._add = function (this: Namespace, client, ...rest) {
      return screen(client.conn) ? add.call(this, client, ...rest) : undefined;
    };
    wrapped.push(raw);
  };
  const nsps = (server as unknown as { _nsps?: Map<string, Namespace> })._nsps;
  if (!(nsps instanceof Map)) unsupported('the server has no _nsps map');
  nsps.forEach(wrap);
  // Emitted synchronously when a namespace or a dynamic child is created, before its first CONNECT is handled.
  server.of('/').on('new_namespace', wrap);
  return () => {
    server.of('/').off('new_namespace', wrap);
    for (const raw of wrapped) {
      raw._add = raw[SCREENED];
      delete raw[SCREENED];
    }
  };
}

/**
 * Calls `fn` for every namespace of the server, present (socket.io's private
 * `_nsps` map) and future (`new_namespace`). Returns the undo of the watch.
 */
export function onEveryNamespace(server: Server, fn: (nsp: Namespace) => void): () => void {
  const nsps = (server as unknown as { _nsps?: Map<string, Namespace> })._nsps;
  if (!(nsps instanceof Map)) unsupported('the server has no _nsps map');
  nsps.forEach((nsp) => fn(nsp));
  const root = server.of('/');
  root.on('new_namespace', fn);
  return () => root.off('new_namespace', fn);
}

/**
 * Whether `socket` is still connected to its namespace or in its middlewares.
 * socket.io 4.8 keeps sockets that are in middlewares in `_preConnectSockets`.
 */
export function isConnectingOrConnected(socket: Socket): boolean {
  const nsp = socket.nsp as unknown as { sockets: Map<SocketId, unknown>; _preConnectSockets: Map<SocketId, unknown> };
  return nsp.sockets.has(socket.id) || nsp._preConnectSockets.has(socket.id);
}

/**
 * The child namespaces of a RegExp or function namespace (socket.io's
 * ParentNamespace, recognised by its public `createChild`), or undefined for
 * a plain namespace. The set itself is private to socket.io.
 */
export function childrenOf(nsp: Namespace): ReadonlySet<Namespace> | undefined {
  const raw = nsp as unknown as { createChild?: unknown; children?: unknown };
  if (typeof raw.createChild !== 'function') return undefined;
  if (!(raw.children instanceof Set)) unsupported(`parent namespace "${nsp.name}" has no children set`);
  return raw.children as Set<Namespace>;
}

/** Whether socket.io removed this dynamic child namespace (`cleanupEmptyChildNamespaces`). */
export function namespaceRemoved(nsp: Namespace): boolean {
  const nsps = (nsp.server as unknown as { _nsps?: Map<string, Namespace> })._nsps;
  return !!nsps && nsps.get(nsp.name) !== nsp;
}

/**
 * Installs the gate on the namespace's current adapter, once. Throws when the
 * adapter lacks a method the gate relies on, so an incompatible socket.io fails
 * at start-up rather than leaking broadcasts.
 */
export function installGate(nsp: Namespace, holdsBroadcasts = true): NamespaceGate {
  const adapter = nsp.adapter as unknown as GatedAdapter;
  const existing = adapter[GATE];
  if (existing) return existing;
  for (const method of REQUIRED_METHODS) {
    if (typeof adapter[method] !== 'function') unsupported(`the adapter of namespace "${nsp.name}" has no ${method}()`);
  }
  if (!(adapter.sids instanceof Map)) unsupported(`the adapter of namespace "${nsp.name}" has no sids map`);
  if (!((nsp as unknown as { _preConnectSockets?: unknown })._preConnectSockets instanceof Map)) {
    unsupported(`namespace "${nsp.name}" has no _preConnectSockets map`);
  }
  const gate = new NamespaceGate(nsp, adapter, holdsBroadcasts);
  adapter[GATE] = gate;
  return gate;
}

/** What this file relies on moved: fail at start-up, never bypass silently. */
function unsupported(what: string): never {
  throw new Error(`nestjs-socket-auth: ${what}; this socket.io version is not supported (checked against 4.8.x)`);
}

/** The gate of the namespace's current adapter, if installed. */
export function gateOf(nsp: Namespace): NamespaceGate | undefined {
  return (nsp.adapter as unknown as GatedAdapter)[GATE];
}

/**
 * The query engine.io acts on for this request, for the connection binding and
 * the origin policy. engine.io parses it into `req._query` (`Server#prepare`,
 * in the Node and the uWS server alike) before any of its middlewares run.
 * Reading that, rather than parsing the URL again, costs nothing per request
 * and cannot disagree with engine.io: a URL parsed here apart once took the
 * first of two `sid`s where engine.io takes the last, which let a stolen sid
 * through behind the attacker's own. Without `_query` (an engine.io that
 * stopped filling it first), the URL is parsed the way engine.io does it.
 */
export function engineQuery(req: IncomingMessage): Readonly<Record<string, string>> {
  const query = (req as { _query?: Record<string, string> })._query;
  if (query) return query;
  return Object.fromEntries(new URL(req.url ?? '/', 'http://localhost').searchParams); // the last of repeated keys
}

/** The sid a request acts on; none for a handshake (engine.io treats an empty sid as none, too). */
export function engineSid(req: IncomingMessage): string | undefined {
  return engineQuery(req).sid || undefined;
}
