/**
 * Time to fallback on the slow fixture model with a 20 ms deadline, inline
 * against worker mode, and the event loop's longest stall during a burst of
 * slow runs.
 *
 * Inline, onnxruntime-node's run blocks the thread: the deadline's timer can
 * only fire when the run is over, so the fallback comes after the run.
 * In worker mode the thread stays free and the fallback comes at the deadline.
 * Target: worker mode p99 within deadline + 5 ms.
 *
 * Run alone: `npm run build && tsx bench/time-to-fallback.ts`.
 */
import { fileURLToPath } from 'node:url';
import { calibrateSlowModel } from '../test/fixtures/reference.js';
import { percentile } from './harness.js';
// The built package (dist/), as users run it: see bench/sdk.ts.
import { createInference, onnxModel, tensor, type Inference, type OnnxModelOptions } from './sdk.js';

const DEADLINE_MS = 20;
const RUN_MS = 60;
const CALLS = 40;
const BURST = 8;
const SLOW = fileURLToPath(new URL('../test/fixtures/models/slow-model.onnx', import.meta.url));

function slowOptions(msPerIteration: number): OnnxModelOptions<number, number> {
  return {
    source: SLOW,
    encode: (ms: number) => ({
      x: tensor('float32', new Float32Array(8).fill(0.25), [1, 8]),
      iterations: tensor('int64', [Math.max(1, Math.round(ms / msPerIteration))], []),
    }),
    decode: (out) => (out.y!.data as Float32Array)[0]!,
  };
}

function guarded(name: string, options: OnnxModelOptions<number, number>): Inference<number, number> {
  return createInference<number, number>({
    name,
    versions: { v1: onnxModel(options) },
    timeoutMs: DEADLINE_MS,
    breaker: false,
    fallback: { name: 'rules', handle: () => 0 },
  });
}

interface Latencies {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly fallbacks: number;
}

/** Sequential calls, each running the model for ~RUN_MS; wall time of each `infer`. */
async function timeToFallback(inference: Inference<number, number>, calls: number): Promise<Latencies> {
  const samples: number[] = [];
  let fallbacks = 0;
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const outcome = await inference.infer(RUN_MS);
    samples.push(performance.now() - t0);
    if (outcome.source === 'fallback') fallbacks++;
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), max: samples.at(-1)!, fallbacks };
}

/**
 * Longest gap of a 1 ms ticker during a burst of concurrent slow calls (all
 * answered by the model). The gap still open when the burst ends counts too:
 * inline, back-to-back runs can block the loop from the first run to the last.
 */
async function stallDuringBurst(inference: Inference<number, number>): Promise<{ gap: number; burstMs: number; model: number }> {
  let last = performance.now();
  let gap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  const outcomes = await Promise.all(Array.from({ length: BURST }, () => inference.infer(RUN_MS, { timeoutMs: 10_000 })));
  const end = performance.now();
  clearInterval(ticker);
  return { gap: Math.max(gap, end - last), burstMs: end - t0, model: outcomes.filter((o) => o.source === 'model').length };
}

/** Prints the time-to-fallback and event-loop-stall tables with MET/MISSED. */
export async function run(): Promise<void> {
  const probe = onnxModel(slowOptions(0.5));
  const ctx = { deadline: Number.POSITIVE_INFINITY, context: undefined, signal: new AbortController().signal };
  const msPerIteration = await calibrateSlowModel((n) => probe.run(n * 0.5, ctx));
  await probe.close();

  const inline = guarded('inline', slowOptions(msPerIteration));
  const worker = guarded('worker', { ...slowOptions(msPerIteration), execution: 'worker', workers: 1, killAfterMs: 10_000 });
  await Promise.all([inline.ready(), worker.ready()]);

  const inlineLatency = await timeToFallback(inline, Math.round(CALLS / 2));
  const workerLatency = await timeToFallback(worker, CALLS);
  // Let the worker finish the last run it started before measuring stalls.
  await new Promise((resolve) => setTimeout(resolve, RUN_MS * 2));
  const inlineStall = await stallDuringBurst(inline);
  const workerStall = await stallDuringBurst(worker);
  await Promise.all([inline.close(), worker.close()]);

  const target = DEADLINE_MS + 5;
  console.log(
    `\n## Time to fallback: slow model (~${RUN_MS} ms per run, ${msPerIteration.toFixed(2)} ms per iteration now), ${DEADLINE_MS} ms deadline, sequential calls`,
  );
  console.log('| mode | calls | fallbacks | p50 ms | p99 ms | max ms | target |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  const row = (name: string, calls: number, l: Latencies, verdict: string) =>
    console.log(`| ${name} | ${calls} | ${l.fallbacks} | ${l.p50.toFixed(1)} | ${l.p99.toFixed(1)} | ${l.max.toFixed(1)} | ${verdict} |`);
  row('inline (bounded by the run)', Math.round(CALLS / 2), inlineLatency, '');
  row('worker', CALLS, workerLatency, `p99 ≤ ${target} ms ${workerLatency.p99 <= target ? 'MET' : 'MISSED'}`);

  console.log(`\n## Event loop's longest stall during a burst of ${BURST} concurrent slow calls (~${RUN_MS} ms each, 10 s deadline)`);
  console.log('| mode | answered by the model | burst wall time ms | longest gap of a 1 ms ticker (ms) |');
  console.log('|---|---:|---:|---:|');
  for (const [name, s] of [
    ['inline', inlineStall],
    ['worker', workerStall],
  ] as const) {
    console.log(`| ${name} | ${s.model}/${BURST} | ${s.burstMs.toFixed(0)} | ${s.gap.toFixed(1)} |`);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await run();
