/**
 * The browser `onnxModel`'s own logic, run in Node with a fake onnxruntime:
 * option validation, env settings, the SDK-side download (shared, aborted
 * only when every `ready()` caller gave up), integrity of bytes. Real
 * onnxruntime-web in Chromium is covered by test/browser/chromium.test.ts.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfigurationError, isIntegrityError } from '../../src/errors.js';
import { onnxModel } from '../../src/models/onnx-model.browser.js';
import type { OrtLike, OrtTensorLike } from '../../src/models/onnx-session.js';
import { tensor } from '../../src/models/tensor.js';

const MODEL = new TextEncoder().encode('not really onnx, the fake runtime does not care');
const SRI = `sha256-${createHash('sha256').update(MODEL).digest('base64')}`;

class FakeTensor implements OrtTensorLike {
  constructor(
    readonly type: string,
    readonly data: Float32Array,
    readonly dims: readonly number[],
  ) {}
}

/** A fake onnxruntime-web: `y = 2 x`, records what it was given. */
function fakeOrt() {
  const created: Uint8Array[] = [];
  const ort = {
    env: { wasm: {} as { wasmPaths?: unknown; numThreads?: number } },
    Tensor: FakeTensor,
    InferenceSession: {
      async create(bytes: Uint8Array) {
        created.push(bytes);
        return {
          inputNames: ['x'],
          outputNames: ['y'],
          inputMetadata: [{ name: 'x', isTensor: true, type: 'float32', shape: ['batch', 2] }],
          async run(feeds: Record<string, OrtTensorLike>) {
            const x = feeds.x!.data as Float32Array;
            return { y: new FakeTensor('float32', x.map((v) => v * 2), feeds.x!.dims) };
          },
          async release() {},
        };
      },
    },
  };
  return { ort: ort as unknown as OrtLike & { env: typeof ort.env }, created };
}

const encode = (v: number) => ({ x: tensor('float32', [v, v], [1, 2]) });
const decode = (out: Readonly<Record<string, { data: unknown }>>) => (out.y!.data as Float32Array)[0]!;
const ctx = { signal: new AbortController().signal, deadline: Infinity, context: undefined };

let server: Server;
let base: string;
/** `/stall` responses still open. */
const stalled = new Set<ServerResponse>();

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/model.onnx') {
      res.writeHead(200, { 'content-length': MODEL.length });
      res.end(MODEL);
    } else if (req.url === '/stall.onnx') {
      res.writeHead(200, { 'content-length': MODEL.length });
      res.write(MODEL.subarray(0, 4));
      stalled.add(res);
      res.on('close', () => stalled.delete(res));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of stalled) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function waitFor(check: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('browser onnxModel', () => {
  it('downloads the model, reports progress, runs it, and sets wasmPaths / numThreads', async () => {
    const { ort, created } = fakeOrt();
    const progress: number[] = [];
    const model = onnxModel({
      source: `${base}/model.onnx`,
      runtime: ort,
      wasmPaths: 'https://cdn.example.com/ort/',
      numThreads: 1,
      integrity: SRI,
      onProgress: ({ loaded }) => progress.push(loaded),
      encode,
      decode,
    });
    expect(model.kind).toBe('onnx');
    await model.load();
    expect(await model.run(21, ctx)).toBe(42);
    expect(Buffer.from(created[0]!).equals(Buffer.from(MODEL))).toBe(true);
    expect(ort.env.wasm).toEqual({ wasmPaths: 'https://cdn.example.com/ort/', numThreads: 1 });
    expect(progress.at(-1)).toBe(MODEL.length);
    expect(model.status()).toBeDefined();
    await model.close();
  });

  it('leaves onnxruntime-web env alone when wasmPaths and numThreads are not given', async () => {
    const { ort } = fakeOrt();
    const model = onnxModel({ source: MODEL, runtime: async () => ort, encode, decode });
    await model.load();
    expect(ort.env.wasm).toEqual({});
    await model.close();
  });

  it('checks the integrity of bytes given directly', async () => {
    const { ort, created } = fakeOrt();
    const model = onnxModel({ source: MODEL.buffer.slice(0) as ArrayBuffer, runtime: ort, integrity: SRI.replace(/.=$/, 'A='), encode, decode });
    const error = await model.load().catch((e: unknown) => e);
    expect(isIntegrityError(error)).toBe(true);
    expect(created).toHaveLength(0);
    await model.close();
  });

  it('reports every bad option at once, browser-only and common, with their paths', () => {
    let error: unknown;
    try {
      onnxModel({ source: 42 as never, encode, decode: 'no' as never, cache: 3 as never, integrity: 'md5-x', numThreads: -1, runtime: {} as never });
    } catch (e) {
      error = e;
    }
    expect(isConfigurationError(error)).toBe(true);
    const paths = (error as { issues: { path: (string | number)[] }[] }).issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['source', 'decode', 'cache', 'integrity', 'numThreads', 'runtime']));
  });

  it('aborts the shared download when the only ready() caller aborts, and rejects with its reason', async () => {
    const { ort } = fakeOrt();
    const model = onnxModel({ source: `${base}/stall.onnx`, runtime: ort, encode, decode });
    const controller = new AbortController();
    const pending = model.load({ signal: controller.signal });
    await waitFor(() => stalled.size === 1);
    const reason = new Error('gave up');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await waitFor(() => stalled.size === 0);
    await model.close();
  });

  it('keeps downloading while another caller (a run, or ready() without a signal) still waits', async () => {
    const { ort } = fakeOrt();
    const model = onnxModel({ source: `${base}/stall.onnx`, runtime: ort, encode, decode });
    const controller = new AbortController();
    const waiting = model.load({ signal: controller.signal });
    const running = model.run(1, ctx);
    running.catch(() => undefined);
    await waitFor(() => stalled.size === 1);
    controller.abort(new Error('this caller gave up'));
    await expect(waiting).rejects.toThrow('this caller gave up');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stalled.size).toBe(1);
    await model.close();
    await expect(running).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await waitFor(() => stalled.size === 0);
  });

  it('aborts only after every ready() caller with a signal has aborted', async () => {
    const { ort } = fakeOrt();
    const model = onnxModel({ source: `${base}/stall.onnx`, runtime: ort, encode, decode });
    const a = new AbortController();
    const b = new AbortController();
    const pa = model.load({ signal: a.signal });
    const pb = model.load({ signal: b.signal });
    await waitFor(() => stalled.size === 1);
    a.abort(new Error('a'));
    await expect(pa).rejects.toThrow('a');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(stalled.size).toBe(1);
    b.abort(new Error('b'));
    await expect(pb).rejects.toThrow('b');
    await waitFor(() => stalled.size === 0);
    // A later load starts a new download.
    const again = model.load({ signal: AbortSignal.timeout(50) });
    await expect(again).rejects.toMatchObject({ name: 'TimeoutError' });
    await model.close();
  });
});
