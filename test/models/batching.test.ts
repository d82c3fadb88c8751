/**
 * Dynamic batching and the bounded queue of onnxModel inline, on real
 * onnxruntime-node sessions (worker mode: worker.test.ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isConfigurationError, isModelLoadError } from '../../src/errors.js';
import { createInference } from '../../src/inference.js';
import type { OnnxModel } from '../../src/models/onnx-model.js';
import { onnxModel } from '../../src/models/onnx-model.node.js';
import { tensor } from '../../src/models/tensor.js';
import { calibrateSlowModel, fixturePath, randomRows, reference } from '../fixtures/reference.js';
import { failOnUnhandledRejections, rejectionOf } from '../helpers/models.js';

failOnUnhandledRejections();

const open: OnnxModel<unknown, unknown>[] = [];
afterAll(async () => {
  await Promise.all(open.map((m) => m.close()));
});

const ctx = () => ({ deadline: performance.now() + 30_000, context: undefined, signal: new AbortController().signal });

function mlp(name: 'tiny-mlp' | 'mid-mlp', width: number, maxBatchSize: number): OnnxModel<Float32Array, Float32Array> {
  const m = onnxModel<Float32Array, Float32Array>({
    source: fixturePath(name),
    batching: { maxBatchSize, maxDelayMs: 2 },
    encode: (x) => ({ x: tensor('float32', x, [x.length / width, width]) }),
    decode: (out) => out.probs!.data as Float32Array,
  });
  open.push(m as OnnxModel<unknown, unknown>);
  return m;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThan(1e-5);
}

describe('inline batching', () => {
  for (const [name, width, ref] of [
    ['tiny-mlp', 8, reference.tinyMlp],
    ['mid-mlp', 256, reference.midMlp],
  ] as const) {
    it(`gives each of many concurrent callers exactly its own rows (${name})`, async () => {
      const m = mlp(name, width, 16);
      await m.load();
      const inputs = Array.from({ length: 60 }, (_, i) => randomRows(500 + i, i % 9 === 0 ? 3 : 1, width));
      const outs = await Promise.all(inputs.map((x) => m.run(x, ctx())));
      outs.forEach((o, i) => expectClose(o, ref(inputs[i]!, inputs[i]!.length / width)));
      const q = m.status().queue!;
      expect(q.calls).toBe(60);
      expect(q.rows).toBe(60 + 2 * 7);
      expect(q.runs).toBeLessThan(15);
      expect(q.meanBatchSize).toBeGreaterThan(4);
    });
  }

  it('answers through the pipeline like unbatched calls', async () => {
    const m = mlp('tiny-mlp', 8, 32);
    const inference = createInference<Float32Array, Float32Array>({ name: 'batched', versions: { v1: m }, timeoutMs: 5_000 });
    const inputs = Array.from({ length: 40 }, (_, i) => randomRows(900 + i, 1, 8));
    const outcomes = await Promise.all(inputs.map((x) => inference.infer(x)));
    outcomes.forEach((o, i) => {
      expect(o.source).toBe('model');
      expectClose(o.value, reference.tinyMlp(inputs[i]!, 1));
    });
    expect(inference.status().versions.v1!.model).toMatchObject({ execution: 'inline', queue: { calls: 40 } });
    await inference.close();
  });

  it('refuses at load a model whose first dimension is fixed, with a clear error', async () => {
    const m = onnxModel({ source: fixturePath('fixed-batch'), batching: { maxBatchSize: 8 }, encode: () => ({}), decode: () => 0 });
    const error = await rejectionOf(m.load());
    expect(isModelLoadError(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /Batching needs a dynamic first \(batch\) dimension on every input and output of ONNX model '.*fixed-batch\.onnx', but input 'x' has a fixed first dimension \(shape \[1, 8\]\); output 'probs' has a fixed first dimension/,
    );
    expect((error as Error).message).toMatch(/turn batching off/);
    // The same model without batching loads fine.
    const plain = onnxModel({ source: fixturePath('fixed-batch'), encode: () => ({}), decode: () => 0 });
    await plain.load();
    await Promise.all([m.close(), plain.close()]);
  });
});

describe('inline queue bound', () => {
  it('sheds load with overloaded and never runs calls whose deadline passed while they waited', async () => {
    const probe = onnxModel<number, number>({
      source: fixturePath('slow-model'),
      encode: (n) => ({ x: tensor('float32', new Float32Array(8), [1, 8]), iterations: tensor('int64', [n], []) }),
      decode: () => 0,
    });
    const msPerIteration = await calibrateSlowModel((n) => probe.run(n, ctx()));
    await probe.close();

    const m = onnxModel<number, number>({
      source: fixturePath('slow-model'),
      maxQueue: 2,
      encode: (ms) => ({
        x: tensor('float32', new Float32Array(8), [1, 8]),
        iterations: tensor('int64', [Math.round(ms / msPerIteration)], []),
      }),
      decode: (out) => (out.y!.data as Float32Array).length,
    });
    open.push(m as OnnxModel<unknown, unknown>);
    const inference = createInference<number, number>({
      name: 'shed-inline',
      versions: { v1: m },
      timeoutMs: 40,
      breaker: false,
      fallback: { name: 'rules', handle: () => -1 },
    });
    await inference.ready();
    const outcomes = await Promise.all([120, 1, 2, 3].map((ms) => inference.infer(ms)));
    // The first runs (and, inline, blocks the thread past every deadline); two wait; the fourth is refused at once.
    expect(outcomes.map((o) => o.reason)).toEqual(['timeout', 'timeout', 'timeout', 'overloaded']);
    const q = m.status().queue!;
    expect(q).toMatchObject({ runs: 1, overloaded: 1, expired: 2, queued: 0 });
    await inference.close();
  });
});

describe('execution options', () => {
  const base = { source: fixturePath('tiny-mlp'), encode: () => ({}), decode: () => 0 };
  const issuesOf = (options: Record<string, unknown>): string[] => {
    try {
      onnxModel({ ...base, ...options } as Parameters<typeof onnxModel>[0]);
    } catch (error) {
      expect(isConfigurationError(error)).toBe(true);
      return (error as { issues: { path: (string | number)[] }[] }).issues.map((i) => i.path.join('.'));
    }
    return [];
  };

  it('refuses invalid values with the path of each bad field', () => {
    expect(issuesOf({ execution: 'gpu' })).toEqual(['execution']);
    expect(issuesOf({ batching: { maxBatchSize: 0 } })).toEqual(['batching.maxBatchSize']);
    expect(issuesOf({ batching: { maxBatchSize: 8, maxDelayMs: -1 } })).toEqual(['batching.maxDelayMs']);
    expect(issuesOf({ batching: { maxBatchSize: 8, maxDelay: 1 } })).toEqual(['batching']);
    expect(issuesOf({ maxQueue: 0 })).toEqual(['maxQueue']);
    expect(issuesOf({ execution: 'worker', workers: 0, killAfterMs: 0, isolation: 'vm' }).sort()).toEqual(['isolation', 'killAfterMs', 'workers']);
    expect(issuesOf({ onEvent: 'log' })).toEqual(['onEvent']);
  });

  it('refuses worker-only options outside worker mode', () => {
    expect(issuesOf({ workers: 2, killAfterMs: 100, isolation: 'process' })).toEqual(['workers', 'killAfterMs', 'isolation']);
    expect(issuesOf({ execution: 'worker', workers: 2, killAfterMs: 100, isolation: 'process', maxQueue: Number.POSITIVE_INFINITY })).toEqual([]);
  });
});
