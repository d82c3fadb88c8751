/**
 * Throughput with 32 concurrent single-row callers (a closed loop: each
 * caller sends its next row as soon as its previous answer arrives), on the
 * tiny and the mid-size fixture models:
 * - raw per-call `session.run` on onnxruntime-node (no SDK, one row per run);
 * - `onnxModel` inline with batching;
 * - `onnxModel` in worker mode with batching;
 * - the same two through the whole pipeline (`createInference().infer`), for reference.
 *
 * Targets (tiny model): inline batching at least 8x raw per-call throughput,
 * worker with batching at least 4x. Contenders run interleaved in short
 * windows and the median window counts, so machine noise hits all alike.
 *
 * Run alone: `npm run build && tsx bench/throughput.ts`.
 */
import * as ort from 'onnxruntime-node';
import { fileURLToPath } from 'node:url';
import { percentile } from './harness.js';
// The built package (dist/), as users run it, for every contender alike (and
// its worker entry is the built one too): see bench/sdk.ts.
import { createInference, onnxModel, tensor, type Model, type OnnxModel, type OnnxModelOptions, type RunContext, type TensorData } from './sdk.js';

const CALLERS = 32;
const WINDOW_MS = 250;
const CYCLES = 9;

interface Fixture {
  readonly name: string;
  readonly path: string;
  readonly width: number;
  readonly output: string;
}

const FIXTURES: readonly Fixture[] = [
  { name: 'tiny-mlp', path: fixture('tiny-mlp'), width: 8, output: 'probs' },
  { name: 'mid-mlp', path: fixture('mid-mlp'), width: 256, output: 'probs' },
];

function fixture(name: string): string {
  return fileURLToPath(new URL(`../test/fixtures/models/${name}.onnx`, import.meta.url));
}

/** Distinct rows, one per caller, so a mixed-up batch would show in the checks. */
function rows(width: number): Float32Array[] {
  return Array.from({ length: CALLERS }, (_, c) => Float32Array.from({ length: width }, (_, i) => Math.sin(c * 7 + i) / 2));
}

type Call = (caller: number) => Promise<unknown>;

/**
 * Runs `call` from 32 concurrent callers for `ms`; returns microseconds per
 * completed call. A timer ends the window (no clock read per call); every
 * contender yields to the event loop at least once per run, so it fires.
 */
async function window(call: Call, ms: number): Promise<number> {
  let done = 0;
  let stop = false;
  const timer = setTimeout(() => (stop = true), ms);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, c) => {
      while (!stop) {
        await call(c);
        done++;
      }
    }),
  );
  clearTimeout(timer);
  return ((performance.now() - t0) * 1000) / done;
}

interface Row {
  readonly name: string;
  readonly usPerCall: number;
  /** Median over the cycles of (raw µs per call in the cycle) / (this contender's). */
  readonly speedup: number;
}

/**
 * Measures the contenders in cycles (raw first in each cycle); each cycle's
 * speed-up is taken against the raw window of the same cycle, so a noisy
 * moment hits both sides of a ratio alike.
 */
async function measure(contenders: ReadonlyArray<readonly [string, Call]>): Promise<Row[]> {
  const us = new Map<string, number[]>(contenders.map(([n]) => [n, []]));
  const ratios = new Map<string, number[]>(contenders.map(([n]) => [n, []]));
  for (const [, call] of contenders) await window(call, 150); // warm-up
  for (let c = 0; c < CYCLES; c++) {
    let raw = Number.NaN;
    for (const [name, call] of contenders) {
      const v = await window(call, WINDOW_MS);
      if (Number.isNaN(raw)) raw = v;
      us.get(name)!.push(v);
      ratios.get(name)!.push(raw / v);
    }
  }
  const median = (values: number[]) => percentile(values.sort((a, b) => a - b), 0.5);
  return contenders.map(([name]) => ({ name, usPerCall: median(us.get(name)!), speedup: median(ratios.get(name)!) }));
}

/**
 * A run context like the pipeline's: a class with the lazy `signal` getter on
 * its prototype (an object literal with a getter is created on V8's slow path
 * and cost ~0.4 µs per call here, more than the batched run itself).
 */
class BenchContext implements RunContext {
  readonly context = undefined;
  readonly deadline = performance.now() + 10_000;
  get signal(): AbortSignal {
    return new AbortController().signal;
  }
}

const ctx = (): RunContext => new BenchContext();

async function benchFixture(f: Fixture): Promise<Row[]> {
  const inputs = rows(f.width);
  const session = await ort.InferenceSession.create(f.path);
  const options = (extra: Partial<OnnxModelOptions<number, Float32Array>>): OnnxModelOptions<number, Float32Array> => ({
    source: f.path,
    encode: (c: number) => ({ x: tensor('float32', inputs[c]!, [1, f.width]) as TensorData }),
    decode: (out) => out[f.output]!.data as Float32Array,
    ...extra,
  });
  const batching = { maxBatchSize: CALLERS, maxDelayMs: 1 };
  const inline = onnxModel(options({ batching }));
  const worker = onnxModel(options({ execution: 'worker', workers: 1, batching }));
  const processes = onnxModel(options({ execution: 'worker', isolation: 'process', workers: 1, batching }));
  const models: OnnxModel<number, Float32Array>[] = [inline, worker, processes];
  await Promise.all(models.map((m) => m.load()));
  const pipeline = (m: Model<number, Float32Array>) => createInference<number, Float32Array>({ name: 'bench', versions: { v1: m }, timeoutMs: 10_000 });
  const inlineInfer = pipeline(inline);
  const workerInfer = pipeline(worker);

  // Sanity: each caller gets its own row back (checked against the unbatched session).
  for (const m of models) {
    const outs = await Promise.all(inputs.map((_, c) => m.run(c, ctx())));
    for (let c = 0; c < CALLERS; c++) {
      const want = (await session.run({ x: new ort.Tensor('float32', inputs[c]!, [1, f.width]) }))[f.output]!.data as Float32Array;
      if (Math.abs(outs[c]![0]! - want[0]!) > 1e-5) throw new Error(`${f.name}: caller ${c} got another caller's row`);
    }
  }

  const raw: Call = (c) => session.run({ x: new ort.Tensor('float32', inputs[c]!, [1, f.width]) });
  const result = await measure([
    ['raw session.run per call', raw],
    ['inline + batching (model.run)', (c) => inline.run(c, ctx())],
    ['worker thread + batching (model.run)', (c) => worker.run(c, ctx())],
    ['worker process + batching (model.run)', (c) => processes.run(c, ctx())],
    ['inline + batching (whole pipeline: infer)', (c) => inlineInfer.infer(c)],
    ['worker thread + batching (whole pipeline: infer)', (c) => workerInfer.infer(c)],
  ]);
  const mean = (m: OnnxModel<number, Float32Array>) => m.status().queue?.meanBatchSize.toFixed(1) ?? '-';
  console.log(`\n(${f.name}: mean batch size inline ${mean(inline)}, worker thread ${mean(worker)}, worker process ${mean(processes)})`);
  await Promise.all([inlineInfer.close(), workerInfer.close(), processes.close()]);
  await session.release();
  return result;
}

/** Prints the throughput tables with speed-ups over raw per-call runs and MET/MISSED for the targets. */
export async function run(): Promise<void> {
  console.log(`\n## Throughput: ${CALLERS} concurrent single-row callers (closed loop), ${CYCLES} interleaved ${WINDOW_MS} ms windows, median`);
  for (const f of FIXTURES) {
    const rowsOut = await benchFixture(f);
    const targets: Record<string, number> =
      f.name === 'tiny-mlp' ? { 'inline + batching (model.run)': 8, 'worker thread + batching (model.run)': 4 } : {};
    console.log(`\n### ${f.name}`);
    console.log('| contender | µs per call (median) | calls/s | speed-up vs raw (median of paired windows) | target |');
    console.log('|---|---:|---:|---:|---|');
    for (const r of rowsOut) {
      const target = targets[r.name];
      const verdict = target === undefined ? '' : `≥ ${target}x ${r.speedup >= target ? 'MET' : 'MISSED'}`;
      console.log(
        `| ${r.name} | ${r.usPerCall.toFixed(2)} | ${Math.round(1e6 / r.usPerCall).toLocaleString('en-US')} | ${r.speedup.toFixed(2)}x | ${verdict} |`,
      );
    }
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await run();
