/**
 * Protections at the engine.io connection, below socket.io's namespaces,
 * through engine.io's public hooks (`engine.use`, `initial_headers`, the
 * `connection` event) and, for CONNECT bursts, broadcast-gate.ts's
 * `screenConnects`:
 *
 *   - Binding. The engine.io sid travels in every long-polling URL, so it ends
 *     up in proxy logs; whoever holds it could read and write as the client.
 *     A request or upgrade carrying a sid must come from the address that
 *     opened the connection, and in 'cookie' mode carry the random HttpOnly
 *     cookie set at the handshake.
 *   - CONNECT bursts. More CONNECT packets in one burst than a connection may
 *     hold namespaces closes it before socket.io builds a socket for the rest.
 *   - Origin. With `allowedOrigins`, JSONP polling is refused and every
 *     request or upgrade that carries a sid is held to the origin policy
 *     (origin-policy.ts); the handshake is checked at the socket.io level,
 *     where the refusal can carry a code.
 *   - Idle close. A connection that holds no useful socket (authenticated, or
 *     on a public namespace) is closed `timeout` plus a small slack after it
 *     opened or lost its last useful socket, whatever namespaces it joined and
 *     left meanwhile. socket.io's own connect timeout stops caring once any
 *     CONNECT arrived, so nothing else would close it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'socket.io';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import { engineQuery, engineSid, screenConnects } from './broadcast-gate.js';
import { isJsonp, originAllowed } from './origin-policy.js';
import type { AuthLogger } from './strategy-call.js';
import { DeadlineQueue, type QueueEntry } from './deadline-queue.js';

/** The engine.io socket members used here (all public in engine.io 6). */
export interface EngineConnection {
  readonly request: IncomingMessage;
  readonly remoteAddress: string;
  readonly transport: { readonly name: string; readonly writable?: boolean };
  readonly writeBuffer: unknown[];
  readonly readyState: string;
  close(discard?: boolean): void;
  once(event: 'close', listener: () => void): unknown;
  on(event: 'drain', listener: () => void): unknown;
  off(event: 'close' | 'drain', listener: () => void): unknown;
}

interface Engine {
  clients: Record<string, EngineConnection>;
  use(middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: Error) => void) => void): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

/** Time after `timeout` before an idle connection is closed: the session's own timeout speaks first. */
export const IDLE_SLACK_MS = 500;
/** How long a long-polling client has to fetch its last packets before the connection is dropped. */
const CLOSE_GRACE_MS = 1000;
const COOKIE = 'nsa_bind';

type Timer = ReturnType<typeof setTimeout>;

export class ConnectionGuard {
  private readonly engines = new Set<Engine>();
  private readonly unscreen: Array<() => void> = [];
  /**
   * Idle timers by connection, weakly: a timer holds its connection only
   * through a WeakRef. A 'close' listener is added only once a connection is
   * left with no socket at all: on a connection that stays, a third 'close'
   * listener would grow its listener array for good (about 130 bytes).
   */
  private readonly idle = new WeakMap<
    EngineConnection,
    { entry: QueueEntry<WeakRef<EngineConnection>>; watching: boolean }
  >();
  /** Every connection's idle close, on one timer: they all wait `timeout` plus the slack. */
  private readonly idleQueue = new DeadlineQueue<WeakRef<EngineConnection>>((ref) => this.idleDue(ref));
  private readonly closing = new Map<EngineConnection, Timer>();
  /** Cookie secrets, by handshake request (engine.io keeps it as `conn.request`). */
  private readonly secrets = new WeakMap<IncomingMessage, Buffer>();
  /** CONNECT packets per connection in the current tick (one long-polling payload is decoded in one tick). */
  private readonly connectsThisTick = new Map<EngineConnection, number>();
  private closed = false;

  constructor(
    private readonly options: ResolvedAuthSocketOptions,
    private readonly addressOf: (request: IncomingMessage, remote: string | undefined) => string,
    private readonly logger: AuthLogger,
    /** Whether the connection holds a socket worth keeping it open for. */
    private readonly hasUseful: (conn: EngineConnection) => boolean,
    /** Whether the connection holds no socket at all. */
    private readonly isEmpty: (conn: EngineConnection) => boolean,
    /** Told before an idle connection is closed, so its sockets can hear why. */
    private readonly onIdle: (conn: EngineConnection) => void,
    /** The strategy trusts the request's cookies: see origin-policy.ts. */
    private readonly requireOrigin = false,
  ) {}

  /** Once per socket.io server. A server not bound to an HTTP server yet has no engine: nothing to guard. */
  attach(server: Server): void {
    const engine = (server as unknown as { engine?: Engine }).engine;
    if (!engine || this.engines.has(engine)) return;
    this.engines.add(engine);
    engine.on('connection', this.onConnection);
    this.unscreen.push(screenConnects(server, this.screenConnect));
    if (this.options.allowedOrigins.length) engine.use(this.checkOrigin);
    if (this.options.bindConnection) engine.use(this.bind(engine));
    if (this.options.bindConnection === 'cookie') engine.on('initial_headers', this.setCookie);
  }

  /** The connection gained a useful socket: it is not idle. */
  useful(conn: EngineConnection): void {
    this.disarm(conn);
  }

  /**
   * The connection lost a socket: idle from now on unless it holds another
   * useful one. Forgotten once it closed, and watched for its close once it
   * holds no socket at all (nothing else would say it went).
   */
  maybeIdle(conn: EngineConnection): void {
    if (conn.readyState === 'closed') return this.disarm(conn);
    if (this.hasUseful(conn)) return;
    this.arm(conn);
    const idle = this.idle.get(conn);
    if (idle && !idle.watching && this.isEmpty(conn)) {
      idle.watching = true;
      conn.once('close', this.onClose);
    }
  }

  private readonly onConnection = (conn: EngineConnection): void => {
    this.arm(conn);
  };

  /**
   * socket.io builds a whole Socket for every CONNECT before any middleware can
   * refuse it, so one POST of 20,000 CONNECTs would cost 20,000 sockets of
   * garbage. A connection that sends more CONNECTs in one burst than it may
   * hold namespaces is closed at the first one too many, before its Socket is
   * built (engine.io ignores the rest of a closed connection's packets).
   */
  private readonly screenConnect = (connection: object): boolean => {
    const limit = this.options.maxNamespacesPerConnection;
    if (!limit || this.closed) return true;
    const conn = connection as EngineConnection;
    if (this.connectsThisTick.size === 0) setImmediate(() => this.connectsThisTick.clear());
    const count = (this.connectsThisTick.get(conn) ?? 0) + 1;
    this.connectsThisTick.set(conn, count);
    if (count <= limit) return true;
    if (count === limit + 1) {
      this.logger.warn(
        `closed a connection that sent more than ${limit} CONNECT packets at once (from ${conn.remoteAddress})`,
      );
      conn.close(true);
    }
    return false;
  };

  /**
   * A connection that closes before it ever held a socket keeps its timer (and
   * a WeakRef) until the timer fires: bounded, and it costs every connection
   * that stays nothing.
   */
  private arm(conn: EngineConnection): void {
    const { timeout } = this.options;
    if (this.closed || !timeout || this.idle.has(conn) || conn.readyState === 'closed') return;
    const entry = this.idleQueue.add(new WeakRef(conn), Date.now() + timeout + IDLE_SLACK_MS);
    this.idle.set(conn, { entry, watching: false });
  }

  private idleDue(ref: WeakRef<EngineConnection>): void {
    const idle = ref.deref();
    if (!idle || this.idle.get(idle)?.entry.item !== ref) return;
    this.disarm(idle);
    if (idle.readyState === 'closed' || this.hasUseful(idle)) return;
    this.onIdle(idle);
    setImmediate(() => this.close(idle)); // after what onIdle said was written
  }

  private disarm(conn: EngineConnection): void {
    const idle = this.idle.get(conn);
    if (!idle) return;
    this.idleQueue.cancel(idle.entry);
    this.idle.delete(conn);
    if (idle.watching) conn.off('close', this.onClose);
  }

  private readonly onClose = ((guard: ConnectionGuard) =>
    function (this: EngineConnection): void {
      guard.disarm(this);
    })(this);

  /** engine.io answers a refused request with 400; nothing about why goes to the client. */
  private readonly checkOrigin = (req: IncomingMessage, _res: ServerResponse, next: (err?: Error) => void): void => {
    if (this.closed) return next();
    const query = engineQuery(req);
    if (isJsonp(query)) {
      this.logger.debug?.('refused a JSONP polling request (allowedOrigins is set)');
      return next(new Error('JSONP refused'));
    }
    const hasSid = !!query.sid;
    const policy = { allowedOrigins: this.options.allowedOrigins, requireOrigin: this.requireOrigin };
    if (hasSid && !originAllowed(req.headers, policy)) {
      this.logger.debug?.('refused a request for a connection from an origin that is not allowed');
      return next(new Error('origin refused'));
    }
    next();
  };

  private bind(engine: Engine) {
    return (req: IncomingMessage, _res: ServerResponse, next: (err?: Error) => void): void => {
      if (this.closed) return next();
      const sid = engineSid(req);
      const conn = sid ? engine.clients[sid] : undefined;
      if (!conn) return next(); // a handshake, or a sid engine.io will refuse itself
      if (this.addressOf(req, req.socket?.remoteAddress) !== this.addressOf(conn.request, conn.remoteAddress)) {
        this.logger.warn(
          `refused a request for another client's connection (from ${this.addressOf(req, req.socket?.remoteAddress)})`,
        );
        return next(new Error('connection bound to another client'));
      }
      const secret = this.secrets.get(conn.request);
      if (secret && !sameSecret(secret, cookieValue(req.headers.cookie))) {
        this.logger.warn('refused a request without the connection cookie');
        return next(new Error('connection bound to another client'));
      }
      next();
    };
  }

  private readonly setCookie = (headers: Record<string, string | string[]>, req: IncomingMessage): void => {
    const secret = randomBytes(24);
    this.secrets.set(req, secret);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const secure = (req.socket as { encrypted?: boolean } | undefined)?.encrypted ? '; Secure' : '';
    const cookie = `${COOKIE}=${secret.toString('base64url')}; Path=${path}; HttpOnly; SameSite=Strict${secure}`;
    const existing = headers['set-cookie'] ?? headers['Set-Cookie'];
    delete headers['Set-Cookie'];
    headers['set-cookie'] = [...(Array.isArray(existing) ? existing : existing ? [existing] : []), cookie];
  };

  /**
   * Closes a connection once what was written to it has gone out. A
   * long-polling client sees it only on its next GET, and a raw client may never
   * send one, so after a short grace the buffer is discarded. With nothing to
   * send and no GET waiting, it closes at once (a graceful close would wait for
   * engine.io's 30 s close timeout).
   */
  close(conn: EngineConnection): void {
    const polling = conn.transport?.name === 'polling';
    if (!polling) return conn.close();
    if (!conn.writeBuffer?.length || this.closing.has(conn)) return discardNow(conn);
    // A graceful close of a long-polling transport waits for another GET after the
    // flush (engine.io's orderly close), so discard right after the flush instead.
    const done = (): void => {
      clearTimeout(timer);
      this.closing.delete(conn);
      conn.off('drain', done);
      discardNow(conn);
    };
    const timer = setTimeout(done, CLOSE_GRACE_MS);
    this.closing.set(conn, timer);
    conn.on('drain', done);
  }

  /** Live entries, for leak checks. */
  sizes(): { idleTimers: number } {
    return { idleTimers: this.idleQueue.size + this.closing.size };
  }

  shutdown(): void {
    this.closed = true;
    this.idleQueue.clear();
    for (const timer of this.closing.values()) clearTimeout(timer);
    this.closing.clear();
    for (const engine of this.engines) {
      engine.off('connection', this.onConnection);
      engine.off('initial_headers', this.setCookie);
    }
    this.engines.clear();
    this.unscreen.splice(0).forEach((undo) => undo());
  }
}

function cookieValue(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === COOKIE) return value.join('=');
  }
  return undefined;
}

function sameSecret(expected: Buffer, given: string | undefined): boolean {
  const actual = Buffer.from(given ?? '', 'base64url');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * `close(true)`, made to hold when socket.io already began an orderly close
 * (it does for a packet to a namespace the connection never joined): the
 * polling transport then waits for one more GET, up to engine.io's
 * closeTimeout (30 s), and ignores a second close. Its pending close
 * (`shouldClose`, engine.io's own name) is run now instead. engine.io
 * internals; test/hostile/connections.spec.ts fails if they change.
 */
function discardNow(conn: EngineConnection): void {
  conn.close(true);
  if (conn.readyState !== 'closing') return;
  const transport = conn.transport as { shouldClose?: () => void } | undefined;
  transport?.shouldClose?.();
}
