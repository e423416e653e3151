/**
 * What the module tells operators, without knowing how it is recorded: the
 * OpenTelemetry implementation (lib/telemetry) fills it in when the app has
 * `@opentelemetry/api`; otherwise every call goes to `NO_TELEMETRY`, which
 * does nothing and allocates nothing.
 */
import type { Socket } from 'socket.io';
import type { AuthErrorCode } from '../auth-errors.js';
import type { AuthOutcome } from '../auth-outcome.interface.js';

/** What the app may set with the `telemetry` option. */
export interface TelemetryOptions {
  /** Put the client address on attempt spans (`client.address`). Off by default: an address is personal data. */
  addresses?: boolean;
}

/** One authentication attempt (a first one, or a refresh): its steps, then its end. */
export interface AttemptTrace {
  /** A step begins: the strategy call, or the gateways' hooks. End it with whether it succeeded. */
  step(name: 'strategy' | 'hooks'): { end(ok: boolean): void };
  /** The attempt ends: accepted (no code), or refused with a code. Only the first call counts. */
  end(code?: AuthErrorCode): void;
}

/** What an attempt starts from. The address only reaches telemetry when the app opted in. */
export interface AttemptStart {
  socket: Socket;
  namespace: string;
  source: 'message' | 'handshake' | 'request';
  refresh: boolean;
  address: string;
}

export interface Telemetry {
  /** Undefined when nothing is recorded. */
  startAttempt(start: AttemptStart): AttemptTrace | undefined;
  /** Every outcome (counters: attempts by code, refreshes, expiries, revocations, timeouts, rooms). */
  outcome(outcome: AuthOutcome): void;
  /** A connection refused at admission (`too_many_pending`, `forbidden_origin`…). */
  admissionRefused(code: AuthErrorCode, namespace: string): void;
  /** A connection closed because it held nothing worth keeping it open. */
  idleClosed(): void;
  /** Where a guarded handler runs for the socket: links the current span to the socket's authentication. */
  linkToSession(socket: Socket): void;
  /** Stops reading the gauges. */
  close(): void;
}

/** What the gauges read, when asked. */
export interface TelemetryGauges {
  pending(): number;
  authenticated(): number;
}

export const NO_TELEMETRY: Telemetry = {
  startAttempt: () => undefined,
  outcome: () => undefined,
  admissionRefused: () => undefined,
  idleClosed: () => undefined,
  linkToSession: () => undefined,
  close: () => undefined,
};
