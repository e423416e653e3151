/**
 * Whether the module records metrics and traces: with `@opentelemetry/api`
 * installed (an optional peer) and the `telemetry` option on, the
 * OpenTelemetry implementation; otherwise nothing, at no cost. Imported
 * dynamically so that an app without the package never loads it.
 */
import { NO_TELEMETRY, type Telemetry, type TelemetryGauges } from '../core/telemetry.js';
import { LIBRARY_VERSION } from '../auth-socket.constants.js';
import type { TelemetryOptions } from '../core/telemetry.js';

/** Builds the telemetry for one module instance, given what its gauges read. */
export type TelemetryFactory = (gauges: TelemetryGauges) => Telemetry;

export async function loadTelemetry(option: boolean | TelemetryOptions): Promise<TelemetryFactory> {
  if (option === false) return () => NO_TELEMETRY;
  let otel: typeof import('./open-telemetry.js');
  try {
    otel = await import('./open-telemetry.js');
  } catch (err) {
    // No @opentelemetry/api in the app: nothing to record to. Anything else is a real failure.
    if (String((err as Error)?.message).includes('@opentelemetry/api')) return () => NO_TELEMETRY;
    throw err;
  }
  const options = option === true ? {} : option;
  return (gauges) => new otel.OpenTelemetry(LIBRARY_VERSION, gauges, options);
}
