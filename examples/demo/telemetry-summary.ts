/**
 * A telemetry summary for the demo, through the real OpenTelemetry metrics
 * SDK: graceful-inference records its `inference.*` metrics into an
 * in-memory MeterProvider (no collector, nothing global), and `print()`
 * reads them back: answers by version and source, failure reasons, latency
 * percentiles, breaker transitions, shadow agreement and canary figures.
 *
 * It is also a recipe: any MeterProvider works the same way, and the names
 * read here are the ones dashboards use (docs/telemetry.md).
 *
 * @example
 * ```ts
 * const telemetry = createTelemetrySummary();
 * const scorer = createInference({ ..., instrumentation: telemetry.instrumentation });
 * // ... traffic ...
 * await telemetry.print();
 * ```
 */
import { DataPointType, MeterProvider, MetricReader, type DataPoint, type Histogram, type MetricData } from '@opentelemetry/sdk-metrics';
import type { Instrumentation } from '../../src/index.js';
import { openTelemetry, type OpenTelemetryOptions } from '../../src/telemetry/otel.js';

/** A metric reader collected on demand. */
class OnDemandReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** What {@link createTelemetrySummary} returns. */
export interface TelemetrySummary {
  /** Pass as `instrumentation` to `createInference` (several inferences may share it). */
  readonly instrumentation: Instrumentation;
  /** The summary as text. */
  text(): Promise<string>;
  /** Prints the summary to the console. */
  print(): Promise<void>;
  /** The provider, to add readers or read the metrics yourself. */
  readonly meterProvider: MeterProvider;
}

/**
 * Creates an in-memory metrics pipeline and the instrumentation that feeds
 * it. Spans are off unless `options.tracerProvider` is given.
 */
export function createTelemetrySummary(options: OpenTelemetryOptions = {}): TelemetrySummary {
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const instrumentation = openTelemetry({ spans: options.tracerProvider !== undefined, ...options, meterProvider });

  const text = async (): Promise<string> => {
    const { resourceMetrics } = await reader.collect();
    const metrics = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) metrics.set(m.descriptor.name, m);
    return summarize(metrics);
  };
  return {
    instrumentation,
    meterProvider,
    text,
    async print() {
      console.log(await text());
    },
  };
}

const str = (v: unknown): string => (v === undefined ? '' : String(v));
const pct = (n: number, total: number): string => (total === 0 ? '0' : ((100 * n) / total).toFixed(1));

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return 'n/a';
  if (s < 0.001) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`;
  return `${s.toFixed(2)} s`;
}

/**
 * The value at quantile `q` of a histogram, interpolated linearly inside the
 * bucket that holds it (bounded by the recorded min and max).
 */
export function histogramQuantile(h: Histogram, q: number): number {
  const total = h.count;
  if (total === 0) return Number.NaN;
  const target = q * total;
  const { boundaries, counts } = h.buckets;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c > 0 && seen + c >= target) {
      const lo = Math.max(i === 0 ? (h.min ?? 0) : boundaries[i - 1]!, h.min ?? -Infinity);
      const hi = Math.min(i < boundaries.length ? boundaries[i]! : (h.max ?? lo), h.max ?? Infinity);
      return lo + (hi - lo) * ((target - seen) / c);
    }
    seen += c;
  }
  return h.max ?? Number.NaN;
}

function summarize(metrics: Map<string, MetricData>): string {
  const lines: string[] = ['Telemetry summary (OpenTelemetry metrics, in-memory reader)'];
  const outcomes = metrics.get('inference.outcomes');
  const duration = metrics.get('inference.duration');
  if (outcomes === undefined || outcomes.dataPoints.length === 0) return `${lines[0]}\n  no calls recorded`;

  // Outcomes by inference and version: source, then reasons.
  const byVersion = new Map<string, { total: number; sources: Map<string, number>; reasons: Map<string, number> }>();
  for (const p of outcomes.dataPoints as DataPoint<number>[]) {
    const a = p.attributes;
    const key = `${str(a['inference.name'])} ${str(a['inference.version']) || '(no version)'}`;
    let v = byVersion.get(key);
    if (v === undefined) byVersion.set(key, (v = { total: 0, sources: new Map(), reasons: new Map() }));
    v.total += p.value;
    const source = str(a['inference.source']);
    v.sources.set(source, (v.sources.get(source) ?? 0) + p.value);
    const reason = str(a['inference.fallback.reason']) || (source === 'error' ? str(a['error.type']) : '');
    if (reason) v.reasons.set(`${source}:${reason}`, (v.reasons.get(`${source}:${reason}`) ?? 0) + p.value);
  }
  const latency = new Map<string, string>();
  if (duration?.dataPointType === DataPointType.HISTOGRAM) {
    for (const p of duration.dataPoints) {
      if (p.attributes['inference.source'] === 'error') continue;
      const key = `${str(p.attributes['inference.name'])} ${str(p.attributes['inference.version'])} ${str(p.attributes['inference.source'])}`;
      const h = p.value;
      latency.set(key, `p50 ${fmtSeconds(histogramQuantile(h, 0.5))}, p95 ${fmtSeconds(histogramQuantile(h, 0.95))}, p99 ${fmtSeconds(histogramQuantile(h, 0.99))}`);
    }
  }
  for (const [key, v] of [...byVersion].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const sources = ['model', 'fallback', 'error']
      .filter((s) => v.sources.has(s))
      .map((s) => `${s} ${v.sources.get(s)} (${pct(v.sources.get(s)!, v.total)} %)`)
      .join(', ');
    lines.push(`  ${key}: ${v.total} calls: ${sources}`);
    if (v.reasons.size) {
      const reasons = [...v.reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${r.replace(':', ' ')} ${n}`);
      lines.push(`    why: ${reasons.join(', ')}`);
    }
    for (const source of ['model', 'fallback']) {
      const l = latency.get(`${key} ${source}`);
      if (l) lines.push(`    ${source} latency: ${l}`);
    }
  }

  const counted = (name: string, label: string, attr: string): void => {
    const m = metrics.get(name);
    if (m === undefined || m.dataPoints.length === 0) return;
    const parts = (m.dataPoints as DataPoint<number>[]).map(
      (p) => `${str(p.attributes['inference.version'])} ${str(p.attributes[attr])} ${p.value}`,
    );
    lines.push(`  ${label}: ${parts.join(', ')}`);
  };
  counted('inference.breaker.transitions', 'breaker transitions', 'inference.breaker.state');
  counted('inference.shadow.agreement', 'shadow results', 'inference.shadow.result');
  counted('inference.canary.transitions', 'canary transitions', 'inference.canary.transition');
  const weight = metrics.get('inference.canary.weight');
  if (weight !== undefined && weight.dataPoints.length > 0) {
    const parts = (weight.dataPoints as DataPoint<number>[]).map((p) => `${str(p.attributes['inference.version'])} at ${p.value} %`);
    lines.push(`  canary weight now: ${parts.join(', ')}`);
  }
  return lines.join('\n');
}
