/**
 * OpenTelemetry Node SDK for the example service: traces and metrics over
 * OTLP/HTTP. Import this module first, so the SDK is registered before
 * anything records (graceful-inference would also pick it up later).
 *
 * The exporters read the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (default `http://localhost:4318`), `OTEL_EXPORTER_OTLP_HEADERS`,
 * `OTEL_SERVICE_NAME`, `OTEL_METRIC_EXPORT_INTERVAL`... Export failures (no
 * collector listening) are reported through OpenTelemetry's diagnostics
 * (`OTEL_LOG_LEVEL=info` shows them) and never reach the service.
 */
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK, metrics } from '@opentelemetry/sdk-node';

const exportIntervalMillis = Number(process.env.OTEL_METRIC_EXPORT_INTERVAL ?? 10_000);

/** The running SDK; call `shutdown()` before exiting to flush the last spans and metrics. */
export const sdk = new NodeSDK({
  serviceName: process.env.OTEL_SERVICE_NAME ?? 'credit-scoring',
  traceExporter: new OTLPTraceExporter(),
  metricReaders: [new metrics.PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis })],
});

sdk.start();
