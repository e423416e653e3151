/**
 * The module's metrics and traces on `@opentelemetry/api`. Loaded only when
 * the app has that package (lib/telemetry/load.ts); without an SDK the API
 * hands out no-op instruments, so nothing is recorded. Every name, unit and
 * attribute is listed in docs/observability.md.
 *
 * Attributes are low-cardinality by design: the namespace, the source, the
 * wire code. Never a principal id, a token or credentials; a client address
 * only when the app opts in (`telemetry: { addresses: true }`), and then on
 * spans only, never on metrics.
 */
import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  type ObservableGauge,
  type ObservableResult,
  type Span,
  type SpanContext,
  SpanStatusCode,
  type Tracer,
  ProxyTracerProvider,
  context,
  createNoopMeter,
  metrics,
  trace,
} from '@opentelemetry/api';
import type { Socket } from 'socket.io';
import type { AuthErrorCode } from '../auth-errors.js';
import type { AuthOutcome } from '../auth-outcome.interface.js';
import type { AttemptStart, AttemptTrace, Telemetry, TelemetryGauges, TelemetryOptions } from '../core/telemetry.js';

export const INSTRUMENTATION_NAME = 'nestjs-socket-auth';

/** What the API hands out when no SDK is registered: then nothing is recorded, and nothing need be built. */
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();
const NoopMeter = createNoopMeter().constructor as new () => Meter;

/** Seconds, as OpenTelemetry's HTTP duration histograms: the SDK's default boundaries are for milliseconds. */
const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

const NAMESPACE = 'socket.io.namespace';
const CODE = 'error.type';
const RESULT = 'socket_auth.result';

export class OpenTelemetry implements Telemetry {
  private readonly tracer: Tracer;
  private readonly meter: Meter;
  private readonly attempts: Counter;
  private readonly strategyDuration: Histogram;
  private readonly hooksDuration: Histogram;
  private readonly refreshes: Counter;
  private readonly expiries: Counter;
  private readonly revocations: Counter;
  private readonly timeouts: Counter;
  private readonly admissionRefusals: Counter;
  private readonly idleCloses: Counter;
  private readonly roomRefusals: Counter;
  private readonly gauges: ObservableGauge[];
  private readonly observe: (result: ObservableResult) => void;
  private readonly observeAuthenticated: (result: ObservableResult) => void;
  /** Whether an SDK's meter provider was registered when the module started (instruments are made then). */
  private readonly metering: boolean;
  /** The span context of each connection's last successful authentication, for links from guarded handlers. */
  private readonly sessions = new WeakMap<object, SpanContext>();
  private sessionsLinked = 0;

  constructor(
    version: string,
    gauges: TelemetryGauges,
    private readonly options: TelemetryOptions = {},
  ) {
    this.tracer = trace.getTracer(INSTRUMENTATION_NAME, version);
    this.meter = metrics.getMeter(INSTRUMENTATION_NAME, version);
    const m = this.meter;
    this.metering = !(m instanceof NoopMeter);
    this.attempts = m.createCounter('socket_auth.attempts', {
      unit: '{attempt}',
      description: 'Authentication attempts (first ones and refreshes), by result and wire code',
    });
    this.strategyDuration = m.createHistogram('socket_auth.strategy.duration', {
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
      description: "The strategy's authenticate() call, bounded by strategyTimeout",
    });
    this.hooksDuration = m.createHistogram('socket_auth.hooks.duration', {
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
      description: "The gateways' handleAuthenticated hooks of one attempt",
    });
    this.refreshes = m.createCounter('socket_auth.refreshes', {
      unit: '{refresh}',
      description: 'Sessions refreshed in place with fresh credentials',
    });
    this.expiries = m.createCounter('socket_auth.expiries', {
      unit: '{session}',
      description: 'Sessions whose credentials expired',
    });
    this.revocations = m.createCounter('socket_auth.revocations', {
      unit: '{revocation}',
      description: 'revoke() calls, and sessions ended by end() or the session limit',
    });
    this.timeouts = m.createCounter('socket_auth.timeouts', {
      unit: '{session}',
      description: 'Sessions that did not authenticate within timeout',
    });
    this.admissionRefusals = m.createCounter('socket_auth.admission.refusals', {
      unit: '{connection}',
      description: 'Connections refused before they were accepted, by wire code',
    });
    this.idleCloses = m.createCounter('socket_auth.idle_closes', {
      unit: '{connection}',
      description: 'Connections closed because they held no authenticated or public socket',
    });
    this.roomRefusals = m.createCounter('socket_auth.rooms.refusals', {
      unit: '{join}',
      description: 'Joins of policed rooms refused, and sockets taken out of rooms after a principal change',
    });
    const pending = m.createObservableGauge('socket_auth.sockets.pending', {
      unit: '{socket}',
      description: 'Unauthenticated sockets on gated namespaces, in this process',
    });
    const authenticated = m.createObservableGauge('socket_auth.sockets.authenticated', {
      unit: '{socket}',
      description: 'Authenticated sockets, in this process',
    });
    this.observe = (result) => result.observe(gauges.pending());
    this.observeAuthenticated = (result) => result.observe(gauges.authenticated());
    pending.addCallback(this.observe);
    authenticated.addCallback(this.observeAuthenticated);
    this.gauges = [pending, authenticated];
  }

  /** Whether a tracer provider is registered now (the API's proxy picks one up whenever it comes). */
  private tracing(): boolean {
    const provider = trace.getTracerProvider();
    return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_TRACER_PROVIDER;
  }

  startAttempt(start: AttemptStart): AttemptTrace | undefined {
    // No SDK: no span, no attributes, nothing allocated per attempt.
    if (!this.metering && !this.tracing()) return undefined;
    const attributes: Attributes = {
      [NAMESPACE]: start.namespace,
      'socket_auth.source': start.source,
      'socket_auth.refresh': start.refresh,
    };
    if (this.options.addresses) attributes['client.address'] = start.address;
    const span = this.tracer.startSpan(start.refresh ? 'socket_auth refresh' : 'socket_auth authenticate', {
      attributes,
    });
    return new OtelAttempt(this, span, start);
  }

  /** @internal */
  recordStep(name: 'strategy' | 'hooks', seconds: number, ok: boolean): void {
    (name === 'strategy' ? this.strategyDuration : this.hooksDuration).record(seconds, {
      [RESULT]: ok ? 'ok' : 'error',
    });
  }

  /** @internal */
  recordAttempt(span: Span, start: AttemptStart, code: AuthErrorCode | undefined): void {
    this.attempts.add(1, {
      [NAMESPACE]: start.namespace,
      [RESULT]: code ? 'refused' : 'accepted',
      'socket_auth.refresh': start.refresh,
      ...(code ? { [CODE]: code } : {}),
    });
    if (!code && span.isRecording()) {
      this.sessions.set(start.socket.client, span.spanContext());
      this.sessionsLinked++;
    }
  }

  /** @internal */
  childSpan(parent: Span, name: string): Span {
    return this.tracer.startSpan(name, undefined, trace.setSpan(context.active(), parent));
  }

  outcome(outcome: AuthOutcome): void {
    if (!this.metering) return;
    switch (outcome.type) {
      case 'authenticated':
        if (outcome.refreshed) this.refreshes.add(1, { [NAMESPACE]: outcome.namespace });
        return;
      case 'expired':
        return void this.expiries.add(1, { [NAMESPACE]: outcome.namespace });
      case 'timeout':
        return void this.timeouts.add(1, { [NAMESPACE]: outcome.namespace });
      case 'revoked':
        return void this.revocations.add(1, {
          'socket_auth.revocation.target': outcome.sessionId ? 'session' : outcome.tokenId ? 'token' : 'principal',
        });
      case 'room_refused':
        return void this.roomRefusals.add(1, { [NAMESPACE]: outcome.namespace, 'socket_auth.via': outcome.via });
      default:
    }
  }

  admissionRefused(code: AuthErrorCode, namespace: string): void {
    if (!this.metering) return;
    this.admissionRefusals.add(1, { [CODE]: code, [NAMESPACE]: namespace });
  }

  idleClosed(): void {
    if (!this.metering) return;
    this.idleCloses.add(1);
  }

  linkToSession(socket: Socket): void {
    if (this.sessionsLinked === 0) return; // nothing was ever traced: no lookup per guarded message
    const session = this.sessions.get(socket.client);
    const active = trace.getActiveSpan();
    if (session && active?.isRecording()) active.addLink({ context: session });
  }

  close(): void {
    this.gauges[0]!.removeCallback(this.observe);
    this.gauges[1]!.removeCallback(this.observeAuthenticated);
  }
}

class OtelAttempt implements AttemptTrace {
  private ended = false;

  constructor(
    private readonly otel: OpenTelemetry,
    private readonly span: Span,
    private readonly start: AttemptStart,
  ) {}

  step(name: 'strategy' | 'hooks'): { end(ok: boolean): void } {
    const began = performance.now();
    const child = this.otel.childSpan(this.span, `socket_auth ${name}`);
    return {
      end: (ok) => {
        this.otel.recordStep(name, (performance.now() - began) / 1000, ok);
        if (!ok) child.setStatus({ code: SpanStatusCode.ERROR });
        child.end();
      },
    };
  }

  end(code?: AuthErrorCode): void {
    if (this.ended) return;
    this.ended = true;
    this.otel.recordAttempt(this.span, this.start, code);
    if (code) {
      this.span.setAttribute(CODE, code);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    } else this.span.setStatus({ code: SpanStatusCode.OK });
    this.span.end();
  }
}
