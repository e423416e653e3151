/**
 * How a guard refuses a gateway message: the `AuthSocketException` the
 * gateway's filters see, and, when none of them catches it, the ack answered
 * with `{ ok: false, error }` so the caller never hangs. Shared by
 * `@Authenticated()` and the throttler guard.
 */
import type { ExecutionContext } from '@nestjs/common';
import { EXCEPTION_FILTERS_METADATA, FILTER_CATCH_EXCEPTIONS } from '@nestjs/common/constants.js';
import type { AuthErrorPayload } from '../auth-errors.js';
import { AuthSocketException } from '../auth-socket.exception.js';
import { refusal } from '../core/protocol.js';

/** Throws the refusal; answers the ack first unless an app filter (`filtered`) owns the answer. */
export function refuseMessage(context: ExecutionContext, error: AuthErrorPayload, filtered: boolean): never {
  const ws = context.switchToWs();
  // An app filter owns the answer (socket.io answers an ack once, so answering here would drop the filter's).
  // Without one, Nest's own filter only emits `exception`; the ack is answered here so the caller never hangs.
  if (!filtered) {
    // Nest passes handler arguments as [client, data, ack, pattern].
    const ack = context.getArgByIndex(2);
    if (typeof ack === 'function') ack(refusal(error));
  }
  throw new AuthSocketException(error, { pattern: ws.getPattern(), data: ws.getData() });
}

/**
 * Whether a `@UseFilters()` on the handler or its gateway catches an
 * `AuthSocketException` (Nest applies no global filters to gateways). A filter
 * with no `@Catch()` types catches everything.
 */
export function catchesRefusals(targets: object[]): boolean {
  const filters = targets.flatMap((t) => (Reflect.getMetadata(EXCEPTION_FILTERS_METADATA, t) as unknown[]) ?? []);
  return filters.some((filter) => {
    const type = typeof filter === 'function' ? filter : (filter as object).constructor;
    const catches =
      (Reflect.getMetadata(FILTER_CATCH_EXCEPTIONS, type) as
        Array<abstract new (...args: never[]) => unknown> | undefined) ?? [];
    return (
      catches.length === 0 ||
      catches.some((c) => c === AuthSocketException || AuthSocketException.prototype instanceof c)
    );
  });
}
