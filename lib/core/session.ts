/**
 * One authentication session: its state, its principal and its timers. The
 * session owns every timer it needs, and every state change goes through
 * `transition()`, which also starts and stops those timers. What a transition
 * means for the sockets (the gate, the wire) is the authenticator's business.
 *
 * A session covers one client connection (scope 'connection': every namespace
 * socket of that connection) or one namespace socket (scope 'namespace').
 *
 *   pending ──attempt──▶ authenticating ──strategy accepts──▶ authenticated
 *      ▲                       │                                   │  │
 *      │                       │ refused, timeout, revoke,         │  │ hooks run, then the expiry
 *      │                       ▼ disconnect                        │  │ is armed; refresh and
 *      │                    closed ◀──── expiry, revoke, ──────────┘  │ revalidation: stays
 *      │                                 invalidated, disconnect      │ authenticated
 *      └──────── demote: expiry with 'reauthenticate', deauthenticate() ──┘
 *
 * While authenticated, one timer (the expiry timer) serves the whole lifetime:
 * first `refresh_required` at `expiresAt − refreshAhead`, then the end, which
 * is the expiry or, after `revoke(…, { graceMs })`, the grace's end if sooner.
 * A refresh starts a new lifetime: the warning is due again.
 *
 * Invariants (checked by test/model):
 *   - a socket that is not released by the gate is in no adapter membership,
 *     and only sockets of an authenticated session are released;
 *   - `socket.data.auth.state` is 'authenticated' exactly when `isAuthenticated()`;
 *   - no timer outlives its session: `closed` clears them all;
 *   - the timeout runs exactly while the session is unauthenticated and holds a gated socket;
 *   - one owner (`owner`) answers whose session it is, for revoke, rooms, recovery and re-authentication;
 *   - a socket is only in rooms joined for its current principal.
 */
import type { Socket } from 'socket.io';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import { type LongTimer, setLongTimeout } from './long-timer.js';
import type { DeadlineQueue, QueueEntry } from './deadline-queue.js';
import type { Attempt } from './attempt.js';
import { publicView } from './protocol.js';

/** What ends an authenticated session's lifetime, when it comes. */
export type LifetimeEvent = 'refresh' | 'expiry' | 'grace';

export type SessionState = 'pending' | 'authenticating' | 'authenticated' | 'closed';

const TRANSITIONS: Record<SessionState, readonly SessionState[]> = {
  pending: ['authenticating', 'closed'],
  authenticating: ['authenticated', 'closed'],
  authenticated: ['pending', 'closed'],
  closed: [],
};

/** What the session's timers report to. */
export interface SessionTimeouts {
  /** Milliseconds a session may stay unauthenticated; false: forever. */
  readonly timeout: number | false;
  /** Whether the socket is on a gated namespace: only gated sockets are timed out. */
  isGated(socket: Socket): boolean;
  /** How long before the end of a session lasting `lifetimeMs` to send `refresh_required`; undefined: never. */
  refreshAhead(lifetimeMs: number): number | undefined;
  /** This node's id: the prefix of its session ids. */
  readonly node: string;
  /** A number no other session of this node has had: the rest of a session id. */
  nextSeq(): number;
  /** The timeouts of every pending session, on one timer; it calls `onTimeout`. */
  readonly deadlines: DeadlineQueue<Session>;
  onTimeout(session: Session): void;
  /** The expiry timer fired: time to warn (`refresh`), the credentials expired, or a revoke's grace ran out. */
  onLifetime(session: Session, event: LifetimeEvent): void;
}

/**
 * Whose session this is, or may become again, and how strictly: the one
 * answer that revoke, rooms, recovery and re-authentication ask (`ownerId`,
 * `sameIdOnly`, `principal`). One field holds it:
 *   - authenticated: the principal itself; only its id may authenticate next
 *     (a refresh keeps the principal). No object of its own: one per session
 *     was 48 bytes of every authenticated socket;
 *   - demoted by expiry ('reauthenticate'): `Demoted(id, true)`: only that id
 *     may authenticate next, and the held rooms stay its own;
 *   - demoted by `deauthenticate()`: `Demoted(id, false)`: anyone may
 *     authenticate, and the held rooms are reset for anyone else;
 *   - never authenticated: nothing.
 */
class Demoted {
  constructor(
    readonly id: string,
    /** Whether only `id` may authenticate next. */
    readonly sameIdOnly: boolean,
  ) {}
}

export class Session {
  state: SessionState = 'pending';
  /** When the session first authenticated (a refresh keeps it), epoch ms: the session view's `authenticatedAt`. */
  startedAt = 0;
  /** The principal id `maxSessionsPerPrincipal` counted this session under, until it stops counting. */
  counted?: string;
  /** The one field that says whose session this is: see `Demoted`. Set only by `accept`, `refresh`, `revalidated` and `demote`. */
  private current?: AuthPrincipal | Demoted;
  /** Epoch ms, from the principal's `expiresAt`. */
  expiresAt?: number;
  /** When the current lifetime began (the authentication or the last refresh), epoch ms. */
  lifetimeStart = 0;
  /** `refresh_required` was sent for the current lifetime. */
  private warned = false;
  /** After `revoke(…, { graceMs })`: the session ends then unless a refresh passes the revocation first. */
  grace?: { until: number; message?: string };
  /** The `revalidate()` call in flight: at most one per session. */
  revalidation?: Attempt;
  /** What `socket.data.auth` says while authenticated: one object, shared by the session's sockets. */
  auth?: SocketAuthData;
  /** The strategy call (and the hooks after it) in flight. */
  attempt?: Attempt;
  /** Set while the first authentication's hooks run: guarded handlers wait on it. */
  hooking?: Attempt;
  /** Sockets that joined an authenticated session and whose hooks are running: not released yet. */
  joining?: Map<Socket, Attempt>;
  /** Usually one socket, kept bare: an array per session costs more than this whole object. */
  private members: Socket | Socket[] | undefined;
  /** Its place in the shared timeout queue while the timeout runs: no timer of its own. */
  private timeoutEntry?: QueueEntry<Session>;
  /** When this unauthenticated stretch times out: kept while only public sockets are left, so leaving and coming back does not extend it. */
  private deadline?: number;
  private expiryTimer?: LongTimer;

  constructor(
    /** The client connection or the socket this session belongs to. */
    readonly key: object,
    /** Client address, for the per-address limits. */
    readonly address: string,
    private readonly timers: SessionTimeouts,
    first: Socket,
    /** Unique on this node; with the node's id, the session's id. A new one after each demotion. */
    private seq: number,
  ) {
    this.members = first;
    this.syncTimeout();
  }

  /** Whose session this is, or may become again: the principal's id, kept through a demotion. */
  get ownerId(): string | undefined {
    return this.current?.id;
  }

  /** Whether only `ownerId` may authenticate next: while authenticated, and after an expiry demoted it. */
  get sameIdOnly(): boolean {
    const current = this.current;
    return current instanceof Demoted ? current.sameIdOnly : current !== undefined;
  }

  /** The principal while authenticated (and while its hooks run, so they can read it). */
  get principal(): AuthPrincipal | undefined {
    const current = this.current;
    return current instanceof Demoted ? undefined : current;
  }

  /** The session's sockets, in the order they joined (a fresh array: callers may change the session meanwhile). */
  get sockets(): Socket[] {
    const members = this.members;
    return Array.isArray(members) ? [...members] : members ? [members] : [];
  }

  /** The first socket, without the copy `sockets` makes: what a log line or an outcome names. */
  get first(): Socket | undefined {
    const members = this.members;
    return Array.isArray(members) ? members[0] : members;
  }

  get size(): number {
    const members = this.members;
    return Array.isArray(members) ? members.length : members ? 1 : 0;
  }

  has(socket: Socket): boolean {
    const members = this.members;
    return Array.isArray(members) ? members.includes(socket) : members === socket;
  }

  add(socket: Socket): void {
    const members = this.members;
    if (members === undefined) this.members = socket;
    else if (!Array.isArray(members)) this.members = members === socket ? members : [members, socket];
    else if (!members.includes(socket)) members.push(socket);
    this.syncTimeout();
  }

  /** False when the socket was not in the session. */
  remove(socket: Socket): boolean {
    const members = this.members;
    if (!Array.isArray(members)) {
      if (members !== socket) return false;
      this.members = undefined;
    } else {
      const index = members.indexOf(socket);
      if (index < 0) return false;
      members.splice(index, 1);
      if (members.length === 1) this.members = members[0];
    }
    this.syncTimeout();
    return true;
  }

  /**
   * Unique across the nodes, built when asked (a number until then). Not a
   * secret: whoever ends a session by id must check that it is the caller's.
   */
  get id(): string {
    return `${this.timers.node}.${this.seq.toString(36)}`;
  }

  /** The strategy accepted: the session is the principal's. */
  accept(principal: AuthPrincipal, expiresAt: number | undefined): void {
    this.current = principal;
    this.startedAt = Date.now();
    this.beginLifetime(expiresAt);
    this.transition('authenticated');
  }

  /**
   * A re-authentication of the same principal: new principal data and expiry,
   * same state, and a new lifetime (any revoke's grace is over: these
   * credentials passed the revocation store).
   */
  refresh(principal: AuthPrincipal, expiresAt: number | undefined): void {
    // Credentials that do not move the end (the same token sent again) get no second warning: no halving loop.
    const sameEnd =
      this.warned && expiresAt !== undefined && this.expiresAt !== undefined && expiresAt <= this.expiresAt;
    this.current = principal;
    this.beginLifetime(expiresAt);
    this.warned = sameEnd;
    this.grace = undefined;
    this.auth = this.authData();
    this.armExpiry();
  }

  /** A revalidation's fresh principal, in place: the lifetime goes on; `expiresAt` only ever moves earlier. */
  revalidated(principal: AuthPrincipal, expiresAt: number | undefined): void {
    const authenticatedAt = this.auth?.state === 'authenticated' ? this.auth.authenticatedAt : Date.now();
    this.current = principal;
    const moved = expiresAt !== this.expiresAt;
    this.expiresAt = expiresAt;
    this.auth = { ...this.authData(), authenticatedAt } as SocketAuthData;
    if (moved) this.armExpiry();
  }

  /** `revoke(…, { graceMs })`: the session ends at `until` (or its expiry if sooner) unless a refresh passes first. */
  startGrace(until: number, message?: string): void {
    if (this.grace && this.grace.until <= until) return; // a grace never grows
    this.grace = { until, message };
    this.armExpiry();
  }

  private beginLifetime(expiresAt: number | undefined): void {
    this.expiresAt = expiresAt;
    this.lifetimeStart = Date.now();
    this.warned = false;
  }

  /** Back to pending, still owned by the same id: strictly after an expiry, loosely after `deauthenticate()`. */
  demote(sameIdOnly: boolean): void {
    this.current = new Demoted(this.current!.id, sameIdOnly);
    // Whoever authenticates next starts a new session: `end()` of the old id must not reach it.
    this.seq = this.timers.nextSeq();
    this.transition('pending');
  }

  /** The one place the state changes. Starts and stops the timers that belong to each state. */
  transition(to: SessionState): void {
    const from = this.state;
    if (!TRANSITIONS[from].includes(to)) throw new Error(`session: no transition ${from} → ${to}`);
    this.state = to;
    switch (to) {
      case 'pending': // demote()
        this.clearExpiry();
        this.grace = undefined;
        this.endRevalidation();
        this.attempt?.settle(false);
        this.attempt = undefined;
        this.hooking = undefined;
        this.settleJoining(false);
        this.auth = undefined;
        this.expiresAt = undefined;
        this.deadline = undefined; // a new unauthenticated stretch
        break;
      case 'authenticating':
        break; // the timeout keeps running: a strategy or hook that hangs still ends in `timeout`
      case 'authenticated': // accept()
        this.deadline = undefined;
        this.auth = this.authData();
        break; // the expiry is armed once the hooks ran: startExpiry()
      case 'closed':
        this.clearExpiry();
        this.endRevalidation();
        this.attempt?.settle(false);
        this.attempt = undefined;
        this.hooking = undefined;
        this.settleJoining(false);
        break;
    }
    this.syncTimeout();
  }

  /** After the hooks: an expiry that passed while they ran fires now. */
  startExpiry(): void {
    this.armExpiry();
  }

  /** What `socket.data.auth` says of an authenticated session, as of now: never the whole principal. */
  private authData(): SocketAuthData {
    const principal = this.principal!;
    const data: SocketAuthData = {
      state: 'authenticated',
      sessionId: this.id,
      principalId: principal.id,
      user: publicView(principal),
      authenticatedAt: Date.now(),
    };
    if (this.expiresAt !== undefined) data.expiresAt = this.expiresAt;
    return data;
  }

  /**
   * The timeout runs exactly while the session is unauthenticated and holds a
   * gated socket. Re-derived whenever a socket joins or leaves and at every
   * transition, so a public socket never holds one, and never suffers the
   * timeout of a gated socket that has left.
   */
  private syncTimeout(): void {
    const { timeout } = this.timers;
    const due =
      timeout !== false &&
      timeout > 0 &&
      (this.state === 'pending' || this.state === 'authenticating') &&
      this.holdsGated();
    if (!due) return this.clearTimeout();
    if (this.timeoutEntry?.live) return;
    this.deadline ??= Date.now() + timeout;
    this.timeoutEntry = this.timers.deadlines.add(this, this.deadline);
  }

  private holdsGated(): boolean {
    const members = this.members;
    if (members === undefined) return false;
    return Array.isArray(members) ? members.some((s) => this.timers.isGated(s)) : this.timers.isGated(members);
  }

  /** Live timers, for leak checks. */
  get timerCount(): number {
    return (this.timeoutEntry?.live ? 1 : 0) + (this.expiryTimer ? 1 : 0);
  }

  private clearTimeout(): void {
    this.timers.deadlines.cancel(this.timeoutEntry);
    this.timeoutEntry = undefined;
  }

  /**
   * The one expiry timer, armed for whatever comes first: the warning (once
   * per lifetime), the grace's end, the expiry. An event that passed while
   * hooks ran fires right after them (delay 0).
   */
  private armExpiry(): void {
    this.clearExpiry();
    const { expiresAt, grace } = this;
    let at: number | undefined;
    let event: LifetimeEvent | undefined;
    if (expiresAt !== undefined) {
      [at, event] = [expiresAt, 'expiry'];
      const ahead = this.warned ? undefined : this.timers.refreshAhead(expiresAt - this.lifetimeStart);
      if (ahead !== undefined && ahead > 0) [at, event] = [expiresAt - ahead, 'refresh'];
    }
    if (grace && (at === undefined || grace.until < at)) [at, event] = [grace.until, 'grace'];
    if (at === undefined || event === undefined) return;
    const fired = event;
    this.expiryTimer = setLongTimeout(() => {
      this.expiryTimer = undefined;
      if (fired === 'refresh') {
        this.warned = true;
        this.armExpiry(); // then the end
      }
      this.timers.onLifetime(this, fired);
    }, at);
  }

  private endRevalidation(): void {
    this.revalidation?.settle(false);
    this.revalidation = undefined;
  }

  private clearExpiry(): void {
    this.expiryTimer?.clear();
    this.expiryTimer = undefined;
  }

  private settleJoining(ok: boolean): void {
    this.joining?.forEach((attempt) => attempt.settle(ok));
    this.joining = undefined;
  }
}

/** What `socket.data.auth` holds, and so what `fetchSockets()` and the recovery store see: never the whole principal. */
export type SocketAuthData =
  | { state: 'pending' }
  | {
      state: 'authenticated';
      /** The session's id, as `AuthSocketService.sessions()` lists it. */
      sessionId: string;
      principalId: string;
      user: unknown;
      authenticatedAt: number;
      expiresAt?: number;
    };

/** The one `data.auth` of every unauthenticated socket (frozen and shared: nothing per socket). */
export const PENDING_AUTH: SocketAuthData = Object.freeze({ state: 'pending' });
