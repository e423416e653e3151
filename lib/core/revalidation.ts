/**
 * Revalidation: asking the strategy's `revalidate()` whether a live session
 * still holds, every `revalidateInterval` (jittered, on one shared timer
 * wheel) and on demand. This file makes the call and reads the answer; the
 * authenticator applies it, so the session still changes in one place.
 */
import { AuthenticationError, type AuthErrorCode } from '../auth-errors.js';
import type { ResolvedAuthSocketOptions } from '../auth-socket.options.js';
import type { AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import { ABANDONED, type Attempt } from './attempt.js';
import { DeadlineWheel } from './deadline-wheel.js';
import type { Session } from './session.js';
import type { AuthLogger } from './strategy-call.js';
import { where } from './outcomes.js';

/** What a revalidation came to. */
export type RevalidationResult =
  /** The call threw, hung or answered nonsense: logged, and the session runs on until the next check. */
  | { kind: 'kept' }
  /** A refresh replaced the principal meanwhile, with credentials just checked: the answer is dropped. */
  | { kind: 'stale' }
  /** Refused: the session ends with this code. */
  | { kind: 'ended'; code: AuthErrorCode; message?: string }
  /** The fresh principal, its (never later) expiry, and whether it differs from the one it replaces. */
  | { kind: 'fresh'; principal: AuthPrincipal; expiresAt?: number; changed: boolean };

const TIMED_OUT = Symbol('timed out');
/** Each check lands within ±15% of the interval, so sessions that authenticated together drift apart. */
const JITTER = 0.15;

export class Revalidation {
  private readonly wheel?: DeadlineWheel<Session>;
  private readonly interval: number | false;

  constructor(
    private readonly options: ResolvedAuthSocketOptions,
    private readonly strategy: AuthStrategy,
    private readonly logger: AuthLogger,
    due: (session: Session) => void,
  ) {
    this.interval = strategy.revalidate ? options.revalidateInterval : false;
    if (this.interval) this.wheel = new DeadlineWheel(Math.min(1000, Math.max(20, this.interval / 20)), due);
  }

  /** The next periodic check of an authenticated session, from now. */
  schedule(session: Session): void {
    if (!this.wheel || !this.interval) return;
    const delay = this.interval * (1 - JITTER + 2 * JITTER * Math.random());
    this.wheel.schedule(session, Date.now() + delay);
  }

  cancel(session: Session): void {
    this.wheel?.cancel(session);
  }

  /** Sessions waiting for their next check. For leak checks. */
  get size(): number {
    return this.wheel?.size ?? 0;
  }

  clear(): void {
    this.wheel?.clear();
  }

  /** One bounded `revalidate()` call, read into a result. Never throws. */
  async run(session: Session, reason: 'interval' | 'request', attempt: Attempt): Promise<RevalidationResult> {
    const principal = session.principal!;
    const socket = session.first!;
    const context = { socket, namespace: socket.nsp.name, address: session.address, reason };
    const ms = this.options.strategyTimeout;
    const id = where(session).socketId;
    let answer: AuthPrincipal | null | false;
    try {
      answer = await attempt.bounded(() => this.strategy.revalidate!(principal, context), ms, TIMED_OUT);
    } catch (err) {
      if (err instanceof AuthenticationError) return { kind: 'ended', code: err.code, message: err.message };
      if (err === ABANDONED) return { kind: 'stale' };
      // The message is withheld, as for authenticate(): it may quote what the app looked up.
      this.logger.warn(
        err === TIMED_OUT
          ? `revalidate() did not answer within ${ms} ms (socket ${id}); the session runs on until the next check`
          : `revalidate() threw ${err instanceof Error ? err.name : typeof err} (socket ${id}); the session runs on until the next check`,
      );
      return { kind: 'kept' };
    }
    // A refusal holds even if a refresh replaced the principal meanwhile: a refresh keeps the id.
    if (!answer) return { kind: 'ended', code: 'invalidated' };
    if (session.principal !== principal) return { kind: 'stale' };
    if (typeof answer !== 'object' || answer.id !== principal.id) {
      this.logger.error(`revalidate() must return the same principal id, null or false (socket ${id}); ignored`);
      return { kind: 'kept' };
    }
    const given = answer.expiresAt as number | Date | null | undefined;
    const fresh = given === undefined || given === null ? undefined : +given;
    if (fresh !== undefined && Number.isNaN(fresh)) {
      this.logger.error(`revalidate() returned an expiresAt that is not a date or epoch ms (socket ${id}); ignored`);
      return { kind: 'kept' };
    }
    // Only fresh credentials extend a session: a revalidation may end it sooner, never later.
    const current = session.expiresAt;
    const expiresAt = fresh === undefined ? current : current === undefined ? fresh : Math.min(current, fresh);
    return { kind: 'fresh', principal: answer, expiresAt, changed: !sameJson(answer, principal) };
  }
}

/** Whether two values have the same JSON form; values JSON cannot hold count as different. */
export function sameJson(a: unknown, b: unknown): boolean {
  try {
    return JSON.stringify(a) === JSON.stringify(b);
  } catch {
    return false;
  }
}
