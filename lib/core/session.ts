/**
 * One authentication session: its state, its principal and its timers.
 *
 * A session covers one client connection (scope 'connection': every namespace
 * socket of that connection) or one namespace socket (scope 'namespace').
 *
 *   pending ──authentication──▶ authenticating ──strategy accepts──▶ authenticated
 *      ▲                              │ refuses / times out                │
 *      │                              ▼                                    │ expiry with onExpiry 'reauthenticate',
 *      │                            closed ◀── timeout, expiry, revoke ────┤ or deauthenticate()
 *      └───────────────────────────────────────────────────────────────────┘
 *
 * An authenticated session may re-authenticate: the state stays
 * 'authenticated' while the new attempt is in flight.
 */
import type { Socket } from 'socket.io';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import type { LongTimer } from './long-timer.js';

export type SessionState = 'pending' | 'authenticating' | 'authenticated' | 'closed';

/** One strategy call. Handlers that arrive meanwhile wait on it. */
export class Attempt {
  private waiters?: Array<(ok: boolean) => void>;
  settled = false;

  wait(): Promise<boolean> {
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  settle(ok: boolean): void {
    if (this.settled) return;
    this.settled = true;
    const waiters = this.waiters;
    this.waiters = undefined;
    // In arrival order, so pipelined messages run in the order they were sent.
    waiters?.forEach((resolve) => resolve(ok));
  }
}

export class Session {
  state: SessionState = 'pending';
  principal?: AuthPrincipal;
  authenticatedAt?: number;
  /** Epoch ms, from the principal's `expiresAt`. */
  expiresAt?: number;
  inFlight?: Attempt;
  /** Whether this session is counted in the pending-connection limits. */
  countedPending = false;
  /** Usually one socket; an array is far lighter than a Set for that. */
  readonly sockets: Socket[] = [];
  timeoutTimer?: ReturnType<typeof setTimeout>;
  expiryTimer?: LongTimer;

  constructor(
    /** The client connection or the socket this session belongs to. */
    readonly key: object,
    /** Client address, for the per-address limits. */
    readonly address: string,
  ) {}

  get isPending(): boolean {
    return this.state === 'pending' || this.state === 'authenticating';
  }
}

/** What `socket.data.auth` holds, and so what `fetchSockets()` shows on every node. */
export type SocketAuthData =
  | { state: 'pending' }
  | { state: 'authenticated'; principalId: string; principal: AuthPrincipal; authenticatedAt: number; expiresAt?: number };
