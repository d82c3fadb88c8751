/**
 * What telemetry costs per `infer` call, in one process: instrumentation
 * off (`instrumentation: false`), the default OpenTelemetry instrumentation
 * with no SDK registered (what users without OpenTelemetry pay), and a real
 * SDK tracer and meter (BasicTracerProvider with a batch processor and a
 * discarding exporter, MeterProvider with a reader), on a fast function
 * model and on the tiny ONNX fixture.
 *
 * Target: with no SDK registered, at most 1.05x the cost with telemetry off.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createInference, functionModel, onnxModel, tensor, type Inference, type Model } from '../src/index.js';
import { openTelemetry } from '../src/telemetry/otel.js';
import { compare, printTable } from './harness.js';

const MODEL = fileURLToPath(new URL('../test/fixtures/models/tiny-mlp.onnx', import.meta.url));

/** Drops every span: the exporter's own cost is not the SDK's per-call cost. */
class DiscardExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.exported += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
}

/** A reader collected once at the end, so metric storage is exercised but never exported. */
class EndReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const OFF = 'telemetry off (instrumentation: false)';
const NO_SDK = 'default OpenTelemetry, no SDK registered';
const SDK = 'OpenTelemetry with a real SDK tracer + meter';

async function section<I, O>(title: string, makeModel: () => Model<I, O>, input: I, batch = 200): Promise<void> {
  const exporter = new DiscardExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536, maxExportBatchSize: 4_096, scheduledDelayMillis: 200 })],
  });
  const reader = new EndReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const base = { timeoutMs: 1_000, fallback: { name: 'constant', handle: () => undefined as unknown as O } };
  const off: Inference<I, O> = createInference<I, O>({ name: 'bench-off', versions: { v1: makeModel() }, ...base, instrumentation: false });
  const noSdk: Inference<I, O> = createInference<I, O>({ name: 'bench-default', versions: { v1: makeModel() }, ...base });
  const withSdk: Inference<I, O> = createInference<I, O>({
    name: 'bench-sdk',
    versions: { v1: makeModel() },
    ...base,
    instrumentation: openTelemetry({ tracerProvider, meterProvider }),
  });
  await Promise.all([off.ready(), noSdk.ready(), withSdk.ready()]);

  const rows = await compare(
    [
      [OFF, () => off.infer(input)],
      [NO_SDK, () => noSdk.infer(input)],
      [SDK, () => withSdk.infer(input)],
    ],
    { batch, rounds: 50, cycles: 10, warmup: 3_000 },
  );
  printTable(title, rows, OFF, { [NO_SDK]: 1.05 });
  for (const inference of [off, noSdk, withSdk]) {
    const out = await inference.infer(input);
    if (out.source !== 'model') throw new Error(`bench invalid: the model did not answer (${out.reason})`);
  }
  await tracerProvider.forceFlush();
  const { resourceMetrics } = await reader.collect();
  const outcomes = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === 'inference.outcomes');
  const recorded = outcomes?.dataPoints.reduce((n, p) => n + (p.value as number), 0) ?? 0;
  console.log(`(SDK contender: ${exporter.exported} spans exported, ${recorded} outcomes counted)`);
  await Promise.all([off.close(), noSdk.close(), withSdk.close()]);
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
}

/** Runs the telemetry bench and prints its tables. */
export async function run(): Promise<void> {
  // A call takes ~0.3 µs here: batches of 2,000 calls keep each timed batch near a millisecond, as on the ONNX model.
  await section('Telemetry cost per call: function model (x => x + 1)', () => functionModel<number, number>((x) => x + 1), 41, 2_000);
  if (existsSync(MODEL)) {
    const row = new Float32Array([0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8]);
    await section(
      'Telemetry cost per call: tiny-mlp.onnx (one row)',
      () =>
        onnxModel<Float32Array, number>({
          source: MODEL,
          encode: (x) => ({ x: tensor('float32', x, [1, 8]) }),
          decode: (out) => (out.probs!.data as Float32Array)[1]!,
        }),
      row,
    );
  } else {
    console.log('\n(tiny-mlp.onnx not present: ONNX section skipped)');
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await run();
