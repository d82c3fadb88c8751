/**
 * An in-memory OpenTelemetry SDK for the telemetry tests: spans through
 * InMemorySpanExporter with a processor that counts starts and ends per span,
 * metrics through a manual reader, and the SDK's diagnostics captured so a
 * second `end()` (which the SDK only logs) fails the test.
 */
import { DiagLogLevel, diag, type Attributes } from '@opentelemetry/api';
import {
  DataPointType,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** A metric reader collected on demand. */
class ManualReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Counts starts and ends of every span by span id. */
class CountingProcessor implements SpanProcessor {
  readonly starts = new Map<string, number>();
  readonly ends = new Map<string, number>();
  onStart(span: Span): void {
    const id = span.spanContext().spanId;
    this.starts.set(id, (this.starts.get(id) ?? 0) + 1);
  }
  onEnd(span: ReadableSpan): void {
    const id = span.spanContext().spanId;
    this.ends.set(id, (this.ends.get(id) ?? 0) + 1);
  }
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** One data point of a metric, flattened for assertions. */
export interface Point {
  readonly attributes: Attributes;
  readonly value: number;
  /** For histograms: the number of recordings. */
  readonly count?: number;
}

/** A collected metric. */
export interface CollectedMetric {
  readonly name: string;
  readonly unit: string;
  readonly type: DataPointType;
  readonly points: Point[];
}

const diagMessages: string[] = [];
let diagInstalled = false;

/** Captures the SDK's diagnostics (warnings and errors) for the whole file. */
function installDiag(): void {
  if (diagInstalled) return;
  diagInstalled = true;
  const push = (...args: unknown[]): void => {
    diagMessages.push(args.map(String).join(' '));
  };
  diag.setLogger({ error: push, warn: push, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
}

/** A fresh in-memory SDK. */
export function createTestSdk() {
  installDiag();
  diagMessages.length = 0;
  let shutdown: Promise<void> | undefined;
  const exporter = new InMemorySpanExporter();
  const counting = new CountingProcessor();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [counting, new SimpleSpanProcessor(exporter)] });
  const reader = new ManualReader();
  const meterProvider = new MeterProvider({ readers: [reader] });

  return {
    tracerProvider,
    meterProvider,
    exporter,
    /** Finished spans, in end order. */
    spans(): ReadableSpan[] {
      return exporter.getFinishedSpans();
    },
    /** The finished span named `name` (exactly one must exist). */
    span(name: string): ReadableSpan {
      const found = exporter.getFinishedSpans().filter((s) => s.name === name);
      if (found.length !== 1) throw new Error(`expected one span "${name}", found ${found.length}`);
      return found[0]!;
    },
    /**
     * Every started span ended exactly once, and the SDK logged no warning or
     * error (a second `end()` is only logged by the SDK).
     */
    assertEndedOnce(): void {
      const problems: string[] = [];
      for (const [id, n] of counting.starts) {
        const ends = counting.ends.get(id) ?? 0;
        if (n !== 1 || ends !== 1) problems.push(`span ${id}: started ${n}, ended ${ends}`);
      }
      problems.push(...diagMessages.splice(0));
      if (problems.length) throw new Error(`spans not ended exactly once:\n${problems.join('\n')}`);
    },
    /** Spans started so far. */
    startedCount(): number {
      return counting.starts.size;
    },
    /** Collects every metric now. */
    async metrics(): Promise<Map<string, CollectedMetric>> {
      const { resourceMetrics } = await reader.collect();
      const out = new Map<string, CollectedMetric>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const m of scope.metrics) out.set(m.descriptor.name, flatten(m));
      }
      return out;
    },
    reset(): void {
      exporter.reset();
      counting.starts.clear();
      counting.ends.clear();
    },
    shutdown(): Promise<void> {
      shutdown ??= Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]).then(() => {});
      return shutdown;
    },
  };
}

export type TestSdk = ReturnType<typeof createTestSdk>;

function flatten(m: MetricData): CollectedMetric {
  const points: Point[] =
    m.dataPointType === DataPointType.HISTOGRAM
      ? m.dataPoints.map((p: DataPoint<Histogram>) => ({ attributes: p.attributes, value: p.value.sum ?? Number.NaN, count: p.value.count }))
      : (m.dataPoints as DataPoint<number>[]).map((p) => ({ attributes: p.attributes, value: p.value }));
  return { name: m.descriptor.name, unit: m.descriptor.unit, type: m.dataPointType, points };
}

/** Attribute keys of a span that would reveal an input, for the redaction tests. */
export function inputKeys(span: ReadableSpan): string[] {
  return Object.keys(span.attributes).filter((k) => k.startsWith('inference.input.'));
}
