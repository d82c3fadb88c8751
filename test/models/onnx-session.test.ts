import { readFileSync } from 'node:fs';
import * as ortNode from 'onnxruntime-node';
import type * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGracefulInferenceError, isModelLoadError } from '../../src/errors.js';
import {
  createFeedChecker,
  createTensorSession,
  type OrtLike,
  type OrtSessionLike,
  type TensorMetadata,
  type TensorSession,
} from '../../src/models/onnx-session.js';
import { tensor, type TensorData } from '../../src/models/tensor.js';
import { fixturePath, randomRows, reference } from '../fixtures/reference.js';

// Compile-time (tsc): both real runtimes satisfy the structural type.
const nodeRuntime: OrtLike = ortNode;
type WebSatisfies = typeof ortWeb extends OrtLike ? true : false;

/** The runtime's Tensor, for fake runtimes: it keeps what it is given. */
class FakeTensor {
  constructor(
    readonly type: string,
    readonly data: unknown,
    readonly dims: readonly number[] = [],
  ) {}
}

const isModelInputError = (e: unknown) => isGracefulInferenceError(e) && e.code === 'ERR_MODEL_INPUT';

async function inputError(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    expect(isModelInputError(e), String(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected a ModelInputError');
}

const x = (batch: number, width = 8) => tensor('float32', randomRows(batch, batch, width), [batch, width]);

it('onnxruntime-node and onnxruntime-web modules satisfy OrtLike (checked by tsc)', () => {
  const web: WebSatisfies = true;
  expect(web).toBe(true);
  expect(typeof nodeRuntime.InferenceSession.create).toBe('function');
});

describe('createFeedChecker', () => {
  const inputs: TensorMetadata[] = [
    { name: 'x', type: 'float32', shape: ['batch', 8] },
    { name: 'mask', type: 'bool', shape: ['batch', 8] },
    { name: 'k', type: 'int64', shape: [] },
  ];
  const check = createFeedChecker(inputs);
  const good = () => ({
    x: x(3),
    mask: tensor('bool', new Uint8Array(24), [3, 8]),
    k: tensor('int64', [2], []),
  });

  it('accepts matching feeds', () => {
    expect(() => check(good())).not.toThrow();
  });

  it('names the missing input and lists the model inputs', async () => {
    const { mask: _omit, ...feeds } = good();
    expect(await inputError(() => check(feeds))).toBe("Missing input 'mask' (model inputs: 'x', 'mask', 'k')");
  });

  it('names unknown inputs', async () => {
    expect(await inputError(() => check({ ...good(), y: x(3), z: x(1) }))).toBe(
      "Unknown inputs 'y', 'z' (model inputs: 'x', 'mask', 'k')",
    );
  });

  it('reports element type mismatches with expected and actual', async () => {
    const feeds = { ...good(), x: tensor('float64', new Float64Array(24), [3, 8]) };
    expect(await inputError(() => check(feeds))).toBe("Input 'x' must be float32, got float64");
  });

  it('reports rank mismatches with the expected shape and the actual dims', async () => {
    const feeds = { ...good(), x: tensor('float32', new Float32Array(8), [8]) };
    expect(await inputError(() => check(feeds))).toBe(
      "Input 'x' must have rank 2 (shape [batch, 8]), got rank 1 (dims [8])",
    );
  });

  it('reports fixed dim mismatches', async () => {
    const feeds = { ...good(), x: tensor('float32', new Float32Array(27), [3, 9]) };
    expect(await inputError(() => check(feeds))).toBe(
      "Input 'x' must have shape [batch, 8]: dim 1 must be 8, got dims [3, 9]",
    );
  });

  it('checks that a symbolic dim shared by inputs has one value', async () => {
    const feeds = { ...good(), mask: tensor('bool', new Uint8Array(16), [2, 8]) };
    expect(await inputError(() => check(feeds))).toBe("Inputs 'x' and 'mask' share dim 'batch' but have 3 and 2");
  });

  it('skips the rank check for inputs declared with shape [] (scalar or unknown)', () => {
    expect(() => check({ ...good(), k: tensor('int64', [2], [1]) })).not.toThrow();
  });

  it('rejects feeds that are not tensors', async () => {
    expect(await inputError(() => check(null as never))).toMatch(/^Feeds must be an object/);
    expect(await inputError(() => check({ ...good(), x: new Float32Array(24) as never }))).toMatch(
      /^Input 'x' must be a tensor/,
    );
  });

  it('ignores keys whose value is undefined', () => {
    expect(() => check({ ...good(), extra: undefined as never })).not.toThrow();
  });
});

describe('createTensorSession (onnxruntime-node)', () => {
  let tiny: TensorSession;
  let slow: TensorSession;
  let fixed: TensorSession;

  beforeAll(async () => {
    tiny = await createTensorSession(nodeRuntime, { path: fixturePath('tiny-mlp') });
    slow = await createTensorSession(nodeRuntime, { bytes: readFileSync(fixturePath('slow-model')) });
    fixed = await createTensorSession(nodeRuntime, { path: fixturePath('fixed-batch') });
  });
  afterAll(async () => {
    await Promise.all([tiny.release(), slow.release(), fixed.release()]);
  });

  it('normalises input and output metadata, symbolic dims as strings', () => {
    expect(tiny.inputMetadata).toEqual([{ name: 'x', type: 'float32', shape: ['batch', 8] }]);
    expect(tiny.outputMetadata).toEqual([{ name: 'probs', type: 'float32', shape: ['batch', 2] }]);
    expect(slow.inputMetadata).toEqual([
      { name: 'x', type: 'float32', shape: ['batch', 8] },
      { name: 'iterations', type: 'int64', shape: [] },
    ]);
    expect(fixed.inputMetadata[0]!.shape).toEqual([1, 8]);
  });

  it('returns plain TensorData whose values match the reference', async () => {
    const input = x(4);
    const out = await tiny.run({ x: input });
    expect(Object.keys(out)).toEqual(['probs']);
    const probs = out.probs!;
    expect(Object.getPrototypeOf(probs)).toBe(Object.prototype);
    expect(probs.type).toBe('float32');
    expect(probs.dims).toEqual([4, 2]);
    expect(probs.data).toBeInstanceOf(Float32Array);
    const expected = reference.tinyMlp(input.data as Float32Array, 4);
    (probs.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
  });

  it('rejects mismatched feeds before running', async () => {
    expect(await inputError(() => fixed.run({ x: x(2) }))).toBe(
      "Input 'x' must have shape [1, 8]: dim 0 must be 1, got dims [2, 8]",
    );
    expect(await inputError(() => slow.run({ x: x(1) }))).toMatch(/Missing input 'iterations'/);
  });

  it("turns the runtime's tensor validation errors into ModelInputError", async () => {
    // A plain object bypassing tensor(): 3 elements for dims [1, 8].
    const bad = { type: 'float32', data: new Float32Array(3), dims: [1, 8] } as TensorData;
    expect(await inputError(() => tiny.run({ x: bad }))).toMatch(/^Input 'x': .*size/i);
  });

  it('wraps session creation errors in ModelLoadError', async () => {
    const garbage = new TextEncoder().encode('definitely not an onnx model');
    const error = await createTensorSession(nodeRuntime, { bytes: garbage }).catch((e: unknown) => e);
    expect(isModelLoadError(error)).toBe(true);
    expect((error as Error).message).toMatch(/^Could not create an ONNX session from 28 bytes: /);
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it('releases once however often release() is called', async () => {
    let releases = 0;
    const session = await createTensorSession(
      {
        Tensor: ortNode.Tensor,
        InferenceSession: {
          create: async (p: string | Uint8Array) => {
            const s = await ortNode.InferenceSession.create(p as string);
            return Object.assign(Object.create(s) as OrtSessionLike, {
              release: () => {
                releases++;
                return s.release();
              },
            });
          },
        },
      },
      { path: fixturePath('tiny-mlp') },
    );
    await Promise.all([session.release(), session.release()]);
    await session.release();
    expect(releases).toBe(1);
  });
});

describe('createTensorSession: runs and release', () => {
  /** A fake runtime whose runs finish when the test says so, and which records its release. */
  function controlledRuntime() {
    const pending: (() => void)[] = [];
    const log: string[] = [];
    const runtime: OrtLike = {
      Tensor: FakeTensor,
      InferenceSession: {
        create: async () => ({
          inputNames: ['a'],
          outputNames: ['b'],
          run: (feeds) =>
            new Promise((resolve) => {
              pending.push(() => {
                log.push('run done');
                resolve({ b: feeds.a! });
              });
            }),
          release: async () => {
            log.push('released');
          },
        }),
      },
    };
    return { runtime, pending, log };
  }

  it('releases the native session only after the runs in flight, which still answer', async () => {
    const { runtime, pending, log } = controlledRuntime();
    const s = await createTensorSession(runtime, { bytes: new Uint8Array(1) });
    const running = s.runMapped({ a: tensor('int32', [7], [1]) }, (out) => (out.b!.data as Int32Array)[0]);
    const released = s.release();
    await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual([]);
    pending.shift()!();
    expect(await running).toBe(7);
    await released;
    expect(log).toEqual(['run done', 'released']);
  });

  it('refuses runs once released, with ClosedError, without touching the native session', async () => {
    const { runtime, pending } = controlledRuntime();
    const s = await createTensorSession(runtime, { bytes: new Uint8Array(1) });
    await s.release();
    const error = await s.run({ a: tensor('int32', [1], [1]) }).catch((e: unknown) => e);
    expect(isGracefulInferenceError(error) && error.code).toBe('ERR_CLOSED');
    expect(pending).toHaveLength(0);
  });

  it('runMapped applies the mapping in the same step and rejects with what the mapping throws', async () => {
    const { runtime, pending } = controlledRuntime();
    const s = await createTensorSession(runtime, { bytes: new Uint8Array(1) });
    const failing = s.runMapped({ a: tensor('int32', [1], [1]) }, () => {
      throw new Error('decode failed');
    });
    pending.shift()!();
    await expect(failing).rejects.toThrow('decode failed');
    // Settled runs no longer hold the release back.
    await s.release();
  });
});

describe('createTensorSession with a minimal runtime', () => {
  it('works without metadata (onnxruntime < 1.22): checks names only', async () => {
    const fake: OrtLike = {
      Tensor: FakeTensor,
      InferenceSession: {
        create: async () => ({
          inputNames: ['a'],
          outputNames: ['b'],
          run: async (feeds) => ({ b: feeds.a! }),
          release: async () => undefined,
        }),
      },
    };
    const s = await createTensorSession(fake, { bytes: new Uint8Array(1) });
    expect(s.inputMetadata).toEqual([{ name: 'a', type: 'unknown', shape: [] }]);
    const out = await s.run({ a: tensor('int32', [1, 2], [2]) });
    expect(out.b).toEqual({ type: 'int32', data: new Int32Array([1, 2]), dims: [2] });
    expect(await inputError(() => s.run({ c: tensor('int32', [1]) }))).toMatch(/Missing input 'a'/);
  });

  it('downloads non-CPU outputs (onnxruntime-web GPU tensors)', async () => {
    const fake: OrtLike = {
      Tensor: FakeTensor,
      InferenceSession: {
        create: async () => ({
          inputNames: ['a'],
          outputNames: ['b'],
          run: async () => ({
            b: {
              type: 'float32',
              location: 'gpu-buffer',
              get data(): unknown {
                throw new Error('not on CPU');
              },
              dims: [1],
              getData: async (release?: boolean) => (release ? new Float32Array([7]) : undefined),
            },
          }),
          release: async () => undefined,
        }),
      },
    };
    const s = await createTensorSession(fake, { bytes: new Uint8Array(1) });
    const out = await s.run({ a: tensor('float32', [1]) });
    expect(out.b!.data).toEqual(new Float32Array([7]));
  });
});
