/**
 * `nestjs-socket-auth/client`: authenticates a socket.io-client socket against
 * nestjs-socket-auth, in the browser or in Node.
 *
 * Its only runtime dependency is the socket you pass in; everything imported
 * here is a type, so the compiled file loads as a plain ES module in a browser.
 *
 * Listeners are registered once, here, never inside `connect`: registering
 * them on every connection is what made `authenticated` fire several times
 * after a server restart (socketio-auth PR#31, auth0 socketio-jwt#68).
 */
import type { AuthErrorCode, AuthErrorPayload, RefreshRequiredPayload } from '../auth-errors.js';

export type { AuthErrorCode, AuthErrorPayload, RefreshRequiredPayload } from '../auth-errors.js';

/**
 * The members of a socket.io-client `Socket` this helper uses. Structural on
 * purpose: naming socket.io-client's class would tie these types to one copy of
 * its declarations, and a CommonJS app's `io()` resolves to the other one.
 */
export interface AuthClientSocket {
  readonly connected: boolean;
  /** The Manager (connection) the socket belongs to; sockets of one connection share its authentication. */
  readonly io?: object;
  // `any` event names: a socket typed with its own event map must still fit.
  /** Sends an event (`authentication`). */
  emit(event: any, ...args: any[]): unknown;
  /** Listens for an event (`authenticated`, `unauthorized`, `connect`). */
  on(event: any, listener: (...args: any[]) => void): unknown;
  /** Removes a listener this helper added. */
  off(event: any, listener?: (...args: any[]) => void): unknown;
}

/** What the client sends in `authentication`: usually `{ token }`. */
export type Credentials = Record<string, unknown> | string;
/**
 * Credentials, or a function called again for every (re)connection and every
 * refresh, so fresh tokens are picked up: only a function lets the helper
 * refresh a session ahead of its expiry.
 */
export type CredentialsSource = Credentials | (() => Credentials | Promise<Credentials>);

/** `pending`: not (yet) authenticated on this connection. `failed`: refused; see `error`. */
export type AuthState = 'pending' | 'authenticated' | 'failed';

/** How `authenticate()` talks to the server, when the server changed its defaults. */
export interface AuthenticateOptions {
  /** Event names, when the server renamed them with its `events` option. */
  events?: Partial<{
    authentication: string;
    authenticated: string;
    unauthorized: string;
    refreshRequired: string;
  }>;
  /**
   * The server's `scope`. With `'connection'`, a socket whose connection is
   * already authenticated through another namespace sends nothing: the server
   * tells it `authenticated` by itself.
   * @default 'connection'
   */
  scope?: 'connection' | 'namespace';
  /**
   * With credentials given as a function: refresh the session ahead of its
   * `expiresAt` on its own (at a random point shortly before the server's
   * `refresh_required`, so clients whose tokens were minted together do not
   * all refresh at once), and on `refresh_required` (after a random delay of
   * up to half the time left). The socket stays authenticated throughout.
   * @default true
   */
  refresh?: boolean;
}

/** A refusal from the server, with its wire code. */
export class AuthClientError extends Error {
  readonly code: AuthErrorCode;
  /** True when the socket stays connected and may authenticate again. */
  readonly reauthenticate: boolean;

  constructor(payload: AuthErrorPayload) {
    super(payload.message);
    this.name = 'AuthClientError';
    this.code = payload.code;
    this.reauthenticate = payload.reauthenticate === true;
  }
}

/** Called with every state change of an `AuthSession`. */
export type StateListener<User> = (state: AuthState, detail: { user?: User; error?: AuthClientError }) => void;

/**
 * Awaitable: resolves with the user on the first `authenticated`, rejects with
 * an `AuthClientError` on the first refusal. Keeps working after that: it
 * re-authenticates on every reconnection and on `expired` with `reauthenticate`.
 */
export interface AuthSession<User = unknown> extends PromiseLike<User> {
  readonly state: AuthState;
  readonly user: User | undefined;
  readonly error: AuthClientError | undefined;
  /** Calls `listener` on every state change; returns a function that unsubscribes it. */
  onStateChange(listener: StateListener<User>): () => void;
  /** When the session ends unless it is refreshed (epoch ms, the server's clock), if it expires. */
  readonly expiresAt: number | undefined;
  /** The session's id, as the server's `sessions()` lists it (to mark "this device"); undefined until authenticated. */
  readonly sessionId: string | undefined;
  /** Fetches credentials again and sends them now, e.g. after `deauthenticated`. */
  reauthenticate(): void;
  /**
   * Refreshes an authenticated session now with fresh credentials; resolves
   * with the user, or rejects with the refusal, while the session stays as it
   * was until its own end.
   */
  refresh(): Promise<User>;
  /** Calls `listener` when a refresh is refused (the session goes on until `expiresAt`); returns an unsubscribe. */
  onRefreshError(listener: (error: AuthClientError) => void): () => void;
  /** Removes every listener this helper put on the socket. */
  close(): void;
  /** As `Promise.prototype.catch`, on the first outcome. */
  catch<T = never>(onrejected?: (reason: AuthClientError) => T | PromiseLike<T>): Promise<User | T>;
}

/** Codes that reach the client as a `connect_error` from the server's admission limits. */
const CONNECT_CODES = new Set<AuthErrorCode>(['too_many_pending', 'forbidden_origin', 'duplicate_namespace']);

/** Authenticated sessions per connection (Manager), for scope 'connection'. */
const authenticatedOn = new WeakMap<object, Set<object>>();

/**
 * Authenticates `socket` with `credentials` now (or once it connects), and
 * again after every reconnection. Await it for the first outcome.
 */
export function authenticate<User = unknown>(
  socket: AuthClientSocket,
  credentials: CredentialsSource,
  options: AuthenticateOptions = {},
): AuthSession<User> {
  const events = {
    authentication: 'authentication',
    authenticated: 'authenticated',
    unauthorized: 'unauthorized',
    refreshRequired: 'refresh_required',
    ...options.events,
  };
  const refreshes = options.refresh !== false && typeof credentials === 'function';
  let state: AuthState = 'pending';
  let user: User | undefined;
  let error: AuthClientError | undefined;
  let revoked = false;
  let closed = false;
  let attempt = 0;
  const listeners = new Set<StateListener<User>>();
  const refreshErrorListeners = new Set<(error: AuthClientError) => void>();
  let expiresAt: number | undefined;
  let sessionId: string | undefined;
  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** The refresh in flight, so the helper's own timer and `refresh_required` send one, not two. */
  let refreshing: Promise<User> | undefined;
  const scope = options.scope ?? 'connection';
  const me = {};
  /** Credentials already queued in socket.io-client's send buffer for the coming connection. */
  let queued = false;

  let resolveFirst!: (user: User) => void;
  let rejectFirst!: (error: AuthClientError) => void;
  const first = new Promise<User>((resolve, reject) => {
    resolveFirst = resolve;
    rejectFirst = reject;
  });
  // An app that never awaits must not get an unhandled rejection; awaiting still rejects.
  first.catch(() => undefined);

  const setState = (next: AuthState): void => {
    state = next;
    if (socket.io) {
      const peers = authenticatedOn.get(socket.io) ?? new Set<object>();
      if (next === 'authenticated') peers.add(me);
      else peers.delete(me);
      if (peers.size) authenticatedOn.set(socket.io, peers);
      else authenticatedOn.delete(socket.io);
    }
    for (const listener of [...listeners]) listener(next, { user, error });
  };

  /** Sends credentials for the current connection. A newer call supersedes an older one still fetching. */
  const send = async (): Promise<void> => {
    const mine = ++attempt;
    let value: Credentials;
    try {
      value = typeof credentials === 'function' ? await credentials() : credentials;
    } catch (err) {
      error = new AuthClientError({
        code: 'invalid_credentials',
        message: `could not get credentials: ${(err as Error)?.message ?? err}`,
      });
      setState('failed');
      rejectFirst(error);
      return;
    }
    if (closed || mine !== attempt || !socket.connected) return;
    socket.emit(events.authentication, value);
  };

  /** Another socket of this connection is authenticated: the server will tell this one by itself. */
  const connectionAuthenticated = (): boolean =>
    scope === 'connection' && !!socket.io && [...(authenticatedOn.get(socket.io) ?? [])].some((peer) => peer !== me);

  const onConnect = (): void => {
    if (closed || revoked) return;
    if (state !== 'pending') setState('pending');
    if (queued) {
      queued = false; // sent ahead of whatever the app emitted before the connection opened
      return;
    }
    if (!connectionAuthenticated()) void send();
  };

  const cancelRefresh = (): void => {
    clearTimeout(refreshTimer);
    refreshTimer = undefined;
  };

  /** Refreshes after `delay` ms, unless one is already due sooner. */
  const refreshIn = (delay: number): void => {
    if (!refreshes || closed) return;
    cancelRefresh();
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined;
      void refresh().catch(() => undefined);
    }, delay);
  };

  /** Sends fresh credentials with an ack; the session stays authenticated whatever the answer. */
  const refresh = (): Promise<User> => {
    if (refreshing) return refreshing;
    cancelRefresh();
    const work = (async (): Promise<User> => {
      if (state !== 'authenticated' || !socket.connected)
        throw new AuthClientError({ code: 'unauthenticated', message: 'not authenticated: nothing to refresh' });
      let value: Credentials;
      try {
        value = typeof credentials === 'function' ? await credentials() : credentials;
      } catch (err) {
        throw new AuthClientError({
          code: 'invalid_credentials',
          message: `could not get credentials: ${(err as Error)?.message ?? err}`,
        });
      }
      // socket.io-client drops the ack on a disconnect: the disconnect settles the refresh instead.
      const answer = await new Promise<{ ok: boolean; user?: User; error?: AuthErrorPayload }>((resolve) => {
        const gone = (): void => {
          socket.off('disconnect', gone);
          resolve({ ok: false, error: { code: 'unauthenticated', message: 'disconnected during the refresh' } });
        };
        socket.on('disconnect', gone);
        socket.emit(events.authentication, value, (reply: { ok: boolean; user?: User; error?: AuthErrorPayload }) => {
          socket.off('disconnect', gone);
          resolve(reply);
        });
      });
      if (!answer?.ok) throw new AuthClientError(answer?.error ?? { code: 'server_error', message: 'refused' });
      return answer.user as User;
    })();
    refreshing = work;
    work.then(
      () => (refreshing = undefined),
      (err: AuthClientError) => {
        refreshing = undefined;
        // A refusal the session outlives: it runs on until expiresAt, and the app may want to know why.
        // `in_progress`: another socket of this connection is refreshing the same session.
        if (state === 'authenticated' && err.code !== 'in_progress')
          for (const listener of [...refreshErrorListeners]) listener(err);
      },
    );
    return work;
  };

  const onAuthenticated = (
    payload: { user?: User; sessionId?: string; expiresAt?: number; expiresIn?: number } | undefined,
  ): void => {
    user = payload?.user;
    sessionId = typeof payload?.sessionId === 'string' ? payload.sessionId : undefined;
    error = undefined;
    expiresAt = typeof payload?.expiresAt === 'number' ? payload.expiresAt : undefined;
    setState('authenticated');
    resolveFirst(user as User);
    const left = typeof payload?.expiresIn === 'number' ? payload.expiresIn : undefined;
    if (left === undefined) return cancelRefresh();
    // Ahead of the server's refresh_required, at a random point of the half-window before it.
    const ahead = refreshAhead(left);
    refreshIn(Math.max(0, left - ahead - Math.random() * (ahead / 2)));
  };

  const onRefreshRequired = (payload: RefreshRequiredPayload | undefined): void => {
    if (state !== 'authenticated' || refreshing) return;
    const left = typeof payload?.expiresIn === 'number' ? payload.expiresIn : 0;
    if (typeof payload?.expiresAt === 'number') expiresAt = payload.expiresAt;
    refreshIn(Math.random() * (left / 2));
  };

  const onUnauthorized = (payload: AuthErrorPayload): void => {
    cancelRefresh();
    expiresAt = undefined;
    error = new AuthClientError(payload);
    if (error.reauthenticate) {
      setState('pending');
      // Expiry asks for fresh credentials on the same connection; a server-side
      // deauthenticate leaves the decision to the app (reauthenticate()).
      if (error.code === 'expired') void send();
      return;
    }
    // Refused for who they are, not for the credentials: a reconnection would be refused the same way.
    if (error.code === 'revoked' || error.code === 'invalidated') revoked = true;
    setState('failed');
    rejectFirst(error);
  };

  const onConnectError = (err: Error & { data?: Partial<AuthErrorPayload> }): void => {
    const code = err.data?.code;
    if (!code || !CONNECT_CODES.has(code)) return; // transport errors: socket.io-client retries by itself
    error = new AuthClientError(err.data as AuthErrorPayload);
    setState('failed');
    rejectFirst(error);
  };

  const onDisconnect = (): void => {
    cancelRefresh();
    refreshing = undefined; // its ack will never come
    expiresAt = undefined;
    if (state === 'authenticated') setState('pending');
  };

  socket.on('connect', onConnect);
  socket.on(events.authenticated, onAuthenticated);
  socket.on(events.unauthorized, onUnauthorized);
  socket.on(events.refreshRequired, onRefreshRequired);
  socket.on('connect_error', onConnectError);
  socket.on('disconnect', onDisconnect);
  if (socket.connected) {
    if (!connectionAuthenticated()) void send();
  } else if (typeof credentials !== 'function' && !connectionAuthenticated()) {
    // socket.io-client flushes its send buffer before 'connect' fires: queue the
    // credentials now, so they reach the server ahead of any message the app
    // emits before the connection opens.
    socket.emit(events.authentication, credentials);
    queued = true;
  }

  return {
    get state() {
      return state;
    },
    get user() {
      return user;
    },
    get error() {
      return error;
    },
    get expiresAt() {
      return expiresAt;
    },
    get sessionId() {
      return sessionId;
    },
    then: (onfulfilled, onrejected) => first.then(onfulfilled, onrejected),
    catch: (onrejected) => first.catch(onrejected),
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reauthenticate() {
      revoked = false;
      if (socket.connected) void send();
    },
    refresh,
    onRefreshError(listener) {
      refreshErrorListeners.add(listener);
      return () => refreshErrorListeners.delete(listener);
    },
    close() {
      closed = true;
      cancelRefresh();
      refreshErrorListeners.clear();
      setState(state === 'authenticated' ? 'pending' : state);
      listeners.clear();
      socket.off('connect', onConnect);
      socket.off(events.authenticated, onAuthenticated);
      socket.off(events.unauthorized, onUnauthorized);
      socket.off(events.refreshRequired, onRefreshRequired);
      socket.off('connect_error', onConnectError);
      socket.off('disconnect', onDisconnect);
    },
  };
}

// When to refresh ahead of a session's end: one rule, used by the server for `refresh_required` and by this helper.

/** The automatic lead time is 10% of the session's lifetime, at least this… */
export const REFRESH_AHEAD_MIN_MS = 5_000;
/** …and at most this. */
export const REFRESH_AHEAD_MAX_MS = 5 * 60_000;

/**
 * How long before the end of a session that lasts `lifetimeMs` to refresh:
 * `fixed` when given, else 10% of the lifetime clamped to 5 s–5 min; never
 * more than half the lifetime, so a 4-second token still hears about it 2 s in.
 */
export function refreshAhead(lifetimeMs: number, fixed?: number): number {
  const ahead = fixed ?? Math.min(Math.max(lifetimeMs * 0.1, REFRESH_AHEAD_MIN_MS), REFRESH_AHEAD_MAX_MS);
  return Math.max(0, Math.min(ahead, lifetimeMs / 2));
}
