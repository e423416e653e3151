/**
 * What `revoke()` may target, turned into store entries, and the checks an
 * authentication makes against them: the store, and the revocations that
 * landed while the attempt was in flight.
 */
import type { AuthErrorCode } from '../auth-errors.js';
import { AuthSocketConfigError } from '../auth-socket-config.error.js';
import type { AuthPrincipal } from '../auth-strategy.interface.js';
import type { Attempt } from './attempt.js';
import { type Revocation, type RevocationStore, type RevocationSubject, covers } from './revocation-store.js';
import type { AuthLogger } from './strategy-call.js';

/**
 * Whom `AuthSocketService.revoke()` denies, from now on and on every node:
 *   - a principal id (a string): its sessions, and every credential of it
 *     issued before now: the same as `{ principalId, issuedBefore: now }`;
 *   - `{ principalId, issuedBefore }`: log out everywhere as of that time;
 *   - `{ principalId, until }`: the principal entirely, whatever it presents, until then;
 *   - `{ tokenId, expiresAt? }`: one credential (a JWT's `jti`), until it would expire anyway.
 */
export type RevokeTarget =
  | string
  | { principalId: string; issuedBefore?: number | Date }
  | { principalId: string; until: number | Date }
  | { tokenId: string; expiresAt?: number | Date };

/** How `revoke()` ends the live sessions it covers. */
export interface RevokeOptions {
  /** Sent to the client as the message of `unauthorized {code:'revoked'}` (or of `refresh_required`, with a grace). */
  reason?: string;
  /**
   * Instead of ending them at once, tell live sessions `refresh_required
   * {code:'revoked'}` and give them this many ms to send fresh credentials
   * (which must pass the revocation) before they are cut off: the
   * "your permissions changed" flow.
   */
  graceMs?: number;
}

export class Revocations {
  constructor(
    readonly store: RevocationStore,
    /** How long an entry is kept when the target does not say until when its credentials can be valid. */
    private readonly ttl: number,
    private readonly logger: AuthLogger,
  ) {}

  /** The store entry for a target; a target that names nothing is refused with a coded error. */
  entryFor(target: RevokeTarget, now = Date.now()): Revocation {
    const bad = (what: string): never => {
      throw new AuthSocketConfigError('AUTH_SOCKET_INVALID_ARGUMENT', `revoke(): ${what}`);
    };
    if (typeof target === 'string') {
      if (!target) bad('the principal id is empty');
      return { kind: 'issued-before', principalId: target, before: now, until: now + this.ttl };
    }
    if (target === null || typeof target !== 'object') bad('give a principal id, { principalId, … } or { tokenId }');
    const t = target as {
      principalId?: unknown;
      tokenId?: unknown;
      issuedBefore?: unknown;
      until?: unknown;
      expiresAt?: unknown;
    };
    if ('tokenId' in t) {
      if (typeof t.tokenId !== 'string' || !t.tokenId) bad('tokenId must be a non-empty string');
      const expiresAt = t.expiresAt === undefined ? now + this.ttl : time(t.expiresAt, 'expiresAt', bad);
      return { kind: 'token', tokenId: t.tokenId as string, until: expiresAt };
    }
    if (typeof t.principalId !== 'string' || !t.principalId) bad('principalId must be a non-empty string');
    const principalId = t.principalId as string;
    if (t.until !== undefined) {
      if (t.issuedBefore !== undefined) bad('give issuedBefore or until, not both');
      return { kind: 'principal', principalId, until: time(t.until, 'until', bad) };
    }
    const before = t.issuedBefore === undefined ? now : time(t.issuedBefore, 'issuedBefore', bad);
    return { kind: 'issued-before', principalId, before, until: before + this.ttl };
  }

  /**
   * The principal as the store sees it. `at` stands in for a missing
   * `issuedAt`; with `notAfter`, also for one later than `at` (credentials
   * already in use then were issued by then, whatever an issuer's skewed clock
   * wrote). An `issuedAt` that is no time counts as issued at 0: fail closed.
   */
  subjectOf(principal: AuthPrincipal, at = Date.now(), notAfter = false): RevocationSubject {
    const given = principal.issuedAt;
    let issued = given === undefined || given === null ? at : given instanceof Date ? given.getTime() : Number(given);
    if (!Number.isFinite(issued)) issued = 0;
    if (notAfter) issued = Math.min(issued, at);
    return {
      principalId: principal.id,
      tokenId: typeof principal.tokenId === 'string' ? principal.tokenId : undefined,
      issuedAt: issued,
    };
  }

  /**
   * `revoked` when the store denies the principal (`at`: when its attempt
   * started, standing in for a missing `issuedAt`); `server_error` when the
   * store itself failed (an app's store that throws): fail closed.
   */
  check(principal: AuthPrincipal, at = Date.now()): AuthErrorCode | undefined | Promise<AuthErrorCode | undefined> {
    const failed = (err: unknown): AuthErrorCode => {
      this.logger.error(`revocation store failed: ${err instanceof Error ? err.name : typeof err}; refused`);
      return 'server_error';
    };
    try {
      const answer = this.store.isRevoked(this.subjectOf(principal, at));
      if (typeof answer === 'boolean') return answer ? 'revoked' : undefined;
      return Promise.resolve(answer).then((denied) => (denied ? 'revoked' : undefined), failed);
    } catch (err) {
      return failed(err);
    }
  }

  /** Remembers a revocation on an attempt in flight: if the strategy answers with a principal it covers, it is refused. */
  mark(attempt: Attempt, revocation: Revocation): void {
    (attempt.revocations ??= []).push(revocation);
  }

  marked(attempt: Attempt, principal: AuthPrincipal): boolean {
    if (!attempt.revocations) return false;
    // In flight when the revoke landed: what it checked was presented before the revoke, even in the same millisecond.
    const subject = this.subjectOf(principal, attempt.startedAt - 1, true);
    return attempt.revocations.some((r) => covers(r, subject));
  }
}

function time(value: unknown, name: string, bad: (what: string) => never): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) bad(`${name} must be a Date or epoch ms`);
  // Epoch ms below 1e11 are before 1973: a JWT's `exp`/`iat` in seconds, which would revoke nothing.
  if ((ms as number) < 1e11) bad(`${name} must be epoch ms, not seconds (got ${ms}; multiply a JWT's exp by 1000)`);
  return ms as number;
}
