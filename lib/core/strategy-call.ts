/**
 * One call to the app's strategy, bounded in time, turned into a verdict: a
 * principal the session may take, or a wire code. Nothing the strategy throws
 * reaches the client, and nothing it was given reaches the log.
 */
import type { AuthErrorCode } from '../auth-errors.js';
import { AuthenticationError, StrategyUnavailableError } from '../auth-errors.js';
import type { AuthContext, AuthPrincipal, AuthStrategy } from '../auth-strategy.interface.js';
import { ABANDONED, type Attempt } from './attempt.js';

export interface AuthLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
  debug?(message: string): void;
  /** Whether `debug` would print: a message on every connection is built only then. Without it, assumed. */
  isDebugEnabled?(): boolean;
}

/** What the session may take: the principal and its expiry in epoch ms. */
export interface Accepted {
  principal: AuthPrincipal;
  expiresAt?: number;
}
/** `unavailable`: the strategy said it could not decide (StrategyUnavailableError): not the client's failure. */
export type Verdict = Accepted | { code: AuthErrorCode; message?: string; unavailable?: true };

const TIMED_OUT = Symbol('timed out');

export async function callStrategy(
  strategy: AuthStrategy,
  credentials: unknown,
  context: AuthContext,
  attempt: Attempt,
  ms: number,
  logger: AuthLogger,
  expose = false,
): Promise<Verdict> {
  const id = context.socket.id;
  let principal: AuthPrincipal | null | false;
  try {
    principal = await attempt.bounded(() => strategy.authenticate(credentials, context), ms, TIMED_OUT);
  } catch (err) {
    if (err instanceof StrategyUnavailableError)
      return { code: 'server_error', message: err.message, unavailable: true };
    if (err instanceof AuthenticationError) return { code: err.code, message: err.message };
    if (err === ABANDONED) return { code: 'server_error' }; // the session is gone; nobody hears this
    if (err === TIMED_OUT) logger.error(`strategy did not answer within ${ms} ms (socket ${id})`);
    else logSafely(logger, `strategy threw for socket ${id}`, err, expose);
    return { code: 'server_error' };
  }
  if (!principal) return { code: 'invalid_credentials' };
  if (typeof principal !== 'object' || typeof principal.id !== 'string' || principal.id === '') {
    logger.error(`strategy returned a principal without a string id (socket ${id})`);
    return { code: 'server_error' };
  }
  // null, like undefined, means "does not expire".
  const given = principal.expiresAt as number | Date | null | undefined;
  const expiresAt = given === undefined || given === null ? undefined : +given;
  if (expiresAt !== undefined && Number.isNaN(expiresAt)) {
    logger.error(`strategy returned an expiresAt that is not a date or epoch ms (socket ${id})`);
    return { code: 'server_error' };
  }
  if (expiresAt !== undefined && expiresAt <= Date.now()) return { code: 'expired' };
  return { principal, expiresAt };
}

/**
 * The identity rules on top of the strategy's verdict: a refresh keeps the
 * principal, and after an expiry re-authenticating renews the same session
 * rather than becoming someone else.
 */
export function checkIdentity(verdict: Verdict, keep: string | undefined): Verdict {
  if ('code' in verdict || keep === undefined || verdict.principal.id === keep) return verdict;
  return { code: 'identity_changed' };
}

/** Runs a gateway hook the same way: bounded, and failures logged without their message. */
export async function callHook(
  work: () => unknown,
  attempt: Attempt,
  ms: number,
  logger: AuthLogger,
  what: string,
  expose = false,
): Promise<boolean> {
  try {
    await attempt.bounded(work, ms, TIMED_OUT);
    return true;
  } catch (err) {
    if (err === ABANDONED) return false;
    if (err === TIMED_OUT) logger.error(`${what} did not finish within ${ms} ms`);
    else logSafely(logger, `${what} threw`, err, expose);
    return false;
  }
}

/**
 * The error's class and stack frames only: an app's error message can quote
 * what it was given (a token, a password), so it never reaches the log,
 * unless the app turned `exposeStrategyErrors` on for development.
 */
function logSafely(logger: AuthLogger, what: string, err: unknown, expose: boolean): void {
  const e = err instanceof Error ? err : undefined;
  if (expose) {
    logger.error(`${what}: ${e ? `${e.name}: ${e.message}` : String(err)} (exposeStrategyErrors is on)`, e?.stack);
    return;
  }
  const frames = e?.stack
    ?.split('\n')
    .filter((line) => /^\s+at /.test(line))
    .join('\n');
  logger.error(`${what}: ${e?.name ?? typeof err} (message withheld: it may quote credentials)`, frames);
}
