import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isConfigurationError,
  isGracefulInferenceError,
  isModelLoadError,
  ModelLoadError,
  type ConfigurationError,
} from '../../src/errors.js';
import { createOnnxModel, type OnnxModelOptions, type OnnxRuntimeBinding } from '../../src/models/onnx-model.js';
import { onnxModel } from '../../src/models/onnx-model.node.js';
import type { OrtLike, OrtSessionLike } from '../../src/models/onnx-session.js';
import { loadNodeSource } from '../../src/models/onnx-source.node.js';
import { tensor, type TensorData } from '../../src/models/tensor.js';
import type { RunContext } from '../../src/types.js';
import { fixturePath, randomRows, reference } from '../fixtures/reference.js';

const ctx: RunContext = { signal: new AbortController().signal, deadline: Infinity, context: undefined };
const hasCode = (code: string) => (e: unknown) => isGracefulInferenceError(e) && e.code === code;
const isModelInputError = hasCode('ERR_MODEL_INPUT');
const isClosedError = hasCode('ERR_CLOSED');
const TINY = fixturePath('tiny-mlp');

/** tiny-mlp options: input is one row of 8 numbers, output the two probabilities. */
function tinyOptions(overrides: Partial<OnnxModelOptions<number[], number[]>> = {}): OnnxModelOptions<number[], number[]> {
  return {
    source: TINY,
    encode: (row) => ({ x: tensor('float32', row, [1, 8]) }),
    decode: (out) => Array.from(out.probs!.data as Float32Array),
    ...overrides,
  };
}

const row = Array.from(randomRows(42, 1, 8));
const expected = Array.from(reference.tinyMlp(row, 1));

/** onnxruntime-node with counters and an optional delay before each session creation. */
function instrumentedRuntime(opts: { createDelayMs?: number } = {}) {
  const counts = { creates: 0, releases: 0, runs: 0 };
  const runtime: OrtLike = {
    Tensor: ort.Tensor,
    InferenceSession: {
      async create(source: string | Uint8Array, options?: unknown) {
        counts.creates++;
        if (opts.createDelayMs) await new Promise((r) => setTimeout(r, opts.createDelayMs));
        const s = await ort.InferenceSession.create(source as Uint8Array, options as ort.InferenceSession.SessionOptions);
        const wrapped: OrtSessionLike = {
          inputNames: s.inputNames,
          outputNames: s.outputNames,
          inputMetadata: s.inputMetadata,
          outputMetadata: s.outputMetadata,
          run(feeds) {
            counts.runs++;
            return s.run(feeds as ort.InferenceSession.FeedsType);
          },
          release() {
            counts.releases++;
            return s.release();
          },
        };
        return wrapped;
      },
    },
  };
  return { counts, runtime };
}

function binding(runtime: OrtLike, loadSource = loadNodeSource): OnnxRuntimeBinding {
  return { loadRuntime: async () => runtime, loadSource };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('onnxModel options', () => {
  function configError(options: unknown): ConfigurationError {
    try {
      onnxModel(options as OnnxModelOptions<unknown, unknown>);
    } catch (e) {
      expect(isConfigurationError(e)).toBe(true);
      return e as ConfigurationError;
    }
    throw new Error('expected a ConfigurationError');
  }

  it('validates at construction with the path of each bad field', () => {
    const e = configError({ source: 42, encode: 'nope', decode: () => 1 });
    expect(e.issues.map((i) => i.path)).toEqual([['source'], ['encode']]);
    expect(e.message).toMatch(/^Invalid onnxModel options: source: expected a file path, a URL, a Uint8Array or an ArrayBuffer; encode: expected a function/);
  });

  it('rejects missing functions, empty paths, bad sessionOptions and unknown keys', () => {
    expect(configError({ source: TINY, encode: () => ({}) }).issues[0]!.path).toEqual(['decode']);
    expect(configError(tinyOptions({ source: '' })).issues[0]!.path).toEqual(['source']);
    expect(configError(tinyOptions({ sessionOptions: [] as never })).issues[0]!.path).toEqual(['sessionOptions']);
    expect(configError({ ...tinyOptions(), sesionOptions: {} }).message).toMatch(/sesionOptions/);
    expect(configError(undefined).code).toBe('ERR_INVALID_OPTIONS');
  });

  it('accepts every source kind and does not load at construction', async () => {
    const bytes = await readFile(TINY);
    for (const source of [TINY, pathToFileURL(TINY), pathToFileURL(TINY).href, bytes, new Uint8Array(bytes).buffer]) {
      const model = onnxModel(tinyOptions({ source }));
      expect(model.kind).toBe('onnx');
      const out = await model.run(row, ctx);
      out.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
      await model.close();
    }
  });
});

describe('onnxModel loading', () => {
  let server: Server;
  let baseUrl: string;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gi-onnx-'));
    const bytes = await readFile(TINY);
    server = createServer((req, res) => {
      if (req.url === '/tiny.onnx') res.end(bytes);
      else {
        res.statusCode = 404;
        res.end('not found');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('downloads http(s) sources', async () => {
    const model = onnxModel(tinyOptions({ source: new URL('/tiny.onnx', baseUrl) }));
    const out = await model.run(row, ctx);
    out.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
    await model.close();
  });

  it('fails with ModelLoadError on HTTP errors', async () => {
    const e = await rejection(onnxModel(tinyOptions({ source: `${baseUrl}/missing.onnx` })).load());
    expect(isModelLoadError(e)).toBe(true);
    expect(e.message).toBe(`Could not download ONNX model ${baseUrl}/missing.onnx: HTTP 404 Not Found`);
  });

  it('fails with ModelLoadError on a missing file, a directory, garbage bytes or an unsupported URL', async () => {
    const missing = join(dir, 'missing.onnx');
    const cases: [OnnxModelOptions<number[], number[]>['source'], RegExp][] = [
      [missing, new RegExp(`^ONNX model file not found: ${missing}$`)],
      [dir, /^ONNX model path is not a file/],
      [new TextEncoder().encode('garbage'), /^Could not create an ONNX session from 7 bytes: /],
      ['ftp://example.com/m.onnx', /^Unsupported ONNX model URL ftp:/],
    ];
    for (const [source, message] of cases) {
      const model = onnxModel(tinyOptions({ source }));
      const e = await rejection(model.run(row, ctx));
      expect(isModelLoadError(e), String(e)).toBe(true);
      expect(e.message).toMatch(message);
    }
  });

  it('retries a failed load on the next call', async () => {
    const path = join(dir, 'later.onnx');
    const model = onnxModel(tinyOptions({ source: path }));
    expect(isModelLoadError(await rejection(model.load()))).toBe(true);
    expect(isModelLoadError(await rejection(model.run(row, ctx)))).toBe(true);
    await copyFile(TINY, path);
    await model.load();
    expect((await model.run(row, ctx))[0]).toBeCloseTo(expected[0]!, 5);
    await model.close();
  });

  it('wraps a failing runtime import or source loader in ModelLoadError', async () => {
    const noRuntime = createOnnxModel(
      {
        loadRuntime: () => Promise.reject(new Error('Cannot find package onnxruntime-node')),
        loadSource: loadNodeSource,
      },
      tinyOptions(),
    );
    const e1 = await rejection(noRuntime.load());
    expect(isModelLoadError(e1)).toBe(true);
    expect(e1.message).toMatch(/Cannot find package onnxruntime-node/);

    const badLoader = createOnnxModel(
      binding(ort, () => Promise.reject(new TypeError('boom'))),
      tinyOptions(),
    );
    const e2 = await rejection(badLoader.load());
    expect(isModelLoadError(e2)).toBe(true);
    expect(e2.message).toBe(`Could not read ONNX model '${TINY}': boom`);
    expect(e2.cause).toBeInstanceOf(TypeError);
  });

  it('shares one load between concurrent load() and run() calls', async () => {
    const { counts, runtime } = instrumentedRuntime({ createDelayMs: 30 });
    const model = createOnnxModel(binding(runtime), tinyOptions());
    const results = await Promise.all([
      model.load(),
      model.run(row, ctx),
      model.run(row, ctx),
      model.load(),
      model.run(row, ctx),
    ]);
    expect(counts.creates).toBe(1);
    expect(counts.runs).toBe(3);
    expect((results[1] as number[])[0]).toBeCloseTo(expected[0]!, 5);
    await model.load();
    expect(counts.creates).toBe(1);
    await model.close();
  });

  it("load({ signal }) stops only that caller's wait", async () => {
    const { counts, runtime } = instrumentedRuntime({ createDelayMs: 50 });
    const model = createOnnxModel(binding(runtime), tinyOptions());
    const controller = new AbortController();
    const aborted = model.load({ signal: controller.signal });
    const other = model.load();
    controller.abort(new Error('caller gave up'));
    expect((await rejection(aborted)).message).toBe('caller gave up');
    await other;
    expect(counts.creates).toBe(1);
    const already = AbortSignal.abort(new Error('already'));
    expect((await rejection(model.load({ signal: already }))).message).toBe('already');
    await model.close();
  });
});

describe('onnxModel warmup', () => {
  it('runs warmup exactly once per load, before the first real call', async () => {
    const { counts, runtime } = instrumentedRuntime({ createDelayMs: 10 });
    const seen: number[][] = [];
    const warm = [0, 0, 0, 0, 0, 0, 0, 0];
    const model = createOnnxModel(
      binding(runtime),
      tinyOptions({
        warmup: warm,
        encode: (r) => {
          seen.push(r);
          return { x: tensor('float32', r, [1, 8]) };
        },
      }),
    );
    await Promise.all([model.run(row, ctx), model.load(), model.run(row, ctx)]);
    await model.run(row, ctx);
    expect(seen[0]).toBe(warm);
    expect(seen.filter((r) => r === warm)).toHaveLength(1);
    expect(seen.filter((r) => r === row)).toHaveLength(3);
    expect(counts.runs).toBe(4);
    await model.close();
  });

  it('fails the load with ModelLoadError when warmup fails, releases the session, and retries', async () => {
    const { counts, runtime } = instrumentedRuntime();
    let failWarmup = true;
    const model = createOnnxModel(
      binding(runtime),
      tinyOptions({
        warmup: [],
        encode: (r) => {
          if (r.length === 0 && failWarmup) return { x: tensor('float32', [1, 2, 3], [1, 3]) };
          return { x: tensor('float32', r.length ? r : new Array(8).fill(0), [1, 8]) };
        },
      }),
    );
    const e = await rejection(model.run(row, ctx));
    expect(isModelLoadError(e)).toBe(true);
    expect(e.message).toMatch(/^Warmup of ONNX model '.*tiny-mlp.onnx' failed: Input 'x' must have shape \[batch, 8\]/);
    expect(isModelInputError(e.cause)).toBe(true);
    expect(counts.releases).toBe(1);
    failWarmup = false;
    expect((await model.run(row, ctx))[0]).toBeCloseTo(expected[0]!, 5);
    expect(counts.creates).toBe(2);
    await model.close();
  });
});

describe('onnxModel runs', () => {
  it('decode receives plain outputs and the input', async () => {
    let received: [Readonly<Record<string, TensorData>>, number[]] | undefined;
    const model = onnxModel(
      tinyOptions({
        decode: (out, input) => {
          received = [out, input];
          return [];
        },
      }),
    );
    await model.run(row, ctx);
    expect(received![1]).toBe(row);
    expect(Object.getPrototypeOf(received![0].probs)).toBe(Object.prototype);
    expect(received![0].probs!.dims).toEqual([1, 2]);
    await model.close();
  });

  it('rejects mismatched feeds with ModelInputError naming the input, expected and actual', async () => {
    const cases: [OnnxModelOptions<number[], number[]>['encode'], string][] = [
      [(r) => ({ input: tensor('float32', r, [1, 8]) }), "Missing input 'x' (model inputs: 'x')"],
      [(r) => ({ x: tensor('float64', r, [1, 8]) }), "Input 'x' must be float32, got float64"],
      [(r) => ({ x: tensor('float32', r, [8]) }), "Input 'x' must have rank 2 (shape [batch, 8]), got rank 1 (dims [8])"],
      [(r) => ({ x: tensor('float32', [...r, ...r], [1, 16]) }), "Input 'x' must have shape [batch, 8]: dim 1 must be 8, got dims [1, 16]"],
      [(r) => ({ x: tensor('float32', r, [1, 8]), y: tensor('float32', r, [1, 8]) }), "Unknown input 'y' (model inputs: 'x')"],
    ];
    const { counts, runtime } = instrumentedRuntime();
    for (const [encode, message] of cases) {
      const model = createOnnxModel(binding(runtime), tinyOptions({ encode }));
      const e = await rejection(model.run(row, ctx));
      expect(isModelInputError(e), String(e)).toBe(true);
      expect(e.message).toBe(message);
      await model.close();
    }
    expect(counts.runs).toBe(0);
  });

  it('refuses a batch on a fixed-batch model', async () => {
    const model = onnxModel<Float32Array, Float32Array>({
      source: fixturePath('fixed-batch'),
      encode: (rows) => ({ x: tensor('float32', rows, [rows.length / 8, 8]) }),
      decode: (out) => out.probs!.data as Float32Array,
    });
    expect((await model.run(randomRows(1, 1, 8), ctx)).length).toBe(2);
    const e = await rejection(model.run(randomRows(1, 2, 8), ctx));
    expect(e.message).toBe("Input 'x' must have shape [1, 8]: dim 0 must be 1, got dims [2, 8]");
    await model.close();
  });

  it('passes encode and decode errors through unchanged', async () => {
    const boom = new Error('bad input');
    const model = onnxModel(
      tinyOptions({
        encode: () => {
          throw boom;
        },
      }),
    );
    expect(await rejection(model.run(row, ctx))).toBe(boom);
    await model.close();
  });

  it('passes sessionOptions to the runtime', async () => {
    let seen: unknown;
    const runtime: OrtLike = {
      Tensor: ort.Tensor,
      InferenceSession: {
        create: (source: string | Uint8Array, options?: unknown) => {
          seen = options;
          return ort.InferenceSession.create(source as string, options as ort.InferenceSession.SessionOptions);
        },
      },
    };
    const sessionOptions = { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' };
    const model = createOnnxModel(binding(runtime), tinyOptions({ sessionOptions }));
    await model.load();
    expect(seen).toBe(sessionOptions);
    await model.close();
  });
});

describe('onnxModel close', () => {
  it('releases the session; later calls reject with ClosedError; close is idempotent', async () => {
    const { counts, runtime } = instrumentedRuntime();
    const model = createOnnxModel(binding(runtime), tinyOptions());
    await model.run(row, ctx);
    await Promise.all([model.close(), model.close()]);
    await model.close();
    expect(counts.releases).toBe(1);
    expect(isClosedError(await rejection(model.run(row, ctx)))).toBe(true);
    expect(isClosedError(await rejection(model.load()))).toBe(true);
    expect(counts.creates).toBe(1);
  });

  it('lets runs in flight finish before releasing', async () => {
    const { counts, runtime } = instrumentedRuntime();
    const model = createOnnxModel(binding(runtime), tinyOptions());
    await model.load();
    const inFlight = [model.run(row, ctx), model.run(row, ctx)];
    const closed = model.close();
    const results = await Promise.all(inFlight);
    results.forEach((r) => expect(r[0]).toBeCloseTo(expected[0]!, 5));
    await closed;
    expect(counts.releases).toBe(1);
  });

  it('closing during a load rejects the waiting calls and releases the new session', async () => {
    const { counts, runtime } = instrumentedRuntime({ createDelayMs: 30 });
    const model = createOnnxModel(binding(runtime), tinyOptions());
    const run = model.run(row, ctx);
    await new Promise((r) => setTimeout(r, 5));
    await model.close();
    expect(isClosedError(await rejection(run))).toBe(true);
    expect(counts.creates).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(counts.releases).toBe(1);
    expect(counts.runs).toBe(0);
  });

  it('closing during a download aborts it', async () => {
    let signalSeen: AbortSignal | undefined;
    const model = createOnnxModel(
      binding(ort, (_source, signal) => {
        signalSeen = signal;
        return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
      }),
      tinyOptions(),
    );
    const load = model.load();
    await new Promise((r) => setTimeout(r, 5));
    await model.close();
    expect(signalSeen?.aborted).toBe(true);
    expect(isClosedError(await rejection(load))).toBe(true);
  });

  it('never calls the runtime for a model closed before its first use', async () => {
    const { counts, runtime } = instrumentedRuntime();
    const model = createOnnxModel(binding(runtime), tinyOptions());
    await model.close();
    expect(isClosedError(await rejection(model.run(row, ctx)))).toBe(true);
    expect(counts.creates).toBe(0);
  });
});

describe('onnxModel sources', () => {
  it('passes library errors of the source loader through unchanged', async () => {
    const own = new ModelLoadError('custom loader message');
    const model = createOnnxModel(binding(ort, () => Promise.reject(own)), tinyOptions());
    expect(await rejection(model.load())).toBe(own);
  });

  it('writes nothing and reads the file lazily', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gi-onnx-lazy-'));
    try {
      const path = join(dir, 'm.onnx');
      const model = onnxModel(tinyOptions({ source: path }));
      await writeFile(path, await readFile(TINY));
      expect((await model.run(row, ctx))[1]).toBeCloseTo(expected[1]!, 5);
      await model.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
