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
 *      │                       ▼ disconnect                        │  │ is armed; refresh: stays
 *      │                    closed ◀──── expiry, revoke, ──────────┘  │ authenticated
 *      │                                 disconnect                   │
 *      └──────── demote: expiry with 'reauthenticate', deauthenticate() ──┘
 *
 * Invariants (checked by test/model):
 *   - a socket that is not released by the gate is in no adapter membership,
 *     and only sockets of an authenticated session are released;
 *   - `socket.data.auth.state` is 'authenticated' exactly when `isAuthenticated()`;
 *   - no timer outlives its session: `closed` clears them all;
 *   - a socket is only in rooms joined for its current principal.
 */
import type { Socket } from 'socket.io';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import { type LongTimer, setLongTimeout } from './long-timer.js';
import { publicView } from './protocol.js';

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
  onTimeout(session: Session): void;
  onExpiry(session: Session): void;
}

/** What a bounded call rejects with once its attempt settled without it. */
export const ABANDONED = Symbol('abandoned');

/** One strategy call and its hooks, or one socket's hooks. Handlers that arrive meanwhile wait on it. */
export class Attempt {
  private waiters?: Array<(ok: boolean) => void>;
  /** The client's ack for this attempt, answered once: by the outcome, or by whatever ended it. */
  private ack?: (response: unknown) => void;
  private timer?: ReturnType<typeof setTimeout>;
  private abandon?: () => void;
  settled = false;

  constructor(ack?: (response: unknown) => void) {
    this.ack = ack;
  }

  /** Answers the client's ack, once. */
  answer(response: unknown): void {
    const ack = this.ack;
    this.ack = undefined;
    ack?.(response);
  }

  wait(): Promise<boolean> {
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  /**
   * Races `work` against `ms`. The timer is the attempt's and dies with it, and
   * settling the attempt abandons the work, so a strategy that never answers
   * holds nothing (not even its failure-budget slot) once the session is gone.
   */
  bounded<T>(work: () => T | Promise<T>, ms: number, timedOut: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.settled) return reject(ABANDONED);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => reject(timedOut), ms);
      this.abandon = () => reject(ABANDONED);
      Promise.resolve()
        .then(work)
        .then(resolve, reject)
        .finally(() => {
          clearTimeout(this.timer);
          this.abandon = undefined;
        });
    });
  }

  settle(ok: boolean): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abandon?.();
    const waiters = this.waiters;
    this.waiters = undefined;
    // In arrival order, so pipelined messages run in the order they were sent.
    waiters?.forEach((resolve) => resolve(ok));
  }
}

export class Session {
  state: SessionState = 'pending';
  /** Set once the strategy accepts (so hooks can read it), cleared by demotion. */
  principal?: AuthPrincipal;
  /** Epoch ms, from the principal's `expiresAt`. */
  expiresAt?: number;
  /** What `socket.data.auth` says while authenticated: one object, shared by the session's sockets. */
  auth?: SocketAuthData;
  /** After a demotion: whose rooms the held sockets keep, and whether only that id may authenticate next (expiry). */
  demoted?: { owner: string; sameIdOnly: boolean };
  /** The strategy call (and the hooks after it) in flight. */
  attempt?: Attempt;
  /** Set while the first authentication's hooks run: guarded handlers wait on it. */
  hooking?: Attempt;
  /** Sockets that joined an authenticated session and whose hooks are running: not released yet. */
  joining?: Map<Socket, Attempt>;
  /** Usually one socket, kept bare: an array per session costs more than this whole object. */
  private members: Socket | Socket[] | undefined;
  private timeoutTimer?: ReturnType<typeof setTimeout>;
  private expiryTimer?: LongTimer;

  constructor(
    /** The client connection or the socket this session belongs to. */
    readonly key: object,
    /** Client address, for the per-address limits. */
    readonly address: string,
    private readonly timers: SessionTimeouts,
    first: Socket,
  ) {
    this.members = first;
  }

  /** The session's sockets, in the order they joined (a fresh array: callers may change the session meanwhile). */
  get sockets(): Socket[] {
    const members = this.members;
    return Array.isArray(members) ? [...members] : members ? [members] : [];
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
  }

  /** False when the socket was not in the session. */
  remove(socket: Socket): boolean {
    const members = this.members;
    if (!Array.isArray(members)) {
      if (members !== socket) return false;
      this.members = undefined;
      return true;
    }
    const index = members.indexOf(socket);
    if (index < 0) return false;
    members.splice(index, 1);
    if (members.length === 1) this.members = members[0];
    return true;
  }

  /** The one place the state changes. Starts and stops the timers that belong to each state. */
  transition(to: SessionState): void {
    const from = this.state;
    if (!TRANSITIONS[from].includes(to)) throw new Error(`session: no transition ${from} → ${to}`);
    this.state = to;
    switch (to) {
      case 'pending': // demoted
        this.clearExpiry();
        this.attempt?.settle(false);
        this.attempt = undefined;
        this.hooking = undefined;
        this.settleJoining(false);
        this.principal = undefined;
        this.auth = undefined;
        this.expiresAt = undefined;
        this.armTimeout(); // the authenticator stops it again when only public sockets are left
        break;
      case 'authenticating':
        break; // the timeout keeps running: a strategy or hook that hangs still ends in `timeout`
      case 'authenticated':
        this.clearTimeout();
        this.auth = this.authData();
        break; // the expiry is armed once the hooks ran: startExpiry()
      case 'closed':
        this.clearTimeout();
        this.clearExpiry();
        this.attempt?.settle(false);
        this.attempt = undefined;
        this.hooking = undefined;
        this.settleJoining(false);
        break;
    }
  }

  /** After the hooks: an expiry that passed while they ran fires now. */
  startExpiry(): void {
    this.armExpiry();
  }

  /** A re-authentication of the same principal: new principal data and expiry, same state. */
  refresh(principal: AuthPrincipal, expiresAt: number | undefined): void {
    this.principal = principal;
    this.expiresAt = expiresAt;
    this.auth = this.authData();
    this.armExpiry();
  }

  /** What `socket.data.auth` says of an authenticated session, as of now: never the whole principal. */
  private authData(): SocketAuthData {
    const principal = this.principal!;
    const data: SocketAuthData = {
      state: 'authenticated',
      principalId: principal.id,
      user: publicView(principal),
      authenticatedAt: Date.now(),
    };
    if (this.expiresAt !== undefined) data.expiresAt = this.expiresAt;
    return data;
  }

  /** A gated socket joined while unauthenticated: the timeout runs (public-only sessions have none). */
  startTimeout(): void {
    if (!this.timeoutTimer && (this.state === 'pending' || this.state === 'authenticating')) this.armTimeout();
  }

  /** Only public sockets are left: nothing to time out. */
  stopTimeout(): void {
    this.clearTimeout();
  }

  /** Live timers, for leak checks. */
  get timerCount(): number {
    return (this.timeoutTimer ? 1 : 0) + (this.expiryTimer ? 1 : 0);
  }

  private armTimeout(): void {
    const { timeout } = this.timers;
    if (!timeout) return;
    this.timeoutTimer = setTimeout(() => {
      this.timeoutTimer = undefined;
      this.timers.onTimeout(this);
    }, timeout);
  }

  private clearTimeout(): void {
    clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
  }

  private armExpiry(): void {
    this.clearExpiry();
    if (this.expiresAt === undefined) return;
    // An expiry that passed while hooks ran fires right after them (delay 0).
    this.expiryTimer = setLongTimeout(() => {
      this.expiryTimer = undefined;
      this.timers.onExpiry(this);
    }, this.expiresAt);
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
  | { state: 'authenticated'; principalId: string; user: unknown; authenticatedAt: number; expiresAt?: number };

/** The one `data.auth` of every unauthenticated socket (frozen and shared: nothing per socket). */
export const PENDING_AUTH: SocketAuthData = Object.freeze({ state: 'pending' });
