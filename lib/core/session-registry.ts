/**
 * Finds a socket's session, and answers what the rest of the app asks about
 * it. Sessions are looked up by their key (the client connection, or the
 * socket with scope 'namespace'), never stored on the socket: a property on
 * every socket costs more heap than the lookup.
 */
import type { Socket } from 'socket.io';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import { DeadlineQueue } from './deadline-queue.js';
import { Session, type SessionTimeouts } from './session.js';

export class SessionRegistry {
  private readonly sessions = new Map<object, Session>();
  /** One for every session: not an object per session. */
  private readonly timeouts: SessionTimeouts;
  private seq = 0;

  constructor(
    private readonly options: ResolvedAuthSocketOptions,
    timeouts: Omit<SessionTimeouts, 'timeout' | 'nextSeq' | 'deadlines'>,
    /** The client address a new session is counted under. */
    private readonly addressOf: (socket: Socket) => string,
  ) {
    this.timeouts = {
      timeout: options.timeout,
      nextSeq: () => ++this.seq,
      deadlines: new DeadlineQueue<Session>((session) => timeouts.onTimeout(session)),
      ...timeouts,
    };
  }

  of(socket: Socket): Session | undefined {
    return this.sessions.get(this.keyOf(socket));
  }

  /** The socket's session, with the socket in it; created pending when it has none. */
  for(socket: Socket): Session {
    const session = this.of(socket);
    if (!session) {
      const key = this.keyOf(socket);
      const created = new Session(key, this.addressOf(socket), this.timeouts, socket, ++this.seq);
      this.sessions.set(key, created);
      return created;
    }
    session.add(socket);
    return session;
  }

  /** Shutdown: the timeout queue's timer stops (every session is ending anyway). */
  clear(): void {
    this.timeouts.deadlines.clear();
  }

  forget(session: Session): void {
    if (this.sessions.get(session.key) === session) this.sessions.delete(session.key);
  }

  /** A session by its id (a scan: for admin actions, not the hot path). */
  byId(id: string): Session | undefined {
    for (const session of this.sessions.values()) if (session.state !== 'closed' && session.id === id) return session;
    return undefined;
  }

  all(): Session[] {
    return [...this.sessions.values()];
  }

  /** Released, with `data.auth` saying so; guarded handlers may still wait for hooks (`whenAuthenticated`). */
  isAuthenticated(socket: Socket): boolean {
    return this.of(socket)?.state === 'authenticated';
  }

  /** The principal, also while hooks run (so they can read it). */
  getPrincipal(socket: Socket): AuthPrincipal | undefined {
    const session = this.of(socket);
    return session?.state === 'authenticated' || session?.state === 'authenticating' ? session.principal : undefined;
  }

  /** true when the socket may run guarded work now, a promise while its authentication or hooks are in flight. */
  whenAuthenticated(socket: Socket): boolean | Promise<boolean> {
    const session = this.of(socket);
    if (!session) return false;
    const hooks = session.joining?.get(socket) ?? session.hooking;
    if (hooks) return hooks.wait();
    if (session.state === 'authenticated') return true;
    if (session.state === 'authenticating' && session.attempt) return session.attempt.wait();
    return false;
  }

  counts(): { sessions: number; authenticatedSockets: number; timers: number } {
    let authenticatedSockets = 0;
    let timers = 0;
    for (const session of this.sessions.values()) {
      if (session.state === 'authenticated') authenticatedSockets += session.size;
      timers += session.timerCount;
    }
    // The shared timeout queue's one timer is counted in the sessions' own count (one per waiting session).
    return { sessions: this.sessions.size, authenticatedSockets, timers };
  }

  private keyOf(socket: Socket): object {
    return this.options.scope === 'connection' ? socket.client : socket;
  }
}
