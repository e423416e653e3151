/**
 * Where outcomes go: counted by code for `stats()`, handed to the app's
 * `onOutcome` and the service's stream. A hook that throws is logged, never
 * allowed to break the protocol.
 */
import type { AuthErrorCode } from '../auth-errors.js';
import type { AuthOutcome } from '../auth-outcome.interface.js';
import type { Session } from './session.js';
import type { AuthLogger } from './strategy-call.js';

export class Outcomes {
  private readonly byCode: Partial<Record<AuthErrorCode, number>> = {};

  constructor(
    private readonly sinks: ReadonlyArray<((outcome: AuthOutcome) => void) | undefined>,
    private readonly logger: AuthLogger,
  ) {}

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

  failures(): Partial<Record<AuthErrorCode, number>> {
    return { ...this.byCode };
  }
}

/** The socket and namespace an outcome names: the session's first socket. */
export function where(session: Session): { socketId: string; namespace: string } {
  const [first] = session.sockets;
  return { socketId: first?.id ?? '', namespace: first?.nsp.name ?? '' };
}
