/**
 * Per-call overhead on the tiny fixture model, in one process:
 * raw `session.run`, opossum alone, a cockatiel composition (timeout and
 * breaker), and graceful-inference with its whole guard stack (input and
 * output schemas, breaker, deadline, retry configured, accept, fallback).
 *
 * Target: the whole stack at most 1.15x raw.
 */
import { fileURLToPath } from 'node:url';
import { ConsecutiveBreaker, TimeoutStrategy, circuitBreaker, handleAll, timeout, wrap } from 'cockatiel';
import * as ort from 'onnxruntime-node';
import Opossum from 'opossum';
import { z } from 'zod';
import { createInference, onnxModel, tensor } from './sdk.js';
import { compare, printTable } from './harness.js';

const MODEL = fileURLToPath(new URL('../test/fixtures/models/tiny-mlp.onnx', import.meta.url));

/** Runs the overhead bench and prints its table; returns the ratio of the whole stack to raw. */
export async function run(): Promise<number> {
  const session = await ort.InferenceSession.create(MODEL);
  const row = new Float32Array([0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8]);
  const rawRun = async (): Promise<number> => {
    const out = await session.run({ x: new ort.Tensor('float32', row, [1, 8]) });
    return (out.probs!.data as Float32Array)[1]!;
  };

  const opossum = new Opossum(rawRun, { timeout: 1_000, rollingPercentilesEnabled: false, enableSnapshots: false });
  const cockatiel = wrap(
    timeout(1_000, TimeoutStrategy.Cooperative),
    circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
  );

  const Input = z.array(z.number()).length(8);
  const Output = z.object({ p: z.number().min(0).max(1) });
  const inference = createInference<number[] | Float32Array, { p: number }>({
    name: 'bench-tiny',
    versions: {
      v1: onnxModel({
        source: MODEL,
        encode: (x) => ({ x: tensor('float32', x instanceof Float32Array ? x : Float32Array.from(x), [1, 8]) }),
        decode: (out) => ({ p: (out.probs!.data as Float32Array)[1]! }),
      }),
    },
    output: Output,
    timeoutMs: 1_000,
    breaker: { volumeThreshold: 20, errorThresholdPercentage: 50, resetTimeoutMs: 5_000, slowCallMs: 500 },
    retry: { retries: 2 },
    accept: (o) => (o.p >= 0 ? true : 'negative'),
    fallback: { name: 'constant', handle: () => ({ p: 0.5 }) },
  });
  const withInput = createInference<number[], { p: number }>({
    name: 'bench-tiny-input-schema',
    versions: {
      v1: onnxModel({
        source: MODEL,
        encode: (x) => ({ x: tensor('float32', Float32Array.from(x), [1, 8]) }),
        decode: (out) => ({ p: (out.probs!.data as Float32Array)[1]! }),
      }),
    },
    input: Input,
    output: Output,
    timeoutMs: 1_000,
    breaker: { volumeThreshold: 20, slowCallMs: 500 },
    retry: { retries: 2 },
    fallback: { name: 'constant', handle: () => ({ p: 0.5 }) },
  });
  await inference.ready();
  await withInput.ready();
  const plainRow = Array.from(row);

  const rows = await compare(
    [
      ['raw session.run', rawRun],
      ['opossum alone', () => opossum.fire()],
      ['cockatiel timeout+breaker', () => cockatiel.execute(rawRun)],
      ['graceful-inference (whole stack)', () => inference.infer(row)],
      ['graceful-inference (+ zod input schema on a number[])', () => withInput.infer(plainRow)],
    ],
    { batch: 200, rounds: 50, warmup: 3_000 },
  );
  printTable('Per-call overhead on tiny-mlp.onnx (one row)', rows, 'raw session.run', { 'graceful-inference (whole stack)': 1.15 });
  const out = await inference.infer(row);
  if (out.source !== 'model') throw new Error(`bench invalid: the model did not answer (${out.reason})`);
  await inference.close();
  await withInput.close();
  opossum.shutdown();
  await session.release();
  const raw = rows[0]!.medianUs;
  return rows[3]!.medianUs / raw;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await run();
