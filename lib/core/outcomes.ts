/**
 * Where outcomes go: counted by code for `stats()`, handed to the app's
 * `onOutcome` and the service's stream. A hook that throws is logged, never
 * allowed to break the protocol.
 */
import type { AuthErrorCode } from '../auth-errors.js';
import type { AuthOutcome } from '../auth-outcome.interface.js';
import type { Session } from './session.js';
import type { AuthLogger } from './strategy-call.js';

/** Causes a developer needs to see in the log: each logged at most once per `NOTICE_INTERVAL_MS`. */
export type NoticeCause = 'timeout' | 'forbidden_origin' | 'handshake_ignored';

/** Often enough to notice during development, rarely enough that a flood of clients cannot fill the log. */
export const NOTICE_INTERVAL_MS = 60_000;

export class Outcomes {
  private readonly byCode: Partial<Record<AuthErrorCode, number>> = {};
  /** Per cause: when it was last logged, and how often it happened since. No timers: checked when it happens. */
  private readonly notices = new Map<NoticeCause, { at: number; since: number }>();

  constructor(
    private readonly sinks: ReadonlyArray<((outcome: AuthOutcome) => void) | undefined>,
    private readonly logger: AuthLogger,
    /** Whether any sink has anyone to tell now; without it, whether there is a sink. */
    private readonly observed?: () => boolean,
  ) {}

  /** Whether an outcome would reach anyone: the hot path builds one only then. */
  get listening(): boolean {
    return this.observed ? this.observed() : this.sinks.some((sink) => sink !== undefined);
  }

  count(code: AuthErrorCode): void {
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
  }

  report(outcome: AuthOutcome): void {
    for (const sink of this.sinks) {
      try {
        sink?.(outcome);
      } catch {
        this.logger.error('onOutcome hook threw');
      }
    }
  }

  /**
   * Logs a warning for the cause unless one was logged in the last minute;
   * the next one says how many it stood for. The message is the server's own
   * words, never anything the client sent but an Origin.
   */
  notice(cause: NoticeCause, message: () => string, now = Date.now()): void {
    const last = this.notices.get(cause);
    if (last && now - last.at < NOTICE_INTERVAL_MS) {
      last.since++;
      return;
    }
    const more = last?.since ? ` (${last.since} more since the last notice)` : '';
    this.notices.set(cause, { at: now, since: 0 });
    this.logger.warn(`${message()}${more}; this notice repeats at most once a minute`);
  }

  failures(): Partial<Record<AuthErrorCode, number>> {
    return { ...this.byCode };
  }
}

/** The socket and namespace an outcome names: the session's first socket. */
export function where(session: Session): { socketId: string; namespace: string } {
  const first = session.first;
  return { socketId: first?.id ?? '', namespace: first?.nsp.name ?? '' };
}
