/**
 * The sample's metrics: an OpenTelemetry MeterProvider, registered globally
 * before the Nest app is created (main.ts, cluster.ts), read by the
 * Prometheus exporter that `GET /metrics` serves (metrics.controller.ts).
 *
 * The module records through `@opentelemetry/api` only, and takes its meter
 * when the app module is built: a provider registered after
 * `NestFactory.create()` would get nothing, since the API hands out no-op
 * meters until one is registered. Hence `startMetrics()` first, then the app.
 *
 * Why the OpenTelemetry exporter and not prom-client: the module speaks
 * `@opentelemetry/api` and nothing else. With the OTel SDK and its Prometheus
 * exporter, there is one instrumentation path, and switching to OTLP (push, a
 * collector) later changes this file only. prom-client would need a bridge
 * from OTel instruments to its registry, a second set of names, and a second
 * place where units and buckets are decided.
 */
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { AggregationType, MeterProvider, type ViewOptions } from '@opentelemetry/sdk-metrics';

/**
 * Bucket boundaries, in seconds, for the module's two duration histograms.
 * The SDK's default boundaries (0, 5, 10, 25 … 10000) suit milliseconds: a
 * 2 ms strategy call in seconds would land in the first bucket, and every
 * percentile would read "somewhere under 5 s". The module gives its
 * histograms no bucket advice, so the app decides here.
 */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const VIEWS: ViewOptions[] = ['socket_auth.strategy.duration', 'socket_auth.hooks.duration'].map((instrumentName) => ({
  instrumentName,
  aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: DURATION_BUCKETS } },
}));

let running: { provider: MeterProvider; exporter: PrometheusExporter } | undefined;

/**
 * Registers the global MeterProvider with a Prometheus exporter that starts
 * no server of its own (`preventServerStart`): `GET /metrics` on the app's
 * port serves it. Call once, before `NestFactory.create()`; a second call
 * returns the same exporter.
 */
export function startMetrics(): PrometheusExporter {
  if (running) return running.exporter;
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [exporter], views: VIEWS });
  if (!metrics.setGlobalMeterProvider(provider)) throw new Error('a global MeterProvider is already registered');
  running = { provider, exporter };
  return exporter;
}

/** The exporter `GET /metrics` serves; undefined when `startMetrics()` was not called (the route then answers 404). */
export function metricsExporter(): PrometheusExporter | undefined {
  return running?.exporter;
}

/** Shuts the provider down and unregisters it (tests). */
export async function stopMetrics(): Promise<void> {
  const stopping = running;
  running = undefined;
  metrics.disable();
  await stopping?.provider.shutdown();
}
