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
 * Run alone: `tsx bench/throughput.ts`.
 */
import * as ort from 'onnxruntime-node';
import { fileURLToPath } from 'node:url';
import { createInference } from '../src/inference.js';
import { onnxModel } from '../src/models/onnx-model.node.js';
import type { OnnxModel, OnnxModelOptions } from '../src/models/onnx-model.js';
import { tensor, type TensorData } from '../src/models/tensor.js';
import type { Model, RunContext } from '../src/types.js';
import { percentile } from './harness.js';

const CALLERS = 32;
const WINDOW_MS = 250;
const CYCLES = 7;

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

/** Runs `call` from 32 concurrent callers for `ms`; returns microseconds per completed call. */
async function window(call: Call, ms: number): Promise<number> {
  let done = 0;
  const end = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, c) => {
      while (performance.now() < end) {
        await call(c);
        done++;
      }
    }),
  );
  return ((performance.now() - t0) * 1000) / done;
}

interface Row {
  readonly name: string;
  readonly usPerCall: number;
  readonly p90: number;
}

async function measure(contenders: ReadonlyArray<readonly [string, Call]>): Promise<Row[]> {
  const samples = new Map<string, number[]>(contenders.map(([n]) => [n, []]));
  for (const [, call] of contenders) await window(call, 150); // warm-up
  for (let c = 0; c < CYCLES; c++) {
    for (const [name, call] of contenders) samples.get(name)!.push(await window(call, WINDOW_MS));
  }
  return contenders.map(([name]) => {
    const s = samples.get(name)!.sort((a, b) => a - b);
    return { name, usPerCall: percentile(s, 0.5), p90: percentile(s, 0.9) };
  });
}

function ctx(): RunContext {
  return {
    deadline: performance.now() + 10_000,
    context: undefined,
    get signal(): AbortSignal {
      return new AbortController().signal;
    },
  };
}

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
  const worker2 = onnxModel(options({ execution: 'worker', workers: 2, batching: { maxBatchSize: CALLERS / 2, maxDelayMs: 1 } }));
  const models: OnnxModel<number, Float32Array>[] = [inline, worker, worker2];
  await Promise.all(models.map((m) => m.load()));
  const pipeline = (m: Model<number, Float32Array>) => createInference<number, Float32Array>({ name: 'bench', versions: { v1: m }, timeoutMs: 10_000 });
  const inlineInfer = pipeline(inline);
  const workerInfer = pipeline(worker);

  // Sanity: each caller gets its own row back (checked against the unbatched session).
  for (const m of [inline, worker, worker2]) {
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
    ['worker x1 + batching (model.run)', (c) => worker.run(c, ctx())],
    ['worker x2 + batching 16 (model.run)', (c) => worker2.run(c, ctx())],
    ['inline + batching (infer)', (c) => inlineInfer.infer(c)],
    ['worker x1 + batching (infer)', (c) => workerInfer.infer(c)],
  ]);
  const mean = (m: OnnxModel<number, Float32Array>) => m.status().queue?.meanBatchSize.toFixed(1) ?? '-';
  console.log(`(mean batch size: inline ${mean(inline)}, worker x1 ${mean(worker)}, worker x2 ${mean(worker2)})`);
  await Promise.all([inlineInfer.close(), workerInfer.close(), worker2.close()]);
  await session.release();
  return result;
}

/** Prints the throughput tables with speed-ups over raw per-call runs and MET/MISSED for the targets. */
export async function run(): Promise<void> {
  console.log(`\n## Throughput: ${CALLERS} concurrent single-row callers (closed loop), ${CYCLES} interleaved ${WINDOW_MS} ms windows, median`);
  for (const f of FIXTURES) {
    const rowsOut = await benchFixture(f);
    const base = rowsOut[0]!.usPerCall;
    const targets: Record<string, number> =
      f.name === 'tiny-mlp' ? { 'inline + batching (model.run)': 8, 'worker x1 + batching (model.run)': 4 } : {};
    console.log(`\n### ${f.name}`);
    console.log('| contender | µs per call (median) | p90 window | calls/s | speed-up vs raw | target |');
    console.log('|---|---:|---:|---:|---:|---|');
    for (const r of rowsOut) {
      const speedup = base / r.usPerCall;
      const target = targets[r.name];
      const verdict = target === undefined ? '' : `≥ ${target}x ${speedup >= target ? 'MET' : 'MISSED'}`;
      console.log(
        `| ${r.name} | ${r.usPerCall.toFixed(2)} | ${r.p90.toFixed(2)} | ${Math.round(1e6 / r.usPerCall).toLocaleString('en-US')} | ${speedup.toFixed(2)}x | ${verdict} |`,
      );
    }
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await run();
